// The checks after a fault schedule has healed and converged. Pure: history and final states in,
// violations out (unit-tested in test/unit/fault_checker.test.ts).
//
// Order between two operations ("later"): X is before Y when X's reply came more than `tie_ms`
// before Y's request was sent (X.end + tie < Y.start); otherwise they are concurrent and either
// outcome is fine. `tie_ms` covers the cas clock's 1 ms resolution (and, with skew, the offset).
// An operation without a reply (outcome unknown: the client gave up, typically on a stopped node)
// may still take effect after the client gave up: its bytes wait in the socket and a node resumed
// by SIGCONT executes them. Its "end" for ordering is therefore when it settled: the first monitor
// reply from that process to a request sent after the client gave up (plus `settle_margin_ms`), or
// the process's exit, whichever came first; never, while neither happened.
//
// Lost with its node: an operation acknowledged by a process that then died without a drain (kill -9,
// or SIGTERM whose drain did not complete) is excluded from checks 2 and 3 unless a monitor sample of
// that process, sent after the acknowledgement, showed it drained (synced, empty journal, nothing
// pending, relays holding nothing). If, when a node died that way, the other node's process had not
// yet been synced (fresh from a restart) or was down too, both copies may be gone: everything
// acknowledged before that moment is excluded too. Exclusions are counted and reported.
import type { Incarnation, NodeName, Op, Sample } from "./history.ts";
import { counter_base, isCounterKey } from "./workload.ts";

export interface ItemState {
  value: string;
  flags: number;
  cas: string;
  /** Remaining seconds from `mg t`, -1 for none. */
  ttl_s: number;
}

export type FinalState = Record<NodeName, Map<string, ItemState>>;

export interface CheckInput {
  ops: Op[];
  incarnations: Incarnation[];
  samples: Sample[];
  keys: string[];
  final: FinalState;
  tie_ms: number;
  /** Tolerance between the nodes' remaining ttl (read at slightly different times). */
  ttl_tolerance_s: number;
  rss_kb_max: number;
  tombstones_dropped: number;
}

export type Check = "identical" | "resurrected" | "lost_write" | "memory" | "crash" | "converge" | "harness";

export interface Violation {
  check: Check;
  key: string | null;
  text: string;
  op_ids: number[];
}

export interface CheckResult {
  violations: Violation[];
  notes: string[];
  /** Acknowledged deletes/flushes left out of check 2 because their node died undrained. */
  excluded_deletes: number;
  /** Acknowledged writes left out of check 3 for the same reason. */
  excluded_writes: number;
  /** Keys whose final state was compared across the nodes (check 1). */
  keys_checked: number;
  /** Acknowledged deletes/flushes that check 2 held the final state against (0 when it was relaxed). */
  deletes_checked: number;
  /** Acknowledged writes that check 3 looked for. */
  writes_checked: number;
}

const mutations = new Set(["set", "append", "incr", "delete", "flush"]);

/** Strictly before, by more than the tie margin; `x_end_ms` is when x settled (see the top). */
export function before(x: Op, y: Op, tie_ms: number, x_end_ms = x.end_ms): boolean {
  return x_end_ms + tie_ms < y.start_ms;
}

/**
 * A monitor reply that came after the client gave up bounds when an unknown op took effect; the
 * margin covers the other sockets the process served in the same event-loop turn.
 */
export const settle_margin_ms = 10;

/** When each operation settled: its reply, or for an unknown outcome the bound described at the top. */
export function settleTimes(ops: Op[], incarnations: Incarnation[], samples: Sample[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const op of ops) {
    if (op.outcome !== "unknown") {
      out.set(op.id, op.end_ms);
      continue;
    }
    let settled = Infinity;
    const inc = incarnations.find((i) => i.node === op.node && i.n === op.incarnation);
    if (inc !== undefined && inc.ended_ms !== null) settled = inc.ended_ms;
    for (const s of samples) {
      if (s.node === op.node && s.incarnation === op.incarnation && s.sent_ms > op.end_ms) {
        settled = Math.min(settled, s.received_ms + settle_margin_ms);
      }
    }
    out.set(op.id, settled);
  }
  return out;
}

/** `s12.a40.a41.` → [12, 40, 41] (op ids in order); null when the value is not ours. */
export function tokenIds(value: string): number[] | null {
  const ids: number[] = [];
  const re = /([sa])(\d+)\./gy;
  let consumed = 0;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    ids.push(Number(m[2]));
    consumed = re.lastIndex;
  }
  return consumed === value.length && ids.length > 0 ? ids : null;
}

/** A counter key's value: the id of the set that made it, and the number. */
function counterBase(value: string): { base_id: number; n: number } | null {
  const text = value.trim();
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return { base_id: Math.floor(n / counter_base), n };
}

/** Ends that may lose what the process had not sent yet. */
function undrained(end: Incarnation["end"]): boolean {
  return end === "kill9" || end === "term_undrained" || end === "exited";
}

