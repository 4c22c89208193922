// `bun bench`: repcached-bun against stock memcached on this machine.
//
// Parts (choose with --only): the load comparison (workloads a–f, e being a over the binary protocol and f a in the meta protocol: memcached -t 1, memcached -t 4,
// ours, ours + a live replication peer, side by side on 127.0.0.1, each driven by mcload in
// interleaved rounds so drift cancels), the threads comparison (threads: memcached and ours at
// -t 1, 2 and 4, nothing pinned), the memory comparison (rss: 1M items of 100 B), and the
// mitata micro-benchmarks (micro: bench/micro.bench.ts and bench/threads.bench.ts in subprocesses).
// Output: progress lines and tables on stdout; <date>.md, <date>.svg and <date>.json in the
// results directory (bench/results for a full run). Usage: bench/lib/cli.ts.
//
// A server that cannot start is a failed row with its reason, never a crash. Every process this
// harness starts is stopped by PID, on success, on error and on SIGINT/SIGTERM; every wait is bounded.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { nativeLibraryPath, project_root } from "../src/native/build.ts";
import { exitAfter, killChildren, track } from "./lib/children.ts";
import { ensureDebianPackage } from "./lib/debian.ts";
import { isoDate, parseCli, usage, type Options } from "./lib/cli.ts";
import { buildLoadgen, haveLoadgen, loadgen_path, loadgenArgs, type LoadgenOptions } from "./lib/loadgen.ts";
import { renderReport, type ReportDoc, type WorkloadSection } from "./lib/markdown.ts";
import { measure, preload_timeout_s } from "./lib/measure.ts";
import { sample_interval_ms } from "./lib/proc.ts";
import { measureRss, rssCells, type RssResult } from "./lib/rss.ts";
import { schedule } from "./lib/schedule.ts";
import { startServer, type RunningServer, type ServerEnv, type StartResult } from "./lib/servers.ts";
import { noiseNote, noisy_background_cores, saturationNote, summarize, type Row, type Sample } from "./lib/summary.ts";
import { renderChart, type ChartSpec } from "./lib/svg.ts";
import { fmtFixed, fmtInt, fmtMiB, fmtPercent, oneLine, renderMarkdown, renderText, rowCells } from "./lib/table.ts";
import { threadsCells, threadsRows, type ThreadsRow } from "./lib/threads.ts";
import {
  baseline_server, rss_items, rss_servers, rss_value_bytes, server_ids, server_labels, threads_server_ids,
  threads_servers, threads_workloads, workloads, type ServerId, type Workload,
} from "./lib/workloads.ts";

const memcached_path = "/usr/bin/memcached";
const server_cpu = 0;
const loadgen_cpu = 1;
const micro_timeout_ms = 10 * 60 * 1000;
const reason_chars_max = 140;
/** Other processes busier than this during a run are called out: the machine was not quiet. */
const busy_background_cores = 0.1;

const started_ms = performance.now();
const label = (id: string) => server_labels[id as ServerId] ?? id;
const say = (line: string) => console.log(line);

/** Servers of the load comparison, stopped gracefully at the end or on a signal. */
const live_servers = new Set<RunningServer>();
/** Parts run as scripts (proxy, micro) that failed: any makes the run exit 1. */
const failed_parts: string[] = [];
let interrupted = false;

async function stopAll(): Promise<void> {
  await Promise.all([...live_servers].map((s) => s.stop()));
  live_servers.clear();
}

