// `bun run magent` as a process: -h, usage errors, going to the background like magent (and -D
// not), the unix socket (-f).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { bun_path, freePort, project_root, startMemcached, waitForPort, type Spawned } from "../helpers/procs.ts";
import { eventually } from "../helpers/cache_client.ts";

const magent = join(project_root, "src", "magent.ts");

function runSync(args: string[]): { code: number; out: string; err: string } {
  const result = Bun.spawnSync([bun_path, magent, ...args], { cwd: project_root, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: result.exitCode ?? -1, out: result.stdout.toString(), err: result.stderr.toString() };
}

async function ask(options: { port?: number; unix?: string }, request: string): Promise<string> {
  let text = "";
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const socket = await Bun.connect({
    ...(options.unix !== undefined ? { unix: options.unix } : { hostname: "127.0.0.1", port: options.port! }),
    socket: {
      data(_s, chunk) {
        text += Buffer.from(chunk).toString("latin1");
        if (text.endsWith("END\r\n") || /^VERSION .*\r\n$/.test(text)) done();
      },
      close: () => done(),
    },
  } as Parameters<typeof Bun.connect>[0]);
  socket.write(request);
  await Promise.race([finished, Bun.sleep(5_000)]);
  socket.end();
  return text;
}

function portOpen(port: number): Promise<boolean> {
  return waitForPort(port, 200).then(() => true, () => false);
}

describe("magent command line", () => {
  let backend: Spawned;

  beforeAll(async () => {
    backend = await startMemcached();
  });

  afterAll(async () => {
    await backend?.stop();
  });

  test("-h prints magent's usage and exits 0; `bun run magent` is wired", () => {
    const help = runSync(["-h"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("memcached agent v0.5");
    expect(help.out).toContain("-s ip:port");
    expect(help.out).toContain("-k, use ketama");
    const script = Bun.spawnSync([bun_path, "run", "magent", "-h"], { cwd: project_root, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(script.exitCode).toBe(0);
    expect(script.stdout.toString()).toContain("memcached agent v0.5");
  });

  test("usage errors exit 64 and name the flag", () => {
    const none = runSync([]);
    expect(none.code).toBe(64);
    expect(none.err).toContain('please provide -s "ip:port" argument');
    const bad = runSync(["-s", "127.0.0.1:1", "-n", "lots"]);
    expect(bad.code).toBe(64);
    expect(bad.err).toContain("option -n");
  });

  test("without -D it goes to the background like magent; the daemon answers and stops by its pid", async () => {
    const port = await freePort();
    const started = Date.now();
    const result = runSync(["-l", "127.0.0.1", "-p", String(port), "-s", `127.0.0.1:${backend.port}`]);
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const stats = await ask({ port }, "stats\r\n");
    expect(stats.startsWith("memcached agent v0.5\r\n")).toBe(true);
    const pid = Number(stats.match(/STAT pid (\d+)/)![1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGTERM");
    expect(await eventually(async () => !(await portOpen(port)), 5_000)).toBe(true);
  });

  test("a daemon that cannot listen reports it and the foreground exits 1", async () => {
    const port = await freePort();
    const blocker = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      const result = runSync(["-l", "127.0.0.1", "-p", String(port), "-s", `127.0.0.1:${backend.port}`]);
      expect(result.code).toBe(1);
      expect(result.err).toContain("failed to listen");
    } finally {
      blocker.stop(true);
    }
  });

  test("-f: a unix socket (with -p 0, TCP off)", async () => {
    const path = join(tmpdir(), `magent-${process.pid}-${Date.now()}.sock`);
    const proc = Bun.spawn([bun_path, magent, "-D", "-p", "0", "-f", path, "-s", `127.0.0.1:${backend.port}`], {
      cwd: project_root, stdout: "ignore", stderr: "ignore",
    });
    try {
      expect(await eventually(async () => existsSync(path), 10_000)).toBe(true);
      expect(await ask({ unix: path }, "version\r\n")).toBe("VERSION memcached agent v0.5\r\n");
      expect(await ask({ unix: path }, "set u 0 0 1\r\nx\r\nget u\r\n")).toBe("STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(existsSync(path)).toBe(false); // removed at stop
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(path, { force: true });
    }
  });
});
