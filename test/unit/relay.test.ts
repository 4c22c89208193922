// The test relay without our server: plain node:net sockets on both ends, every mode per direction.
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, Socket, type Server } from "node:net";
import { Relay, Shaper } from "../helpers/relay.ts";

interface Received {
  chunks: Buffer[];
  at_ms: number[];
  ended: boolean;
}

/** A target server: records every chunk each connection sends (with arrival times); can reply. */
class Target {
  readonly sockets: Socket[] = [];
  readonly received: Received[] = [];
  private constructor(readonly server: Server, readonly port: number) {}

  static async start(): Promise<Target> {
    let target: Target | null = null;
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      const got: Received = { chunks: [], at_ms: [], ended: false };
      target!.sockets.push(socket);
      target!.received.push(got);
      socket.on("data", (chunk: Buffer) => {
        got.chunks.push(chunk);
        got.at_ms.push(performance.now());
      });
      socket.on("end", () => { got.ended = true; });
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const address = server.address();
    target = new Target(server, typeof address === "object" && address ? address.port : 0);
    return target;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A client connected to the relay, recording what comes back (the down direction). */
async function client(port: number): Promise<{ socket: Socket; got: Received; closed: () => boolean }> {
  const socket = new Socket();
  const got: Received = { chunks: [], at_ms: [], ended: false };
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    got.chunks.push(chunk);
    got.at_ms.push(performance.now());
  });
  socket.on("end", () => { got.ended = true; });
  socket.on("close", () => { closed = true; });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1");
  });
  socket.setNoDelay(true);
  return { socket, got, closed: () => closed };
}

const text = (r: Received | undefined) => (r === undefined ? "" : Buffer.concat(r.chunks).toString("latin1"));

/** Polls until check() or ms pass (bounded). */
async function until(check: () => boolean, ms = 3_000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(5);
  }
  return true;
}

const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function setup(held_bytes_max?: number) {
  const target = await Target.start();
  opened.push(target);
  const relay = await Relay.start(target.port, 0, held_bytes_max === undefined ? {} : { held_bytes_max });
  opened.push(relay);
  const c = await client(relay.port);
  opened.push({ close: () => void c.socket.destroy() });
  expect(await until(() => target.received.length === 1)).toBe(true);
  return { target, relay, c };
}

