// Runs many seeded fault schedules against real nodes (test/helpers/fault/) and prints a summary.
//
//   bun scripts/fault-soak.ts --schedules 300 --seed 1000 [--duration-ms 2500] [--clock-offset-ms 0]
//                             [--reports DIR] [--summary FILE] [--stop-on-failure]
//
// Each failing seed prints its report (faults as they happened, violations, the offending keys'
// operations) and the line that replays it alone under `bun test`. At the end: schedules, seeds,
// time, faults injected by kind, operations (acknowledged, unknown), what the checks covered (keys
// compared, acknowledged deletes and writes checked and excluded) and violations by check; with
// --summary FILE also as JSON. Exit code 1 if any seed failed.
import { mkdirSync, writeFileSync } from "node:fs";
import type { FaultKind } from "../test/helpers/fault/schedule.ts";
import { join } from "node:path";
import { run_defaults, runSchedule, stopLiveClusters } from "../test/helpers/fault/run.ts";

interface Args {
  schedules: number;
  seed: number;
  duration_ms: number;
  clock_offset_ms: number;
  reports: string | null;
  summary: string | null;
  stop_on_failure: boolean;
}

const schedules_max = 100_000;

function parseArgs(argv: string[]): Args {
  const args: Args = {
    schedules: 100, seed: 1, duration_ms: run_defaults.duration_ms, clock_offset_ms: 0, reports: null, summary: null, stop_on_failure: false,
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
    else if (flag === "--summary") args.summary = argv[++i] ?? null;
    else if (flag === "--stop-on-failure") args.stop_on_failure = true;
    else throw new Error(`unknown flag ${flag} (see the comment at the top of scripts/fault-soak.ts)`);
  }
  if (args.schedules < 1 || args.schedules > schedules_max) throw new Error(`--schedules must be 1..${schedules_max}`);
  if (args.duration_ms < 500) throw new Error("--duration-ms must be at least 500");
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args.reports !== null) mkdirSync(args.reports, { recursive: true });
const failed: Array<{ seed: number; checks: string; paired_classic: boolean }> = [];
const started_ms = performance.now();
const totals = {
  schedules: 0, faults: 0, faults_by_kind: {} as Partial<Record<FaultKind, number>>, topologies: {} as Record<string, number>,
  paired_classic: 0, paired_classic_failed: 0, ops: 0, acknowledged: 0, unknown: 0, keys_checked: 0, deletes_checked: 0, deletes_excluded: 0,
  writes_checked: 0, writes_excluded: 0, violations: 0, violations_by_check: {} as Record<string, number>,
};
const stop = (code: number) => {
  void stopLiveClusters().then(() => process.exit(code));
};
process.on("SIGINT", () => stop(130));
process.on("SIGTERM", () => stop(143));
for (let i = 0; i < args.schedules; i++) {
  const seed = args.seed + i;
  const run = await runSchedule({ ...run_defaults, seed, duration_ms: args.duration_ms, clock_offset_ms_b: args.clock_offset_ms });
  totals.schedules++;
  totals.topologies[run.schedule.topology] = (totals.topologies[run.schedule.topology] ?? 0) + 1;
  for (const fault of run.schedule.faults) {
    totals.faults++;
    totals.faults_by_kind[fault.kind] = (totals.faults_by_kind[fault.kind] ?? 0) + 1;
  }
  const r = run.result;
  if (run.paired_classic) totals.paired_classic++;
  if (run.paired_classic && !run.ok) totals.paired_classic_failed++;
  totals.ops += run.ops;
  totals.acknowledged += run.acked;
  totals.unknown += run.unknown;
  totals.keys_checked += r.keys_checked;
  totals.deletes_checked += r.deletes_checked;
  totals.deletes_excluded += r.excluded_deletes;
  totals.writes_checked += r.writes_checked;
  totals.writes_excluded += r.excluded_writes;
  for (const v of r.violations) {
    totals.violations++;
    totals.violations_by_check[v.check] = (totals.violations_by_check[v.check] ?? 0) + 1;
  }
  const checks = [...new Set(r.violations.map((v) => v.check))].join(",");
  const classic = run.paired_classic ? " [paired as classic]" : "";
  console.log(`seed ${seed}: ${run.ok ? "ok" : `FAILED (${checks})`}${classic} ${run.ops} ops, ${run.schedule.faults.length} faults, ${run.elapsed_ms.toFixed(0)} ms`);
  if (args.reports !== null) writeFileSync(join(args.reports, `seed-${seed}.txt`), run.report + "\n");
  if (!run.ok) {
    failed.push({ seed, checks, paired_classic: run.paired_classic });
    console.log(run.report + "\n");
    if (args.stop_on_failure) break;
  }
}
const total_s = (performance.now() - started_ms) / 1000;
const last_seed = args.seed + totals.schedules - 1;
const by = (counts: Record<string, number>) => Object.entries(counts).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
console.log(`\n${totals.schedules} schedules, seeds ${args.seed}..${last_seed}${args.clock_offset_ms !== 0 ? ` (B clock offset ${args.clock_offset_ms} ms)` : ""}, in ${total_s.toFixed(0)} s: ${failed.length} failed`);
console.log(`topologies: ${by(totals.topologies)}`);
console.log(`faults injected: ${totals.faults} (${by(totals.faults_by_kind)})`);
console.log(`operations: ${totals.ops} (${totals.acknowledged} acknowledged, ${totals.unknown} without a reply)`);
console.log(`checked: ${totals.keys_checked} keys compared across the nodes; acknowledged deletes/flushes ${totals.deletes_checked} checked, ${totals.deletes_excluded} excluded; acknowledged writes ${totals.writes_checked} checked, ${totals.writes_excluded} excluded (their node died undrained)`);
console.log(`violations: ${totals.violations} (${by(totals.violations_by_check)})`);
console.log(`paired as classic (a delayed hello): ${totals.paired_classic} schedules, ${totals.paired_classic_failed} of them failed`);
for (const f of failed) console.log(`  FAULT_SEED=${f.seed} npx bun test test/integration/replication_fault.test.ts   # ${f.checks}${f.paired_classic ? " [paired as classic]" : ""}`);
if (args.summary !== null) {
  writeFileSync(args.summary, JSON.stringify({ ...totals, seed_first: args.seed, seed_last: last_seed, clock_offset_ms: args.clock_offset_ms, total_s, failed }, null, 2) + "\n");
}
process.exit(failed.length > 0 ? 1 : 0);
