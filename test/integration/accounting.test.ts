// curr_items and `stats items` after expiry and flush_all, side by side with stock memcached 1.6.
// memcached's LRU maintainer reclaims what died at an LRU tail within about a second (counted in
// `reclaimed`), so its counts fall without any client touching the dead keys; ours must too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient } from "../helpers/cache_client.ts";

/** How long either server may take to drop dead items from its counts (memcached: under 1 s). */
const reclaim_wait_ms_max = 3_000;
/** Expiry is the subject here: how long an exptime-1 item may take to die (two clock seconds). */
const expiry_wait_ms_max = 4_000;

/** `stats items` numbers by class id, omitting empty classes. */
async function itemsByClass(c: CacheClient): Promise<Record<string, number>> {
  const numbers: Record<string, number> = {};
  for (const [name, value] of await c.stats("items")) {
    const match = /^items:(\d+):number$/.exec(name);
    if (match && Number(value) > 0) numbers[match[1]!] = Number(value);
  }
  return numbers;
}

async function currItems(c: CacheClient): Promise<number> {
  return Number((await c.stats()).get("curr_items"));
}

/** Waits until curr_items is `want` (or the deadline passes); returns the last value read. */
async function untilCurrItems(c: CacheClient, want: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let now = await currItems(c);
  while (now !== want && Date.now() < deadline) {
    await Bun.sleep(25);
    now = await currItems(c);
  }
  return now;
}

/** Waits until the server's clock (`stats` time) has moved `seconds` past `from_s`. */
async function untilServerTime(c: CacheClient, from_s: number, seconds: number): Promise<void> {
  const deadline = Date.now() + expiry_wait_ms_max;
  while (Number((await c.stats()).get("time")) < from_s + seconds) {
    if (Date.now() > deadline) throw new Error(`server clock did not reach ${from_s + seconds}`);
    await Bun.sleep(25);
  }
}

interface Observed {
  curr_items: number;
  items: Record<string, number>;
  /** reclaimed + crawler_reclaimed: our bucket sweep (memcached's crawler) may take some first. */
  reclaimed: number;
}

async function observe(c: CacheClient, want: number): Promise<Observed> {
  const curr_items = await untilCurrItems(c, want, reclaim_wait_ms_max);
  const stats = await c.stats();
  const reclaimed = Number(stats.get("reclaimed")) + Number(stats.get("crawler_reclaimed"));
  return { curr_items, items: await itemsByClass(c), reclaimed };
}

/** Three keys with exptime 1 die untouched; one more is set; the dead three leave the counts. */
async function expiryScenario(port: number): Promise<Observed> {
  const c = await CacheClient.connect(port);
  try {
    const start_s = Number((await c.stats()).get("time"));
    for (const key of ["a", "b", "c"]) expect(await c.set(key, "v", 0, 1)).toBe("STORED");
    await untilServerTime(c, start_s, 2);
    expect(await c.set("d", "v")).toBe("STORED");
    return await observe(c, 1);
  } finally {
    c.close();
  }
}

/** Items of many classes, flush_all, one more set: only that one is counted. */
async function flushScenario(port: number): Promise<Observed> {
  const c = await CacheClient.connect(port);
  try {
    for (let i = 0; i < 60; i++) expect(await c.set(`k${i}`, "x".repeat(i * 100))).toBe("STORED");
    expect(await c.command("flush_all\r\n")).toBe("OK");
    expect(await c.set("after", "v")).toBe("STORED");
    return await observe(c, 1);
  } finally {
    c.close();
  }
}

describe("accounting of dead items, against memcached 1.6", () => {
  let ours: Spawned;
  let theirs: Spawned;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([startOurs(["-m", "64"]), startMemcached(["-m", "64"])]);
  });
  afterAll(async () => {
    await Promise.all([ours.stop(), theirs.stop()]);
  });

  test("expired items leave curr_items and stats items without being touched", async () => {
    const [mine, stock] = await Promise.all([expiryScenario(ours.port), expiryScenario(theirs.port)]);
    expect(stock).toEqual({ curr_items: 1, items: { "1": 1 }, reclaimed: 3 });
    expect(mine).toEqual(stock);
  }, 15_000);

  test("flush_all: the flushed items leave curr_items and stats items", async () => {
    const [mine, stock] = await Promise.all([flushScenario(ours.port), flushScenario(theirs.port)]);
    expect(stock).toEqual({ curr_items: 1, items: { "1": 1 }, reclaimed: 3 + 61 }); // 60 + "d"
    expect(mine).toEqual(stock);
  }, 15_000);
});
