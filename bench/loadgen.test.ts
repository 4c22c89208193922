// Smoke test of the load generator (bench/loadgen, `zig build loadgen` → zig-out/bin/mcload):
// its Zig unit tests, its CLI, a short run against stock memcached whose counts must add up, and
// runs against fake servers that answer garbage or nothing (reported, not a crash, on time).
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { project_root, runZig, zigPath } from "../src/native/build.ts";
import { freePort, haveMemcached, startMemcached, type Spawned } from "../test/helpers/procs.ts";

const mcload_path = join(project_root, "zig-out", "bin", "mcload");
/** Any mcload run here is short; this bounds it even if it hangs. */
const run_ms_max = 20_000;

interface McloadRun {
  exitCode: number | null;
  stdout: string;
  json: Record<string, any> | null;
  stderr: string;
}

async function mcload(args: string[]): Promise<McloadRun> {
  const proc = Bun.spawn([mcload_path, ...args], { stdout: "pipe", stderr: "pipe", cwd: project_root });
  const timer = setTimeout(() => proc.kill("SIGKILL"), run_ms_max);
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  const line = stdout.trim();
  return { exitCode, stdout, json: line.startsWith("{") ? JSON.parse(line) : null, stderr };
}

beforeAll(() => {
  runZig(["loadgen", "-Doptimize=ReleaseFast"]);
}, 120_000);

let servers: Spawned[] = [];
let fakes: Array<{ stop(closeActive?: boolean): void }> = [];
afterEach(async () => {
  for (const server of servers) await server.stop();
  for (const fake of fakes) fake.stop(true);
  servers = [];
  fakes = [];
});

test("Zig unit tests of the load generator pass", () => {
  const result = Bun.spawnSync([zigPath(), "test", "-lc", "bench/loadgen/main.zig"], {
    cwd: project_root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString() + result.stdout.toString());
}, 120_000);

describe("CLI", () => {
  test("--help lists the flags", async () => {
    const run = await mcload(["--help"]);
    expect(run.exitCode).toBe(0);
    for (const flag of ["--server", "--conns", "--multiget", "--pipeline", "--preload", "--cpu"]) {
      expect(run.stdout).toContain(flag);
    }
  });

  test("a bad value is a usage error naming the flag", async () => {
    const run = await mcload(["--get-ratio", "2"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("--get-ratio");
    expect(run.json).toBeNull();
  });
});

describe.skipIf(!haveMemcached())("against stock memcached", () => {
  test("preloaded multiget run: every key a hit, no errors, counts add up", async () => {
    const server = await startMemcached(["-t", "1", "-m", "64"]);
    servers.push(server);
    const run = await mcload([
      "--server", `127.0.0.1:${server.port}`, "--preload", "--keys", "2000", "--conns", "4",
      "--pipeline", "4", "--multiget", "3", "--value-min", "10", "--value-max", "3000",
      "--duration", "0.5", "--warmup", "0.1",
    ]);
    expect(run.exitCode).toBe(0);
    const json = run.json!;
    expect(json.preload_complete).toBe(true);
    expect(json.preload_sets).toBe(2000);
    expect(json.errors).toBe(0);
    expect(json.closed_conns).toBe(0);
    expect(json.ops).toBeGreaterThan(0);
    expect(json.ops).toBe(json.gets + json.sets);
    expect(json.misses).toBe(0);
    expect(json.hits).toBe(json.gets * 3);
    expect(json.latency_samples).toBe(json.ops);
    expect(json.p50_us).toBeLessThanOrEqual(json.p99_us);
    expect(json.p99_us).toBeLessThanOrEqual(json.max_us);
    expect(json.client_cpu_s).toBeGreaterThan(0);
  }, 30_000);

  test("error replies are counted and the stream stays in step", async () => {
    // Items above 2 KiB are refused with SERVER_ERROR; memcached swallows their data.
    const server = await startMemcached(["-t", "1", "-m", "64", "-I", "2k", "-o", "slab_chunk_max=1024"]);
    servers.push(server);
    const run = await mcload([
      "--server", `127.0.0.1:${server.port}`, "--conns", "2", "--set-only", "--value-min", "1000",
      "--value-max", "4000", "--duration", "0.3", "--warmup", "0",
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.json!.error_replies).toBeGreaterThan(0);
    expect(run.json!.sets).toBeGreaterThan(0);
    expect(run.json!.protocol_errors).toBe(0);
    expect(run.json!.last_error).toContain("SERVER_ERROR");
  }, 30_000);

  test("--binary: single and multi gets (GETK, GETKQ + NOOP) and sets, every key a hit, E2BIG counted in step", async () => {
    const server = await startMemcached(["-t", "1", "-m", "64"]);
    servers.push(server);
    for (const multiget of ["1", "3"]) {
      const run = await mcload([
        "--server", `127.0.0.1:${server.port}`, "--binary", "--preload", "--keys", "2000", "--conns", "4",
        "--pipeline", "4", "--multiget", multiget, "--value-min", "10", "--value-max", "3000",
        "--duration", "0.5", "--warmup", "0.1",
      ]);
      expect(run.exitCode).toBe(0);
      const json = run.json!;
      expect(json.preload_sets).toBe(2000);
      expect([json.errors, json.closed_conns, json.misses]).toEqual([0, 0, 0]);
      expect(json.hits).toBe(json.gets * Number(multiget));
      expect(json.ops).toBe(json.gets + json.sets);
    }
    const small = await startMemcached(["-t", "1", "-m", "64", "-I", "2k", "-o", "slab_chunk_max=1024"]);
    servers.push(small);
    const refused = await mcload([
      "--server", `127.0.0.1:${small.port}`, "--binary", "--conns", "2", "--set-only", "--value-min", "1000",
      "--value-max", "4000", "--duration", "0.3", "--warmup", "0",
    ]);
    expect(refused.json!.error_replies).toBeGreaterThan(0);
    expect(refused.json!.protocol_errors).toBe(0);
    expect(refused.json!.last_error).toBe("Too large.");
  }, 30_000);
});

describe("against fake servers", () => {
  test("garbage replies drop the connections and are reported", async () => {
    const port = await freePort();
    fakes.push(Bun.listen({
      hostname: "127.0.0.1",
      port,
      socket: { data(socket) { socket.write("HELLO\r\n"); } },
    }));
    const run = await mcload(["--server", `127.0.0.1:${port}`, "--conns", "3", "--duration", "2", "--warmup", "0"]);
    expect(run.exitCode).toBe(1);
    expect(run.json!.stopped_by).toBe("no_connections");
    expect(run.json!.protocol_errors).toBe(3);
    expect(run.json!.closed_conns).toBe(3);
    expect(run.stderr).toContain("protocol_violation");
  });

  test("a server that never answers: the run still ends on time", async () => {
    const port = await freePort();
    fakes.push(Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }));
    const started = performance.now();
    const run = await mcload(["--server", `127.0.0.1:${port}`, "--conns", "2", "--pipeline", "3", "--duration", "0.5", "--warmup", "0"]);
    const elapsed_ms = performance.now() - started;
    expect(run.exitCode).toBe(0);
    expect(run.json!.ops).toBe(0);
    expect(run.json!.inflight_at_end).toBe(6);
    expect(elapsed_ms).toBeLessThan(5_000);
  });
});
