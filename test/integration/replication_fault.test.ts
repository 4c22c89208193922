// Seeded fault injection (Jepsen-like) on a real pair: kill -9, SIGTERM, SIGSTOP, relay cuts and
// delayed, coalesced, split, jittered or stalled bytes, while clients on both nodes write, delete,
// incr, append and flush a small key space. After healing: identical content, no acknowledged
// delete undone, no acknowledged write lost, memory bounded, no crash (test/helpers/fault/).
//
// `bun test` runs `schedules_default` schedules from `seed_base_default`; FAULT_SEED=<n> runs one
// seed (a failure prints its replay line); FAULT_SCHEDULES=<n> and FAULT_SEED_BASE=<n> change the
// budget. scripts/fault-soak.ts runs hundreds.
import { afterEach, describe, expect, test } from "bun:test";
import { RawClient, waitForPort } from "../helpers/procs.ts";
import { CacheClient, eventually, type Item } from "../helpers/cache_client.ts";
import { Cluster, replicationStats, type Topology } from "../helpers/fault/cluster.ts";
import { History, nowMs } from "../helpers/fault/history.ts";
import { live_clusters, run_defaults, runSchedule, stopLiveClusters } from "../helpers/fault/run.ts";

const schedules_default = 20;
const seed_base_default = 1;
/** Per schedule: ~2.5 s of faults, a start, a heal and a convergence wait (bounded by converge_ms_max). */
const schedule_timeout_ms = 60_000;
/** The seeded skew test: node B's replication clock runs this far ahead of A's. */
const clock_offset_ms = 250;
/** Deterministic skew tests: two writes gap_ms apart in real time, under a skew smaller and larger than the gap. */
const gap_ms = 1_000;
const small_skew_ms = 500;
const big_skew_ms = 5_000;
/** The same-cas replay: keys written at once on both nodes per round, rounds and restarts at most. */
const collision_keys = 100;
const collision_rounds_max = 50;
const parity_tries_max = 30;
/** The delayed-hello replay: how long B's hello is held (the old listener gave up after 300 ms). */
const hello_hold_ms = 1_000;

function seeds(): number[] {
  const one = process.env.FAULT_SEED;
  if (one !== undefined && one !== "") return [Number(one)];
  const count = Number(process.env.FAULT_SCHEDULES ?? schedules_default);
  const base = Number(process.env.FAULT_SEED_BASE ?? seed_base_default);
  return Array.from({ length: count }, (_, i) => base + i);
}

afterEach(async () => {
  await stopLiveClusters();
});

describe("seeded fault schedules", () => {
  for (const seed of seeds()) {
    test(`seed ${seed}`, async () => {
      const run = await runSchedule({ ...run_defaults, seed });
      if (!run.ok || process.env.FAULT_VERBOSE) console.log(run.report);
      expect(run.result.violations.map((v) => `[${v.check}] ${v.text}`)).toEqual([]);
    }, schedule_timeout_ms);
  }
});

