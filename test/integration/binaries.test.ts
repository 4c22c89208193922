// Single-file binaries (issue 13): `bun run build`'s dist/repcached and dist/magent, built here into
// a temporary directory (scripts/build-binaries.ts --outdir) and run from an empty directory far
// from the checkout: the server alone, a replicated pair of two binaries behind the magent binary,
// and both daemon modes (which re-execute the binary). Prints sizes and time to first answer.
// Every process is stopped by PID; every wait has a deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun_path, freePort, project_root, RawClient, waitForPort } from "../helpers/procs.ts";
import { untilValue } from "../helpers/cache_client.ts";
import { exit_code_usage, version_line } from "../../src/config.ts";

const build_wait_ms = 120_000;
const exit_wait_ms = 10_000;
/** A test's bound: several processes start and stop in each (a loaded 2-core machine is slow). */
const test_wait_ms = 60_000;
const start_wait_ms = 15_000;
const poll_ms = 10;

let root = "";
let bin_dir = "";
let work_dir = "";
let unpack_dir = "";
const started: Bun.Subprocess[] = [];
const daemon_pids: number[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "repcached-binaries-"));
  bin_dir = join(root, "bin");
  work_dir = join(root, "work");
  unpack_dir = join(root, "tmp");
  mkdirSync(work_dir);
  mkdirSync(unpack_dir);
  const build = Bun.spawn([bun_path, join(project_root, "scripts", "build-binaries.ts"), "--outdir", bin_dir], {
    cwd: project_root, stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const timer = setTimeout(() => build.kill("SIGKILL"), build_wait_ms);
  const [stdout, stderr, code] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text(), build.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`build-binaries failed (${code}):\n${stderr}${stdout}`);
  for (const name of ["repcached", "magent"]) {
    console.log(`binaries: ${name} ${(statSync(join(bin_dir, name)).size / 1024 / 1024).toFixed(1)} MiB`);
  }
}, build_wait_ms + 5_000);

afterAll(async () => {
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  await Promise.all(started.map((proc) => proc.exited));
  for (const pid of daemon_pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return false;
  }
}

/** Starts a binary from the empty work directory, with TMPDIR pointing at our own directory. */
function spawnBinary(name: string, args: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  const proc = Bun.spawn([join(bin_dir, name), ...args], {
    cwd: work_dir, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, TMPDIR: unpack_dir },
  });
  started.push(proc);
  return proc;
}

