// Runs many seeded fault schedules against real nodes (test/helpers/fault/) and prints a summary.
//
//   bun scripts/fault-soak.ts --schedules 300 --seed 1000 [--duration-ms 2500] [--clock-offset-ms 0]
//                             [--reports DIR] [--stop-on-failure]
//
// Each failing seed prints its report (faults as they happened, violations, the offending keys'
// operations) and the line that replays it alone under `bun test`. Exit code 1 if any seed failed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run_defaults, runSchedule, stopLiveClusters } from "../test/helpers/fault/run.ts";

interface Args {
  schedules: number;
  seed: number;
  duration_ms: number;
  clock_offset_ms: number;
  reports: string | null;
  stop_on_failure: boolean;
}

const schedules_max = 100_000;

function parseArgs(argv: string[]): Args {
  const args: Args = {
    schedules: 100, seed: 1, duration_ms: run_defaults.duration_ms, clock_offset_ms: 0, reports: null, stop_on_failure: false,
  };
  const integer = (flag: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !Number.isInteger(n)) throw new Error(`${flag} needs an integer, got ${JSON.stringify(text)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--schedules") args.schedules = integer(flag, argv[++i]);
    else if (flag === "--seed") args.seed = integer(flag, argv[++i]);
    else if (flag === "--duration-ms") args.duration_ms = integer(flag, argv[++i]);
    else if (flag === "--clock-offset-ms") args.clock_offset_ms = integer(flag, argv[++i]);
    else if (flag === "--reports") args.reports = argv[++i] ?? null;
    else if (flag === "--stop-on-failure") args.stop_on_failure = true;
    else throw new Error(`unknown flag ${flag} (see the comment at the top of scripts/fault-soak.ts)`);
  }
  if (args.schedules < 1 || args.schedules > schedules_max) throw new Error(`--schedules must be 1..${schedules_max}`);
  if (args.duration_ms < 500) throw new Error("--duration-ms must be at least 500");
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args.reports !== null) mkdirSync(args.reports, { recursive: true });
const failed: Array<{ seed: number; checks: string }> = [];
const started_ms = performance.now();
process.on("SIGINT", () => {
  void stopLiveClusters().then(() => process.exit(130));
});
for (let i = 0; i < args.schedules; i++) {
  const seed = args.seed + i;
  const run = await runSchedule({ ...run_defaults, seed, duration_ms: args.duration_ms, clock_offset_ms_b: args.clock_offset_ms });
  const checks = [...new Set(run.result.violations.map((v) => v.check))].join(",");
  console.log(`seed ${seed}: ${run.ok ? "ok" : `FAILED (${checks})`} ${run.ops} ops, ${run.schedule.faults.length} faults, ${run.elapsed_ms.toFixed(0)} ms`);
  if (args.reports !== null) writeFileSync(join(args.reports, `seed-${seed}.txt`), run.report + "\n");
  if (!run.ok) {
    failed.push({ seed, checks });
    console.log(run.report + "\n");
    if (args.stop_on_failure) break;
  }
}
const total_s = (performance.now() - started_ms) / 1000;
console.log(`\n${args.schedules} schedules from seed ${args.seed} in ${total_s.toFixed(0)} s: ${failed.length} failed`);
for (const f of failed) console.log(`  FAULT_SEED=${f.seed} npx bun test test/integration/replication_fault.test.ts   # ${f.checks}`);
process.exit(failed.length > 0 ? 1 : 0);
