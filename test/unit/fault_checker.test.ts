// The fault suite's checker on hand-made histories (no processes): what counts as identical,
// resurrected, lost, superseded, and what is excluded because its node died undrained.
import { describe, expect, test } from "bun:test";
import { check, crashLine, tokenIds, type CheckInput, type ItemState } from "../helpers/fault/checker.ts";
import type { Incarnation, Op, Sample } from "../helpers/fault/history.ts";
import { makeSchedule } from "../helpers/fault/schedule.ts";

function op(id: number, fields: Partial<Op> & Pick<Op, "kind" | "start_ms" | "end_ms">): Op {
  return {
    id, worker: 0, node: "A", incarnation: 1, key: "k0", arg: "", flags: 0, exptime_s: 0, reply: "", outcome: "ok", ...fields,
  };
}

function inc(node: "A" | "B", n: number, end: Incarnation["end"] = "alive", ended_ms: number | null = null): Incarnation {
  return { node, n, pid: 1, started_ms: 0, ended_ms, end, output: "", rss_kb_max: 1000 };
}

function item(value: string, cas = "1"): ItemState {
  return { value, flags: 0, cas, ttl_s: -1 };
}

function input(ops: Op[], a: Record<string, ItemState>, b: Record<string, ItemState>, extra: Partial<CheckInput> = {}): CheckInput {
  return {
    ops, incarnations: [inc("A", 1), inc("B", 1)], samples: [], keys: ["k0", "k1", "n0"],
    final: { A: new Map(Object.entries(a)), B: new Map(Object.entries(b)) },
    tie_ms: 2, ttl_tolerance_s: 2, rss_kb_max: 100_000, tombstones_dropped: 0, ...extra,
  };
}

const checks = (result: ReturnType<typeof check>) => result.violations.map((v) => v.check);

