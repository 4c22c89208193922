// The threads part's table: memcached and ours at -t 1, 2 and 4, side by side. Pure.
//
// From one workload's samples (one per round and server): per server, the median and range of
// ops/s over rounds; ours ÷ memcached at the same -t, and each server's scaling (ops/s at -t N ÷
// its own ops/s at -t 1), both as median and range of per-round ratios (drift cancels within a
// round); and the server's CPU-µs per operation: its CPU seconds in the measured window ÷ the
// operations mcload completed in it (server cores ÷ ops/s), median over rounds. An operation is
// one mcload request (a multi-get of 10 keys is one).
import { median, ratiosByRound, spread, type Spread } from "./stats.ts";
import { cpuMicrosPerOp, type Sample } from "./summary.ts";
import { fmtFixed, fmtInt, fmtPercent, fmtSpread, none, oneLine, type Cells } from "./table.ts";

export interface ThreadsServerInfo {
  family: "memcached" | "ours";
  threads: number;
}

export interface ThreadsRow {
  server: string;
  family: "memcached" | "ours";
  threads: number;
  rounds: number;
  rounds_ok: number;
  /** The last failure's reason, or null. */
  error: string | null;
  ops_per_s: Spread | null;
  keys_per_s: number | null;
  p99_us: number | null;
  server_cores: number | null;
  /** Server CPU µs per operation in the measured window, median over rounds. */
  cpu_us_per_op: number | null;
  client_cpu_share: number | null;
  background_cores: number | null;
  hit_ratio: number | null;
  /** ours ÷ memcached at the same -t, per round; null for memcached's rows or without a match. */
  vs_memcached: Spread | null;
  /** ops/s ÷ the same family's -t 1 ops/s, per round; null for -t 1 itself. */
  scaling: Spread | null;
}

function opsByRound(samples: readonly Sample[], server: string): Map<number, number> {
  const by_round = new Map<number, number>();
  for (const s of samples) if (s.server === server && s.error === null) by_round.set(s.round, s.ops_per_s);
  return by_round;
}

function medianOf(samples: readonly Sample[], pick: (s: Sample) => number | null): number | null {
  const values = samples.map(pick).filter((v): v is number => v !== null && Number.isFinite(v));
  return median(values);
}

/** The server of `family` with `threads` threads among `servers`, or null. */
function find(servers: readonly string[], info: (server: string) => ThreadsServerInfo | undefined, family: string, threads: number): string | null {
  return servers.find((s) => info(s)?.family === family && info(s)?.threads === threads) ?? null;
}

export function threadsRows(
  samples: readonly Sample[],
  servers: readonly string[],
  info: (server: string) => ThreadsServerInfo | undefined,
): ThreadsRow[] {
  const rows: ThreadsRow[] = [];
  for (const server of servers) {
    const me = info(server);
    if (me === undefined) continue;
    const all = samples.filter((s) => s.server === server);
    const ok = all.filter((s) => s.error === null);
    const failed = all.filter((s) => s.error !== null);
    const mine = opsByRound(samples, server);
    const mc = me.family === "ours" ? find(servers, info, "memcached", me.threads) : null;
    const t1 = me.threads !== 1 ? find(servers, info, me.family, 1) : null;
    rows.push({
      server, family: me.family, threads: me.threads,
      rounds: all.length, rounds_ok: ok.length,
      error: failed.length > 0 ? failed[failed.length - 1]!.error : null,
      ops_per_s: spread(ok.map((s) => s.ops_per_s)),
      keys_per_s: medianOf(ok, (s) => s.keys_per_s),
      p99_us: medianOf(ok, (s) => s.p99_us),
      server_cores: medianOf(ok, (s) => s.server_cores),
      cpu_us_per_op: medianOf(ok, cpuMicrosPerOp),
      client_cpu_share: medianOf(ok, (s) => s.client_cpu_share),
      background_cores: medianOf(ok, (s) => s.background_cores),
      hit_ratio: medianOf(ok, (s) => s.hit_ratio),
      vs_memcached: mc === null ? null : spread(ratiosByRound(mine, opsByRound(samples, mc))),
      scaling: t1 === null ? null : spread(ratiosByRound(mine, opsByRound(samples, t1))),
    });
  }
  return rows;
}

export function threadsCells(rows: readonly ThreadsRow[], label: (server: string) => string, reason_chars_max: number): Cells {
  const headers = [
    "server", "-t", "ops/s (range)", "keys/s", "÷ memcached same -t", "scaling ÷ own -t 1", "server cores",
    "CPU µs/op", "p99 µs", "mcload CPU", "other cores", "get hits", "note",
  ];
  const numeric = headers.map((_, i) => i > 0 && i < headers.length - 1);
  const cells = rows.map((row) => {
    const notes: string[] = [];
    if (row.rounds_ok < row.rounds) notes.push(`${row.rounds_ok}/${row.rounds} rounds ok`);
    if (row.error !== null) notes.push(`${row.rounds_ok === 0 ? "failed" : "last failure"}: ${oneLine(row.error, reason_chars_max)}`);
    const ops = row.ops_per_s === null
      ? none
      : row.ops_per_s.min === row.ops_per_s.max
        ? fmtInt(row.ops_per_s.median)
        : `${fmtInt(row.ops_per_s.median)} (${fmtInt(row.ops_per_s.min)}–${fmtInt(row.ops_per_s.max)})`;
    return [
      label(row.server),
      String(row.threads),
      ops,
      fmtInt(row.keys_per_s),
      row.family === "memcached" ? (row.rounds_ok > 0 ? "1 (baseline)" : none) : fmtSpread(row.vs_memcached),
      row.threads === 1 ? (row.rounds_ok > 0 ? "1" : none) : fmtSpread(row.scaling),
      fmtFixed(row.server_cores, 2),
      fmtFixed(row.cpu_us_per_op, 2),
      fmtInt(row.p99_us),
      fmtPercent(row.client_cpu_share),
      fmtFixed(row.background_cores, 2),
      row.hit_ratio === null ? none : `${(row.hit_ratio * 100).toFixed(row.hit_ratio === 1 ? 0 : 1)}%`,
      notes.join("; "),
    ];
  });
  return { headers, numeric, rows: cells };
}
