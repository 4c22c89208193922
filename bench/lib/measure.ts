// One measured run: mcload against a started server, with the server's CPU sampled around it.
// Shared by bench/run.ts (the load comparison and the threads part) and bench/ab.ts.
//
// Contract: `measure` never throws; a server that is down or a run that fails comes back as a
// Sample with `error` set. mcload is killed by PID when it overruns its own limit by
// loadgen_slack_s.
import { loadgenArgs, runLoadgen, type LoadgenOptions, type LoadgenRun, type LoadSpec } from "./loadgen.ts";
import { CpuSampler, growthOver, readRssBytes, totalGrowth, type Reading } from "./proc.ts";
import type { StartResult } from "./servers.ts";
import type { Sample } from "./summary.ts";

export const preload_timeout_s = 60;
/** mcload's own limit is preload + warmup + duration; this is the harness's backstop. */
export const loadgen_slack_s = 30;

export function failedSample(round: number, server: string, error: string): Sample {
  return {
    round, server, error, ops_per_s: 0, keys_per_s: 0, p50_us: 0, p99_us: 0, p999_us: 0, errors: 0, hit_ratio: null,
    client_cpu_share: 0, server_cpu_s: null, server_cores: null, background_cores: null,
    server_rss_bytes: null, peer_cpu_s: null,
  };
}

/** Cores of the counter's growth over the measured window, which ends when mcload exits. */
function windowCores(readings: readonly Reading[], run: LoadgenRun, duration_s: number): number | null {
  const growth = growthOver(readings, run.ended_ms - duration_s * 1000, run.ended_ms);
  return growth === null ? null : growth / duration_s;
}

export async function measure(round: number, spec: LoadSpec, started: StartResult, options: LoadgenOptions): Promise<Sample> {
  if (!started.ok) return failedSample(round, "", started.error);
  const server = started.server;
  const dead = server.deadNote();
  if (dead !== null) return failedSample(round, server.id, `server is down: ${dead}`);
  const sampler = new CpuSampler(server.main.pid, server.peer?.pid ?? null);
  const timeout_ms = (options.preload_timeout_s + options.warmup_s + options.duration_s + loadgen_slack_s) * 1000;
  sampler.start();
  const run = await runLoadgen(loadgenArgs(spec, server.port, options), timeout_ms);
  sampler.stop();
  const died = server.deadNote();
  const error = run.error ?? (died !== null ? `server died: ${died}` : null);
  if (run.report === null || error !== null) return failedSample(round, server.id, error ?? "no report");
  const r = run.report;
  const server_cores = windowCores(sampler.server, run, r.duration_s);
  const peer_cores = windowCores(sampler.peer, run, r.duration_s) ?? 0;
  const machine_cores = windowCores(sampler.machine, run, r.duration_s);
  const client_cores = r.duration_s > 0 ? r.client_cpu_s / r.duration_s : 0;
  const background_cores = machine_cores === null || server_cores === null
    ? null
    : Math.max(0, machine_cores - server_cores - peer_cores - client_cores);
  const main_pid = server.main.pid;
  return {
    round, server: server.id, error: null, ops_per_s: r.ops_per_s, keys_per_s: r.keys_per_s,
    p50_us: r.p50_us, p99_us: r.p99_us, p999_us: r.p999_us, errors: r.errors, client_cpu_share: client_cores,
    hit_ratio: r.hits + r.misses > 0 ? r.hits / (r.hits + r.misses) : null,
    server_cpu_s: totalGrowth(sampler.server), server_cores, background_cores,
    server_rss_bytes: main_pid === null ? null : readRssBytes(main_pid),
    peer_cpu_s: server.peer === null ? null : totalGrowth(sampler.peer),
  };
}