describe("fault checker", () => {
  test("tokens name the writes that made a value", () => {
    expect(tokenIds("s12.a40.a41.")).toEqual([12, 40, 41]);
    expect(tokenIds("s1.")).toEqual([1]);
    expect(tokenIds("garbage")).toBeNull();
    expect(tokenIds("s1.x")).toBeNull();
  });

  test("identical content passes; a difference in value, cas or presence is reported", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    expect(check(input([set], { k0: item("s1.") }, { k0: item("s1.") })).violations).toEqual([]);
    expect(checks(check(input([set], { k0: item("s1.", "5") }, { k0: item("s1.", "6") })))).toEqual(["identical"]);
    expect(checks(check(input([set], { k0: item("s1.") }, {})))).toContain("identical");
  });

  test("a delete acknowledged after the write that made the value: resurrected", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    const del = op(2, { kind: "delete", node: "B", start_ms: 10, end_ms: 11, reply: "DELETED" });
    const result = check(input([set, del], { k0: item("s1.") }, { k0: item("s1.") }));
    expect(checks(result)).toEqual(["resurrected", "resurrected"]);
    expect(result.violations[0]!.op_ids).toEqual([2, 1]);
  });

  test("a write concurrent with the delete (or within the tie margin) may win", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 10 });
    const del = op(2, { kind: "delete", node: "B", start_ms: 5, end_ms: 6 });
    expect(check(input([set, del], { k0: item("s1.") }, { k0: item("s1.") })).violations).toEqual([]);
    const close = op(3, { kind: "set", arg: "s3.", start_ms: 20, end_ms: 21 });
    const del_close = op(4, { kind: "delete", node: "B", start_ms: 22, end_ms: 23 });
    expect(check(input([close, del_close], { k0: item("s3.") }, { k0: item("s3.") })).violations).toEqual([]);
  });

  test("a flush_all counts as a delete of every key", () => {
    const set = op(1, { kind: "set", key: "k1", arg: "s1.", start_ms: 0, end_ms: 1 });
    const flush = op(2, { kind: "flush", key: "*", start_ms: 10, end_ms: 11 });
    expect(checks(check(input([set, flush], { k1: item("s1.") }, { k1: item("s1.") })))).toEqual(["resurrected", "resurrected"]);
  });

  test("an acknowledged write that vanished without a later mutation is lost; a later delete supersedes it", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    expect(checks(check(input([set], {}, {})))).toEqual(["lost_write", "lost_write"]);
    const del = op(2, { kind: "delete", start_ms: 10, end_ms: 11, outcome: "unknown" });
    expect(check(input([set, del], {}, {})).violations).toEqual([]);
    // A delete that did nothing (NOT_FOUND) supersedes nothing.
    const noop = op(3, { kind: "delete", start_ms: 10, end_ms: 11, outcome: "fail" });
    expect(checks(check(input([set, noop], {}, {})))).toEqual(["lost_write", "lost_write"]);
  });

  test("appends and counters: a write is present while its token or base survives", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    const append = op(2, { kind: "append", arg: "a2.", start_ms: 5, end_ms: 6 });
    expect(check(input([set, append], { k0: item("s1.a2.") }, { k0: item("s1.a2.") })).violations).toEqual([]);
    const base = op(3, { kind: "set", key: "n0", arg: "3000000", start_ms: 0, end_ms: 1 });
    const incr = op(4, { kind: "incr", key: "n0", arg: "4", reply: "3000004", start_ms: 5, end_ms: 6 });
    expect(check(input([base, incr], { n0: item("3000004") }, { n0: item("3000004") })).violations).toEqual([]);
    // A delete after the base set but concurrent with an incr on the other node: the incr may win.
    const del = op(5, { kind: "delete", key: "n0", start_ms: 4, end_ms: 5.5 });
    expect(check(input([base, incr, del], { n0: item("3000004") }, { n0: item("3000004") })).violations).toEqual([]);
  });

  test("acknowledged by a node killed before it was seen drained: excluded, and counted", () => {
    const killed = [inc("A", 1, "kill9", 100), inc("A", 2), inc("B", 1)];
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    const del = op(2, { kind: "delete", key: "k1", start_ms: 10, end_ms: 11 });
    const peer_synced: Sample = {
      node: "B", incarnation: 1, sent_ms: 5, received_ms: 6, state: "synced", queue_items: 0, send_pending_bytes: 0,
      relays_held_bytes: 0, tombstones_dropped: 0, stats: new Map(),
    };
    const final_k1 = { k1: item("s0.") };
    const before_kill = op(0, { kind: "set", key: "k1", arg: "s0.", start_ms: -10, end_ms: -9, node: "B" });
    const result = check(input([before_kill, set, del], final_k1, final_k1, { incarnations: killed, samples: [peer_synced] }));
    expect(result.violations).toEqual([]);
    expect(result.excluded_writes).toBe(1);
    expect(result.excluded_deletes).toBe(1);
    // Seen drained after the acknowledgement: no longer excluded.
    const drained: Sample = { ...peer_synced, node: "A", incarnation: 1, sent_ms: 20, received_ms: 21 };
    const strict = check(input([before_kill, set, del], final_k1, final_k1, { incarnations: killed, samples: [peer_synced, drained] }));
    expect(checks(strict).sort()).toEqual(["lost_write", "lost_write", "resurrected", "resurrected"]);
  });

  test("a write without a reply (stopped node) may take effect until that process answers again or exits", () => {
    // Seed 2: B is stopped; a set on B times out at +1000 but runs when B resumes, after A's delete.
    const set = op(1, { kind: "set", node: "B", arg: "s1.", start_ms: 0, end_ms: 1_000, outcome: "unknown" });
    const del = op(2, { kind: "delete", start_ms: 1_500, end_ms: 1_501, reply: "DELETED" });
    const final = { k0: item("s1.") };
    const answered = (sent_ms: number): Sample => ({
      node: "B", incarnation: 1, sent_ms, received_ms: sent_ms + 1, state: "synced", queue_items: 0, send_pending_bytes: 0,
      relays_held_bytes: 0, tombstones_dropped: 0, stats: new Map(),
    });
    // B answered nothing between the client giving up and the delete: the set may be the later one.
    expect(check(input([set, del], final, final, { samples: [answered(500), answered(1_600)] })).violations).toEqual([]);
    // B answered at +1101: the set had settled by then, so the delete is later and the key came back.
    expect(checks(check(input([set, del], final, final, { samples: [answered(1_100)] })))).toEqual(["resurrected", "resurrected"]);
    // B exited at +1200 (killed): likewise.
    const died = { incarnations: [inc("A", 1), inc("B", 1, "kill9", 1_200), inc("B", 2)] };
    expect(checks(check(input([set, del], final, final, died)))).toEqual(["resurrected", "resurrected"]);
  });

  test("tombstones_dropped relaxes the resurrection check and says so", () => {
    const set = op(1, { kind: "set", arg: "s1.", start_ms: 0, end_ms: 1 });
    const del = op(2, { kind: "delete", start_ms: 10, end_ms: 11 });
    const result = check(input([set, del], { k0: item("s1.") }, { k0: item("s1.") }, { tombstones_dropped: 3 }));
    expect(result.violations).toEqual([]);
    expect(result.notes.join()).toContain("tombstones_dropped 3");
  });

  test("memory over the bound and crash output are reported", () => {
    const fat = { ...inc("A", 1), rss_kb_max: 200_000, output: "replication: listen\nerror: boom\n    at foo (/x.ts:1:2)\n" };
    const result = check(input([], {}, {}, { incarnations: [fat, inc("B", 1)] }));
    expect(checks(result)).toEqual(["memory", "crash"]);
    expect(crashLine("replication: connect (peer=127.0.0.1:1)\nreplication: close\n")).toBeNull();
    const gone = { ...inc("A", 1, "exited", 50), exit: "SIGSEGV", output: "replication: listen\n" };
    const exited = check(input([], {}, {}, { incarnations: [gone, inc("A", 2), inc("B", 1)] }));
    expect(checks(exited)).toEqual(["crash"]);
    expect(exited.violations[0]!.text).toContain("exited on its own (SIGSEGV)");
  });

  test("a schedule is a function of its seed; faults on one resource never overlap", () => {
    const options = { duration_ms: 2_500, faults_min: 2, faults_max: 6 };
    expect(makeSchedule(42, options)).toEqual(makeSchedule(42, options));
    expect(makeSchedule(42, options)).not.toEqual(makeSchedule(43, options));
    for (let seed = 1; seed <= 200; seed++) {
      const faults = makeSchedule(seed, options).faults;
      expect(faults.length).toBeGreaterThanOrEqual(1);
      for (const x of faults) {
        for (const y of faults) {
          if (x === y || x.node === null || x.node !== y.node) continue;
          expect(x.at_ms + x.duration_ms <= y.at_ms || y.at_ms + y.duration_ms <= x.at_ms).toBe(true);
        }
      }
    }
  });
});
