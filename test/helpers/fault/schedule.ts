// A fault schedule drawn from a seed, and its execution against a Cluster.
//
// Each fault has a start and a duration; its end undoes it (restart, SIGCONT, heal, pass-through).
// Faults on one resource never overlap: one process fault per node at a time, one shaping rule per
// direction, one cut; faults on different resources overlap freely (a coalesced direction across a
// cut and its heal, a node killed while the other is stopped, ...). An end past the schedule's
// duration happens in the final heal.
import { Prng } from "../prng.ts";
import type { Cluster, Direction, Topology } from "./cluster.ts";
import type { History, NodeName } from "./history.ts";

export type FaultKind = "kill9" | "term" | "pause" | "cut" | "delay" | "coalesce" | "split" | "jitter" | "stall";

export interface Fault {
  kind: FaultKind;
  at_ms: number;
  duration_ms: number;
  node: NodeName | null;
  direction: Direction | "both" | null;
  /** delay/coalesce/jitter: ms; split: bytes; jitter also uses `seed`. */
  amount: number;
  seed: number;
}

export interface Schedule {
  seed: number;
  topology: Topology;
  duration_ms: number;
  faults: Fault[];
}

export interface ScheduleOptions {
  duration_ms: number;
  faults_min: number;
  faults_max: number;
}

const weights: Array<[FaultKind, number]> = [
  ["kill9", 2], ["term", 1.5], ["pause", 1.5], ["cut", 3], ["delay", 1.5], ["coalesce", 2.5], ["split", 1],
  ["jitter", 1], ["stall", 1.5],
];

/** Tries per wanted fault before giving up on finding a free slot (bounded generation). */
const placement_tries_max = 20;

function durationFor(prng: Prng, kind: FaultKind): number {
  switch (kind) {
    case "kill9":
    case "term":
      return prng.int(100, 900);
    case "pause":
      return prng.int(100, 1_500);
    case "cut":
      return prng.int(50, 800);
    default:
      return prng.int(200, 1_500);
  }
}

function amountFor(prng: Prng, kind: FaultKind): number {
  switch (kind) {
    case "delay":
      return prng.int(5, 150);
    case "coalesce":
      return prng.int(20, 300);
    case "split":
      return prng.int(1, 200);
    case "jitter":
      return prng.int(5, 100);
    default:
      return 0;
  }
}

function resources(fault: Fault): string[] {
  if (fault.node !== null) return [`node:${fault.node}`];
  if (fault.kind === "cut") return ["cut"];
  if (fault.direction === "both") return ["dir:a2b", "dir:b2a"];
  return [`dir:${fault.direction}`];
}

export function makeSchedule(seed: number, options: ScheduleOptions): Schedule {
  const prng = new Prng(seed);
  const topology: Topology = prng.chance(0.5) ? "one_way" : "both_ways";
  const wanted = prng.int(options.faults_min, options.faults_max);
  const faults: Fault[] = [];
  for (let tries = 0; faults.length < wanted && tries < wanted * placement_tries_max; tries++) {
    const kind = prng.weighted(weights);
    const process_fault = kind === "kill9" || kind === "term" || kind === "pause";
    const shaping = !process_fault && kind !== "cut";
    const fault: Fault = {
      kind,
      at_ms: prng.int(100, Math.max(101, options.duration_ms - 300)),
      duration_ms: durationFor(prng, kind),
      node: process_fault ? prng.pick(["A", "B"] as const) : null,
      direction: shaping ? prng.pick(["a2b", "b2a", "both"] as const) : null,
      amount: amountFor(prng, kind),
      seed: prng.int(1, 0x7fffffff),
    };
    const busy = faults.some((other) =>
      resources(other).some((r) => resources(fault).includes(r)) &&
      fault.at_ms < other.at_ms + other.duration_ms + 50 && other.at_ms < fault.at_ms + fault.duration_ms + 50);
    if (!busy) faults.push(fault);
  }
  faults.sort((x, y) => x.at_ms - y.at_ms);
  return { seed, topology, duration_ms: options.duration_ms, faults };
}

