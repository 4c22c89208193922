// -t N's SO_REUSEPORT (each worker accepts its own connections: the product) against a relaying
// acceptor (one thread owns every client socket and relays its bytes to N workers:
// bench/acceptor_server.ts), side by side on 127.0.0.1, with `bun bench --only threads`'s
// machinery: its workloads a and c over 32 connections (bench/lib/workloads.ts), mcload, the
// server's CPU from /proc (bench/lib/measure.ts), interleaved rounds with the order rotated each
// round (bench/lib/schedule.ts), nothing pinned (as the threads part: threads need both cores).
//
//   bun bench/acceptor.ts [--rounds 5] [--duration 5] [--only a,c] [--no-relay1] [--json FILE]
//
// Servers: ours -t 1, ours -t 2 (reusePort), the relay with 2 workers, and (unless --no-relay1)
// the relay with 1 worker, which against ours -t 1 isolates what relaying costs. Prints, per
// workload, ops/s, server CPU µs per request and both ÷ ours -t 2 in the same round (median and
// range over rounds). Every process is stopped by PID, on success, error and SIGINT/SIGTERM;
// every wait is bounded.
import { writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { project_root } from "../src/native/build.ts";
import { acceptor_labels, acceptor_usage, acceptorCells, acceptorServers, parseAcceptorCli, type AcceptorServerId } from "./lib/acceptor.ts";
import { exitAfter, stopOnSignals } from "./lib/children.ts";
import { haveLoadgen, loadgen_path, type LoadgenOptions } from "./lib/loadgen.ts";
import { measure, preload_timeout_s } from "./lib/measure.ts";
import { schedule } from "./lib/schedule.ts";
import { freePort, oursArgv, startCommand, type RunningServer, type ServerEnv, type StartResult } from "./lib/servers.ts";
import type { Sample } from "./lib/summary.ts";
import { fmtFixed, fmtInt, oneLine, renderMarkdown, renderText } from "./lib/table.ts";
import { threads_workloads, type Workload } from "./lib/workloads.ts";

const say = (line: string) => console.log(line);
const reason_chars_max = 140;
const live = new Set<RunningServer>();

const env: ServerEnv = {
  pin_cpu: null, memcached_path: "/usr/bin/memcached", bun_path: process.execPath, as_root: process.getuid?.() === 0,
  memory_mb: 1024, connections_max: 4096,
};

async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
  live.clear();
}

const run = stopOnSignals(stopAll);

/** The relay with `workers` workers, on the same flags as oursArgv gives ours. */
function relayArgv(port: number, workers: number): string[] {
  return [
    env.bun_path, join(project_root, "bench", "acceptor_server.ts"), "--workers", String(workers),
    "-l", "127.0.0.1", "-p", String(port), "-m", String(env.memory_mb), "-c", String(env.connections_max),
  ];
}

function argvOf(id: AcceptorServerId, port: number): string[] {
  switch (id) {
    case "t1":
      return oursArgv(env, port, null, false);
    case "t2":
      return oursArgv(env, port, null, false, { threads: 2 });
    case "relay2":
      return relayArgv(port, 2);
    case "relay1":
      return relayArgv(port, 1);
  }
}

async function startAll(ids: readonly AcceptorServerId[]): Promise<Map<AcceptorServerId, StartResult>> {
  const servers = new Map<AcceptorServerId, StartResult>();
  for (const id of ids) {
    const port = await freePort();
    const result = await startCommand(id, argvOf(id, port), port);
    servers.set(id, result);
    if (result.ok) live.add(result.server);
    say(result.ok ? `  ${acceptor_labels[id]} up: ${result.server.commands.join(" ")}` : `  ${acceptor_labels[id]} FAILED: ${oneLine(result.error, 300)}`);
  }
  return servers;
}

function progress(i: number, steps: number, round: number, workload: Workload, s: Sample): string {
  const head = `[${i}/${steps}] round ${round + 1}  ${workload.id.padEnd(9)}  ${acceptor_labels[s.server as AcceptorServerId].padEnd(22)}`;
  if (s.error !== null) return `${head} failed: ${oneLine(s.error, reason_chars_max)}`;
  const cpu = s.server_cores === null ? null : (s.server_cores * 1e6) / s.ops_per_s;
  return `${head} ${fmtInt(s.ops_per_s).padStart(9)} ops/s  ${fmtFixed(cpu, 1)} CPU µs/req  server ${fmtFixed(s.server_cores, 2)} cores  other ${fmtFixed(s.background_cores, 2)}`;
}

async function main(): Promise<number> {
  const cli = parseAcceptorCli(process.argv.slice(2));
  if (cli.kind === "help") return (console.log(acceptor_usage), 0);
  if (cli.kind === "error") return (console.error(`${cli.message}\n\n${acceptor_usage}`), 64);
  const o = cli.options;
  if (!haveLoadgen()) return (console.error(`${loadgen_path} is missing: bun scripts/build-native.ts --loadgen`), 1);
  const ids = acceptorServers(o);
  const selected = threads_workloads.filter((w) => o.workloads.some((id) => w.id === `threads_${id}`));
  say(`reusePort vs a relaying acceptor: ${o.rounds} rounds × ${o.duration_s} s (after ${o.warmup_s} s warmup), workloads ${selected.map((w) => w.id).join(",")}; nothing pinned`);
  say(`  ${cpus().length} CPUs: ${cpus()[0]?.model ?? "unknown"}; Linux ${release()}; bun ${Bun.version}`);
  const servers = await startAll(ids);
  const loadgen_options: LoadgenOptions = { duration_s: o.duration_s, warmup_s: o.warmup_s, cpu: null, seed: 1, preload_timeout_s };
  const steps = schedule(o.rounds, selected, () => ids);
  const samples = new Map(selected.map((w) => [w.id, [] as Sample[]]));
  try {
    for (const [i, step] of steps.entries()) {
      if (run.interrupted) break;
      const sample = await measure(step.round, step.workload, servers.get(step.server)!, loadgen_options);
      sample.server = step.server;
      samples.get(step.workload.id)!.push(sample);
      say(progress(i + 1, steps.length, step.round, step.workload, sample));
    }
  } finally {
    await stopAll();
  }
  for (const w of selected) {
    const cells = acceptorCells(samples.get(w.id)!, ids, reason_chars_max);
    say(`\n${w.id}: ${w.title}`);
    say(renderText(cells));
    say(`\n${renderMarkdown(cells)}`);
  }
  if (o.json_path !== null) {
    writeFileSync(o.json_path, `${JSON.stringify({ options: o, labels: acceptor_labels, samples: Object.fromEntries(samples) }, null, 1)}\n`);
    say(`\nwrote ${o.json_path}`);
  }
  return 0;
}

await exitAfter(main, stopAll);
