// bench/acceptor.ts's command line, servers and table: -t N's SO_REUSEPORT against a relaying
// acceptor (bench/acceptor_server.ts). Pure.
//
// Every figure is a median over rounds; the ratios are ops/s (and CPU µs per request) ÷ ours -t 2
// with reusePort in the same round, median and range over rounds, so drift cancels within a round.
import { optionsRead, type OptionSpec } from "../../src/options.ts";
import { cpuMicros, pairCpuRatio, pairRatio } from "./ab.ts";
import { median } from "./stats.ts";
import type { Sample } from "./summary.ts";
import { fmtFixed, fmtInt, fmtPercent, fmtSpread, none, oneLine, type Cells } from "./table.ts";

export const acceptor_usage = `usage: bun bench/acceptor.ts [--rounds N] [--duration S] [--warmup S] [--only a,c] [--no-relay1] [--json FILE]

  --rounds N     interleaved rounds (default 5; server order rotates each round)
  --duration S   measured seconds per run (default 5)
  --warmup S     seconds of load before each measurement (default 1)
  --only LIST    workloads of the threads part, a and/or c (default a,c), 32 connections each
  --no-relay1    leave out the relay with one worker (it isolates the relay's own cost)
  --json FILE    also write the samples there
`;

export type AcceptorServerId = "t1" | "t2" | "relay2" | "relay1";

export const acceptor_labels: Record<AcceptorServerId, string> = {
  t1: "ours -t 1",
  t2: "ours -t 2 (reusePort)",
  relay2: "relay, 2 workers",
  relay1: "relay, 1 worker",
};

/** Ratios are ÷ this server's, round by round: the product's -t 2. */
export const acceptor_baseline: AcceptorServerId = "t2";

export interface AcceptorOptions {
  rounds: number;
  duration_s: number;
  warmup_s: number;
  workloads: Array<"a" | "c">;
  relay1: boolean;
  json_path: string | null;
}

export type AcceptorCli = { kind: "run"; options: AcceptorOptions } | { kind: "help" } | { kind: "error"; message: string };

type Flag = OptionSpec & { long: string };

const flags: readonly Flag[] = [
  { short: "h", long: "help", takes: "none" },
  { short: null, long: "rounds", takes: "required" },
  { short: null, long: "duration", takes: "required" },
  { short: null, long: "warmup", takes: "required" },
  { short: null, long: "only", takes: "required" },
  { short: null, long: "no-relay1", takes: "none" },
  { short: null, long: "json", takes: "required" },
];

function seconds(name: string, text: string, min: number): number | string {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > 600) return `--${name} ${JSON.stringify(text)}: expected a number in [${min}, 600]`;
  return n;
}

export function parseAcceptorCli(argv: readonly string[]): AcceptorCli {
  const o: AcceptorOptions = { rounds: 5, duration_s: 5, warmup_s: 1, workloads: ["c", "a"], relay1: true, json_path: null };
  for (const event of optionsRead(argv, flags, { long_prefixes: false })) {
    if (event.kind === "error") return { kind: "error", message: `bad argument (${event.error.reason})` };
    if (event.kind === "positional") return { kind: "error", message: `unknown argument ${JSON.stringify(event.arg)}` };
    const text = event.value ?? "";
    const flag = event.spec.long;
    if (flag === "help") return { kind: "help" };
    if (flag === "no-relay1") o.relay1 = false;
    else if (flag === "json") o.json_path = text;
    else if (flag === "rounds") {
      o.rounds = Number(text);
      if (!/^\d+$/.test(text) || o.rounds < 1 || o.rounds > 100) return { kind: "error", message: `--rounds ${JSON.stringify(text)}: expected an integer in [1, 100]` };
    } else if (flag === "only") {
      const names = text.split(",").map((s) => s.trim());
      if (names.length === 0 || names.some((n) => n !== "a" && n !== "c")) return { kind: "error", message: `--only ${JSON.stringify(text)}: workloads are a,c` };
      o.workloads = [...new Set(names as Array<"a" | "c">)];
    } else {
      const value = seconds(flag, text, flag === "warmup" ? 0 : 0.5);
      if (typeof value === "string") return { kind: "error", message: value };
      if (flag === "duration") o.duration_s = value;
      else o.warmup_s = value;
    }
  }
  return { kind: "run", options: o };
}

/** The servers a run compares, in the order of the first round. */
export function acceptorServers(o: AcceptorOptions): AcceptorServerId[] {
  return o.relay1 ? ["t1", "t2", "relay2", "relay1"] : ["t1", "t2", "relay2"];
}

function medianOf(samples: readonly Sample[], server: string, pick: (s: Sample) => number | null): number | null {
  const values: number[] = [];
  for (const s of samples) {
    const v = s.server === server && s.error === null ? pick(s) : null;
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  return median(values);
}

/** One workload's table: a row per server. */
export function acceptorCells(samples: readonly Sample[], servers: readonly AcceptorServerId[], reason_chars_max: number): Cells {
  const base = acceptor_labels[acceptor_baseline];
  const headers = [
    "server", "ops/s median (range)", `ops/s ÷ ${base}`, "CPU µs/request", `CPU µs/request ÷ ${base}`,
    "server cores", "p99 µs", "mcload CPU", "other cores", "note",
  ];
  const numeric = headers.map((_, i) => i > 0 && i < headers.length - 1);
  const rows = servers.map((id) => {
    const mine = samples.filter((s) => s.server === id);
    const ok = mine.filter((s) => s.error === null);
    const ops = medianOf(samples, id, (s) => s.ops_per_s);
    const min = ok.length === 0 ? null : Math.min(...ok.map((s) => s.ops_per_s));
    const max = ok.length === 0 ? null : Math.max(...ok.map((s) => s.ops_per_s));
    const failed = mine.filter((s) => s.error !== null);
    const note = failed.length === 0 ? "" : `${ok.length}/${mine.length} rounds ok; last failure: ${oneLine(failed[failed.length - 1]!.error!, reason_chars_max)}`;
    return [
      acceptor_labels[id],
      ops === null ? none : `${fmtInt(ops)} (${fmtInt(min)}–${fmtInt(max)})`,
      id === acceptor_baseline ? "1" : fmtSpread(pairRatio(samples, id, acceptor_baseline)),
      fmtSpread(cpuMicros(samples, id)),
      id === acceptor_baseline ? "1" : fmtSpread(pairCpuRatio(samples, id, acceptor_baseline)),
      fmtFixed(medianOf(samples, id, (s) => s.server_cores), 2),
      fmtInt(medianOf(samples, id, (s) => s.p99_us)),
      fmtPercent(medianOf(samples, id, (s) => s.client_cpu_share)),
      fmtFixed(medianOf(samples, id, (s) => s.background_cores), 2),
      note,
    ];
  });
  return { headers, numeric, rows };
}
