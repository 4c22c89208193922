// `bun bench/proxy.ts`: our magent against nutcracker (twemproxy) in front of the same backends.
//
// Starts 2 stock memcached backends, our proxy (`bun src/magent.ts -D`) and nutcracker (YAML
// config: md5 + ketama over the same two servers) in front of them, all on 127.0.0.1, and drives
// each proxy with zig-out/bin/mcload (built if missing) in interleaved rounds — ours then
// nutcracker, then the other way round — so machine drift hits both alike. Each proxy first gets
// one unrecorded 2 s run (ours is JIT-compiled; a proxy in service is warm). Prints each run
// (ops/s, p50/p99 µs, errors, the proxy's CPU µs per op) and a summary: the median ops/s and p99
// of each proxy and the ratio ours ÷ nutcracker.
//
// Usage: bun bench/proxy.ts [--rounds 3] [--duration 5] [--conns 50] [--keys 10000]
//        [--value-size 100] [--get-ratio 0.9] [--pool 20] [--json FILE]
// memcached and nutcracker are installed with apt-get when missing and we are root; otherwise, or
// when the install fails, it exits 1 saying which package to install (so does `bun bench`).
// With two cores or more both proxies run on core 0 (taskset) and mcload on core 1; memcached
// floats. Every process started here is stopped by PID (also on SIGINT/SIGTERM); every wait is
// bounded.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackage } from "./lib/debian.ts";
import { freePort, portOpen } from "./lib/servers.ts";

const project_root = join(import.meta.dir, "..");
const mcload_path = join(project_root, "zig-out", "bin", "mcload");
const zig_path = join(project_root, "node_modules", "@ryoppippi", "zig-linux-x64", "zig");
const memcached_path = "/usr/bin/memcached";
const nutcracker_path = "/usr/sbin/nutcracker";
const port_wait_ms_max = 15_000;
const stop_wait_ms_max = 5_000;
const build_ms_max = 10 * 60_000;
/** mcload stops itself after preload + warmup + duration; this is the harness's backstop. */
const run_slack_ms = 60_000;
const clock_ticks_per_s = 100; // /proc/<pid>/stat utime/stime units (USER_HZ)
/** The unrecorded run each proxy gets before the rounds. */
const warm_run_s = 2;

interface Options {
  rounds: number;
  duration_s: number;
  conns: number;
  keys: number;
  value_size: number;
  get_ratio: number;
  pool: number;
  json: string | null;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rounds: 3, duration_s: 5, conns: 50, keys: 10_000, value_size: 100, get_ratio: 0.9, pool: 20, json: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const n = Number(value);
    switch (flag) {
      case "--rounds": o.rounds = n; break;
      case "--duration": o.duration_s = n; break;
      case "--conns": o.conns = n; break;
      case "--keys": o.keys = n; break;
      case "--value-size": o.value_size = n; break;
      case "--get-ratio": o.get_ratio = n; break;
      case "--pool": o.pool = n; break;
      case "--json": o.json = value; break;
      default: throw new Error(`unknown flag ${flag}`);
    }
    if (flag !== "--json" && !(Number.isFinite(n) && n >= 0)) throw new Error(`${flag}: '${value}' is not a number`);
  }
  if (o.rounds < 1 || o.rounds > 20) throw new Error("--rounds must be 1..20");
  return o;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Child {
  name: string;
  proc: Bun.Subprocess;
  port: number;
}

const children = new Set<Child>();

async function waitForPort(port: number): Promise<boolean> {
  const deadline = Date.now() + port_wait_ms_max;
  while (Date.now() < deadline) {
    if (await portOpen(port)) return true;
    await Bun.sleep(25);
  }
  return false;
}

async function start(name: string, cmd: string[], port: number): Promise<Child> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "pipe", cwd: project_root });
  const child = { name, proc, port };
  children.add(child);
  if (!(await waitForPort(port))) {
    await stop(child);
    throw new Error(`${name} did not open port ${port}: ${cmd.join(" ")}`);
  }
  return child;
}