// Clock skew (README, "Clock skew"). cas = (wall-clock ms + offset) << 10 with the node's parity,
// and a node's counter is raised to every cas it receives. So: whatever the skew, both nodes end
// with identical content; writes that have seen each other stay in order; and two writes of one key
// on different nodes that have not seen each other are ordered by the skewed clocks — correctly when
// they are more than the skew apart in real time, in favour of the node whose clock is ahead when
// they are closer than that. The tests inject skews with REPCACHED_CLOCK_OFFSET_MS.
describe("clock skew", () => {
  test(`node B's clock ${clock_offset_ms} ms ahead (REPCACHED_CLOCK_OFFSET_MS): the checks hold with "later" widened by the offset`, async () => {
    const { cluster, ca, cb } = await pairForReplay({ clock_offset_ms_b: clock_offset_ms });
    try {
      await expectClockOffset(cluster, "B", clock_offset_ms);
      expect(await cb.set("clock-probe", "x")).toBe("STORED");
      expectLead((await cb.gets(["clock-probe"])).get("clock-probe")!.cas, Date.now(), clock_offset_ms);
    } finally {
      ca.close();
      cb.close();
      await cluster.stop(live_clusters);
    }
    const skew_seeds = seeds().slice(0, 3);
    for (const seed of skew_seeds) {
      const run = await runSchedule({ ...run_defaults, seed, clock_offset_ms_b: clock_offset_ms });
      if (!run.ok || process.env.FAULT_VERBOSE) console.log(run.report);
      expect(run.result.violations.map((v) => `[seed ${seed}] [${v.check}] ${v.text}`)).toEqual([]);
    }
  }, schedule_timeout_ms * 4);

  // Two writes of k during a cut, B's set then A's delete gap_ms later in real time. Within the
  // tolerance (the gap is larger than the skew) the later one wins whichever clock is ahead; past
  // it (the gap is smaller than the skew) the node whose clock is ahead wins: B's earlier set.
  const cases = [
    { name: "B", offset_ms: small_skew_ms, delete_wins: true },
    { name: "B", offset_ms: big_skew_ms, delete_wins: false },
    { name: "A", offset_ms: big_skew_ms, delete_wins: true },
  ] as const;
  for (const { name, offset_ms, delete_wins } of cases) {
    const outcome = delete_wins ? "A's later delete wins" : "B's earlier set wins";
    test(`${name}'s clock ${offset_ms} ms ahead; during a cut B sets k, ${gap_ms} ms later A deletes k: after the heal ${outcome}, identical on both`, async () => {
      const { cluster, ca, cb } = await pairForReplay(name === "A" ? { clock_offset_ms_a: offset_ms } : { clock_offset_ms_b: offset_ms });
      try {
        await expectClockOffset(cluster, name, offset_ms);
        expect(await ca.set("k", "from-A-before-the-cut")).toBe("STORED");
        expectLead((await ca.gets(["k"])).get("k")!.cas, Date.now(), name === "A" ? offset_ms : 0);
        expect((await cluster.converge(10_000)).ok).toBe(true);
        await cutAndWait(cluster, ca, cb);
        expect(await cb.set("k", "from-B")).toBe("STORED");
        const b_set_ms = Date.now();
        const b_cas = (await cb.gets(["k"])).get("k")!.cas;
        if (name === "B") expectLead(b_cas, Date.now(), offset_ms);
        // The event itself is a time gap: A's delete comes gap_ms after B's set by the real clock.
        await Bun.sleep(Math.max(0, b_set_ms + gap_ms - Date.now()));
        expect(await ca.command("delete k\r\n")).toBe("DELETED");
        const a_delete_ms = Date.now();
        healAll(cluster);
        const [on_a, on_b] = await bothItems(cluster, ca, cb, "k");
        expect(on_a).toEqual(on_b); // identical: value, flags and cas
        if (delete_wins) {
          expect(on_a).toBeNull();
        } else {
          // B's cas is its clock (real + skew): above A's tombstone, minted later on A's clock.
          expect(casClockMs(b_cas)).toBeGreaterThan(a_delete_ms);
          expect(on_a?.value).toBe("from-B");
          expect(on_a?.cas).toBe(b_cas);
        }
      } finally {
        ca.close();
        cb.close();
      }
    }, 30_000);
  }

  test(`B's clock ${big_skew_ms} ms ahead; writes that have seen each other stay in order (A's delete after B's set arrived)`, async () => {
    const { cluster, ca, cb } = await pairForReplay({ clock_offset_ms_b: big_skew_ms });
    try {
      await expectClockOffset(cluster, "B", big_skew_ms);
      expect(await cb.set("k", "from-B")).toBe("STORED");
      expect((await cluster.converge(10_000)).ok).toBe(true);
      expect((await ca.get("k"))?.value).toBe("from-B"); // A's counter is now at B's cas
      expect(await ca.command("delete k\r\n")).toBe("DELETED");
      expect(await ca.set("j", "from-A")).toBe("STORED");
      expect(await bothItems(cluster, ca, cb, "k")).toEqual([null, null]);
      // A's next write is later than everything it has seen, B's clock included.
      const [j_a, j_b] = await bothItems(cluster, ca, cb, "j");
      expect(j_a?.value).toBe("from-A");
      expect(j_a).toEqual(j_b);
      expect(casClockMs(j_a!.cas)).toBeGreaterThan(Date.now() + big_skew_ms / 2);
    } finally {
      ca.close();
      cb.close();
    }
  }, 30_000);
});

interface PairOptions {
  topology?: Topology;
  clock_offset_ms_a?: number;
  clock_offset_ms_b?: number;
}