async function runBinary(name: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnBinary(name, args);
  const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function stop(proc: Bun.Subprocess): Promise<number | null> {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

/** Polls `version` until it answers; returns ms since `since` (performance.now()). */
async function firstAnswerMs(port: number, since: number): Promise<number> {
  const deadline = Date.now() + start_wait_ms;
  for (;;) {
    try {
      const client = await RawClient.connect(port);
      const reply = await client.call("version\r\n", "\r\n", 1_000);
      client.close();
      if (reply.startsWith("VERSION ")) return performance.now() - since;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`port ${port} did not answer within ${start_wait_ms} ms`);
    await Bun.sleep(poll_ms);
  }
}

async function until(ready: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(poll_ms * 2);
  }
  return true;
}

describe("dist/repcached and dist/magent", () => {
  test("the server binary: -V and usage errors; serves set/get from an empty directory, its library copy removed", async () => {
    const version = await runBinary("repcached", ["-V"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(version_line);
    const usage = await runBinary("repcached", ["-m", "abc"]);
    expect(usage.code).toBe(exit_code_usage);
    expect(usage.stderr).toContain("option -m");

    const port = await freePort();
    const t0 = performance.now();
    const server = spawnBinary("repcached", ["-l", "127.0.0.1", "-p", String(port), "-U", "0"]);
    const ms = await firstAnswerMs(port, t0);
    console.log(`binaries: repcached first answer ${ms.toFixed(0)} ms after spawn`);
    const client = await RawClient.connect(port);
    expect(await client.call("set bin_k 7 0 5\r\nhello\r\n")).toBe("STORED\r\n");
    expect(await client.call("get bin_k\r\n", "END\r\n")).toBe("VALUE bin_k 7 5\r\nhello\r\nEND\r\n");
    client.close();
    expect(readdirSync(unpack_dir)).toEqual([]); // the private copy of the library is gone once loaded
    expect(readdirSync(work_dir)).toEqual([]);
    expect(await stop(server)).toBe(0);
  }, test_wait_ms);

  test("the server binary at -t 3: its worker threads are inside it and share the one store", async () => {
    const port = await freePort();
    const server = spawnBinary("repcached", ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", "3"]);
    await firstAnswerMs(port, performance.now());
    const clients: RawClient[] = [];
    for (let i = 0; i < 12; i++) clients.push(await RawClient.connect(port));
    for (const [i, c] of clients.entries()) expect(await c.call(`set t${i} 0 0 1\r\n${i % 10}\r\n`)).toBe("STORED\r\n");
    for (const [i, c] of clients.entries()) {
      const j = (i + 5) % clients.length;
      expect(await c.call(`get t${j}\r\n`, "END\r\n")).toBe(`VALUE t${j} 0 1\r\n${j % 10}\r\nEND\r\n`);
    }
    expect(await clients[0]!.call("stats\r\n", "END\r\n")).toContain("STAT threads 3\r\n");
    for (const c of clients) c.close();
    expect(readdirSync(unpack_dir)).toEqual([]);
    expect(await stop(server)).toBe(0);
  }, test_wait_ms);

  test("a replicated pair of two server binaries behind the magent binary", async () => {
    const [port_a, port_b, port_rep, port_proxy] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const a = spawnBinary("repcached", ["-l", "127.0.0.1", "-p", String(port_a), "-U", "0", "-X", String(port_rep)]);
    await waitForPort(port_a, start_wait_ms);
    const b = spawnBinary("repcached", ["-l", "127.0.0.1", "-p", String(port_b), "-U", "0", "-x", "127.0.0.1", "-X", String(port_rep)]);
    await waitForPort(port_b, start_wait_ms);
    const t0 = performance.now();
    const proxy = spawnBinary("magent", ["-D", "-l", "127.0.0.1", "-p", String(port_proxy), "-s", `127.0.0.1:${port_a}`, "-b", `127.0.0.1:${port_b}`]);
    console.log(`binaries: magent first answer ${(await firstAnswerMs(port_proxy, t0)).toFixed(0)} ms after spawn`);
    try {
      const via_proxy = await RawClient.connect(port_proxy);
      expect(await via_proxy.call("set pair_k 3 0 4\r\nabcd\r\n")).toBe("STORED\r\n");
      expect(await via_proxy.call("get pair_k\r\n", "END\r\n")).toBe("VALUE pair_k 3 4\r\nabcd\r\nEND\r\n");
      via_proxy.close();
      const on_b = await RawClient.connect(port_b);
      expect(await on_b.call("set from_b 0 0 1\r\nb\r\n")).toBe("STORED\r\n");
      await untilValue(on_b, "pair_k", "abcd"); // from A by replication (and the proxy's backup copy)
      on_b.close();
      const on_a = await RawClient.connect(port_a);
      await untilValue(on_a, "from_b", "b"); // only replication carries it to A
      on_a.close();
    } finally {
      expect(await stop(proxy)).toBe(0);
      await stop(b);
      await stop(a);
    }
  }, test_wait_ms);

  test("daemon modes re-execute the binary: repcached -d -P, magent without -D", async () => {
    const pid_file = join(root, "repcached.pid");
    const port = await freePort();
    const launcher = await runBinary("repcached", ["-d", "-P", pid_file, "-l", "127.0.0.1", "-p", String(port), "-U", "0"]);
    expect(launcher.code).toBe(0);
    expect(await until(() => existsSync(pid_file) && readFileSync(pid_file, "latin1").endsWith("\n"), start_wait_ms)).toBe(true);
    const daemon_pid = Number(readFileSync(pid_file, "latin1").trim());
    daemon_pids.push(daemon_pid);
    await firstAnswerMs(port, performance.now());
    process.kill(daemon_pid, "SIGTERM");
    expect(await until(() => !alive(daemon_pid), exit_wait_ms)).toBe(true);

    const proxy_port = await freePort();
    const proxy_launcher = await runBinary("magent", ["-l", "127.0.0.1", "-p", String(proxy_port), "-s", "127.0.0.1:1"]);
    expect(proxy_launcher.stderr).toBe("");
    expect(proxy_launcher.code).toBe(0);
    // The daemon: the one process running this magent binary (a path only this test uses).
    const magent_path = join(bin_dir, "magent");
    const running = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === magent_path;
      } catch {
        return false;
      }
    }).map(Number);
    daemon_pids.push(...running);
    expect(running).toHaveLength(1);
    const client = await RawClient.connect(proxy_port);
    expect(await client.call("version\r\n")).toBe("VERSION memcached agent v0.5\r\n");
    client.close();
    process.kill(running[0]!, "SIGTERM");
    expect(await until(() => !alive(running[0]!), exit_wait_ms)).toBe(true);
  }, test_wait_ms);
});
