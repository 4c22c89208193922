// The command line of `bun bench` (bench/run.ts). Pure: argv in, options or a usage error out.
import { parts, type Part } from "./workloads.ts";
import { optionsRead, type OptionError, type OptionSpec } from "../../src/options.ts";

export const usage = `usage: bun bench [--quick] [--rounds N] [--duration S] [--only a,b,c,d,e,f,threads,rss,proxy,micro] [--no-pin] [--out DIR]

  --quick        1 round × 3 s per workload and server (smoke test)
  --rounds N     rounds of the load comparison (default 3; servers rotate order each round)
  --duration S   measured seconds per run (default 8), after a 1 s warmup
  --only LIST    parts to run, comma-separated: a b c d e f (workloads; e is a over binary, f is a in the meta protocol),
                 threads (memcached and ours at -t 1, 2, 4 on workloads a and c, 32 connections, nothing pinned),
                 rss (1M-item memory), proxy (magent vs nutcracker), micro (mitata, with the store from 1, 2, 4 threads)
  --no-pin       do not pin servers (taskset -c 0) and mcload (--cpu 1) to cores (the threads part never pins)
  --out DIR      write the results there (default: bench/results when every part runs
                 without --quick; else a temp dir, so smoke runs leave the repository alone)
`;

export interface Options {
  rounds: number;
  duration_s: number;
  warmup_s: number;
  parts: Set<Part>;
  pin: boolean;
  quick: boolean;
  out_dir: string | null;
  /** Every part, not --quick: results go to bench/results. */
  full: boolean;
}

export const rounds_default = 3;
export const duration_s_default = 8;
export const quick_rounds = 1;
export const quick_duration_s = 3;
export const warmup_s = 1;
export const rounds_max = 100;
export const duration_s_max = 600;

export type CliResult = { kind: "run"; options: Options } | { kind: "help" } | { kind: "error"; message: string };

function positive(flag: string, text: string, max: number, integer: boolean): number | string {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0) || value > max || (integer && !Number.isInteger(value))) {
    return `${flag} ${JSON.stringify(text)}: expected ${integer ? "an integer" : "a number"} in (0, ${max}]`;
  }
  return value;
}

type BenchFlag = OptionSpec & { long: string; placeholder: string };

const bench_flags: readonly BenchFlag[] = [
  { short: "h", long: "help", takes: "none", placeholder: "" },
  { short: null, long: "quick", takes: "none", placeholder: "" },
  { short: null, long: "no-pin", takes: "none", placeholder: "" },
  { short: null, long: "rounds", takes: "required", placeholder: "value" },
  { short: null, long: "duration", takes: "required", placeholder: "value" },
  { short: null, long: "only", takes: "required", placeholder: "list" },
  { short: null, long: "out", takes: "required", placeholder: "directory" },
];

/** The reader's complaint in bench's words (src/options.ts splits argv, as the server's and magent's). */
function readError(error: OptionError<BenchFlag>): string {
  switch (error.reason) {
    case "unknown-short":
    case "unknown-long":
      return `unknown argument ${JSON.stringify(error.arg)}`;
    case "ambiguous":
      return `unknown argument ${JSON.stringify(`--${error.name}`)}`;
    case "missing-value":
      return `${error.opt} needs a ${error.spec.placeholder}`;
    case "unexpected-value":
      return `${error.opt} takes no value`;
  }
}

export function parseCli(argv: readonly string[]): CliResult {
  let quick = false;
  let rounds: number | null = null;
  let duration_s: number | null = null;
  let only: Set<Part> | null = null;
  let pin = true;
  let out_dir: string | null = null;
  for (const event of optionsRead(argv, bench_flags, { long_prefixes: false })) {
    if (event.kind === "error") return { kind: "error", message: readError(event.error) };
    if (event.kind === "positional") return { kind: "error", message: `unknown argument ${JSON.stringify(event.arg)}` };
    const flag = `--${event.spec.long}`;
    const text = event.value ?? "";
    switch (event.spec.long) {
      case "help":
        return { kind: "help" };
      case "quick":
        quick = true;
        break;
      case "no-pin":
        pin = false;
        break;
      case "rounds": {
        const n = positive(flag, text, rounds_max, true);
        if (typeof n === "string") return { kind: "error", message: n };
        rounds = n;
        break;
      }
      case "duration": {
        const n = positive(flag, text, duration_s_max, false);
        if (typeof n === "string") return { kind: "error", message: n };
        duration_s = n;
        break;
      }
      case "only": {
        const names = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
        const unknown = names.filter((n) => !(parts as readonly string[]).includes(n));
        if (unknown.length > 0 || names.length === 0) {
          return { kind: "error", message: `--only ${JSON.stringify(text)}: parts are ${parts.join(",")}` };
        }
        only = new Set(names as Part[]);
        break;
      }
      case "out":
        out_dir = text;
        break;
    }
  }
  const options: Options = {
    rounds: rounds ?? (quick ? quick_rounds : rounds_default),
    duration_s: duration_s ?? (quick ? quick_duration_s : duration_s_default),
    warmup_s,
    parts: only ?? new Set(parts),
    pin,
    quick,
    out_dir,
    full: false,
  };
  options.full = !quick && only === null;
  return { kind: "run", options };
}

/** Local calendar date as YYYY-MM-DD. */
export function isoDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
