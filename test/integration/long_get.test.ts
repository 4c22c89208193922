// Long get lines on real sockets. memcached 1.6.18 serves a get line of any length by buffering it
// whole (measured with the binary: a 1 MB line of 350,000 missing keys grew it by ~560 MiB; a
// 10 MB line grew it past 1.7 GiB before we stopped it). Ours executes a line past
// get_line_bytes_max in parts as it arrives and keeps only the unfinished key, so memory stays flat.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Socket } from "node:net";
import { freePort, RawClient, startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { Relay } from "../helpers/relay.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { MiB, RssSampler, rssSettled, StreamChecker } from "../helpers/rss.ts";
import { bytesRead, longGetEdgeReplies, sendInTwo, streamLine } from "../helpers/long_lines.ts";
import { get_line_bytes_max } from "../../src/protocol/parser.ts";

const reply_ms_max = 30_000;

/** memcached's t/getset.t large multiget: "foobarbaz " once per 7 bytes of 128 KiB (18,725 keys). */
function getsetLine(): { line: string; count: number } {
  let keys = "";
  let count = 0;
  for (let x = 0; x < 128 * 1024; x += 7) {
    keys += "foobarbaz ";
    count++;
  }
  return { line: `get ${keys}\r\n`, count };
}

describe("long get lines", () => {
  let ours: Spawned;
  let theirs: Spawned;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([startOurs(["-vv"]), startMemcached([])]);
    for (const server of [ours, theirs]) {
      const c = await CacheClient.connect(server.port);
      expect(await c.set("foobarbaz", "hi")).toBe("STORED");
      c.close();
    }
  });
  afterAll(async () => {
    await Promise.all([ours.stop(), theirs.stop()]);
  });

  test("memcached's getset.t: 18,725 keys in a 187,256-byte line, whole and in two parts, byte-identical", async () => {
    const { line, count } = getsetLine();
    expect(count).toBe(18_725);
    expect(line.length).toBe(187_256);
    const expected = "VALUE foobarbaz 0 2\r\nhi\r\n".repeat(count) + "END\r\n";
    for (const server of [theirs, ours]) {
      const whole = await RawClient.connect(server.port);
      whole.send(line);
      expect(await whole.readText("END\r\n", reply_ms_max)).toBe(expected);
      whole.close();
      // the first 100,000 bytes are read before the rest is sent: ours runs them at once
      const parts = await RawClient.connect(server.port);
      await sendInTwo(parts, server.port, line + "version\r\n", 100_000);
      expect(await parts.readText("VERSION 1.6.18\r\n", reply_ms_max)).toBe(expected + "VERSION 1.6.18\r\n");
      parts.close();
    }
  }, 60_000);

  test("edges past the bound, byte-identical with memcached: NUL, spaces only, a 250-byte key last", async () => {
    for (const [reference_reply, reply] of await longGetEdgeReplies([theirs.port, ours.port], reply_ms_max)) {
      expect(reply).toBe(reference_reply!);
    }
  }, 30_000);

  test("-vv logs a long get line cut to 256 bytes", async () => {
    const { line } = getsetLine();
    const c = await RawClient.connect(ours.port);
    await sendInTwo(c, ours.port, line, 100_000);
    await c.readText("END\r\n", reply_ms_max);
    c.close();
    const logged = ours.output().split("\n").filter((entry) => / get foobarbaz/.test(entry));
    expect(logged.length).toBeGreaterThanOrEqual(1);
    for (const entry of logged) expect(entry.length).toBeLessThan(300);
  }, 30_000);

  test("a key over 250 bytes past the bound: the error, the rest of the line skipped, the next command read", async () => {
    const head = "get " + "foobarbaz ".repeat(Math.ceil((get_line_bytes_max + 1_000) / 10));
    const c = await RawClient.connect(ours.port);
    await sendInTwo(c, ours.port, head + "L".repeat(300) + " foobarbaz after\r\nversion\r\n", head.length);
    const reply = await c.readText("VERSION 1.6.18\r\n", reply_ms_max);
    // the parts before the long key's were answered as they came (memcached: the error alone)
    expect(reply.endsWith("CLIENT_ERROR bad command line format\r\nVERSION 1.6.18\r\n")).toBe(true);
    expect(reply).not.toContain("END\r\n");
    const values = reply.split("VALUE foobarbaz 0 2\r\nhi\r\n").length - 1;
    expect(values).toBeGreaterThan(0);
    expect(values).toBeLessThanOrEqual(head.length / 10);
    c.close();
    // memcached, the same bytes: the error alone
    const m = await RawClient.connect(theirs.port);
    await sendInTwo(m, theirs.port, head + "L".repeat(300) + " foobarbaz after\r\nversion\r\n", head.length);
    expect(await m.readText("VERSION 1.6.18\r\n", reply_ms_max)).toBe("CLIENT_ERROR bad command line format\r\nVERSION 1.6.18\r\n");
    m.close();
  }, 30_000);

  test("a 48 MiB get line of missing keys: served key by key with flat memory (END once)", async () => {
    const admin = await CacheClient.connect(ours.port);
    const get_base = Number((await admin.stats()).get("cmd_get"));
    await rssSettled(ours.proc.pid);
    const sampler = new RssSampler(ours.proc.pid);
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
      socket.connect(ours.port, "127.0.0.1");
    });
    let reply = "";
    socket.on("data", (chunk: Buffer) => void (reply += chunk.toString("latin1")));
    const keys = 5_600_000; // " m<7 digits>" = 9 bytes each
    const written = await streamLine(socket, "get", (i) => ` m${String(i).padStart(7, "0")}`, keys, "\r\nversion\r\n");
    expect(written).toBeGreaterThan(48 * MiB);
    expect(await eventually(async () => reply.length > 0 && reply.endsWith("VERSION 1.6.18\r\n"), reply_ms_max, 20)).toBe(true);
    sampler.stop();
    socket.destroy();
    expect(reply).toBe("END\r\nVERSION 1.6.18\r\n");
    expect(Number((await admin.stats()).get("cmd_get")) - get_base).toBe(keys);
    admin.close();
    const growth = sampler.growthMiB();
    console.log(`RSS growth while a ${Math.round(written / MiB)} MiB get line streamed: ${growth} MiB`);
    // the line is never held: one read (≤ 512 KiB) and the unfinished key; the rest is the
    // runtime's garbage from the reads, collected as it goes (memcached would hold the line)
    expect(growth).toBeLessThan(40);
  }, 90_000);

  test("a streamed line naming a 10 KB value 10,000 times: 100 MB of replies under the output bound", async () => {
    const value = "v".repeat(10_000);
    const c = await CacheClient.connect(ours.port);
    expect(await c.set("big10k", value)).toBe("STORED");
    c.close();
    const count = 10_000;
    const line = "get " + "big10k ".repeat(count) + "\r\n";
    expect(line.length).toBeGreaterThan(get_line_bytes_max);
    await rssSettled(ours.proc.pid);
    const sampler = new RssSampler(ours.proc.pid);
    const checker = new StreamChecker(Buffer.from(`VALUE big10k 0 10000\r\n${value}\r\n`), count, Buffer.from("END\r\n"));
    await checker.connect(ours.port);
    const base = await bytesRead(ours.port);
    const first = get_line_bytes_max + 5_000;
    checker.send(Buffer.from(line.slice(0, first), "latin1"));
    expect(await eventually(async () => (await bytesRead(ours.port)) - base >= first + 7, 10_000, 10)).toBe(true);
    checker.send(Buffer.from(line.slice(first), "latin1"));
    expect(await checker.complete(reply_ms_max)).toBe(true);
    sampler.stop();
    checker.close();
    expect(sampler.growthMiB()).toBeLessThan(64);
  }, 60_000);
});

