// Issue 11, hole 1: one get line naming a 1,000,000-byte value 1,000 times must not make the
// server (or the proxy) hold the whole gigabyte reply. Real processes on 127.0.0.1: our server and
// stock memcached side by side, and our proxy in front of our server. RSS is read from /proc.
//
// Bounds asserted (the derivation): our server holds at most output_pending_bytes_max (4 MiB) of
// unsent replies per connection plus one shared Output buffer (item size max + 64 KiB, allocated at
// start) — growth_ours_bytes_max leaves room for the allocator and the JIT (measured: ~9 MiB;
// memcached ~1 MiB). A reading client makes the server copy each unsent tail into its send queue
// (a fresh buffer each time) until the GC frees them: measured 38-61 MiB over 40 replies of 1 GB
// (the reading client, and the backend behind the proxy), so growth_reading_bytes_max is 96 MiB
// (before the fix: +957 MiB). The proxy closes a client whose
// replies held for it pass client_output_pending_bytes_max (32 MiB): the reply arriving for it is
// kept as the reads it came in (no growing stash) and its size is checked before each read is kept;
// once dropped it is never held, and the upstream connection, with nothing queued behind it, is cut
// (else up to upstream_discard_bytes_max, 16 MiB, is skipped in place). So growth_proxy_bytes_max is
// 48 MiB = 32 MiB held + 16 MiB of reads left to the GC. Measured: 31-33 MiB (before: 60-182 MiB —
// the stash doubled to 64 MiB and the rest of the 1 GB reply was read and dropped).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient, type Spawned, startMagent, startMemcached, startOurs } from "../helpers/procs.ts";
import { MiB, NonReader, RssSampler, rssSettled, StreamChecker } from "../helpers/rss.ts";

const value_bytes = 1_000_000;
const names_per_line = 1_000;
const growth_ours_bytes_max = 16 * MiB;
const growth_reading_bytes_max = 96 * MiB;
const growth_proxy_bytes_max = 48 * MiB;
const close_wait_ms_max = 15_000;
const reply_wait_ms_max = 60_000;

const value = Buffer.alloc(value_bytes);
for (let i = 0; i < value_bytes; i++) value[i] = 97 + ((i * 7) % 26);
const get_line = Buffer.from(`get${" b".repeat(names_per_line)}\r\n`, "latin1");
const block = Buffer.concat([Buffer.from(`VALUE b 0 ${value_bytes}\r\n`, "latin1"), value, Buffer.from("\r\n")]);

async function setBig(port: number): Promise<void> {
  const c = await RawClient.connect(port);
  c.send(Buffer.concat([Buffer.from(`set b 0 0 ${value_bytes}\r\n`, "latin1"), value, Buffer.from("\r\n")]));
  expect(await c.readText("\r\n", 10_000)).toBe("STORED\r\n");
  c.close();
}

/** RSS growth (MiB) of `pid` after a client that never reads sends the get line; the client stays connected. */
async function nonReaderGrowth(pid: number, port: number): Promise<{ growth: number; client: NonReader }> {
  await rssSettled(pid, 300, 3_000);
  const sampler = new RssSampler(pid);
  const client = await NonReader.connect(port);
  client.send(get_line);
  await rssSettled(pid);
  sampler.stop();
  return { growth: sampler.growthMiB(), client };
}

async function version(port: number): Promise<string> {
  const c = await RawClient.connect(port);
  const reply = await c.call("version\r\n", "\r\n", 5_000);
  c.close();
  return reply;
}

describe("a get line naming a 1 MB value 1,000 times", () => {
  let ours: Spawned;
  let memcached: Spawned;

  beforeAll(async () => {
    [ours, memcached] = await Promise.all([startOurs(["-m", "64"]), startMemcached(["-m", "64"])]);
    await Promise.all([setBig(ours.port), setBig(memcached.port)]);
  });

  afterAll(async () => {
    await ours?.stop();
    await memcached?.stop();
  });

  test("a client that never reads: our server grows by a few MiB, like memcached", async () => {
    const theirs = await nonReaderGrowth(memcached.proc.pid, memcached.port);
    const mine = await nonReaderGrowth(ours.proc.pid, ours.port);
    console.log(`non-reading client: RSS growth ours ${mine.growth} MiB, memcached ${theirs.growth} MiB`);
    expect(mine.growth * MiB).toBeLessThanOrEqual(growth_ours_bytes_max);
    expect(await version(ours.port)).toStartWith("VERSION ");
    mine.client.close();
    theirs.client.close();
  }, 30_000);

  test("a client that reads: all 1,000 values arrive intact, END once, RSS bounded", async () => {
    await rssSettled(ours.proc.pid, 300, 3_000);
    const sampler = new RssSampler(ours.proc.pid);
    const reader = new StreamChecker(block, names_per_line, Buffer.from("END\r\n"));
    await reader.connect(ours.port);
    reader.send(get_line);
    const whole = await reader.complete(reply_wait_ms_max);
    await Bun.sleep(100); // anything after END (a second END) would show up as a mismatch
    sampler.stop();
    reader.close();
    console.log(`reading client: RSS growth ours ${sampler.growthMiB()} MiB, ${reader.received} bytes checked`);
    expect(reader.mismatch_at).toBe(-1);
    expect(whole).toBe(true);
    expect(sampler.growthMiB() * MiB).toBeLessThanOrEqual(growth_reading_bytes_max);
  }, reply_wait_ms_max + 10_000);
});

describe("the same line through the proxy", () => {
  let backend: Spawned;
  let proxy: Spawned;

  beforeAll(async () => {
    backend = await startOurs(["-m", "64"]);
    proxy = await startMagent(["-s", `127.0.0.1:${backend.port}`]);
    await setBig(proxy.port);
  });

  afterAll(async () => {
    await proxy?.stop();
    await backend?.stop();
  });

  test("a client that never reads is closed and counted; proxy and backend RSS bounded", async () => {
    await rssSettled(proxy.proc.pid, 300, 3_000);
    const proxy_rss = new RssSampler(proxy.proc.pid);
    const backend_rss = new RssSampler(backend.proc.pid);
    const client = await NonReader.connect(proxy.port);
    client.send(get_line);
    const deadline = Date.now() + close_wait_ms_max;
    let closed_count = 0;
    while (Date.now() < deadline) {
      const stats = await RawClient.connect(proxy.port).then(async (c) => {
        const text = await c.call("stats\r\n", "END\r\n");
        c.close();
        return text;
      });
      closed_count = Number(/STAT clients_closed_output_bound (\d+)/.exec(stats)?.[1] ?? 0);
      if (closed_count > 0) break;
      await Bun.sleep(100);
    }
    await rssSettled(proxy.proc.pid);
    proxy_rss.stop();
    backend_rss.stop();
    client.close();
    console.log(`proxy: RSS growth ${proxy_rss.growthMiB()} MiB (memcached as a server: see above), backend ${backend_rss.growthMiB()} MiB, clients_closed_output_bound ${closed_count}`);
    expect(closed_count).toBe(1);
    expect(proxy_rss.growthMiB() * MiB).toBeLessThanOrEqual(growth_proxy_bytes_max);
    expect(backend_rss.growthMiB() * MiB).toBeLessThanOrEqual(growth_reading_bytes_max); // the proxy reads it all
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("get b\r\n", "END\r\n", 10_000)).toHaveLength(block.length + 5);
    c.close();
  }, 40_000);
});
