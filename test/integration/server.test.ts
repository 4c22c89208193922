// Our server over real sockets: framing, large values, backpressure, limits, eviction, expiry.
// (Byte-for-byte comparison with stock memcached lives in compat.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Socket } from "node:net";
import { RawClient, startOurs, type Spawned } from "../helpers/procs.ts";

const crlf = "\r\n";

function statValue(stats: string, name: string): number {
  const match = stats.match(new RegExp(`STAT ${name} (\\d+)\\r\\n`));
  if (!match) throw new Error(`no stat ${name} in ${stats.slice(0, 200)}`);
  return Number(match[1]);
}

describe("default server", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-m", "64"]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("set/get round trip and the exact reply bytes", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set greeting 42 0 5\r\nhello\r\n")).toBe("STORED\r\n");
    expect(await c.call("get greeting\r\n", "END\r\n")).toBe("VALUE greeting 42 5\r\nhello\r\nEND\r\n");
    c.close();
  });

  test("many commands in one packet get their replies in order", async () => {
    const c = await RawClient.connect(server.port);
    let request = "";
    let expected = "";
    for (let i = 0; i < 500; i++) {
      request += `set pipe${i} ${i} 0 ${String(i).length}\r\n${i}\r\nget pipe${i}\r\n`;
      expected += `STORED\r\nVALUE pipe${i} ${i} ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    c.send(request);
    const reply = await c.readUntil((b) => b.length >= expected.length, 10_000);
    expect(reply.toString("latin1")).toBe(expected);
    c.close();
  });

  test("a pipeline cut into reads of odd sizes (commands and values split anywhere) answers in order", async () => {
    const c = await RawClient.connect(server.port);
    let request = "";
    let expected = "";
    for (let i = 0; i < 300; i++) {
      const value = `v${i}-`.repeat(1 + (i % 40));
      request += `set odd${i} ${i} 0 ${value.length}\r\n${value}\r\nget odd${i}\r\n`;
      expected += `STORED\r\nVALUE odd${i} ${i} ${value.length}\r\n${value}\r\nEND\r\n`;
    }
    const bytes = Buffer.from(request, "latin1");
    const sizes = [7, 13, 101, 4099, 1, 2, 333, 65_537];
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, bytes.length - at);
      c.send(bytes.subarray(at, at + n));
      at += n;
      if (k % 5 === 0) await Bun.sleep(1);
    }
    const reply = await c.readUntil((b) => b.length >= expected.length, 10_000);
    expect(reply.toString("latin1")).toBe(expected);
    c.close();
  });

  test("a command split over many packets (byte by byte) works", async () => {
    const c = await RawClient.connect(server.port);
    const request = "set split 7 0 10\r\n0123456789\r\nget split\r\n";
    for (const ch of request) {
      c.send(ch);
      await Bun.sleep(1);
    }
    const reply = await c.readText("END\r\n");
    expect(reply).toBe("STORED\r\nVALUE split 7 10\r\n0123456789\r\nEND\r\n");
    c.close();
  });

  test("1 MiB-class values stream in and out intact, split at odd places", async () => {
    const c = await RawClient.connect(server.port);
    const size = 1024 * 1024 - 512;
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = (i * 7 + 3) & 0xff;
    const request = Buffer.concat([Buffer.from(`set big 1 0 ${size}\r\n`), value, Buffer.from(crlf)]);
    for (let at = 0; at < request.length; at += 65_521) c.send(request.subarray(at, Math.min(request.length, at + 65_521)));
    expect((await c.readText()).toString()).toBe("STORED\r\n");
    c.send("get big\r\n");
    const header = `VALUE big 1 ${size}\r\n`;
    const reply = await c.readUntil((b) => b.length >= header.length + size + 7, 10_000);
    expect(reply.subarray(0, header.length).toString()).toBe(header);
    expect(Buffer.compare(reply.subarray(header.length, header.length + size), value)).toBe(0);
    expect(reply.subarray(header.length + size).toString()).toBe("\r\nEND\r\n");
    c.close();
  });

  test("a value larger than -I is refused and its data swallowed", async () => {
    const c = await RawClient.connect(server.port);
    const size = 2 * 1024 * 1024;
    c.send(Buffer.concat([Buffer.from(`set huge 0 0 ${size}\r\n`), Buffer.alloc(size, 120), Buffer.from("\r\nget huge\r\n")]));
    expect(await c.readText("END\r\n", 10_000)).toBe("SERVER_ERROR object too large for cache\r\nEND\r\n");
    c.close();
  });

  test("a slow reader of 1 MiB values gets every byte, in order (write count and drain honoured)", async () => {
    const setup = await RawClient.connect(server.port);
    const size = 1000 * 1000;
    for (const name of ["slowA", "slowB"]) {
      const value = Buffer.alloc(size, name.charCodeAt(4));
      setup.send(Buffer.concat([Buffer.from(`set ${name} 0 0 ${size}\r\n`), value, Buffer.from(crlf)]));
      expect(await setup.readText()).toBe("STORED\r\n");
    }
    setup.close();
    // A reader that asks for 40 MB of replies at once, then reads slowly.
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
      socket.connect(server.port, "127.0.0.1");
    });
    const rounds = 20;
    socket.write("get slowA slowB\r\n".repeat(rounds));
    socket.pause();
    await Bun.sleep(500);
    const chunks: Buffer[] = [];
    let total = 0;
    const one = `VALUE slowA 0 ${size}\r\n`.length + size + 2 + `VALUE slowB 0 ${size}\r\n`.length + size + 2 + 5;
    const want = one * rounds;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
    });
    // Trickle: resume for short bursts.
    const deadline = Date.now() + 30_000;
    while (total < want && Date.now() < deadline) {
      socket.resume();
      await Bun.sleep(20);
      socket.pause();
      await Bun.sleep(5);
    }
    socket.resume();
    socket.destroy();
    expect(total).toBe(want);
    const all = Buffer.concat(chunks);
    let at = 0;
    for (let r = 0; r < rounds; r++) {
      for (const name of ["slowA", "slowB"]) {
        const header = `VALUE ${name} 0 ${size}\r\n`;
        expect(all.subarray(at, at + header.length).toString()).toBe(header);
        at += header.length;
        const body = all.subarray(at, at + size);
        expect(body.every((b) => b === name.charCodeAt(4))).toBe(true);
        at += size + 2;
      }
      expect(all.subarray(at, at + 5).toString()).toBe("END\r\n");
      at += 5;
    }
  }, 60_000);

  test("a line without newline beyond 2048 bytes closes the connection; a long get line works", async () => {
    const c = await RawClient.connect(server.port);
    c.send("set " + "x".repeat(3000));
    expect(await c.waitClosed()).toBe(true);
    const g = await RawClient.connect(server.port);
    const keys = Array.from({ length: 600 }, (_, i) => `longget${i}`);
    expect(await g.call("set longget599 0 0 1\r\nz\r\n")).toBe("STORED\r\n");
    const line = `get ${keys.join(" ")}\r\n`;
    expect(line.length).toBeGreaterThan(2048);
    g.send(line.slice(0, 2500));
    await Bun.sleep(50);
    g.send(line.slice(2500));
    expect(await g.readText("END\r\n")).toBe("VALUE longget599 0 1\r\nz\r\nEND\r\n");
    g.close();
  });

  test("binary garbage gets ERROR replies, never a crash", async () => {
    const c = await RawClient.connect(server.port);
    const garbage = Buffer.alloc(1500);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 17) & 0xff;
    c.send(Buffer.concat([garbage, Buffer.from("\r\nversion\r\n")]));
    const reply = await c.readUntil((b) => b.toString("latin1").includes("VERSION "), 5_000);
    expect(reply.toString("latin1")).toContain("ERROR\r\n");
    c.close();
    const again = await RawClient.connect(server.port);
    expect(await again.call("version\r\n")).toMatch(/^VERSION \S+\r\n$/);
    again.close();
  });

  test("mg reports the seconds left (t) and a 1 MiB value (v)", async () => {
    const c = await RawClient.connect(server.port);
    expect(await c.call("set mgt 3 100 2\r\nhi\r\n")).toBe("STORED\r\n");
    expect(await c.call("mg mgt t f\r\n")).toMatch(/^HD t(99|100) f3\r\n$/);
    const size = 1000 * 1000;
    c.send(Buffer.concat([Buffer.from(`set mgbig 0 0 ${size}\r\n`), Buffer.alloc(size, 65), Buffer.from("\r\n")]));
    expect(await c.readText()).toBe("STORED\r\n");
    c.send("mg mgbig s v\r\n");
    const reply = await c.readUntil((b) => b.length >= size + 20, 10_000);
    expect(reply.subarray(0, 17).toString()).toBe(`VA ${size} s${size}\r\n`.slice(0, 17));
    expect(reply.length).toBe(`VA ${size} s${size}\r\n`.length + size + 2);
    c.close();
  });

  test("quit flushes earlier replies, then closes", async () => {
    const c = await RawClient.connect(server.port);
    c.send("set q 0 0 1\r\nq\r\nquit\r\n");
    expect(await c.readText()).toBe("STORED\r\n");
    expect(await c.waitClosed()).toBe(true);
  });
});

describe("verbosity", () => {
  test("-vv logs connections and command lines like memcached; `verbosity` changes it at run time", async () => {
    const server = await startOurs(["-vv"]);
    try {
      const c = await RawClient.connect(server.port);
      expect(await c.call("set vv 0 0 5\r\nhello\r\n")).toBe("STORED\r\n");
      expect(await c.call("verbosity 0\r\n")).toBe("OK\r\n");
      expect(await c.call("get quiet\r\n", "END\r\n")).toBe("END\r\n");
      c.close();
      await Bun.sleep(200);
      const log = server.output();
      expect(log).toMatch(/<\d+ new auto-negotiating client connection/);
      expect(log).toMatch(/<\d+ set vv 0 0 5\n/);
      expect(log).not.toContain("hello");
      expect(log).not.toContain("get quiet");
    } finally {
      await server.stop();
    }
  });
});

describe("limits", () => {
  test("-c: connections beyond the limit are refused cleanly", async () => {
    const server = await startOurs(["-c", "3"]);
    await Bun.sleep(300); // let the readiness probe's connection close on the server side
    try {
      const clients = [await RawClient.connect(server.port), await RawClient.connect(server.port), await RawClient.connect(server.port)];
      for (const c of clients) expect(await c.call("version\r\n")).toMatch(/^VERSION/);
      const extra = await RawClient.connect(server.port);
      expect(await extra.readText()).toBe("ERROR Too many open connections\r\n");
      expect(await extra.waitClosed()).toBe(true);
      clients[0]!.close();
      await Bun.sleep(100);
      const later = await RawClient.connect(server.port);
      expect(await later.call("version\r\n")).toMatch(/^VERSION/);
      for (const c of [...clients, later]) c.close();
    } finally {
      await server.stop();
    }
  });

  test("eviction under a full store shows in stats; -M refuses instead", async () => {
    const evicting = await startOurs(["-m", "2"]);
    const refusing = await startOurs(["-m", "2", "-M"]);
    try {
      const value = "v".repeat(1000);
      for (const server of [evicting, refusing]) {
        const c = await RawClient.connect(server.port);
        let request = "";
        for (let i = 0; i < 6000; i++) request += `set fill${i} 0 0 ${value.length}\r\n${value}\r\n`;
        c.send(request);
        const replies = await c.readUntil((b) => (b.toString().match(/\r\n/g) ?? []).length >= 6000, 20_000);
        const text = replies.toString();
        const stats = await c.call("stats\r\n", "END\r\n");
        if (server === evicting) {
          expect(text).not.toContain("SERVER_ERROR");
          expect(statValue(stats, "evictions")).toBeGreaterThan(0);
          expect(await c.call("get fill5999\r\n", "END\r\n")).toContain("VALUE fill5999");
        } else {
          expect(text).toContain("SERVER_ERROR out of memory storing object\r\n");
          expect(statValue(stats, "evictions")).toBe(0);
          expect(await c.call("get fill0\r\n", "END\r\n")).toContain("VALUE fill0");
        }
        c.close();
      }
    } finally {
      await evicting.stop();
      await refusing.stop();
    }
  }, 60_000);

  test("expiry and delayed flush_all", async () => {
    const server = await startOurs([]);
    try {
      const c = await RawClient.connect(server.port);
      expect(await c.call("set soon 0 1 1\r\na\r\nset gone 0 -1 1\r\nb\r\nset kept 0 0 1\r\nc\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")).toBeTruthy();
      expect(await c.call("get gone\r\n", "END\r\n")).toBe("END\r\n");
      expect(await c.call("flush_all 2\r\n")).toBe("OK\r\n");
      expect(await c.call("get kept\r\n", "END\r\n")).toBe("VALUE kept 0 1\r\nc\r\nEND\r\n");
      await Bun.sleep(3100);
      expect(await c.call("get soon kept\r\n", "END\r\n")).toBe("END\r\n");
      expect(await c.call("set after 0 0 1\r\nd\r\nget after\r\n", "END\r\n")).toBe("STORED\r\nVALUE after 0 1\r\nd\r\nEND\r\n");
      c.close();
    } finally {
      await server.stop();
    }
  }, 20_000);
});
