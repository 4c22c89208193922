// The process as a command: usage errors, -h / -V, the unix socket (-s, -a), daemon mode (-d, -P)
// and signals. Each test spawns `bun src/main.ts` and stops what it started by PID; every wait is
// bounded (a server that does not come up, or does not go away, fails the test).
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { basename, dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { bun_path, freePort, project_root, RawClient, startOurs, waitForPort } from "../helpers/procs.ts";
import { exit_code_usage, version_line } from "../../src/config.ts";

const main_path = join(project_root, "src", "main.ts");
/** How long a usage error, a launcher or a stopping server may take. */
const exit_wait_ms = 10_000;
/** How long a starting server may take to answer. */
const start_wait_ms = 15_000;
const poll_ms = 25;
/** The -d launcher only spawns the daemon and exits. */
const launcher_wait_ms = 5_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bun src/main.ts args` to completion (killed by PID after exit_wait_ms). */
async function run(args: string[]): Promise<Ran> {
  const proc = Bun.spawn([bun_path, main_path, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function uniquePath(suffix: string): string {
  return join(tmpdir(), `repcached-cli-${process.pid}-${Math.random().toString(36).slice(2)}${suffix}`);
}

/** Polls `ready` every `every_ms` until it holds or ms pass; returns whether it held. */
async function until(ready: () => boolean, ms: number, every_ms = poll_ms): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(every_ms);
  }
  return true;
}

/** A live process (a zombie no parent reaps counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function portOpen(port: number): Promise<boolean> {
  try {
    await waitForPort(port, 300);
    return true;
  } catch {
    return false;
  }
}

/** One request/reply over a unix socket. */
async function unixCall(path: string, request: string, suffix: string): Promise<string> {
  const socket = new Socket();
  let received = "";
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
      socket.connect(path);
    });
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.write(request);
    await until(() => received.endsWith(suffix), 5_000);
    return received;
  } finally {
    socket.destroy();
  }
}

describe("usage errors, -h, -V", () => {
  test("an unknown flag exits 64 naming the flag, and nothing listens", async () => {
    for (const flag of ["--no-such-flag", "-J"]) {
      const port = await freePort();
      const ran = await run(["-l", "127.0.0.1", "-p", String(port), flag]);
      expect(ran.code).toBe(exit_code_usage);
      expect(ran.code).toBe(64);
      expect(ran.stderr).toContain("unknown option");
      expect(ran.stderr).toContain(flag.startsWith("--") ? flag : `-- ${flag.slice(1)}`);
      expect(await portOpen(port)).toBe(false);
    }
  });

  test("-m abc is a usage error that names -m and the value", async () => {
    const ran = await run(["-m", "abc"]);
    expect(ran.code).toBe(64);
    expect(ran.stderr).toContain("-m");
    expect(ran.stderr).toContain("abc");
  });

  test("-h prints the help, replication flags -x and -X included", async () => {
    const ran = await run(["-h"]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^-x, --replication-peer/m);
    expect(ran.stdout).toMatch(/^-X, --replication-ports/m);
    expect(ran.stdout).toMatch(/^-U, --udp-port/m);
  });

  test("-V prints the version", async () => {
    const ran = await run(["-V"]);
    expect(ran.code).toBe(0);
    expect(ran.stdout.trim()).toBe(version_line);
  });
});

describe("unix socket (-s, -a)", () => {
  for (const [mask, mode] of [["0777", 0o777], [null, 0o700]] as const) {
    const origin = mask ? `from -a ${mask}` : "by default";
    test(`serves set/get on the socket, mode ${mode.toString(8)} ${origin}, removed on SIGTERM`, async () => {
      const path = uniquePath(".sock");
      const args = ["-p", "0", "-s", path, ...(mask ? ["-a", mask] : [])];
      const proc = Bun.spawn([bun_path, main_path, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      try {
        // Polled every millisecond: the path appears only once it listens, with its final mode
        // (unix_listener.ts), so the first look may connect at once (no retry) and sees the mode.
        expect(await until(() => existsSync(path), start_wait_ms, 1)).toBe(true);
        expect(statSync(path).mode & 0o777).toBe(mode);
        expect(await unixCall(path, "set cli_k 3 0 2\r\nhi\r\n", "\r\n")).toBe("STORED\r\n");
        expect(await unixCall(path, "get cli_k\r\n", "END\r\n")).toBe("VALUE cli_k 3 2\r\nhi\r\nEND\r\n");
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
        expect(await proc.exited).toBe(0);
        clearTimeout(timer);
        expect(existsSync(path)).toBe(false);
        expect(readdirSync(dirname(path)).filter((name) => name.includes(basename(path)))).toEqual([]);
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
        await proc.exited;
        rmSync(path, { force: true });
      }
    });
  }

  test("a socket file left by a run that died is replaced (as memcached); any other file is refused and kept", async () => {
    const stale = uniquePath(".sock");
    const left = Bun.listen({ unix: stale, socket: { data() {} } });
    // Closed without unlinking its path, as after kill -9: stop() would remove it, so rename it back.
    renameSync(stale, `${stale}.keep`);
    left.stop(true);
    renameSync(`${stale}.keep`, stale);
    expect(lstatSync(stale).isSocket()).toBe(true);
    const stale_inode = lstatSync(stale).ino;
    const proc = Bun.spawn([bun_path, main_path, "-p", "0", "-s", stale], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    try {
      expect(await until(() => existsSync(stale) && lstatSync(stale).ino !== stale_inode, start_wait_ms)).toBe(true);
      expect(await unixCall(stale, "version\r\n", "\r\n")).toStartWith("VERSION ");
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(stale, { force: true });
    }
    const regular = uniquePath(".sock");
    writeFileSync(regular, "not a socket\n");
    try {
      const ran = await run(["-p", "0", "-s", regular]);
      expect(ran.code).toBe(71);
      expect(ran.stderr).toContain("Address already in use");
      expect(readFileSync(regular, "latin1")).toBe("not a socket\n");
    } finally {
      rmSync(regular, { force: true });
    }
  }, 3 * start_wait_ms);
});

describe("daemon mode and signals", () => {
  test("-d -P: the launcher exits 0, the daemon writes its pid, serves, and SIGTERM removes the pid file", async () => {
    const pid_file = uniquePath(".pid");
    const port = await freePort();
    let daemon_pid = 0;
    try {
      const launched_ms = Date.now();
      const launcher = await run(["-d", "-P", pid_file, "-l", "127.0.0.1", "-p", String(port)]);
      expect(launcher.code).toBe(0);
      expect(Date.now() - launched_ms).toBeLessThan(launcher_wait_ms);
      expect(await until(() => existsSync(pid_file) && readFileSync(pid_file, "latin1").endsWith("\n"), start_wait_ms))
        .toBe(true);
      daemon_pid = Number(readFileSync(pid_file, "latin1").trim());
      expect(Number.isInteger(daemon_pid) && daemon_pid > 0).toBe(true);
      expect(alive(daemon_pid)).toBe(true);
      await waitForPort(port, start_wait_ms);
      const client = await RawClient.connect(port);
      expect(await client.call("version\r\n")).toBe("VERSION 1.6.18\r\n");
      client.close();
      process.kill(daemon_pid, "SIGTERM");
      expect(await until(() => !alive(daemon_pid), exit_wait_ms)).toBe(true);
      expect(existsSync(pid_file)).toBe(false);
      expect(await portOpen(port)).toBe(false);
    } finally {
      if (daemon_pid > 0 && alive(daemon_pid)) process.kill(daemon_pid, "SIGKILL");
      rmSync(pid_file, { force: true });
    }
  });

  test("SIGTERM stops a server with exit code 0", async () => {
    const server = await startOurs();
    const client = await RawClient.connect(server.port);
    expect(await client.call("version\r\n")).toBe("VERSION 1.6.18\r\n");
    client.close();
    expect(await server.stop("SIGTERM")).toBe(0);
  });
});
