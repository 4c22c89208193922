// From one workload's samples (one per round and server) to its table rows. Pure.
//
// Every figure of a row is the median over the rounds that succeeded; the ratio is the median
// and range of the per-round ratios ops/s ÷ the baseline server's ops/s in the same round.
import { median, ratiosByRound, spread, type Spread } from "./stats.ts";

/** One mcload run against one server, with the server's CPU and memory around it. */
export interface Sample {
  round: number;
  server: string;
  /** null when the run produced figures; else why not (server down, mcload failed…). */
  error: string | null;
  ops_per_s: number;
  keys_per_s: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  /** Error replies and failed requests that mcload counted. */
  errors: number;
  /** Keys found ÷ keys asked for by gets; null without gets. Every workload preloads what it gets. */
  hit_ratio: number | null;
  /** mcload's CPU seconds ÷ its measured seconds: under 1 means it had a core to spare. */
  client_cpu_share: number;
  /** Server user + system CPU seconds over the whole run (connect, preload, warmup, measurement). */
  server_cpu_s: number | null;
  /** Server CPU seconds per second during the measured window: 1.0 is one core busy throughout. */
  server_cores: number | null;
  /** Cores busy with anything but the server, its peer and mcload during the measured window. */
  background_cores: number | null;
  server_rss_bytes: number | null;
  /** CPU seconds of the replication peer over the run (ours + peer only). */
  peer_cpu_s: number | null;
}

export interface Row {
  server: string;
  rounds: number;
  rounds_ok: number;
  /** Why the server has no figures (every round failed), or the last failure's reason. */
  error: string | null;
  ops_per_s: Spread | null;
  keys_per_s: number | null;
  p50_us: number | null;
  p99_us: number | null;
  p999_us: number | null;
  server_cpu_s: number | null;
  server_cores: number | null;
  /** Server CPU µs per request in the measured window (server cores ÷ ops/s), median over rounds. */
  cpu_us_per_op: number | null;
  background_cores: number | null;
  rss_bytes: number | null;
  client_cpu_share: number | null;
  peer_cpu_s: number | null;
  errors: number;
  hit_ratio: number | null;
  /** ops/s ÷ the baseline's ops/s, per round; null without a baseline or for the baseline itself. */
  ratio: Spread | null;
}

/**
 * Server CPU µs per request of one run: its CPU seconds in the measured window ÷ the requests mcload
 * completed in it (server cores ÷ ops/s); null without both. On a shared machine this moves far
 * less than ops/s: other load takes the server's core away, it does not make requests cost more.
 */
export function cpuMicrosPerOp(sample: Sample): number | null {
  if (sample.error !== null || sample.server_cores === null || !(sample.ops_per_s > 0)) return null;
  return (sample.server_cores * 1e6) / sample.ops_per_s;
}

function medianOf(samples: readonly Sample[], pick: (s: Sample) => number | null): number | null {
  const values: number[] = [];
  for (const s of samples) {
    const v = pick(s);
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  return median(values);
}

function opsByRound(samples: readonly Sample[]): Map<number, number> {
  const by_round = new Map<number, number>();
  for (const s of samples) if (s.error === null) by_round.set(s.round, s.ops_per_s);
  return by_round;
}

export function summarize(samples: readonly Sample[], servers: readonly string[], baseline: string): Row[] {
  const baseline_ops = opsByRound(samples.filter((s) => s.server === baseline));
  return servers.map((server): Row => {
    const all = samples.filter((s) => s.server === server);
    const ok = all.filter((s) => s.error === null);
    const failed = all.filter((s) => s.error !== null);
    const ratios = server === baseline ? [] : ratiosByRound(opsByRound(ok), baseline_ops);
    return {
      server,
      rounds: all.length,
      rounds_ok: ok.length,
      error: failed.length > 0 ? failed[failed.length - 1]!.error : null,
      ops_per_s: spread(ok.map((s) => s.ops_per_s)),
      keys_per_s: medianOf(ok, (s) => s.keys_per_s),
      p50_us: medianOf(ok, (s) => s.p50_us),
      p99_us: medianOf(ok, (s) => s.p99_us),
      p999_us: medianOf(ok, (s) => s.p999_us),
      server_cpu_s: medianOf(ok, (s) => s.server_cpu_s),
      server_cores: medianOf(ok, (s) => s.server_cores),
      cpu_us_per_op: medianOf(ok, cpuMicrosPerOp),
      background_cores: medianOf(ok, (s) => s.background_cores),
      rss_bytes: medianOf(ok, (s) => s.server_rss_bytes),
      client_cpu_share: medianOf(ok, (s) => s.client_cpu_share),
      peer_cpu_s: medianOf(ok, (s) => s.peer_cpu_s),
      errors: ok.reduce((sum, s) => sum + s.errors, 0),
      hit_ratio: medianOf(ok, (s) => s.hit_ratio),
      ratio: spread(ratios),
    };
  });
}

/** Other processes using at least this many cores during a run make it a noisy run. */
export const noisy_background_cores = 0.25;

/** A note naming the runs that other processes disturbed, or null when every run was quiet. */
export function noiseNote(samples: readonly Sample[], label: (server: string) => string): string | null {
  const noisy = samples.filter((s) => s.error === null && s.background_cores !== null && s.background_cores >= noisy_background_cores);
  if (noisy.length === 0) return null;
  const ok = samples.filter((s) => s.error === null).length;
  const list = noisy.map((s) => `round ${s.round + 1} ${label(s.server)} ${s.background_cores!.toFixed(2)}`).join(", ");
  return `${noisy.length} of ${ok} runs had other processes using ≥ ${noisy_background_cores} cores (${list}): the machine was not quiet, so those figures are low and the ranges wide; rerun on an idle machine for a baseline.`;
}

/** Server cores at or above this mean the server was the bottleneck, not the generator. */
export const saturated_cores_min = 0.9;

/**
 * Whether the generator saturated the baseline server: the server busy on its core while mcload
 * itself had CPU to spare. null when the row has no figures.
 */
export function saturationNote(row: Row, server_label: string): string | null {
  if (row.server_cores === null || row.client_cpu_share === null) return null;
  const server = `${server_label} used ${row.server_cores.toFixed(2)} cores`;
  const client = `mcload used ${Math.round(row.client_cpu_share * 100)}% of one core`;
  const verdict = row.server_cores >= saturated_cores_min && row.client_cpu_share < 1
    ? "the generator saturates the server with CPU to spare"
    : row.client_cpu_share >= 1
      ? "the generator is CPU-bound itself: these figures understate the server"
      : `the server was not saturated (below ${saturated_cores_min} cores)`;
  return `${server} while ${client} (medians over rounds): ${verdict}.`;
}
