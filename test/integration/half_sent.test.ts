// Large sets held half-sent, side by side with stock memcached 1.6 (-m 64): memcached allocates a
// large value's memory as its bytes arrive, so 70 clients each holding half of a 1 MB set get none
// refused; ours must refuse no more (the values wait in staging, not in store memory).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient, startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient } from "../helpers/cache_client.ts";

const clients_n = 70;
const value_bytes = 1_000_000; // fits -I 1m with its header on both servers
const sent_wait_ms_max = 20_000;
const reply_wait_ms_max = 20_000;

/** Waits until the server's bytes_read has grown by `bytes` since `base` (it has read them all). */
async function untilRead(admin: CacheClient, base: number, bytes: number): Promise<void> {
  const deadline = Date.now() + sent_wait_ms_max;
  while (Number((await admin.stats()).get("bytes_read")) - base < bytes) {
    if (Date.now() > deadline) throw new Error(`server did not read ${bytes} bytes`);
    await Bun.sleep(20);
  }
}

/** Every client sends its set line and half the value; once all is read, the rest. Replies by text. */
async function halfSentSets(port: number): Promise<Map<string, number>> {
  const admin = await CacheClient.connect(port);
  const clients: RawClient[] = [];
  try {
    const base = Number((await admin.stats()).get("bytes_read"));
    const half = value_bytes / 2;
    let sent = 0;
    for (let i = 0; i < clients_n; i++) {
      const c = await RawClient.connect(port);
      clients.push(c);
      const line = `set half${i} 0 0 ${value_bytes}\r\n`;
      c.send(line + "x".repeat(half));
      sent += line.length + half;
    }
    await untilRead(admin, base, sent);
    for (const c of clients) c.send("y".repeat(value_bytes - half) + "\r\n");
    const replies = await Promise.all(clients.map((c) => c.readText("\r\n", reply_wait_ms_max)));
    const counts = new Map<string, number>();
    for (const text of replies) counts.set(text.trimEnd(), (counts.get(text.trimEnd()) ?? 0) + 1);
    return counts;
  } finally {
    for (const c of clients) c.close();
    admin.close();
  }
}

describe("70 half-sent 1 MB sets under -m 64, against memcached 1.6", () => {
  let ours: Spawned;
  let theirs: Spawned;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([startOurs(["-m", "64"]), startMemcached(["-m", "64"])]);
  });
  afterAll(async () => {
    await Promise.all([ours.stop(), theirs.stop()]);
  });

  test("none is refused where memcached refuses none", async () => {
    const [mine, stock] = await Promise.all([halfSentSets(ours.port), halfSentSets(theirs.port)]);
    expect(stock).toEqual(new Map([["STORED", clients_n]]));
    expect(mine).toEqual(stock);
  }, 60_000);
});
