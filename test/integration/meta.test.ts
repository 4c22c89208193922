// The meta protocol on our server over real sockets: the data block of an `ms` is never run as a
// command, large values stream, quiet mode, and the cases where we deliberately differ from
// memcached 1.6.18 (byte-for-byte comparison with memcached lives in meta_compat.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient, startOurs, type Spawned } from "../helpers/procs.ts";

/** The TTL in a reply that is exactly `head` + a number + `tail` (NaN when it is not). */
function ttlOf(reply: string, head: string, tail: string): number {
  if (!reply.startsWith(head) || !reply.endsWith(tail)) return Number.NaN;
  const digits = reply.slice(head.length, reply.length - tail.length);
  return /^\d+$/.test(digits) ? Number(digits) : Number.NaN;
}

describe("meta protocol", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-m", "64"]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("security: the data block of an ms is stored, never executed (`ms evil 11` + `flush_all 0`)", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set victim 0 0 5\r\nalive\r\n")).toBe("STORED\r\n");
    expect(await c.call("ms evil 11\r\nflush_all 0\r\n")).toBe("HD\r\n");
    expect(await c.call("mg victim v\r\n", "alive\r\n")).toBe("VA 5\r\nalive\r\n");
    expect(await c.call("mg evil v\r\n", "flush_all 0\r\n")).toBe("VA 11\r\nflush_all 0\r\n");
    c.close();
  });

  test("security: an ms refused for its flags skips its data block (memcached swallows it too)", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set victim2 0 0 5\r\nalive\r\n")).toBe("STORED\r\n");
    expect(await c.call("ms evil2 11 Z\r\nflush_all 0\r\nmn\r\n", "MN\r\n")).toBe("CLIENT_ERROR invalid flag\r\nMN\r\n");
    expect(await c.call("ms evil2 11 F1 F2\r\nflush_all 0\r\nmn\r\n", "MN\r\n")).toBe("CLIENT_ERROR duplicate flag\r\nMN\r\n");
    expect(await c.call("ms evil2 11 Mz\r\nflush_all 0\r\nmn\r\n", "MN\r\n")).toBe("CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n");
    expect(await c.call("mg victim2 v\r\n", "alive\r\n")).toBe("VA 5\r\nalive\r\n");
    c.close();
  });

  test("security (differs from memcached): a key over 250 bytes or too many flags still skips the data block", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set victim3 0 0 5\r\nalive\r\n")).toBe("STORED\r\n");
    const long_key = "k".repeat(251);
    expect(await c.call(`ms ${long_key} 11\r\nflush_all 0\r\nmn\r\n`, "MN\r\n")).toBe("CLIENT_ERROR bad command line format\r\nMN\r\n");
    const flags = Array.from({ length: 18 }, (_, i) => `O${i}`).join(" ");
    expect(await c.call(`ms k 11 ${flags}\r\nflush_all 0\r\nmn\r\n`, "MN\r\n")).toBe("CLIENT_ERROR options flags too long\r\nMN\r\n");
    expect(await c.call("mg victim3 v\r\n", "alive\r\n")).toBe("VA 5\r\nalive\r\n");
    c.close();
  });

  test("security (differs from memcached): an ms without a usable length is answered, then the connection closes", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set victim4 0 0 5\r\nalive\r\n")).toBe("STORED\r\n");
    c.send("ms evil x\r\nflush_all 0\r\n");
    expect(await c.readText()).toBe("CLIENT_ERROR bad command line format\r\n");
    expect(await c.waitClosed()).toBe(true);
    const d = await RawClient.connect(server.port);
    expect(await d.call("ms evil -1\r\nflush_all 0\r\n")).toBe("CLIENT_ERROR bad command line format\r\n");
    expect(await d.waitClosed()).toBe(true);
    const e = await RawClient.connect(server.port);
    expect(await e.call("mg victim4 v\r\n", "alive\r\n")).toBe("VA 5\r\nalive\r\n");
    // `ms <key>` alone declares no data block: answered, the connection stays
    expect(await e.call("ms lonely\r\nmn\r\n", "MN\r\n")).toBe("CLIENT_ERROR bad command line format\r\nMN\r\n");
    e.close();
  });

  test("an ms value split across packets, and one larger than the inline bound (streamed), with O k c", async () => {
    const c = await RawClient.connect(server.port);
    c.send("ms split 10 T0 O7 k\r\nhello");
    await Bun.sleep(0);
    expect(await c.call(" worl\r\n")).toBe("HD O7 ksplit\r\n");
    const big = "x".repeat(200_000);
    c.send(`ms big ${big.length} F7 O42 k c\r\n${big.slice(0, 1000)}`);
    c.send(`${big.slice(1000)}\r\n`);
    const reply = await c.readText();
    expect(reply).toMatch(/^HD O42 kbig c\d+\r\n$/);
    const cas = reply.match(/c(\d+)/)![1];
    const got = await c.call("mg big s f c v\r\n", `${big}\r\n`, 10_000);
    expect(got).toBe(`VA ${big.length} s${big.length} f7 c${cas}\r\n${big}\r\n`);
    // a streamed ms with a bad data chunk: the error is shown even in quiet mode
    c.send(`ms big2 ${big.length} q\r\n${big}XX`);
    expect(await c.call("mn\r\n", "MN\r\n")).toBe("CLIENT_ERROR bad data chunk\r\nMN\r\n");
    c.close();
  });

  test("a streamed ms compares its cas at commit (C), stores stale below it (I C), appends (MA)", async () => {
    const c = await RawClient.connect(server.port);
    const big = "y".repeat(100_000);
    const first = await c.call(`ms sc ${big.length} c\r\n${big}\r\n`);
    const cas = first.match(/^HD c(\d+)\r\n$/)![1]!;
    expect(await c.call(`ms sc ${big.length} C${cas}1 c\r\n${big}\r\n`)).toBe("EX c0\r\n");
    const second = await c.call(`ms sc ${big.length} C${cas} c\r\n${big}\r\n`);
    expect(second).toMatch(/^HD c\d+\r\n$/);
    expect(await c.call(`ms sc ${big.length} I C1\r\n${big}\r\n`)).toBe("HD\r\n");
    expect(await c.call("mg sc s\r\n")).toBe(`HD s${big.length} X W\r\n`);
    expect(await c.call(`ms sc ${big.length} MA q\r\n${big}\r\nmg sc s\r\n`)).toBe(`HD s${2 * big.length}\r\n`);
    c.close();
  });

  test("quiet mode: nominal replies dropped, failures and errors shown, mn ends the batch", async () => {
    const c = await RawClient.connect(server.port);
    const request =
      "ms q1 1 q\r\na\r\nms q1 1 q ME\r\nb\r\nmg q1 q v\r\nmg nothere q v\r\nmd nothere q\r\nmd q1 q\r\n" +
      "ma cnt q N0 J5\r\nma cnt q\r\nma nothere q\r\nmg cnt v\r\nmn\r\n";
    // (as memcached: a quiet ma that created the counter still answers HD)
    expect(await c.call(request, "MN\r\n")).toBe("NS\r\nVA 1\r\na\r\nNF\r\nHD\r\nNF\r\nVA 1\r\n6\r\nMN\r\n");
    c.close();
  });

  test("base64 keys: stored decoded, echoed encoded, visible to the text protocol by their bytes", async () => {
    const c = await RawClient.connect(server.port);
    const key = Buffer.from([0x00, 0x0d, 0x0a, 0x20, 0xff]).toString("base64");
    expect(await c.call(`ms ${key} 2 b k\r\nhi\r\n`)).toBe(`HD k${key} b\r\n`);
    expect(await c.call(`mg ${key} b k v\r\n`, "hi\r\n")).toBe(`VA 2 k${key} b\r\nhi\r\n`);
    expect(await c.call("ms YWJj 1 b\r\nz\r\n")).toBe("HD\r\n");
    expect(await c.call("get abc\r\n", "END\r\n")).toBe("VALUE abc 0 1\r\nz\r\nEND\r\n");
    expect(await c.call(`me ${key} b\r\n`)).toMatch(new RegExp(`^ME ${key.replace(/[+/]/g, "\\$&")} exp=-1 la=\\d+ cas=\\d+ fetch=yes cls=1 size=66\\r\\n$`));
    c.close();
  });

  test("stale-while-revalidate: md I, one W per invalidation, a fresh set clears it", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("ms swr 3 T100\r\nold\r\n")).toBe("HD\r\n");
    expect(await c.call("md swr I T30\r\n")).toBe("HD\r\n");
    // The TTL is counted on the server's 1-second clock (memcached's too), which may tick between
    // two commands: 30 s set, 30 or a little less seen (a CI run saw t29).
    expect(ttlOf(await c.call("mg swr v t\r\n", "old\r\n"), "VA 3 t", " X W\r\nold\r\n")).toBeWithin(27, 31);
    expect(await c.call("mg swr v\r\n", "old\r\n")).toBe("VA 3 Z X\r\nold\r\n");
    expect(await c.call("ms swr 3 I C1\r\nmid\r\n")).toBe("HD\r\n");
    expect(ttlOf(await c.call("mg swr v t\r\n", "mid\r\n"), "VA 3 t", " Z X\r\nmid\r\n")).toBeWithin(27, 31);
    expect(await c.call("ms swr 3\r\nnew\r\n")).toBe("HD\r\n");
    expect(await c.call("mg swr v t\r\n", "new\r\n")).toBe("VA 3 t-1\r\nnew\r\n");
    c.close();
  });
});
