// The load generator, zig-out/bin/mcload (bench/loadgen/), seen from the harness. This file is the
// only one that knows mcload's flags and its JSON report; if they change, adapt here.
//
// Contract: `loadgenArgs` and `parseLoadgenReport` are pure. `parseLoadgenReport` throws an Error
// naming the field that is missing or not a number. `buildLoadgen` runs `zig build loadgen
// -Doptimize=ReleaseFast` and reports, never throws. `runLoadgen` never throws either: a run that
// fails, times out (it is killed by PID) or prints no report comes back with `error` set.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { project_root, runZig } from "../../src/native/build.ts";
import { track } from "./children.ts";

export const loadgen_path = join(project_root, "zig-out", "bin", "mcload");

/** What one mcload run asks of a server. */
export interface LoadSpec {
  conns: number;
  /** Key space: mcl:0000000000 .. mcl:<keys-1>. */
  keys: number;
  value_min_bytes: number;
  value_max_bytes: number;
  /** Share of requests that are gets, 0..1; 0 is set-only. */
  get_ratio: number;
  /** Keys per get. */
  multiget: number;
  /** Requests in flight per connection. */
  pipeline: number;
  /** Set every key once before the warmup. */
  preload: boolean;
  /** Speak memcached's binary protocol (mcload --binary). */
  binary?: boolean;
  /** The meta protocol (`mg`/`ms`) instead of get/set. */
  meta?: boolean;
}

export interface LoadgenOptions {
  duration_s: number;
  warmup_s: number;
  /** Core to pin mcload to, or null for no pinning. */
  cpu: number | null;
  seed: number;
  preload_timeout_s: number;
}

/** mcload's arguments; port may be a placeholder ("PORT") for printing. */
export function loadgenArgs(spec: LoadSpec, port: number | string, options: LoadgenOptions): string[] {
  const args = [
    "--server", `127.0.0.1:${port}`,
    "--conns", String(spec.conns),
    "--duration", String(options.duration_s),
    "--warmup", String(options.warmup_s),
    "--keys", String(spec.keys),
  ];
  if (spec.value_min_bytes === spec.value_max_bytes) args.push("--value-size", String(spec.value_min_bytes));
  else args.push("--value-min", String(spec.value_min_bytes), "--value-max", String(spec.value_max_bytes));
  if (spec.get_ratio === 0) args.push("--set-only");
  else args.push("--get-ratio", String(spec.get_ratio));
  args.push("--multiget", String(spec.multiget), "--pipeline", String(spec.pipeline));
  if (spec.meta === true) args.push("--meta");
  if (spec.preload) args.push("--preload", "--preload-timeout", String(options.preload_timeout_s));
  if (spec.binary === true) args.push("--binary");
  args.push("--seed", String(options.seed));
  if (options.cpu !== null) args.push("--cpu", String(options.cpu));
  return args;
}

/** The fields of mcload's JSON report that the harness uses. */
export interface LoadgenReport {
  duration_s: number;
  ops: number;
  ops_per_s: number;
  keys_per_s: number;
  gets: number;
  sets: number;
  hits: number;
  misses: number;
  errors: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  /** mcload's own user + system CPU seconds during the measurement. */
  client_cpu_s: number;
  /** Seconds the preload took, or null without --preload. */
  preload_s: number | null;
  /** false when the preload gave up before setting every key. */
  preload_complete: boolean;
  closed_conns: number;
  last_error: string;
}

const required_numbers = [
  "duration_s", "ops", "ops_per_s", "keys_per_s", "gets", "sets", "hits", "misses", "errors",
  "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "client_cpu_s",
] as const;

/** Parses the last JSON object line of mcload's stdout. */
export function parseLoadgenReport(stdout: string): LoadgenReport {
  const line = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{")).pop();
  if (line === undefined) throw new Error("mcload printed no JSON report");
  const json = JSON.parse(line) as Record<string, unknown>;
  const number = (name: string): number => {
    const value = json[name];
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`mcload report: ${name} is not a number`);
    return value;
  };
  const report = {} as Record<string, unknown>;
  for (const name of required_numbers) report[name] = number(name);
  report.preload_s = json.preload_s === null || json.preload_s === undefined ? null : number("preload_s");
  report.preload_complete = json.preload_complete !== false;
  report.closed_conns = typeof json.closed_conns === "number" ? json.closed_conns : 0;
  report.last_error = typeof json.last_error === "string" ? json.last_error : "";
  return report as unknown as LoadgenReport;
}

/** Builds mcload; `ok` false with the compiler's message when the build fails. */
export function buildLoadgen(): { ok: boolean; message: string } {
  try {
    runZig(["loadgen", "-Doptimize=ReleaseFast"]);
    return { ok: true, message: `built ${loadgen_path}` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message };
  }
}

export function haveLoadgen(): boolean {
  return existsSync(loadgen_path);
}

export interface LoadgenRun {
  report: LoadgenReport | null;
  error: string | null;
  /** Seconds from spawn to exit. */
  wall_s: number;
  /** performance.now() when mcload had exited: the measured window ends just before. */
  ended_ms: number;
  stderr: string;
}

const stderr_chars_max = 400;

/**
 * What went wrong, from mcload's stderr: its first "mcload: …" line (later ones repeat it for other
 * connections), else its first line; the summary it always prints is not a complaint.
 */
export function firstComplaint(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) => l.length > 0);
  const complaints = lines.filter((l) => l.startsWith("mcload:"));
  const first = complaints[0] ?? lines[0];
  if (first === undefined) return "";
  const more = complaints.length > 1 ? ` (+${complaints.length - 1} more like it)` : "";
  return `${first.slice(0, stderr_chars_max)}${more}`;
}

/** Runs mcload with `args`, killing it (by PID) after timeout_ms. */
export async function runLoadgen(args: string[], timeout_ms: number): Promise<LoadgenRun> {
  const started_ms = performance.now();
  const proc = track(Bun.spawn([loadgen_path, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
  let timed_out = false;
  const timer = setTimeout(() => {
    timed_out = true;
    proc.kill("SIGKILL");
  }, timeout_ms);
  const [stdout, stderr, exit_code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  const ended_ms = performance.now();
  const wall_s = (ended_ms - started_ms) / 1000;
  const tail = firstComplaint(stderr);
  if (timed_out) return { report: null, error: `mcload killed after ${timeout_ms / 1000} s`, wall_s, ended_ms, stderr };
  let report: LoadgenReport | null = null;
  try {
    report = parseLoadgenReport(stdout);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { report: null, error: `mcload exit ${exit_code}: ${why}${tail ? `: ${tail}` : ""}`, wall_s, ended_ms, stderr };
  }
  if (exit_code !== 0) return { report, error: `mcload exit ${exit_code}${tail ? `: ${tail}` : ""}`, wall_s, ended_ms, stderr };
  if (report.ops === 0) return { report, error: `mcload completed no requests${tail ? `: ${tail}` : ""}`, wall_s, ended_ms, stderr };
  return { report, error: null, wall_s, ended_ms, stderr };
}