export function describeFault(fault: Fault): string {
  const where = fault.node ?? fault.direction ?? "";
  const amount = fault.kind === "split" ? ` ${fault.amount}B` : fault.amount > 0 ? ` ${fault.amount}ms` : "";
  const seed = fault.kind === "jitter" ? ` seed ${fault.seed}` : "";
  return `${fault.kind}${where ? " " + where : ""}${amount}${seed} at +${fault.at_ms} for ${fault.duration_ms} ms`;
}

export function describeSchedule(schedule: Schedule): string {
  const lines = [`seed ${schedule.seed}: topology ${schedule.topology}, ${schedule.duration_ms} ms, ${schedule.faults.length} faults`];
  for (const fault of schedule.faults) lines.push(`  ${describeFault(fault)}`);
  return lines.join("\n");
}

interface Step {
  at_ms: number;
  begin: boolean;
  fault: Fault;
}

/**
 * Runs the schedule from t0: each fault begins and ends at its times (ends past the duration are
 * left to the final heal). Records every step in the history. Returns the steps' background work
 * (restarts), which the caller awaits before healing.
 */
export async function executeSchedule(schedule: Schedule, cluster: Cluster, history: History, t0_ms: number): Promise<Array<Promise<void>>> {
  const steps: Step[] = [];
  for (const fault of schedule.faults) {
    steps.push({ at_ms: fault.at_ms, begin: true, fault });
    const end_ms = fault.at_ms + fault.duration_ms;
    if (end_ms < schedule.duration_ms) steps.push({ at_ms: end_ms, begin: false, fault });
  }
  steps.sort((x, y) => x.at_ms - y.at_ms || Number(x.begin) - Number(y.begin));
  const background: Array<Promise<void>> = [];
  for (const step of steps) {
    const wait_ms = t0_ms + step.at_ms - performance.now();
    if (wait_ms > 0) await Bun.sleep(wait_ms);
    history.fault(`${step.begin ? "begin" : "end"} ${describeFault(step.fault)}`);
    const work = applyStep(step, cluster);
    if (work !== null) background.push(work.catch((error) => history.fault(`step failed: ${String(error)}`)));
  }
  const rest_ms = t0_ms + schedule.duration_ms - performance.now();
  if (rest_ms > 0) await Bun.sleep(rest_ms);
  return background;
}

function applyStep(step: Step, cluster: Cluster): Promise<void> | null {
  const fault = step.fault;
  const node = fault.node === null ? null : cluster.node(fault.node);
  const directions: Direction[] = fault.direction === "both" ? ["a2b", "b2a"] : fault.direction === null ? [] : [fault.direction];
  const shapers = directions.flatMap((d) => cluster.shapers(d));
  switch (fault.kind) {
    case "kill9":
      return step.begin ? node!.kill9() : node!.restart();
    case "term":
      if (step.begin) {
        node!.term();
        return null;
      }
      return node!.restart();
    case "pause":
      if (step.begin) node!.pause();
      else node!.resume();
      return null;
    case "cut":
      for (const relay of cluster.relays) {
        if (step.begin) relay.cut();
        else relay.heal();
      }
      return null;
    case "stall":
      for (const shaper of shapers) {
        if (step.begin) shaper.stall();
        else shaper.resume();
      }
      return null;
    default:
      for (const shaper of shapers) {
        if (!step.begin) shaper.reset();
        else if (fault.kind === "delay") shaper.delay(fault.amount);
        else if (fault.kind === "coalesce") shaper.coalesce(fault.amount);
        else if (fault.kind === "split") shaper.split(fault.amount);
        else if (fault.kind === "jitter") shaper.jitter(fault.amount, fault.seed);
      }
      return null;
  }
}