async function stop(child: Child): Promise<void> {
  children.delete(child);
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGTERM");
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), stop_wait_ms_max);
  await child.proc.exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stop(child)));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void stopAll().then(() => process.exit(130));
  });
}

/** The process's user+system CPU seconds so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clock_ticks_per_s; // utime, stime
}

function ensureLoadgen(): void {
  if (existsSync(mcload_path)) return;
  console.log("building mcload (zig build loadgen -Doptimize=ReleaseFast) ...");
  const build = Bun.spawnSync([zig_path, "build", "loadgen", "-Doptimize=ReleaseFast"], {
    cwd: project_root, stdout: "inherit", stderr: "inherit", timeout: build_ms_max,
  });
  if (build.exitCode !== 0 || !existsSync(mcload_path)) throw new Error("could not build mcload");
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Run {
  proxy: string;
  round: number;
  ops_per_s: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  proxy_cpu_us_per_op: number;
}

async function drive(child: Child, round: number, o: Options, pin: boolean): Promise<Run> {
  const args = [
    "--server", `127.0.0.1:${child.port}`, "--conns", String(o.conns), "--duration", String(o.duration_s),
    "--keys", String(o.keys), "--value-size", String(o.value_size), "--get-ratio", String(o.get_ratio), "--preload",
  ];
  if (pin) args.push("--cpu", "1");
  const proc = Bun.spawn([mcload_path, ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), o.duration_s * 1000 + run_slack_ms);
  // CPU is sampled around the whole mcload run (preload and warmup included).
  const cpu_before = cpuSeconds(child.proc.pid);
  const stdout = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  const cpu_used = cpuSeconds(child.proc.pid) - cpu_before;
  const line = stdout.trim().split("\n").pop() ?? "";
  let report: Record<string, number>;
  try {
    report = JSON.parse(line);
  } catch {
    throw new Error(`mcload against ${child.name} printed no report (exit ${proc.exitCode}): ${line.slice(0, 200)}`);
  }
  // Ops the proxy served meanwhile: the preload's sets, the warmup's (estimated at the measured
  // rate) and the measured ones.
  const all_ops = o.keys + report.ops_per_s! * report.warmup_s! + report.ops!;
  return {
    proxy: child.name,
    round,
    ops_per_s: report.ops_per_s!,
    p50_us: report.p50_us!,
    p99_us: report.p99_us!,
    errors: report.errors! + report.error_replies! + report.protocol_errors!,
    proxy_cpu_us_per_op: (cpu_used * 1e6) / all_ops,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const pad = (text: string, width: number) => text.padStart(width);

function printRun(run: Run): void {
  console.log(
    `round ${run.round}  ${run.proxy.padEnd(10)} ${pad(run.ops_per_s.toFixed(0), 8)} ops/s  p50 ${pad(String(run.p50_us), 6)} µs  ` +
      `p99 ${pad(String(run.p99_us), 6)} µs  errors ${run.errors}  proxy cpu ${run.proxy_cpu_us_per_op.toFixed(1)} µs/op`,
  );
}

function summarize(runs: Run[], names: string[]): Record<string, number> {
  const summary: Record<string, number> = {};
  console.log("\nsummary (medians over rounds)");
  console.log(`${"proxy".padEnd(10)} ${pad("ops/s", 9)} ${pad("p99 µs", 8)} ${pad("cpu µs/op", 10)}`);
  for (const name of names) {
    const mine = runs.filter((run) => run.proxy === name);
    const ops = median(mine.map((run) => run.ops_per_s));
    const p99 = median(mine.map((run) => run.p99_us));
    const cpu = median(mine.map((run) => run.proxy_cpu_us_per_op));
    summary[`${name}_ops_per_s`] = ops;
    summary[`${name}_p99_us`] = p99;
    summary[`${name}_cpu_us_per_op`] = cpu;
    console.log(`${name.padEnd(10)} ${pad(ops.toFixed(0), 9)} ${pad(p99.toFixed(0), 8)} ${pad(cpu.toFixed(1), 10)}`);
  }
  const ratio = summary["magent_ops_per_s"]! / summary["nutcracker_ops_per_s"]!;
  const per_round = [...new Set(runs.map((run) => run.round))].map((round) => {
    const ours = runs.find((run) => run.round === round && run.proxy === "magent")!;
    const theirs = runs.find((run) => run.round === round && run.proxy === "nutcracker")!;
    return ours.ops_per_s / theirs.ops_per_s;
  });
  summary["ratio_ops"] = ratio;
  summary["ratio_p99"] = summary["magent_p99_us"]! / summary["nutcracker_p99_us"]!;
  console.log(`\nours ÷ nutcracker: ops/s ${ratio.toFixed(2)} (per round: ${per_round.map((r) => r.toFixed(2)).join(", ")}), ` +
    `p99 ${summary["ratio_p99"]!.toFixed(2)}`);
  return summary;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  for (const [path, pkg] of [[memcached_path, "memcached"], [nutcracker_path, "nutcracker"]] as const) {
    const missing = ensureDebianPackage(path, pkg, (line) => console.log(line));
    if (missing !== null) throw new Error(missing);
  }
  ensureLoadgen();
  const pin = cpus().length >= 2;
  const taskset = pin && Bun.which("taskset") !== null ? ["taskset", "-c", "0"] : [];
  const dir = mkdtempSync(join(tmpdir(), "magent-bench-"));
  try {
    const root = process.getuid?.() === 0 ? ["-u", "root"] : [];
    const backends: Child[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      backends.push(await start(`memcached-${i + 1}`, [memcached_path, "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", "256", ...root], port));
    }
    const servers = backends.map((b) => `127.0.0.1:${b.port}`);
    const ours_port = await freePort();
    const ours = await start("magent", [
      ...taskset, process.execPath, join(project_root, "src", "magent.ts"), "-D", "-l", "127.0.0.1", "-p", String(ours_port),
      "-i", String(o.pool), ...servers.flatMap((s) => ["-s", s]),
    ], ours_port);
    const nut_port = await freePort();
    const config = join(dir, "nutcracker.yml");
    writeFileSync(config, [
      "bench:", `  listen: 127.0.0.1:${nut_port}`, "  hash: md5", "  distribution: ketama", "  timeout: 2000",
      "  servers:", ...servers.map((s) => `   - ${s}:1`), "",
    ].join("\n"));
    const stats_port = await freePort();
    const nutcracker = await start("nutcracker", [
      ...taskset, nutcracker_path, "-c", config, "-s", String(stats_port), "-a", "127.0.0.1",
      "-o", join(dir, "nutcracker.log"), "-p", join(dir, "nutcracker.pid"),
    ], nut_port);
    console.log(`backends ${servers.join(" ")}; magent :${ours_port} (-i ${o.pool}); nutcracker :${nut_port}; ` +
      `${o.conns} conns, ${o.duration_s} s, ${o.keys} keys, ${o.value_size} B, get ratio ${o.get_ratio}; ` +
      `${pin ? "proxies on core 0, mcload on core 1" : "unpinned"}; ${cpus().length} cores\n`);
    // One unrecorded run each first: our proxy is JIT-compiled, and a proxy in service is warm.
    for (const child of [ours, nutcracker]) await drive(child, 0, { ...o, duration_s: warm_run_s }, pin);
    const runs: Run[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const order = round % 2 === 1 ? [ours, nutcracker] : [nutcracker, ours];
      for (const child of order) {
        const run = await drive(child, round, o, pin);
        printRun(run);
        runs.push(run);
      }
    }
    const summary = summarize(runs, ["magent", "nutcracker"]);
    if (o.json !== null) writeFileSync(o.json, JSON.stringify({ options: o, runs, summary }, null, 2) + "\n");
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench/proxy.ts: ${error instanceof Error ? error.message : String(error)}`);
  await stopAll();
  process.exit(1);
}
