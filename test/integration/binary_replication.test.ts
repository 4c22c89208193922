// Binary-protocol writes reach the replication peer through the same path as text writes: a set,
// append, prepend, incr (existing and created), delete, touch, gat and flush made over binary on
// node A read back identically on B: value, flags, cas and remaining TTL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { BinaryClient, deltaExtras, Op, storeExtras, u32Extras, type Response } from "../helpers/binary.ts";

const converge_ms_max = 10_000;

interface Item {
  value: string;
  flags: number;
  cas: bigint;
}

async function getItem(client: BinaryClient, key: string): Promise<Item | null> {
  const [f] = await client.call([{ opcode: Op.GET, key }]);
  if (f!.status !== 0) return null;
  return { value: f!.value.toString("latin1"), flags: f!.extras.readUInt32BE(0), cas: f!.cas };
}

/** Seconds to live as the text meta get reports them (-1: none). */
async function ttlOf(port: number, key: string): Promise<number | null> {
  const raw = await RawClient.connect(port);
  try {
    const line = await raw.call(`mg ${key} t\r\n`);
    const match = /^HD t(-?\d+)\r\n$/.exec(line);
    return match === null ? null : Number(match[1]);
  } finally {
    raw.close();
  }
}

describe("binary writes replicate", () => {
  const started: Spawned[] = [];
  let a: Spawned;
  let b: Spawned;
  let on_a: BinaryClient;
  let on_b: BinaryClient;

  beforeAll(async () => {
    const rport = await freePort();
    a = await startOurs(["-X", String(rport)]);
    started.push(a);
    b = await startOurs(["-x", "127.0.0.1", "-X", String(rport)]);
    started.push(b);
    const synced = await eventually(async () => {
      for (const port of [a.port, b.port]) {
        const c = await CacheClient.connect(port);
        const state = (await c.stats("replication")).get("state");
        c.close();
        if (state !== "synced") return false;
      }
      return true;
    }, converge_ms_max, 50);
    expect(synced).toBe(true);
    on_a = await BinaryClient.connect(a.port);
    on_b = await BinaryClient.connect(b.port);
  });
  afterAll(async () => {
    on_a?.close();
    on_b?.close();
    for (const server of started) await server.stop("SIGKILL");
  });

  /** Waits until B holds what A holds for key (value, flags, cas; null: both absent). */
  async function sameOnB(key: string): Promise<Item | null> {
    const wanted = await getItem(on_a, key);
    const same = await eventually(async () => {
      const got = await getItem(on_b, key);
      return JSON.stringify(got, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ===
        JSON.stringify(wanted, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    }, converge_ms_max);
    expect(same).toBe(true);
    return wanted;
  }

  async function ok(requests: Parameters<BinaryClient["call"]>[0]): Promise<Response[]> {
    const frames = await on_a.call(requests);
    expect(frames.map((f) => f.status)).toEqual(frames.map(() => 0));
    return frames;
  }

  test("set with flags and TTL, then append and prepend", async () => {
    await ok([{ opcode: Op.SET, key: "r:set", extras: storeExtras(0xabcdef01, 500), value: "middle" }]);
    expect((await sameOnB("r:set"))!.flags).toBe(0xabcdef01);
    await ok([{ opcode: Op.APPEND, key: "r:set", value: "-end" }, { opcode: Op.PREPEND, key: "r:set", value: "start-" }]);
    expect((await sameOnB("r:set"))!.value).toBe("start-middle-end");
    const ttl_a = await ttlOf(a.port, "r:set");
    const ttl_b = await ttlOf(b.port, "r:set");
    expect(ttl_a).toBeGreaterThan(490);
    expect(Math.abs(ttl_a! - ttl_b!)).toBeLessThanOrEqual(1);
  });

  test("a large value (600 KiB) set over binary", async () => {
    await ok([{ opcode: Op.SET, key: "r:large", extras: storeExtras(2, 0), value: "L".repeat(600 * 1024) }]);
    expect((await sameOnB("r:large"))!.value.length).toBe(600 * 1024);
  });

  test("incr of an existing counter, incr that creates one, decr", async () => {
    await ok([{ opcode: Op.SET, key: "r:n", extras: storeExtras(0, 0), value: "41" }]);
    await ok([{ opcode: Op.INCREMENT, key: "r:n", extras: deltaExtras(1n, 0n, 0) }]);
    expect((await sameOnB("r:n"))!.value).toBe("42");
    await ok([{ opcode: Op.INCREMENT, key: "r:created", extras: deltaExtras(1n, 1000n, 300) }]);
    expect((await sameOnB("r:created"))!.value).toBe("1000");
    expect(Math.abs((await ttlOf(b.port, "r:created"))! - 300)).toBeLessThanOrEqual(2);
    const quiet = await on_a.call([{ opcode: Op.DECREMENTQ, key: "r:created", extras: deltaExtras(10n, 0n, 0) }, { opcode: Op.NOOP }], 1);
    expect(quiet.map((f) => f.opcode)).toEqual([Op.NOOP]);
    expect((await sameOnB("r:created"))!.value).toBe("990 ");
  });

  test("touch and gat over binary reach the peer as the text ones do (the item, its cas unchanged)", async () => {
    await ok([{ opcode: Op.SET, key: "r:touch", extras: storeExtras(0, 0), value: "t" }]);
    const before = await sameOnB("r:touch");
    const [touched] = await ok([{ opcode: Op.TOUCH, key: "r:touch", extras: u32Extras(1000) }]);
    const [got] = await ok([{ opcode: Op.GAT, key: "r:touch", extras: u32Extras(2000) }]);
    expect([touched!.cas, got!.cas]).toEqual([before!.cas, before!.cas]); // memcached: touch keeps the cas
    expect(Math.abs((await ttlOf(a.port, "r:touch"))! - 2000)).toBeLessThanOrEqual(1);
    expect(await sameOnB("r:touch")).toEqual(before);
  });

  // A touch keeps the cas (memcached): the peer takes the same version with a later expiry.
  test("touch/gat: the new TTL reaches the peer", async () => {
    await ok([{ opcode: Op.SET, key: "r:ttl", extras: storeExtras(0, 100), value: "t" }]);
    await sameOnB("r:ttl");
    await ok([{ opcode: Op.TOUCH, key: "r:ttl", extras: u32Extras(1000) }]);
    expect(await eventually(async () => Math.abs((await ttlOf(b.port, "r:ttl"))! - 1000) <= 1, converge_ms_max)).toBe(true);
    await ok([{ opcode: Op.GAT, key: "r:ttl", extras: u32Extras(2000) }]);
    expect(await eventually(async () => Math.abs((await ttlOf(b.port, "r:ttl"))! - 2000) <= 1, converge_ms_max)).toBe(true);
    expect(await sameOnB("r:ttl")).not.toBeNull();
  });

  test("delete, then flush", async () => {
    await ok([{ opcode: Op.DELETE, key: "r:n" }]);
    expect(await sameOnB("r:n")).toBeNull();
    await ok([{ opcode: Op.FLUSH }]);
    for (const key of ["r:set", "r:large", "r:created", "r:touch"]) expect(await sameOnB(key)).toBeNull();
    await ok([{ opcode: Op.SET, key: "r:after", extras: storeExtras(0, 0), value: "after flush" }]);
    expect((await sameOnB("r:after"))!.value).toBe("after flush");
  });
});
