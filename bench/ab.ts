// Two checkouts of ours side by side: this one and another (e.g. the commit before a change), both
// -t 1, beside memcached -t 1, in interleaved rounds, on workloads of `bun bench`.
//
//   bun bench/ab.ts --other /work/wt-before [--rounds 5] [--duration 5] [--only a,e,f] [--no-pin]
//
// Make the other checkout a git worktree (`git worktree add --detach DIR COMMIT`), link its
// node_modules to this one's, and build its native library there (`bun scripts/build-native.ts`).
// Servers and mcload are pinned as in `bun bench` (server core 0, mcload core 1) unless --no-pin.
// Prints, per workload, the harness's table (÷ memcached -t 1), this ÷ other per round (ops/s and
// server CPU µs per operation: on a shared machine the second moves far less), and with --json
// FILE writes the samples.
// Every process is stopped by PID, on success, error and SIGINT/SIGTERM; every wait is bounded.
import { existsSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { project_root } from "../src/native/build.ts";
import { ab_usage, cpuMicros, pairCpuRatio, pairRatio, parseAbCli } from "./lib/ab.ts";
import { exitAfter, stopOnSignals } from "./lib/children.ts";
import { ensureDebianPackage } from "./lib/debian.ts";
import { haveLoadgen, loadgen_path, type LoadgenOptions } from "./lib/loadgen.ts";
import { measure, preload_timeout_s } from "./lib/measure.ts";
import { schedule } from "./lib/schedule.ts";
import {
  freePort, memcachedArgv, oursArgv, startCommand, type RunningServer, type ServerEnv, type StartResult,
} from "./lib/servers.ts";
import { summarize, type Sample } from "./lib/summary.ts";
import { fmtFixed, fmtInt, fmtSpread, oneLine, renderMarkdown, renderText, rowCells } from "./lib/table.ts";
import { workloads } from "./lib/workloads.ts";

const memcached_path = "/usr/bin/memcached";
const say = (line: string) => console.log(line);
const live = new Set<RunningServer>();

async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
  live.clear();
}

const run = stopOnSignals(stopAll);

/** The checkout's HEAD: [short hash, subject]. */
function gitHead(dir: string): [string, string] {
  const r = Bun.spawnSync(["git", "-C", dir, "log", "-1", "--format=%h%n%s"], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  if (r.exitCode !== 0) return ["unknown", "unknown commit"];
  const [hash = "unknown", subject = ""] = r.stdout.toString().split("\n");
  return [hash, oneLine(subject, 100)];
}

async function main(): Promise<number> {
  const cli = parseAbCli(process.argv.slice(2));
  if (cli.kind === "help") return (console.log(ab_usage), 0);
  if (cli.kind === "error") return (console.error(`${cli.message}\n\n${ab_usage}`), 64);
  const o = cli.options;
  if (!existsSync(join(o.other_dir, "src", "main.ts"))) {
    console.error(`${o.other_dir}/src/main.ts not found: --other names a checkout of repcached-bun`);
    return 64;
  }
  if (!haveLoadgen()) {
    console.error(`${loadgen_path} is missing: bun scripts/build-native.ts --loadgen`);
    return 1;
  }
  const memcached_error = ensureDebianPackage(memcached_path, "memcached", say);
  const pin = o.pin && cpus().length >= 2 && Bun.which("taskset") !== null;
  const env: ServerEnv = {
    pin_cpu: pin ? 0 : null, memcached_path, bun_path: process.execPath, as_root: process.getuid?.() === 0,
    memory_mb: 1024, connections_max: 4096,
  };
  const [this_hash, this_subject] = gitHead(project_root);
  const [other_hash, other_subject] = gitHead(o.other_dir);
  const labels: Record<string, string> = { mc1: "memcached -t 1", ours: `ours @${this_hash}`, other: `${o.other_label} @${other_hash}` };
  const label = (id: string) => labels[id] ?? id;
  say(`A/B: ${o.rounds} rounds × ${o.duration_s} s, workloads ${o.workloads.join(",")}; ${pin ? "servers on core 0, mcload on core 1" : "not pinned"}`);
  say(`  ${labels.ours}: ${project_root} (${this_subject})`);
  say(`  ${labels.other}: ${o.other_dir} (${other_subject})`);

  const servers = new Map<string, StartResult>();
  const start = async (id: string, argv: (port: number) => string[]) => {
    const port = await freePort();
    const result = await startCommand(id, argv(port), port);
    servers.set(id, result);
    if (result.ok) live.add(result.server);
    say(result.ok ? `  ${label(id)} up: ${result.server.commands.join(" ")}` : `  ${label(id)} FAILED: ${oneLine(result.error, 300)}`);
  };
  if (memcached_error === null) await start("mc1", (port) => memcachedArgv(env, port, 1));
  else servers.set("mc1", { ok: false, error: memcached_error, commands: [] });
  await start("ours", (port) => oursArgv(env, port, null));
  await start("other", (port) => oursArgv(env, port, null, true, { root: o.other_dir }));

  const selected = workloads.filter((w) => o.workloads.includes(w.id));
  const ids = ["mc1", "ours", "other"];
  const loadgen_options: LoadgenOptions = { duration_s: o.duration_s, warmup_s: 1, cpu: pin ? 1 : null, seed: 1, preload_timeout_s };
  const steps = schedule(o.rounds, selected, () => ids);
  const samples = new Map(selected.map((w) => [w.id, [] as Sample[]]));
  try {
    for (const [i, step] of steps.entries()) {
      if (run.interrupted) break;
      const sample = await measure(step.round, step.workload, servers.get(step.server)!, loadgen_options);
      sample.server = step.server;
      samples.get(step.workload.id)!.push(sample);
      const figures = sample.error === null
        ? `${fmtInt(sample.ops_per_s).padStart(9)} ops/s  server ${fmtFixed(sample.server_cores, 2)} cores  other load ${fmtFixed(sample.background_cores, 2)}`
        : `failed: ${oneLine(sample.error, 140)}`;
      say(`[${i + 1}/${steps.length}] round ${step.round + 1}  ${step.workload.id}  ${label(step.server).padEnd(24)} ${figures}`);
    }
  } finally {
    await stopAll();
  }
  for (const w of selected) {
    const s = samples.get(w.id)!;
    const rows = summarize(s, ids, "mc1");
    say(`\n${w.id}: ${w.title}`);
    say(renderText(rowCells(rows, label, "mc1", 140)));
    say(`server CPU µs per operation (median, range over rounds): ${ids.map((id) => `${label(id)} ${fmtSpread(cpuMicros(s, id))}`).join("; ")}`);
    say(`${label("ours")} ÷ ${label("other")}, per round: ops/s ${fmtSpread(pairRatio(s, "ours", "other"))}; CPU µs/op ${fmtSpread(pairCpuRatio(s, "ours", "other"))}`);
    say(`CPU µs/op ÷ memcached -t 1, per round: ${label("ours")} ${fmtSpread(pairCpuRatio(s, "ours", "mc1"))}; ${label("other")} ${fmtSpread(pairCpuRatio(s, "other", "mc1"))}`);
    say(`\n${renderMarkdown(rowCells(rows, label, "mc1", 140))}`);
  }
  if (o.json_path !== null) {
    const raw = { options: o, labels, samples: Object.fromEntries(samples) };
    writeFileSync(o.json_path, `${JSON.stringify(raw, null, 1)}\n`);
    say(`\nwrote ${o.json_path}`);
  }
  return 0;
}

await exitAfter(main, stopAll);