/** A synced pair through relays, with a client on each node, for the hand-written tests. */
async function pairForReplay(options: PairOptions = {}) {
  const cluster = await Cluster.start(new History(nowMs()), {
    topology: options.topology ?? "one_way", clock_offset_ms_a: options.clock_offset_ms_a ?? 0,
    clock_offset_ms_b: options.clock_offset_ms_b ?? 0, extra_args: [],
  }, live_clusters);
  expect((await cluster.converge(10_000, false)).ok).toBe(true); // no marker writes: the tests read cas clocks
  const ca = await CacheClient.connect(cluster.a.client_port);
  const cb = await CacheClient.connect(cluster.b.client_port);
  return { cluster, ca, cb };
}

/** The wall-clock ms a cas was minted at (cas = ms << 10 | parity). */
function casClockMs(cas: string): number {
  return Number(BigInt(cas) >> 10n);
}

/** The node reports the offset in `stats replication`. */
async function expectClockOffset(cluster: Cluster, name: "A" | "B", offset_ms: number): Promise<void> {
  const raw = await RawClient.connect(cluster.node(name).client_port);
  try {
    expect((await replicationStats(raw, 2_000))?.get("clock_offset_ms")).toBe(String(offset_ms));
  } finally {
    raw.close();
  }
}

/** A cas just minted on a node whose clock is `offset_ms` ahead of the real one (read after it). */
function expectLead(cas: string, read_ms: number, offset_ms: number): void {
  const lead_ms = casClockMs(cas) - read_ms;
  expect(lead_ms).toBeGreaterThan(offset_ms - 1_000);
  expect(lead_ms).toBeLessThanOrEqual(offset_ms + 5);
}

/** Cuts every relay and waits until neither node reports the link synced. */
async function cutAndWait(cluster: Cluster, ca: CacheClient, cb: CacheClient): Promise<void> {
  for (const relay of cluster.relays) relay.cut();
  for (const client of [ca, cb]) {
    expect(await eventually(async () => (await client.stats("replication")).get("state") !== "synced")).toBe(true);
  }
}

function healAll(cluster: Cluster): void {
  for (const relay of cluster.relays) relay.heal();
}

/** After convergence: the key's item (value, flags, cas) on A and on B. */
async function bothItems(cluster: Cluster, ca: CacheClient, cb: CacheClient, key: string): Promise<Array<Item | null>> {
  expect((await cluster.converge(10_000)).ok).toBe(true);
  return [(await ca.gets([key])).get(key) ?? null, (await cb.gets([key])).get(key) ?? null];
}

async function bothHold(cluster: Cluster, ca: CacheClient, cb: CacheClient, key: string): Promise<Array<string | null>> {
  expect((await cluster.converge(10_000)).ok).toBe(true);
  return [(await ca.get(key))?.value ?? null, (await cb.get(key))?.value ?? null];
}

// Deterministic replays of the bug classes the seeded schedules found (see the seeds' reports),
// fixed in the store (tombstones, "keep the higher cas"): (1) a delete from a repcached-bun peer
// was applied even over a newer local write (and the older rep re-created a key the peer deleted
// later); (2) the tombstones of a cut were lost when the re-pair's bytes arrived coalesced.
describe("minimal replays", () => {
  test("in sync, a delete on B and a later set on A while bytes are in flight: both keep the set", async () => {
    const { cluster, ca, cb } = await pairForReplay();
    try {
      expect(await ca.set("k", "old")).toBe("STORED");
      expect((await cluster.converge(10_000)).ok).toBe(true);
      for (const shaper of [...cluster.shapers("a2b"), ...cluster.shapers("b2a")]) shaper.delay(100);
      expect(await cb.command("delete k\r\n")).toBe("DELETED");
      await Bun.sleep(5); // later by the wall clock (cas), not only by arrival
      expect(await ca.set("k", "new")).toBe("STORED");
      cluster.ra.reset();
      expect(await bothHold(cluster, ca, cb, "k")).toEqual(["new", "new"]);
    } finally {
      ca.close();
      cb.close();
    }
  }, 30_000);

  test("a key deleted during a cut stays deleted when the re-pair's bytes arrive coalesced", async () => {
    const { cluster, ca, cb } = await pairForReplay();
    try {
      expect(await ca.set("k", "old")).toBe("STORED");
      expect((await cluster.converge(10_000)).ok).toBe(true);
      cluster.ra.cut();
      expect(await eventually(async () => (await ca.stats("replication")).get("state") !== "synced")).toBe(true);
      expect(await ca.command("delete k\r\n")).toBe("DELETED");
      expect((await ca.stats("replication")).get("tombstones")).toBe("1");
      // Without coalescing this passes (replication.test.ts); with it, B keeps "old".
      for (const shaper of [...cluster.shapers("a2b"), ...cluster.shapers("b2a")]) shaper.coalesce(200);
      cluster.ra.heal();
      await Bun.sleep(1_000);
      cluster.ra.reset();
      expect(await bothHold(cluster, ca, cb, "k")).toEqual([null, null]);
    } finally {
      ca.close();
      cb.close();
    }
  }, 30_000);
});

