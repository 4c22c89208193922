// bench/ab.ts's command line and its A/B figure. Pure.
//
// The A/B compares this checkout's server with another checkout's (a commit before a change),
// both -t 1, beside memcached -t 1, in interleaved rounds (bench/lib/schedule.ts).
import { optionsRead, type OptionSpec } from "../../src/options.ts";
import { ratiosByRound, spread, type Spread } from "./stats.ts";
import { cpuMicrosPerOp, type Sample } from "./summary.ts";
import type { WorkloadId } from "./workloads.ts";

export const ab_usage = `usage: bun bench/ab.ts --other DIR [--other-label NAME] [--rounds N] [--duration S] [--only a,e,f] [--no-pin] [--json FILE]

  --other DIR         another checkout of repcached-bun (its native library built: bun scripts/build-native.ts there)
  --other-label NAME  its name in the tables (default: the directory's name)
  --rounds N          interleaved rounds (default 5; servers rotate order each round)
  --duration S        measured seconds per run (default 5), after a 1 s warmup
  --only LIST         workloads of bun bench, comma-separated (default a,e,f)
  --no-pin            do not pin the servers (taskset -c 0) and mcload (--cpu 1)
  --json FILE         also write the samples there
`;

export const ab_workload_ids: readonly WorkloadId[] = ["a", "b", "c", "d", "e", "f"];

export interface AbOptions {
  other_dir: string;
  other_label: string;
  rounds: number;
  duration_s: number;
  workloads: WorkloadId[];
  pin: boolean;
  json_path: string | null;
}

export type AbCli = { kind: "run"; options: AbOptions } | { kind: "help" } | { kind: "error"; message: string };

type Flag = OptionSpec & { long: string };

const flags: readonly Flag[] = [
  { short: "h", long: "help", takes: "none" },
  { short: null, long: "other", takes: "required" },
  { short: null, long: "other-label", takes: "required" },
  { short: null, long: "rounds", takes: "required" },
  { short: null, long: "duration", takes: "required" },
  { short: null, long: "only", takes: "required" },
  { short: null, long: "no-pin", takes: "none" },
  { short: null, long: "json", takes: "required" },
];

export function parseAbCli(argv: readonly string[]): AbCli {
  let other_dir: string | null = null;
  let other_label: string | null = null;
  let rounds = 5;
  let duration_s = 5;
  let ids: WorkloadId[] = ["a", "e", "f"];
  let pin = true;
  let json_path: string | null = null;
  for (const event of optionsRead(argv, flags, { long_prefixes: false })) {
    if (event.kind === "error") {
      const e = event.error;
      const name = e.reason === "unknown-short" || e.reason === "unknown-long" ? e.arg : e.reason === "ambiguous" ? `--${e.name}` : e.opt;
      return { kind: "error", message: `bad argument ${JSON.stringify(name)} (${e.reason})` };
    }
    if (event.kind === "positional") return { kind: "error", message: `unknown argument ${JSON.stringify(event.arg)}` };
    const text = event.value ?? "";
    switch (event.spec.long) {
      case "help":
        return { kind: "help" };
      case "other":
        other_dir = text.replace(/\/+$/, "") || "/";
        break;
      case "other-label":
        other_label = text;
        break;
      case "rounds":
        rounds = Number(text);
        if (!/^\d+$/.test(text) || rounds < 1 || rounds > 100) return { kind: "error", message: `--rounds ${JSON.stringify(text)}: expected an integer in [1, 100]` };
        break;
      case "duration":
        duration_s = Number(text);
        if (!/^\d+(\.\d+)?$/.test(text) || !(duration_s > 0) || duration_s > 600) return { kind: "error", message: `--duration ${JSON.stringify(text)}: expected a number in (0, 600]` };
        break;
      case "only": {
        const names = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
        if (names.length === 0 || names.some((n) => !(ab_workload_ids as readonly string[]).includes(n))) {
          return { kind: "error", message: `--only ${JSON.stringify(text)}: workloads are ${ab_workload_ids.join(",")}` };
        }
        ids = names as WorkloadId[];
        break;
      }
      case "no-pin":
        pin = false;
        break;
      case "json":
        json_path = text;
        break;
    }
  }
  if (other_dir === null) return { kind: "error", message: "--other DIR is required" };
  const label = other_label ?? other_dir.split("/").filter((p) => p.length > 0).pop() ?? other_dir;
  return { kind: "run", options: { other_dir, other_label: label, rounds, duration_s, workloads: ids, pin, json_path } };
}

/** ops/s of `server` ÷ ops/s of `baseline`, paired by round: median and range. */
export function pairRatio(samples: readonly Sample[], server: string, baseline: string): Spread | null {
  const by = (id: string) => new Map(samples.filter((s) => s.server === id && s.error === null).map((s) => [s.round, s.ops_per_s]));
  return spread(ratiosByRound(by(server), by(baseline)));
}

/**
 * Server CPU µs per operation of `server` ÷ `baseline`'s, paired by round. On a shared machine this
 * moves far less than ops/s: other load takes the server's core away (fewer ops/s) but does not
 * make each operation cost more CPU (much).
 */
export function pairCpuRatio(samples: readonly Sample[], server: string, baseline: string): Spread | null {
  const by = (id: string) => {
    const m = new Map<number, number>();
    for (const s of samples) {
      const v = s.server === id ? cpuMicrosPerOp(s) : null;
      if (v !== null) m.set(s.round, v);
    }
    return m;
  };
  return spread(ratiosByRound(by(server), by(baseline)));
}

/** Median server CPU µs per operation of `server` over its rounds, or null. */
export function cpuMicros(samples: readonly Sample[], server: string): Spread | null {
  return spread(samples.filter((s) => s.server === server).map(cpuMicrosPerOp).filter((v): v is number => v !== null));
}
