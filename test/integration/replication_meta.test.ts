// Meta protocol mutations reach the peer: two real repcached-bun processes on 127.0.0.1, writes
// made with ms / md / ma / mg on A read back on B with the same value, flags, cas, ttl and meta
// state (stale, win token handed out), so a failover to B never serves an invalidated item as
// fresh nor hands out a second win token. (Classic peers: replication_classic.test.ts; what a
// classic peer loses is in README.)
import { afterEach, describe, expect, test } from "bun:test";
import { freePort, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";
import { allSynced, CacheClient, eventually } from "../helpers/cache_client.ts";

const started: Spawned[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.stop("SIGKILL");
});

async function node(args: string[]): Promise<Spawned> {
  const server = await startOurs(args);
  started.push(server);
  return server;
}

async function synced(...ports: number[]): Promise<boolean> {
  return await allSynced(ports);
}

/** Waits until everything A sent before now is applied on B: a marker written on A shows on B. */
async function drained(a: RawClient, b: RawClient): Promise<boolean> {
  const marker = `marker:${Date.now()}:${Math.random()}`;
  expect(await a.call(`ms ${marker} 1\r\n1\r\n`)).toBe("HD\r\n");
  return await eventually(async () => (await b.call(`me ${marker}\r\n`)).startsWith("ME "), 5_000);
}

/** One meta reply, complete: a VA line and its data block, or one line. */
async function metaCall(c: RawClient, request: string): Promise<string> {
  c.send(request);
  const bytes = await c.readUntil((b) => {
    const text = b.toString("latin1");
    const eol = text.indexOf("\r\n");
    if (eol < 0) return false;
    const size = text.match(/^VA (\d+)/);
    return size === null || b.length >= eol + 2 + Number(size[1]) + 2;
  });
  return bytes.toString("latin1");
}

/** A meta reply with its ttl taken out (the two nodes' clocks tick apart). */
function fields(reply: string): { head: string; ttl: number } {
  const ttl = Number(reply.match(/ t(-?\d+)/)?.[1] ?? "NaN");
  return { head: reply.replace(/ t-?\d+/, " t?"), ttl };
}

describe("meta protocol over replication (our kind of peer)", () => {
  test("ms md ma mg on A: value, flags, cas, ttl and stale / win-token state read back the same on B", async () => {
    const rport = await freePort();
    const na = await node(["-X", String(rport)]);
    const nb = await node(["-x", "127.0.0.1", "-X", String(rport)]);
    expect(await synced(na.port, nb.port)).toBe(true);
    const a = await RawClient.connect(na.port);
    const b = await RawClient.connect(nb.port);

    expect(await a.call("ms plain 5 F9 T100\r\nhello\r\n")).toBe("HD\r\n");
    expect(await a.call("ms app 3\r\nabc\r\nms app 3 MA\r\ndef\r\nms app 2 MP\r\n<<\r\n")).toBe("HD\r\nHD\r\nHD\r\n");
    expect(await a.call("ma cnt N0 J10 v\r\n", "10\r\n")).toBe("VA 2\r\n10\r\n");
    expect(await a.call("ma cnt D5 v\r\n", "15\r\n")).toBe("VA 2\r\n15\r\n");
    expect(await a.call("ms gone 1\r\nx\r\nmd gone\r\n")).toBe("HD\r\nHD\r\n");
    expect(await a.call("mg viv N30 s\r\n")).toBe("HD s0 W\r\n");
    expect(await a.call("ms stale 3 T100\r\nold\r\nmd stale I T50\r\n")).toBe("HD\r\nHD\r\n");
    expect(await a.call("ms won 3\r\nold\r\nmd won I\r\n")).toBe("HD\r\nHD\r\n");
    expect(await a.call("mg won v\r\n", "old\r\n")).toBe("VA 3 X W\r\nold\r\n"); // A hands out the token
    expect(await drained(a, b)).toBe(true);

    for (const key of ["plain", "app", "cnt", "viv"]) {
      const on_a = fields(await metaCall(a, `mg ${key} v f c t s\r\n`));
      const on_b = fields(await metaCall(b, `mg ${key} v f c t s\r\n`));
      expect(on_b.head).toBe(on_a.head);
      expect(on_a.head).toMatch(/^VA \d+ f\d+ c\d+ t\? s\d+( Z)?\r\n/); // viv: its token went out on A
      expect(Math.abs(on_a.ttl - on_b.ttl)).toBeLessThanOrEqual(1);
    }
    expect(await b.call("mg gone v\r\n")).toBe("EN\r\n");
    // invalidated on A: stale on B too, with A's cas and ttl; the first reader on B wins the token
    const stale_a = (await a.call("me stale\r\n")).match(/cas=(\d+)/)![1];
    expect((await b.call("me stale\r\n")).match(/cas=(\d+)/)![1]).toBe(stale_a!);
    const stale_b = fields(await b.call("mg stale v c t\r\n", "old\r\n"));
    expect(stale_b.head).toBe(`VA 3 c${stale_a} t? X W\r\nold\r\n`);
    expect(stale_b.ttl).toBeGreaterThanOrEqual(48);
    expect(stale_b.ttl).toBeLessThanOrEqual(50);
    // the token A handed out is known on B: no second winner after a failover
    expect(await b.call("mg won v\r\n", "old\r\n")).toBe("VA 3 Z X\r\nold\r\n");
    // a fresh ms on B replaces the stale value on A
    expect(await b.call("ms won 3\r\nnew\r\n")).toBe("HD\r\n");
    expect(await drained(b, a)).toBe(true);
    expect(await a.call("mg won v\r\n", "new\r\n")).toBe("VA 3\r\nnew\r\n");
    a.close();
    b.close();
  }, 30_000);

  test("the full copy to a joining peer carries the meta state too", async () => {
    const rport = await freePort();
    const na = await node(["-X", String(rport)]);
    const a = await RawClient.connect(na.port);
    expect(await a.call("ms s1 3 T100\r\nold\r\nmd s1 I\r\nms s2 3\r\nold\r\nmd s2 I\r\n")).toBe("HD\r\nHD\r\nHD\r\nHD\r\n");
    expect(await metaCall(a, "mg s2 v\r\n")).toBe("VA 3 X W\r\nold\r\n");
    const nb = await node(["-x", "127.0.0.1", "-X", String(rport)]);
    expect(await synced(na.port, nb.port)).toBe(true);
    const b = await RawClient.connect(nb.port);
    expect(await metaCall(b, "mg s1 v\r\n")).toBe("VA 3 X W\r\nold\r\n");
    expect(await metaCall(b, "mg s2 v\r\n")).toBe("VA 3 Z X\r\nold\r\n");
    a.close();
    b.close();
  }, 30_000);
});