// Product bugs the soak found, replayed deterministically; both fixed on main since.
// (1) Seeds 1003, 1043, 20169, 20295, 50036: a re-pair whose hello was held up on the way (here the
// B→A direction stalls while B reconnects) longer than the listener's 300 ms wait for a hello made
// the listener take its repcached-bun peer for a classic one; both ran repcached's protocol (last
// arrival wins, no tombstones, no copy from the connector) and A's older copy overwrote B's newer
// write. Fixed by 4c64661 (the listener probes instead of guessing from silence).
describe("product bugs found by the soak", () => {
  test("a re-pair whose hello is delayed past the listener's wait still pairs as repcached-bun (keeps B's newer write)", async () => {
    const { cluster, ca, cb } = await pairForReplay();
    try {
      expect(await ca.set("k", "from-A-before-the-cut")).toBe("STORED");
      expect((await cluster.converge(10_000)).ok).toBe(true);
      await cutAndWait(cluster, ca, cb);
      expect(await cb.set("k", "from-B-during-the-cut")).toBe("STORED");
      cluster.ra.up.stall(); // what B sends to A (its hello first) waits in the relay
      const connections = cluster.ra.connections;
      cluster.ra.heal();
      expect(await eventually(async () => cluster.ra.connections > connections, 10_000)).toBe(true);
      // The fault is a duration: B's hello is held this long after B's new connection reached A.
      await Bun.sleep(hello_hold_ms);
      cluster.ra.up.resume();
      expect((await cluster.converge(10_000)).ok).toBe(true);
      const kinds = [(await ca.stats("replication")).get("peer_kind"), (await cb.stats("replication")).get("peer_kind")];
      const values = await bothHold(cluster, ca, cb, "k");
      expect({ kinds, values }).toEqual({ kinds: ["ours", "ours"], values: ["from-B-during-the-cut", "from-B-during-the-cut"] });
    } finally {
      ca.close();
      cb.close();
    }
  }, 30_000);

  // (3) Seeds 4 and 17 (CI, and 2 of 12 runs of this file under load): while A was paused, B
  // deleted a key and then ran flush_all before its pump read the key's state, so the key was
  // gone (its tombstone flushed) and B sent a bare `delete`; A applied it late as a new delete at
  // A's clock, above B's later sets, and kept the key deleted for good. Fixed by sending our kind
  // the entry's own version deleted (`rcb1_tomb <key> <the delete's cas>`), streamer.ts.
  test("a delete and a flush_all in one batch, then a set while the bytes are in flight: the peer keeps the set", async () => {
    const { cluster, ca, cb } = await pairForReplay();
    try {
      expect(await cb.set("k", "old")).toBe("STORED");
      expect((await cluster.converge(10_000)).ok).toBe(true);
      for (const shaper of [...cluster.shapers("a2b"), ...cluster.shapers("b2a")]) shaper.delay(300);
      // One batch: both run before B's pump reads k's state, which is then gone.
      expect(await cb.raw.call("delete k\r\nflush_all\r\n", "OK\r\n")).toBe("DELETED\r\nOK\r\n");
      await Bun.sleep(20); // later by the wall clock than the delete, earlier than its arrival at A
      expect(await cb.set("k", "new")).toBe("STORED");
      for (const relay of cluster.relays) relay.reset();
      expect(await bothHold(cluster, ca, cb, "k")).toEqual(["new", "new"]);
    } finally {
      ca.close();
      cb.close();
    }
  }, 30_000);

  // (2) Seed 20222: A and B were both killed and restarted during cuts, so neither new process had
  // paired yet; each took its cas parity from its own random node id (replicator.ts), both got 1,
  // concurrent appends to k0 on A and B in the same ms got the same cas, and after the heal each
  // node kept its own version ("keep the higher cas" had no winner on a tie): k0 differed for good.
  // Fixed by 76ba09f (a tie breaks alike on every node: tombstone, then greater value bytes, then flags).
  test("two restarted nodes that have not paired yet mint the same cas for concurrent writes of one key: both keep the same version", async () => {
    const { cluster, ca, cb } = await pairForReplay();
    const keys = Array.from({ length: collision_keys }, (_, i) => `c${i}`);
    let clients: CacheClient[] = [];
    try {
      await cutAndWait(cluster, ca, cb);
      ca.close();
      cb.close();
      // Fresh processes of both nodes, still cut apart: restart B until its parity is A's.
      await restartNode(cluster, "A");
      let same_parity = false;
      for (let tries = 0; tries < parity_tries_max && !same_parity; tries++) {
        await restartNode(cluster, "B");
        const parities = await Promise.all(cluster.nodes.map((node) => casParityOf(node.client_port)));
        same_parity = parities[0] === parities[1];
      }
      expect(same_parity).toBe(true);
      // Both nodes write the same keys at the same moment until some key got the same cas on both.
      const [ra, rb] = await Promise.all(cluster.nodes.map((node) => RawClient.connect(node.client_port)));
      let collided: string[] = [];
      try {
        for (let round = 0; round < collision_rounds_max && collided.length === 0; round++) {
          const batch = (who: string) => keys.map((k) => `set ${k} 0 0 ${who.length + String(round).length}\r\n${who}${round}\r\n`).join("");
          ra!.send(batch("A"));
          rb!.send(batch("B"));
          const stored = (text: string) => text.split("STORED\r\n").length - 1 === keys.length;
          await Promise.all([ra!.readUntil((b) => stored(b.toString("latin1"))), rb!.readUntil((b) => stored(b.toString("latin1")))]);
          const [on_a, on_b] = await Promise.all([ra!, rb!].map(async (raw) => {
            const reply = await raw.call(`gets ${keys.join(" ")}\r\n`, "END\r\n");
            return new Map([...reply.matchAll(/^VALUE (\S+) \d+ \d+ (\d+)$/gm)].map((m) => [m[1]!, m[2]!]));
          }));
          collided = keys.filter((k) => on_a!.get(k) !== undefined && on_a!.get(k) === on_b!.get(k));
        }
      } finally {
        ra!.close();
        rb!.close();
      }
      expect(collided.length).toBeGreaterThan(0); // the same cas for A's and B's write of one key
      healAll(cluster);
      expect((await cluster.converge(10_000)).ok).toBe(true);
      clients = await clientsOf(cluster);
      const [final_a, final_b] = await Promise.all(clients.map((c) => c.gets(collided)));
      const differ = collided.filter((k) => JSON.stringify(final_a!.get(k)) !== JSON.stringify(final_b!.get(k)));
      expect({ collided: collided.length, differ: differ.map((k) => `${k}: A ${JSON.stringify(final_a!.get(k))} B ${JSON.stringify(final_b!.get(k))}`).slice(0, 3) })
        .toEqual({ collided: collided.length, differ: [] });
    } finally {
      ca.close();
      cb.close();
      for (const c of clients) c.close();
    }
  }, 60_000);
});

async function clientsOf(cluster: Cluster): Promise<CacheClient[]> {
  return await Promise.all(cluster.nodes.map((node) => CacheClient.connect(node.client_port)));
}

/** kill -9 and start again with the same command line (a new node id); waits for the client port. */
async function restartNode(cluster: Cluster, name: "A" | "B"): Promise<void> {
  const node = cluster.node(name);
  await node.kill9();
  await node.start(false);
  await waitForPort(node.client_port);
}

/** Bit 0 of the cas a fresh write gets on that node: its parity. */
async function casParityOf(port: number): Promise<number> {
  const client = await CacheClient.connect(port);
  try {
    expect(await client.set("parity-probe", "x")).toBe("STORED");
    return Number(BigInt((await client.gets(["parity-probe"])).get("parity-probe")!.cas) & 1n);
  } finally {
    client.close();
  }
}