class Classifier {
  private readonly lossy_ends: Array<{ node: NodeName; at_ms: number; double: boolean }> = [];

  constructor(private readonly input: CheckInput) {
    for (const inc of input.incarnations) {
      if (inc.ended_ms === null || !undrained(inc.end)) continue;
      this.lossy_ends.push({ node: inc.node, at_ms: inc.ended_ms, double: !this.peerHeldACopy(inc) });
    }
  }

  /** When `inc` died: was the other node's process up and synced at least once since it started? */
  private peerHeldACopy(inc: Incarnation): boolean {
    const died_ms = inc.ended_ms!;
    const peer = this.input.incarnations.find((p) =>
      p.node !== inc.node && p.started_ms <= died_ms && (p.ended_ms === null || p.ended_ms > died_ms));
    if (peer === undefined) return false;
    return this.input.samples.some((s) =>
      s.node === peer.node && s.incarnation === peer.n && s.state === "synced" && s.received_ms <= died_ms);
  }

  /** Acknowledged by a process that died before it was seen drained (or both copies died). */
  lost(op: Op): boolean {
    if (this.lossy_ends.some((end) => end.double && op.end_ms < end.at_ms)) return true;
    const inc = this.input.incarnations.find((i) => i.node === op.node && i.n === op.incarnation);
    if (inc === undefined || !undrained(inc.end)) return false;
    const drained = this.input.samples.some((s) =>
      s.node === op.node && s.incarnation === op.incarnation && s.sent_ms > op.end_ms && s.state === "synced" &&
      s.queue_items === 0 && s.send_pending_bytes === 0 && s.relays_held_bytes === 0);
    return !drained;
  }

  doubleLosses(): number[] {
    return this.lossy_ends.filter((end) => end.double).map((end) => end.at_ms);
  }
}

function formatItem(item: ItemState | undefined): string {
  return item === undefined ? "absent" : `${JSON.stringify(item.value)} flags ${item.flags} cas ${item.cas} ttl ${item.ttl_s}`;
}

/** Check 1: both nodes hold the same (value, flags, cas) per key, and about the same expiry. */
function checkIdentical(input: CheckInput, out: Violation[]): void {
  for (const key of input.keys) {
    const a = input.final.A.get(key);
    const b = input.final.B.get(key);
    const same = (a === undefined && b === undefined) ||
      (a !== undefined && b !== undefined && a.value === b.value && a.flags === b.flags && a.cas === b.cas &&
        (a.ttl_s < 0) === (b.ttl_s < 0) && Math.abs(a.ttl_s - b.ttl_s) <= input.ttl_tolerance_s);
    if (!same) out.push({ check: "identical", key, text: `key ${key} differs: A ${formatItem(a)}; B ${formatItem(b)}`, op_ids: [] });
  }
}

/** The operations that may have made the last change to a present value. */
function producers(key: string, item: ItemState, by_id: Map<number, Op>, ops_on_key: Op[]): Op[] | null {
  if (isCounterKey(key)) {
    const counter = counterBase(item.value);
    if (counter === null) return null;
    const base = by_id.get(counter.base_id);
    if (base === undefined) return null;
    const incrs = ops_on_key.filter((op) => op.kind === "incr" && op.outcome !== "fail" && op.end_ms >= base.start_ms);
    return [base, ...incrs];
  }
  const ids = tokenIds(item.value);
  if (ids === null) return null;
  const last = by_id.get(ids[ids.length - 1]!);
  return last === undefined ? null : [last];
}

/** Check 2: a key deleted (or flushed) with an acknowledgement does not come back from older writes. */
function checkResurrection(input: CheckInput, classifier: Classifier, by_id: Map<number, Op>, settled: Map<number, number>, out: Violation[], counts: Counts): void {
  const deletes: Op[] = [];
  for (const op of input.ops) {
    if ((op.kind !== "delete" && op.kind !== "flush") || op.outcome !== "ok") continue;
    if (classifier.lost(op)) counts.excluded_deletes++;
    else deletes.push(op);
  }
  counts.deletes_checked = deletes.length;
  for (const key of input.keys) {
    const ops_on_key = input.ops.filter((op) => op.key === key);
    for (const node of ["A", "B"] as const) {
      const item = input.final[node].get(key);
      if (item === undefined) continue;
      const made_by = producers(key, item, by_id, ops_on_key);
      if (made_by === null) {
        out.push({ check: "resurrected", key, text: `key ${key} on ${node} holds ${JSON.stringify(item.value)}, which no recorded write made`, op_ids: [] });
        continue;
      }
      let latest: Op | null = null;
      for (const d of deletes) {
        if (d.key !== key && d.kind !== "flush") continue;
        if (!made_by.every((p) => before(p, d, input.tie_ms, settled.get(p.id)))) continue;
        if (latest === null || d.end_ms > latest.end_ms) latest = d;
      }
      if (latest !== null) {
        out.push({
          check: "resurrected", key,
          text: `key ${key} on ${node} came back: op ${latest.id} (${latest.kind} on ${latest.node}) was acknowledged after ` +
            `op ${made_by[0]!.id} made the value ${JSON.stringify(item.value)}, and no later or concurrent write exists`,
          op_ids: [latest.id, ...made_by.map((p) => p.id)],
        });
      }
    }
  }
}