/** On SIGINT/SIGTERM: stop the servers, then SIGKILL anything else we spawned (mcload, micro). */
function onSignal(signal: NodeJS.Signals): void {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${signal}: stopping every process this run started`);
    void stopAll()
      .then(killChildren)
      .finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Set-up: environment, pinning, memcached, mcload, the native library.

function commandOutput(argv: string[]): string | null {
  try {
    const result = Bun.spawnSync(argv, { cwd: project_root, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    return result.exitCode === 0 ? result.stdout.toString().trim() : null;
  } catch {
    return null;
  }
}

function environmentLines(): string[] {
  const cpu_model = cpus()[0]?.model ?? "unknown CPU";
  const commit = commandOutput(["git", "rev-parse", "--short", "HEAD"]) ?? "unknown";
  const dirty = (commandOutput(["git", "status", "--porcelain"]) ?? "").length > 0 ? " (with uncommitted changes)" : "";
  return [
    `${cpus().length} CPUs: ${cpu_model}; Linux ${release()}`,
    `bun ${Bun.version} (${process.execPath})`,
    `memcached: ${existsSync(memcached_path) ? (commandOutput([memcached_path, "-V"]) ?? memcached_path) : "not installed"}`,
    `repcached-bun commit ${commit}${dirty}`,
  ];
}

/** Installs Debian's memcached if it is missing; null when it is there, else why it is not. */
function ensureMemcached(): string | null {
  return ensureDebianPackage(memcached_path, "memcached", say);
}

interface Pinning {
  server_cpu: number | null;
  loadgen_cpu: number | null;
  note: string;
}

function pinning(options: Options): Pinning {
  const off = (why: string): Pinning => ({ server_cpu: null, loadgen_cpu: null, note: why });
  if (!options.pin) return off("not pinned (--no-pin)");
  if (Bun.which("taskset") === null) return off("not pinned: taskset (util-linux) not found");
  if (cpus().length < 2) return off(`not pinned: ${cpus().length} CPU (need 2: one for the server, one for mcload)`);
  return {
    server_cpu,
    loadgen_cpu,
    note: `taskset (util-linux) found: each loaded server pinned to core ${server_cpu} (taskset -c ${server_cpu}), mcload to core ${loadgen_cpu} (--cpu ${loadgen_cpu}); the replication peer B is not pinned (it stands for another machine)`,
  };
}

/** Builds mcload; returns null when a binary is there to use, else why not. */
function prepareLoadgen(problems: string[]): string | null {
  say("building mcload: zig build loadgen -Doptimize=ReleaseFast …");
  const built = buildLoadgen();
  if (built.ok) return null;
  if (haveLoadgen()) {
    problems.push(`mcload did not rebuild; the existing ${relative(project_root, loadgen_path)} was used: ${oneLine(built.message, 300)}`);
    say(`warning: ${problems[problems.length - 1]}`);
    return null;
  }
  return `mcload could not be built: ${oneLine(built.message, 400)}`;
}

function prepareNative(problems: string[]): void {
  try {
    nativeLibraryPath();
  } catch (error) {
    const message = `the native store did not build (our server will fail to start): ${oneLine(String(error), 300)}`;
    problems.push(message);
    say(`warning: ${message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The load comparison.

function loadgenOptionsOf(options: Options, pins: Pinning): LoadgenOptions {
  return { duration_s: options.duration_s, warmup_s: options.warmup_s, cpu: pins.loadgen_cpu, seed: 1, preload_timeout_s };
}

interface Comparison {
  servers: Map<ServerId, StartResult>;
  samples: Map<Workload, Sample[]>;
}

function progressLine(step: number, steps: number, rounds: number, round: number, workload: Workload, s: Sample, name: (id: string) => string): string {
  const head = `[${String(step).padStart(String(steps).length)}/${steps}] round ${round + 1}/${rounds}  ${workload.id}  ${name(s.server).padEnd(15)}`;
  if (s.error !== null) return `${head} failed: ${oneLine(s.error, reason_chars_max)}`;
  const cores = fmtFixed(s.server_cores, 2);
  const background = s.background_cores !== null && s.background_cores >= busy_background_cores ? `  (other load ${s.background_cores.toFixed(2)} cores)` : "";
  return `${head} ${fmtInt(s.ops_per_s).padStart(9)} ops/s  p99 ${fmtInt(s.p99_us)} µs  server ${cores} cores, ${fmtMiB(s.server_rss_bytes)} MiB  mcload ${fmtPercent(s.client_cpu_share)}${background}`;
}

async function startServers(ids: readonly ServerId[], env: ServerEnv, name: (id: string) => string): Promise<Map<ServerId, StartResult>> {
  const started = new Map<ServerId, StartResult>();
  for (const id of ids) {
    say(`starting ${name(id)} …`);
    const result = await startServer(id, env);
    started.set(id, result);
    if (result.ok) {
      live_servers.add(result.server);
      say(`  up on port ${result.server.port}: ${result.server.commands.join("  +  ")}`);
    } else {
      say(`  FAILED to start: ${oneLine(result.error, 300)}`);
    }
  }
  return started;
}

/** Every workload of `selected` against each of its servers, in interleaved rounds; the servers are stopped after. */
async function runComparison(
  title: string, selected: readonly Workload[], all_ids: readonly ServerId[], options: Options, env: ServerEnv,
  loadgen_options: LoadgenOptions, memcached_error: string | null, name: (id: string) => string = label,
): Promise<Comparison> {
  const ids = all_ids.filter((id) => selected.some((w) => w.servers.includes(id)));
  const servers = await startServers(ids.filter((id) => memcached_error === null || !id.startsWith("mc")), env, name);
  if (memcached_error !== null) {
    for (const id of ids) if (id.startsWith("mc")) servers.set(id, { ok: false, error: memcached_error, commands: [] });
  }
  const steps = schedule(options.rounds, selected, (w) => w.servers);
  const samples = new Map<Workload, Sample[]>(selected.map((w) => [w, []]));
  say(`\n${title}: ${steps.length} runs (${options.rounds} rounds × ${selected.length} workloads × servers), ${options.warmup_s} s warmup + ${options.duration_s} s each`);
  try {
    for (const [i, step] of steps.entries()) {
      if (interrupted) break;
      const sample = await measure(step.round, step.workload, servers.get(step.server)!, loadgen_options);
      sample.server = step.server;
      samples.get(step.workload)!.push(sample);
      say(progressLine(i + 1, steps.length, options.rounds, step.round, step.workload, sample, name));
    }
  } finally {
    await stopAll();
  }
  return { servers, samples };
}

function workloadSection(workload: Workload, rows: Row[], samples: readonly Sample[], options: LoadgenOptions): WorkloadSection {
  const notes: string[] = [];
  const noise = noiseNote(samples, label);
  if (noise !== null) notes.push(noise);
  for (const row of rows) {
    if (!row.server.startsWith("mc")) continue;
    const note = saturationNote(row, label(row.server));
    if (note !== null) notes.push(note);
  }
  const cells = rowCells(rows, label, baseline_server, 400);
  return {
    id: workload.id,
    title: workload.title,
    mcload_command: `${relative(project_root, loadgen_path)} ${loadgenArgs(workload, "PORT", options).join(" ")}`,
    table_md: renderMarkdown(cells),
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// The threads comparison: memcached and ours at -t 1, 2 and 4, nothing pinned.

/** In the threads part, ours without -t is ours -t 1. */
const threads_label = (id: string) => (id === "ours" ? "ours -t 1" : label(id));

function threadsLoadgenOptions(options: Options): LoadgenOptions {
  return { duration_s: options.duration_s, warmup_s: options.warmup_s, cpu: null, seed: 1, preload_timeout_s };
}

interface ThreadsSection {
  workload: Workload;
  rows: ThreadsRow[];
}

async function runThreads(options: Options, env: ServerEnv, memcached_error: string | null): Promise<{ sections: ThreadsSection[]; samples: Map<Workload, Sample[]>; commands: string[] }> {
  const unpinned: ServerEnv = { ...env, pin_cpu: null };
  const comparison = await runComparison(
    "threads comparison (servers and mcload not pinned)", threads_workloads, threads_server_ids, options, unpinned,
    threadsLoadgenOptions(options), memcached_error, threads_label,
  );
  const sections = threads_workloads.map((workload) => ({
    workload,
    rows: threadsRows(comparison.samples.get(workload) ?? [], workload.servers, (id) => threads_servers[id as ServerId]),
  }));
  const commands = [...comparison.servers.values()].flatMap((s) => (s.ok ? s.server.commands : s.commands));
  return { sections, samples: comparison.samples, commands };
}

function threadsSection(section: ThreadsSection, samples: readonly Sample[], options: LoadgenOptions): WorkloadSection {
  const notes: string[] = [];
  const noise = noiseNote(samples, threads_label);
  if (noise !== null) notes.push(noise);
  return {
    id: section.workload.id,
    title: section.workload.title,
    mcload_command: `${relative(project_root, loadgen_path)} ${loadgenArgs(section.workload, "PORT", options).join(" ")}`,
    table_md: renderMarkdown(threadsCells(section.rows, threads_label, 400)),
    notes,
  };
}

function threadsMethod(options: Options): string[] {
  return [
    `${options.rounds} round(s) × ${options.duration_s} s (after ${options.warmup_s} s warmup) per workload and server; server order rotated each round, as in the load comparison.`,
    `Nothing is pinned: neither the servers nor mcload (threads need both of the machine's ${cpus().length} cores, and mcload shares them). -t 4 on this machine is oversubscribed; mcload is one thread and may be the ceiling.`,
    "÷ memcached same -t: ours' ops/s ÷ memcached's at the same -t in the same round (median and range over rounds). scaling: ops/s ÷ the same server's -t 1 ops/s in the same round.",
    "CPU µs/op: the server process's CPU time (utime + stime of all its threads, /proc/<pid>/stat) in the measured window ÷ the requests mcload completed in it; a multi-get of 10 keys is one request.",
    "Ours -t N: N Bun Workers, each with its own Bun.listen on the port (SO_REUSEPORT: the kernel spreads connections by hash) over one native store (a session each); memcached -t N: N worker threads behind one listener.",
  ];
}

function chartOf(results: Results, options: Options, pins: Pinning): ChartSpec {
  const sections = results.sections;
  const samples = [...results.samples.values()].flat();
  const noisy = samples.filter((s) => s.background_cores !== null && s.background_cores >= noisy_background_cores).length;
  const noise_line = noisy === 0
    ? []
    : [`warning: ${noisy} of ${samples.filter((s) => s.error === null).length} runs were disturbed by other processes (≥ ${noisy_background_cores} cores): figures are noisy, see the notes`];
  return {
    title: "repcached-bun vs memcached: median ops/s",
    subtitle: [
      `${options.rounds} round(s) × ${options.duration_s} s per workload and server, 127.0.0.1, ${cpus().length} CPUs (${pins.server_cpu === null ? "not pinned" : "server and mcload pinned to one core each"})`,
      `bar: median ops/s, whisker: range over rounds; above it: ops/s ÷ ${label(baseline_server)} (median of the per-round ratios); n/a: no figures`,
      ...noise_line,
    ],
    y_label: "ops/s",
    series: server_ids.map(label),
    panels: sections.map(({ workload, rows }) => ({
      title: `${workload.id}: ${workload.short}`,
      bars: rows.map((row) => ({
        series: server_ids.indexOf(row.server as ServerId),
        value: row.ops_per_s?.median ?? null,
        ...(row.ops_per_s === null ? {} : { range: { min: row.ops_per_s.min, max: row.ops_per_s.max } }),
        label: row.server === baseline_server ? (row.rounds_ok > 0 ? "1×" : "") : row.ratio === null ? "" : `${row.ratio.median.toFixed(2)}×`,
      })),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Memory and micro-benchmarks.

async function runRss(env: ServerEnv, pins: Pinning, memcached_error: string | null): Promise<RssResult[]> {
  say(`\nmemory: ${fmtInt(rss_items)} items of ${rss_value_bytes} B into fresh servers (-m ${env.memory_mb})`);
  const results: RssResult[] = [];
  for (const id of rss_servers) {
    say(`  loading ${label(id)} …`);
    const result = id.startsWith("mc") && memcached_error !== null
      ? { server: id, commands: [], mcload_command: "", error: memcached_error, items: null, rss_idle_bytes: null, rss_loaded_bytes: null, preload_s: null }
      : await measureRss(id, env, rss_items, rss_value_bytes, pins.loadgen_cpu, relative(project_root, loadgen_path));
    results.push(result);
    say(result.error === null
      ? `  ${label(id)}: ${fmtInt(result.items)} items, RSS ${fmtMiB(result.rss_idle_bytes)} → ${fmtMiB(result.rss_loaded_bytes)} MiB`
      : `  ${label(id)}: failed: ${oneLine(result.error, reason_chars_max)}`);
  }
  return results;
}

const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

/** Runs a bench script in a subprocess, echoing and returning its output. */
async function runScript(title: string, script: string, args: string[] = []): Promise<string> {
  say(`\n${title}: bun ${["bench/" + script, ...args].join(" ")}`);
  const proc = track(Bun.spawn([process.execPath, join(project_root, "bench", script), ...args], {
    cwd: project_root, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" },
  }));
  const timer = setTimeout(() => proc.kill("SIGKILL"), micro_timeout_ms);
  let text = "";
  const decoder = new TextDecoder();
  const stderr = new Response(proc.stderr).text();
  for await (const chunk of proc.stdout) {
    const part = decoder.decode(chunk);
    text += part;
    process.stdout.write(part);
  }
  const code = await proc.exited;
  clearTimeout(timer);
  const err = (await stderr).trim();
  if (code !== 0) {
    text += `\n(${script} exited with code ${code})${err ? `\n${err}` : ""}`;
    failed_parts.push(`${title}: bench/${script} exited with code ${code}${err ? `: ${oneLine(err, reason_chars_max)}` : ""}`);
  }
  return stripAnsi(text);
}

async function runMicro(): Promise<string> {
  const single = await runScript("micro-benchmarks", "micro.bench.ts");
  if (interrupted) return single;
  const threads = await runScript("the store from 1, 2 and 4 threads (Bun Workers, one session each)", "threads.bench.ts");
  return `${single.trimEnd()}\n\n$ bun bench/threads.bench.ts\n${threads}`;
}

async function runProxy(options: Options): Promise<string> {
  return await runScript("proxy: our magent vs nutcracker", "proxy.ts", ["--rounds", String(options.rounds)]);
}

// ---------------------------------------------------------------------------------------------

function resultsDir(options: Options): string {
  if (options.out_dir !== null) return options.out_dir;
  if (options.full) return join(project_root, "bench", "results");
  return join(tmpdir(), "repcached-bench");
}

function estimateMinutes(options: Options, selected: Workload[]): number {
  const threads = options.parts.has("threads") ? threads_workloads : [];
  const runs = options.rounds * [...selected, ...threads].reduce((n, w) => n + w.servers.length, 0);
  const per_run_s = options.warmup_s + options.duration_s + 1.5;
  const rss_s = options.parts.has("rss") ? 60 : 0;
  const micro_s = options.parts.has("micro") ? 150 : 0;
  const proxy_s = options.parts.has("proxy") ? options.rounds * 2 * 8 + 20 : 0;
  return (runs * per_run_s + rss_s + micro_s + proxy_s + 30) / 60;
}

interface Prepared {
  /** Why stock memcached is not available, or null. */
  memcached_error: string | null;
  /** Why mcload is not available, or null. */
  loadgen_error: string | null;
}

/** memcached (installed if missing), mcload (built), the native store (built): what failed goes to problems. */
function prepare(needs_servers: boolean, problems: string[]): Prepared {
  if (!needs_servers) return { memcached_error: null, loadgen_error: null };
  const memcached_error = ensureMemcached();
  if (memcached_error !== null) {
    problems.push(memcached_error);
    say(`warning: ${memcached_error}`);
  }
  const loadgen_error = prepareLoadgen(problems);
  if (loadgen_error !== null) {
    problems.push(`${loadgen_error}; the load and memory comparisons were skipped`);
    say(`error: ${loadgen_error}`);
  }
  prepareNative(problems);
  return { memcached_error, loadgen_error };
}

interface Results {
  sections: Array<{ workload: Workload; rows: Row[] }>;
  server_commands: string[];
  samples: Map<Workload, Sample[]>;
  /** The threads part, or null when it did not run. */
  threads: { sections: ThreadsSection[]; samples: Map<Workload, Sample[]>; commands: string[] } | null;
  rss: RssResult[] | null;
  micro: string | null;
  proxy: string | null;
}

function printResults(results: Results, loadgen_options: LoadgenOptions): void {
  for (const { workload, rows } of results.sections) {
    say(`\n${workload.id}: ${workload.title}`);
    say(renderText(rowCells(rows, label, baseline_server, reason_chars_max)));
    const samples = results.samples.get(workload) ?? [];
    for (const note of workloadSection(workload, rows, samples, loadgen_options).notes) say(`  ${note}`);
  }
  for (const section of results.threads?.sections ?? []) {
    say(`\n${section.workload.id}: ${section.workload.title}`);
    say(renderText(threadsCells(section.rows, threads_label, reason_chars_max)));
    const samples = results.threads!.samples.get(section.workload) ?? [];
    for (const note of threadsSection(section, samples, loadgen_options).notes) say(`  ${note}`);
  }
  if (results.rss !== null) {
    say(`\nmemory: ${fmtInt(rss_items)} items of ${rss_value_bytes} B`);
    say(renderText(rssCells(results.rss, label, baseline_server)));
  }
}

function rssSection(rss: RssResult[]): ReportDoc["rss"] {
  return {
    title: `Memory: ${fmtInt(rss_items)} items of ${rss_value_bytes} B, memcached -t 1 vs ours (both -m 1024)`,
    mcload_command: rss.map((r) => r.mcload_command).find((c) => c.length > 0) ?? "",
    table_md: renderMarkdown(rssCells(rss, label, baseline_server)),
    notes: [
      "Each server is started fresh with the command of the load comparison; RSS is VmRSS of `/proc/<pid>/status` before and 0.5 s after the load.",
      "items stored is curr_items from `stats` after the load.",
      ...rss.flatMap((r) => r.commands.map((c) => `${label(r.server)}: \`${c}\``)),
    ],
  };
}

/** Writes <date>.md, <date>.svg (with a load comparison) and <date>.json (raw samples); returns their paths. */
function writeResults(dir: string, date: string, results: Results, options: Options, pins: Pinning, environment: string[], problems: string[]): string[] {
  const elapsed_min = (performance.now() - started_ms) / 60_000;
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const chart_file = results.sections.length > 0 ? `${date}.svg` : null;
  if (chart_file !== null) {
    writeFileSync(join(dir, chart_file), renderChart(chartOf(results, options, pins)));
    written.push(join(dir, chart_file));
  }
  const loadgen_options = loadgenOptionsOf(options, pins);
  const doc: ReportDoc = {
    date,
    invocation: `bun bench ${process.argv.slice(2).join(" ")}`.trim(),
    elapsed_min,
    environment: [...environment, pins.note],
    method: methodLines(options),
    server_commands: results.server_commands,
    workloads: results.sections.map(({ workload, rows }) =>
      workloadSection(workload, rows, results.samples.get(workload) ?? [], loadgen_options)),
    chart_file,
    threads: results.threads === null ? null : {
      title: "Threads: memcached and ours at -t 1, 2 and 4",
      method: threadsMethod(options),
      server_commands: results.threads.commands,
      sections: results.threads.sections.map((section) =>
        threadsSection(section, results.threads!.samples.get(section.workload) ?? [], threadsLoadgenOptions(options))),
    },
    rss: results.rss === null ? null : rssSection(results.rss),
    micro: results.micro,
    proxy: results.proxy,
    problems,
  };
  writeFileSync(join(dir, `${date}.md`), renderReport(doc));
  written.unshift(join(dir, `${date}.md`));
  const samples = Object.fromEntries([...results.samples.entries()].map(([w, s]) => [w.id, s]));
  const threads_samples = results.threads === null
    ? null
    : Object.fromEntries([...results.threads.samples.entries()].map(([w, s]) => [w.id, s]));
  const raw = {
    date, options: { ...options, parts: [...options.parts] }, environment, pinning: pins.note, samples, threads_samples,
    rss: results.rss, problems,
  };
  writeFileSync(join(dir, `${date}.json`), `${JSON.stringify(raw, null, 1)}\n`);
  written.push(join(dir, `${date}.json`));
  return written;
}

async function runParts(options: Options, pins: Pinning, prepared: Prepared): Promise<Results> {
  const results: Results = { sections: [], server_commands: [], samples: new Map(), threads: null, rss: null, micro: null, proxy: null };
  const env: ServerEnv = {
    pin_cpu: pins.server_cpu, memcached_path, bun_path: process.execPath, as_root: process.getuid?.() === 0,
    memory_mb: 1024, connections_max: 4096,
  };
  const selected = workloads.filter((w) => (options.parts as ReadonlySet<string>).has(w.id));
  if (selected.length > 0 && prepared.loadgen_error === null) {
    const comparison = await runComparison("load comparison", selected, server_ids, options, env, loadgenOptionsOf(options, pins), prepared.memcached_error);
    results.samples = comparison.samples;
    results.server_commands = [...comparison.servers.values()].flatMap((s) => (s.ok ? s.server.commands : s.commands));
    for (const workload of selected) {
      results.sections.push({ workload, rows: summarize(comparison.samples.get(workload)!, workload.servers, baseline_server) });
    }
  }
  if (options.parts.has("threads") && prepared.loadgen_error === null && !interrupted) {
    results.threads = await runThreads(options, env, prepared.memcached_error);
  }
  if (options.parts.has("rss") && prepared.loadgen_error === null && !interrupted) {
    results.rss = await runRss(env, pins, prepared.memcached_error);
  }
  if (options.parts.has("proxy") && !interrupted) results.proxy = await runProxy(options);
  if (options.parts.has("micro") && !interrupted) results.micro = await runMicro();
  return results;
}

async function main(): Promise<number> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.kind === "help") return (console.log(usage), 0);
  if (cli.kind === "error") return (console.error(`${cli.message}\n\n${usage}`), 64);
  const options = cli.options;
  onSignal("SIGINT");
  onSignal("SIGTERM");
  const selected = workloads.filter((w) => (options.parts as ReadonlySet<string>).has(w.id));
  const date = isoDate(new Date());
  const problems: string[] = [];
  say(`repcached-bun bench: parts ${[...options.parts].join(",")}; ${options.rounds} round(s) × ${options.duration_s} s; about ${estimateMinutes(options, selected).toFixed(0)} min`);
  const environment = environmentLines();
  for (const line of environment) say(`  ${line}`);
  const pins = pinning(options);
  if (options.parts.has("threads")) pins.note += "; the threads part pins nothing (servers and mcload share both cores)";
  say(`  ${pins.note}`);
  const prepared = prepare(selected.length > 0 || options.parts.has("rss") || options.parts.has("threads"), problems);
  const results = await runParts(options, pins, prepared);
  problems.push(...failed_parts);
  printResults(results, loadgenOptionsOf(options, pins));
  const written = writeResults(resultsDir(options), date, results, options, pins, environment, problems);
  say(`\nwrote ${written.join(", ")} (${((performance.now() - started_ms) / 60_000).toFixed(1)} min)`);
  for (const failure of failed_parts) console.error(`bench: FAILED: ${failure}`);
  return prepared.loadgen_error === null && failed_parts.length === 0 ? 0 : 1;
}

function methodLines(options: Options): string[] {
  return [
    `${options.rounds} round(s); in each, every workload runs against every server, in an order rotated each round (A B C D, B C D A, …) so slow drift falls on all servers alike.`,
    `Each run: mcload connects, preloads the key space where the workload says so, warms up ${options.warmup_s} s, then measures ${options.duration_s} s. mcload is one thread over epoll, closed-loop (a connection sends its next request when a reply completes).`,
    "Figures are medians over rounds. The ratio column is ops/s ÷ memcached -t 1's ops/s in the same round: median and (range) over rounds.",
    "server CPU s: utime + stime of the loaded server process from `/proc/<pid>/stat` (CLK_TCK 100), before and after the whole run (connect, preload, warmup, measurement). server RSS: VmRSS of `/proc/<pid>/status` after the run.",
    "CPU µs/op: the server's CPU time in the measured window ÷ the requests mcload completed in it (server cores ÷ ops/s); other load on the machine moves it far less than ops/s.",
    `server cores: the server's CPU seconds per second in the measured window (read every ${sample_interval_ms} ms, interpolated at the window's ends; 1.00 = one core busy throughout). other cores: the machine's busy time (\`/proc/stat\`) in that window less the server's, its peer's and mcload's — load from other processes; high values mean a noisy round.`,
    "mcload CPU: mcload's own CPU time ÷ the measured seconds (under 100% means the generator had a core to spare).",
    "get hits: keys found ÷ keys asked for; every workload with gets preloads its key space, so anything under 100% is a server losing items (or answering wrongly).",
    "ours + peer: node A (loaded) with -X, node B with -x 127.0.0.1 -X; it counts only if B's port opens and a set on A reaches B.",
  ];
}

await exitAfter(main, stopAll);