describe("a long get line while reads go through to the peer (--serve-during-copy)", () => {
  const started: Spawned[] = [];
  let relay: Relay | null = null;
  afterAll(async () => {
    await relay?.close();
    await Promise.all(started.map((server) => server.stop("SIGKILL")));
  });

  test("its rest waits in the kernel (the socket is paused) while a part's fetch waits: not cut at the input bound", async () => {
    const rport = await freePort();
    const a = await startOurs(["-X", String(rport), "-m", "256"]);
    started.push(a);
    const ca = await CacheClient.connect(a.port);
    let batch = "";
    for (let i = 0; i < 200_000; i++) {
      batch += `set rt${i} 0 0 ${String(i).length} noreply\r\n${i}\r\n`;
      if (batch.length > 60_000) {
        ca.raw.send(batch);
        batch = "";
      }
    }
    ca.raw.send(batch);
    expect(await ca.command("mn\r\n")).toBe("MN");
    ca.close();
    relay = await Relay.start(rport);
    relay.down.delay(300);
    const b = await startOurs(["-x", "127.0.0.1", "-X", `${await freePort()}:${relay.port}`, "-m", "256", "--serve-during-copy"]);
    started.push(b);
    relay.down.stall(); // the copy (and every fetch's answer) stops: fetches end by their timeout
    const cb = await CacheClient.connect(b.port);
    expect((await cb.stats("replication")).get("state")).toBe("copying");
    const fetches_before = Number((await cb.stats("replication")).get("read_through_fetches"));
    cb.close();
    const client = await RawClient.connect(b.port);
    const first = "get " + Array.from({ length: 10_000 }, (_, i) => `zz${i} `).join("");
    expect(first.length).toBeGreaterThan(get_line_bytes_max);
    await sendInTwo(client, b.port, first + "zzsmall1 zzsmall2 ", first.length); // a small part: its fetch waits
    const fetching = async () => Number((await cb2()).get("read_through_fetches")) > fetches_before;
    const cb2 = async () => {
      const c = await CacheClient.connect(b.port);
      try {
        return await c.stats("replication");
      } finally {
        c.close();
      }
    };
    expect(await eventually(fetching, 5_000, 10)).toBe(true);
    // 2 MB more while the fetch waits: more than the input bound (576 KiB) if it were read
    client.send(Array.from({ length: 200_000 }, (_, i) => `zy${i}`).join(" ") + "\r\nversion\r\n");
    expect(await client.readText("VERSION 1.6.18\r\n", 20_000)).toBe("END\r\nVERSION 1.6.18\r\n");
    expect(client.closed).toBe(false);
    client.close();
  }, 60_000);
});