function present(op: Op, item: ItemState | undefined): boolean {
  if (item === undefined) return false;
  if (!isCounterKey(op.key)) return tokenIds(item.value)?.includes(op.id) ?? false;
  const counter = counterBase(item.value);
  if (counter === null) return false;
  if (op.kind === "set") return counter.base_id === op.id;
  const replied = Number(op.reply);
  return counter.base_id === Math.floor(replied / counter_base) && counter.n >= replied;
}

/** Check 3: every acknowledged write is present, or superseded by a later or concurrent mutation. */
function checkLostWrites(input: CheckInput, classifier: Classifier, settled: Map<number, number>, out: Violation[], counts: Counts): void {
  const candidates = input.ops.filter((op) => mutations.has(op.kind) && op.outcome !== "fail");
  for (const w of input.ops) {
    if ((w.kind !== "set" && w.kind !== "append" && w.kind !== "incr") || w.outcome !== "ok") continue;
    if (classifier.lost(w)) {
      counts.excluded_writes++;
      continue;
    }
    counts.writes_checked++;
    const superseded = candidates.some((x) => x !== w && (x.key === w.key || x.kind === "flush") && !before(x, w, input.tie_ms, settled.get(x.id)));
    if (superseded) continue;
    for (const node of ["A", "B"] as const) {
      const item = input.final[node].get(w.key);
      if (present(w, item)) continue;
      out.push({
        check: "lost_write", key: w.key,
        text: `op ${w.id} (${w.kind} ${w.key} on ${w.node}#${w.incarnation}, acknowledged) is missing on ${node} (${formatItem(item)}), ` +
          `and no later or concurrent mutation of the key exists`,
        op_ids: [w.id],
      });
    }
  }
}

/** Check 4: memory bounded; no process printed an uncaught exception or a stack trace. */
function checkProcesses(input: CheckInput, out: Violation[]): void {
  for (const inc of input.incarnations) {
    if (inc.rss_kb_max > input.rss_kb_max) {
      out.push({ check: "memory", key: null, text: `${inc.node}#${inc.n} RSS ${inc.rss_kb_max} kB > bound ${input.rss_kb_max} kB`, op_ids: [] });
    }
    if (inc.end === "exited") {
      const tail = inc.output.trimEnd().split("\n").slice(-5).join(" | ").slice(-500);
      out.push({ check: "crash", key: null, text: `${inc.node}#${inc.n} exited on its own (${inc.exit ?? "?"}); its last output: ${tail}`, op_ids: [] });
    }
    const crash = crashLine(inc.output);
    if (crash !== null) out.push({ check: "crash", key: null, text: `${inc.node}#${inc.n} printed: ${crash}`, op_ids: [] });
  }
}

/** The first line that looks like an uncaught exception, a panic or a stack trace; null if none. */
export function crashLine(output: string): string | null {
  const patterns = [/^error: .*$/m, /^.*[Uu]ncaught.*$/m, /^.*panic.*$/m, /^\s+at .+:\d+:\d+\)?$/m, /^.*Segmentation fault.*$/m];
  for (const pattern of patterns) {
    const match = pattern.exec(output);
    if (match) return match[0].trim().slice(0, 300);
  }
  return null;
}

type Counts = Omit<CheckResult, "violations" | "notes">;

export function check(input: CheckInput): CheckResult {
  const violations: Violation[] = [];
  const notes: string[] = [];
  const classifier = new Classifier(input);
  const by_id = new Map(input.ops.map((op) => [op.id, op]));
  const counts: Counts = { excluded_deletes: 0, excluded_writes: 0, keys_checked: input.keys.length, deletes_checked: 0, writes_checked: 0 };
  const settled = settleTimes(input.ops, input.incarnations, input.samples);
  checkIdentical(input, violations);
  if (input.tombstones_dropped > 0) {
    notes.push(`check 2 relaxed: tombstones_dropped ${input.tombstones_dropped} > 0 (those keys may come back)`);
  } else {
    checkResurrection(input, classifier, by_id, settled, violations, counts);
  }
  checkLostWrites(input, classifier, settled, violations, counts);
  checkProcesses(input, violations);
  for (const at_ms of classifier.doubleLosses()) {
    notes.push(`both copies may have died at ${at_ms.toFixed(0)} (a node died undrained while its peer was fresh or down): earlier acknowledgements excluded`);
  }
  return { violations, notes, ...counts };
}