describe("relay", () => {
  test("pass-through both ways; cut drops the connection and refuses new ones until heal", async () => {
    const { target, relay, c } = await setup();
    c.socket.write("hello up");
    expect(await until(() => text(target.received[0]) === "hello up")).toBe(true);
    target.sockets[0]!.write("hello down");
    expect(await until(() => text(c.got) === "hello down")).toBe(true);
    expect(relay.connections).toBe(1);
    relay.cut();
    expect(await until(() => c.closed())).toBe(true);
    const refused = await client(relay.port);
    expect(await until(() => refused.closed())).toBe(true);
    expect(relay.connections).toBe(1);
    relay.heal();
    const again = await client(relay.port);
    opened.push({ close: () => void again.socket.destroy() });
    again.socket.write("after heal");
    expect(await until(() => text(target.received[1]) === "after heal")).toBe(true);
    expect(relay.connections).toBe(2);
  });

  test("delay(ms) delivers each chunk ms later, in order, per direction", async () => {
    const { target, relay, c } = await setup();
    relay.up.delay(150);
    const sent_ms = performance.now();
    c.socket.write("one,");
    await Bun.sleep(20);
    c.socket.write("two,");
    await Bun.sleep(50);
    expect(text(target.received[0])).toBe("");
    expect(await until(() => text(target.received[0]) === "one,two,")).toBe(true);
    expect(target.received[0]!.at_ms[0]! - sent_ms).toBeGreaterThanOrEqual(140);
    // down is untouched by up's rules
    const down_ms = performance.now();
    target.sockets[0]!.write("fast");
    expect(await until(() => text(c.got) === "fast")).toBe(true);
    expect(c.got.at_ms[0]! - down_ms).toBeLessThan(100);
    relay.down.delay(100);
    const slow_ms = performance.now();
    target.sockets[0]!.write("slow");
    expect(await until(() => text(c.got) === "fastslow")).toBe(true);
    expect(c.got.at_ms[c.got.at_ms.length - 1]! - slow_ms).toBeGreaterThanOrEqual(90);
  });

  test("coalesce(ms) delivers everything of a window as one write", async () => {
    const { target, relay, c } = await setup();
    relay.up.coalesce(120);
    const parts = ["auth line\r\n", "rcb1_tomb k 1\r\n", "rep k 0 0 1 5\r\nv\r\n", "marugoto_end\r\n"];
    for (const part of parts) {
      c.socket.write(part);
      await Bun.sleep(15);
    }
    expect(await until(() => text(target.received[0]) === parts.join(""))).toBe(true);
    expect(target.received[0]!.chunks.length).toBe(1);
    // The next window is a new write.
    c.socket.write("later");
    expect(await until(() => text(target.received[0]) === parts.join("") + "later")).toBe(true);
    expect(target.received[0]!.chunks.length).toBe(2);
  });

  test("split(bytes) delivers pieces of at most that many bytes", async () => {
    const { target, relay, c } = await setup();
    relay.down.split(7);
    const message = "rep key 0 0 10 1234\r\n0123456789\r\nmarugoto_end\r\n";
    target.sockets[0]!.write(message);
    expect(await until(() => text(c.got) === message)).toBe(true);
    expect(c.got.chunks.length).toBe(Math.ceil(message.length / 7));
    for (const chunk of c.got.chunks) expect(chunk.length).toBeLessThanOrEqual(7);
  });

  test("jitter keeps byte order, and the same seed gives the same delays", async () => {
    const { target, relay, c } = await setup();
    relay.up.jitter(40, 7);
    let expected = "";
    for (let i = 0; i < 40; i++) {
      const piece = `<${i}>`;
      expected += piece;
      c.socket.write(piece);
      await Bun.sleep(2);
    }
    expect(await until(() => text(target.received[0]) === expected)).toBe(true);
    const a = new Shaper("up").jitter(40, 99);
    const b = new Shaper("up").jitter(40, 99);
    const xs = Array.from({ length: 20 }, () => a.chunkDelayMs());
    expect(Array.from({ length: 20 }, () => b.chunkDelayMs())).toEqual(xs);
    expect(new Set(xs).size).toBeGreaterThan(1);
    for (const x of xs) expect(x >= 0 && x < 40).toBe(true);
  });

  test("stall() keeps the sockets open and forwards nothing; resume() delivers what was held", async () => {
    const { target, relay, c } = await setup();
    relay.stall();
    c.socket.write("held up");
    target.sockets[0]!.write("held down");
    await Bun.sleep(150);
    expect(text(target.received[0])).toBe("");
    expect(text(c.got)).toBe("");
    expect(c.closed()).toBe(false);
    expect(relay.held_bytes).toBe("held up".length + "held down".length);
    relay.resume();
    expect(await until(() => text(target.received[0]) === "held up" && text(c.got) === "held down")).toBe(true);
    expect(relay.held_bytes).toBe(0);
  });

  test("bounded: past held_bytes_max it stops reading (backpressure); nothing is lost on resume", async () => {
    const held_bytes_max = 64 * 1024;
    const { target, relay, c } = await setup(held_bytes_max);
    relay.up.stall();
    const total = 8 * 1024 * 1024;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 31 + (i >> 13)) & 0xff;
    c.socket.write(payload);
    await Bun.sleep(300);
    expect(relay.up.backpressure_pauses).toBeGreaterThan(0);
    // At most the bound plus the one read chunk that crossed it.
    const read_chunk_bytes_max = 256 * 1024;
    expect(relay.held_bytes).toBeLessThanOrEqual(held_bytes_max + read_chunk_bytes_max);
    expect(relay.up.held_bytes_peak).toBeLessThanOrEqual(held_bytes_max + read_chunk_bytes_max);
    expect(c.socket.writableLength).toBeGreaterThan(0); // the sender sees the backpressure
    relay.up.resume();
    expect(await until(() => target.received[0]!.chunks.reduce((n, b) => n + b.length, 0) === total, 10_000)).toBe(true);
    expect(Buffer.concat(target.received[0]!.chunks).equals(payload)).toBe(true);
  });

  test("a side that closes while bytes are held: they are delivered, then the other side is ended", async () => {
    const { target, relay, c } = await setup();
    relay.up.delay(100);
    c.socket.end("last words");
    expect(await until(() => text(target.received[0]) === "last words" && target.received[0]!.ended)).toBe(true);
  });

  test("reset() returns to pass-through and releases a stall", async () => {
    const { target, relay, c } = await setup();
    relay.up.delay(10_000).split(1);
    relay.up.stall();
    c.socket.write("abc");
    await Bun.sleep(50);
    expect(relay.up.describe()).toBe("stalled, delay 10000ms, split 1B");
    relay.reset();
    // The chunk already held keeps its due time; new chunks pass through.
    expect(relay.up.describe()).toBe("pass-through");
    relay.cut();
    relay.heal();
    const again = await client(relay.port);
    opened.push({ close: () => void again.socket.destroy() });
    again.socket.write("now");
    expect(await until(() => text(target.received[1]) === "now")).toBe(true);
  });
});
