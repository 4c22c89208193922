// Long get lines through the proxy (magent): a get/gets line past get_line_bytes_max is routed in
// parts as it arrives (src/proxy/client.ts, get_request.ts GetLine), each part's keys split over
// their servers, the replies in key order with END once — what our server and memcached answer
// to the same line. A part whose reply is an error ends the line's reply: nothing of the line
// follows it, and the next command is read. The proxy never holds the line (flat memory).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Socket } from "node:net";
import { RawClient, startMagent, startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { MiB, RssSampler, rssSettled } from "../helpers/rss.ts";
import { longGetEdgeReplies, sendInTwo, streamLine } from "../helpers/long_lines.ts";
import { get_line_bytes_max } from "../../src/protocol/parser.ts";

const reply_ms_max = 30_000;
const proxy_version = "VERSION memcached agent v0.5\r\n";

/** `count` keys `lk<i>`, one space before each; every `every`-th holds `v<i>` (set through the proxy). */
function keyLine(verb: string, count: number): string {
  let line = verb;
  for (let i = 0; i < count; i++) line += ` lk${i}`;
  return line + "\r\n";
}

describe("magent: get lines past get_line_bytes_max", () => {
  let mains: Spawned[] = [];
  let proxy: Spawned;
  let reference: Spawned;
  const count = 20_000;
  const every = 7;

  beforeAll(async () => {
    [reference, ...mains] = await Promise.all([startMemcached([]), startOurs([]), startOurs([]), startOurs([])]);
    proxy = await startMagent(mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]));
    // the same content behind the proxy (spread over three servers) and in one memcached
    for (const port of [proxy.port, reference.port]) {
      const c = await RawClient.connect(port);
      let sets = "";
      for (let i = 0; i < count; i += every) sets += `set lk${i} ${i % 5} 0 ${`v${i}`.length} noreply\r\nv${i}\r\n`;
      sets += "set foobarbaz 0 0 2\r\nhi\r\n";
      expect(await c.call(sets, "STORED\r\n", reply_ms_max)).toBe("STORED\r\n");
      c.close();
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([proxy?.stop(), reference?.stop(), ...mains.map((m) => m.stop())]);
  }, 30_000);

  test("20,000 keys over three servers: the hits in key order, END once, as memcached; whole and in two parts", async () => {
    const line = keyLine("get", count);
    expect(line.length).toBeGreaterThan(2 * get_line_bytes_max);
    const expected: string[] = [];
    for (let i = 0; i < count; i += every) expected.push(`VALUE lk${i} ${i % 5} ${`v${i}`.length}\r\nv${i}\r\n`);
    const want = expected.join("") + "END\r\n" + proxy_version;
    const whole = await RawClient.connect(proxy.port);
    whole.send(line + "version\r\n");
    expect(await whole.readText(proxy_version, reply_ms_max)).toBe(want);
    whole.close();
    // the first part is read (and routed) before the rest is sent
    const parts = await RawClient.connect(proxy.port);
    await sendInTwo(parts, proxy.port, line + "version\r\n", get_line_bytes_max + 1_234);
    expect(await parts.readText(proxy_version, reply_ms_max)).toBe(want);
    parts.close();
    // and memcached, one server holding it all, says the same
    const m = await RawClient.connect(reference.port);
    m.send(line);
    expect(await m.readText("END\r\n", reply_ms_max)).toBe(expected.join("") + "END\r\n");
    m.close();
  }, 60_000);

  test("gets: every hit with its cas, in key order", async () => {
    const line = keyLine("gets", count);
    const c = await RawClient.connect(proxy.port);
    await sendInTwo(c, proxy.port, line, get_line_bytes_max + 77);
    const reply = await c.readText("END\r\n", reply_ms_max);
    c.close();
    const seen = [...reply.matchAll(/VALUE (lk\d+) (\d+) (\d+) (\d+)\r\n/g)].map((match) => match[1]);
    const want: string[] = [];
    for (let i = 0; i < count; i += every) want.push(`lk${i}`);
    expect(seen).toEqual(want);
    expect(reply.split("END\r\n").length).toBe(2);
  }, 60_000);

  test("edges past the bound, byte-identical with memcached: NUL, spaces only, a 250-byte key last", async () => {
    for (const [reference_reply, reply] of await longGetEdgeReplies([reference.port, proxy.port], reply_ms_max)) {
      expect(reply).toBe(reference_reply!);
    }
  }, 30_000);

  test("a key over 250 bytes past the bound: the error ends the reply, the rest of the line is skipped, the next command read", async () => {
    const head = "get " + "foobarbaz ".repeat(Math.ceil((get_line_bytes_max + 1_000) / 10));
    const c = await RawClient.connect(proxy.port);
    await sendInTwo(c, proxy.port, head + "L".repeat(300) + " foobarbaz after\r\nversion\r\n", head.length);
    const reply = await c.readText(proxy_version, reply_ms_max);
    c.close();
    // the parts before the long key's were answered as they came (as our server does)
    expect(reply.endsWith("CLIENT_ERROR bad command line format\r\n" + proxy_version)).toBe(true);
    expect(reply).not.toContain("END\r\n");
    const values = reply.split("VALUE foobarbaz 0 2\r\nhi\r\n").length - 1;
    expect(values).toBeGreaterThan(0);
    expect(values).toBeLessThanOrEqual(head.length / 10);
  }, 30_000);

  test("a 40 MiB line of missing keys: END once, the proxy's memory flat", async () => {
    await rssSettled(proxy.proc.pid);
    const sampler = new RssSampler(proxy.proc.pid);
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
      socket.connect(proxy.port, "127.0.0.1");
    });
    let reply = "";
    socket.on("data", (chunk: Buffer) => void (reply += chunk.toString("latin1")));
    const keys = 4_700_000; // " m<7 digits>" = 9 bytes each
    const written = await streamLine(socket, "get", (i) => ` m${String(i).padStart(7, "0")}`, keys, "\r\nversion\r\n");
    expect(written).toBeGreaterThan(40 * MiB);
    expect(await eventually(async () => reply.endsWith(proxy_version), 60_000, 20)).toBe(true);
    sampler.stop();
    socket.destroy();
    expect(reply).toBe("END\r\n" + proxy_version);
    const growth = sampler.growthMiB();
    console.log(`proxy RSS growth while a ${Math.round(written / MiB)} MiB get line streamed: ${growth} MiB`);
    // At most get_line_parts_max parts are in flight and a finished part lets go of its keys: the
    // growth is the runtime's garbage high-water mark (~60 MiB here at 16, 40 and 65 MiB lines),
    // not the line. Before, the client's queue kept finished parts: 93 MiB at 16 MiB, 200 at 65.
    expect(growth).toBeLessThan(100);
  }, 90_000);
});

describe("magent: a long get line whose server is gone", () => {
  test("the part's SERVER_ERROR ends the line's reply; nothing of the line follows; the next command is read", async () => {
    const mains = await Promise.all([startOurs([]), startOurs([])]);
    const proxy = await startMagent(mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]));
    try {
      const c = await CacheClient.connect(proxy.port);
      expect(await c.set("foobarbaz", "hi")).toBe("STORED");
      c.close();
      await mains[1]!.stop();
      const line = keyLine("get", 30_000);
      const r = await RawClient.connect(proxy.port);
      await sendInTwo(r, proxy.port, line + "mn\r\n", get_line_bytes_max + 10);
      const reply = await r.readText("MN\r\n", reply_ms_max);
      r.close();
      expect(reply).toMatch(/^SERVER_ERROR [^\r\n]+\r\nMN\r\n$/);
    } finally {
      await Promise.all([proxy.stop(), ...mains.map((m) => m.stop())]);
    }
  }, 60_000);
});
