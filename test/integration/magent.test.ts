// The magent proxy over real sockets, in front of real backends — stock memcached 1.6 and our own
// server — several at once on 127.0.0.1: stats, ketama placement, the backup copy of every write,
// multi-get order, pipelining, noreply, bad input. (Failover: magent_failover.test.ts; placement
// against a real libmemcached client: magent_ketama.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RawClient, type Spawned, startMagent, startMemcached, startOurs } from "../helpers/procs.ts";
import { Continuum } from "../../src/proxy/ketama.ts";


/** Which of `keys` the server on `port` holds (asked directly, in batches). */
async function keysOn(port: number, keys: string[]): Promise<Set<string>> {
  const c = await RawClient.connect(port);
  const found = new Set<string>();
  for (let at = 0; at < keys.length; at += 50) {
    const reply = await c.call(`get ${keys.slice(at, at + 50).join(" ")}\r\n`, "END\r\n");
    for (const match of reply.matchAll(/^VALUE (\S+) /gm)) found.add(match[1]!);
  }
  c.close();
  return found;
}

async function rawOn(port: number, request: string, suffix = "\r\n"): Promise<string> {
  const c = await RawClient.connect(port);
  const reply = await c.call(request, suffix);
  c.close();
  return reply;
}

/** A backup's copy is sent at once but not awaited (the client gets the main server's reply, as
 *  magent): ask the backup until it answers `expected` or 5 s pass; returns its last answer. */
async function settledOn(port: number, request: string, expected: string, suffix = "END\r\n"): Promise<string> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const reply = await rawOn(port, request, suffix);
    if (reply === expected || Date.now() > deadline) return reply;
    await Bun.sleep(10);
  }
}

type Starter = (args?: string[]) => Promise<Spawned>;
const flavors: Array<[string, Starter]> = [
  ["stock memcached", (args = []) => startMemcached(args)],
  ["our server", (args = []) => startOurs(args)],
];

for (const [flavor, start] of flavors) {
  describe(`magent in front of ${flavor}`, () => {
    let mains: Spawned[] = [];
    let backup: Spawned;
    let proxy: Spawned;
    let ring: Continuum;

    beforeAll(async () => {
      mains = [await start(), await start(), await start()];
      backup = await start();
      const args = mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]);
      proxy = await startMagent([...args, "-b", `127.0.0.1:${backup.port}`, "-n", "64", "-i", "4"]);
      ring = new Continuum(mains.map((m) => ({ host: "127.0.0.1", port: m.port })));
    });

    afterAll(async () => {
      await proxy?.stop();
      for (const m of mains) await m.stop();
      await backup?.stop();
    });

    test("stats answers like magent, then per-server counters, then END", async () => {
      const reply = await rawOn(proxy.port, "stats\r\n", "END\r\n");
      const lines = reply.split("\r\n");
      expect(lines[0]).toBe("memcached agent v0.5");
      for (let i = 0; i < 3; i++) expect(lines[i + 1]).toMatch(new RegExp(`^matrix ${i + 1} -> 127\\.0\\.0\\.1:${mains[i]!.port}, pool size \\d+$`));
      expect(lines[4]).toMatch(new RegExp(`^backup 1 -> 127\\.0\\.0\\.1:${backup.port}, pool size \\d+$`));
      expect(reply).toContain(`STAT matrix:1:address 127.0.0.1:${mains[0]!.port}\r\n`);
      expect(reply).toContain("STAT matrix:2:state up\r\n");
      expect(reply).toMatch(/STAT backup:1:mirrored_writes \d+\r\n/);
      expect(reply.endsWith("\r\nEND\r\n")).toBe(true);
      expect(await rawOn(proxy.port, "version\r\n")).toBe("VERSION memcached agent v0.5\r\n");
    });

    test("keys land where ketama puts them, and every write is copied to the backup", async () => {
      const c = await RawClient.connect(proxy.port);
      const keys = Array.from({ length: 300 }, (_, i) => `dist:${i}`);
      let request = "";
      for (const key of keys) request += `set ${key} 7 0 ${key.length}\r\n${key}\r\n`;
      c.send(request);
      const reply = await c.readUntil((b) => b.length >= keys.length * 8, 10_000);
      expect(reply.toString("latin1")).toBe("STORED\r\n".repeat(keys.length));
      c.close();
      for (let s = 0; s < mains.length; s++) {
        const expected = keys.filter((key) => ring.serverOfKey(key) === s);
        expect(expected.length).toBeGreaterThan(40);
        const held = await keysOn(mains[s]!.port, keys);
        expect([...held].sort()).toEqual(expected.sort());
      }
      expect((await keysOn(backup.port, keys)).size).toBe(keys.length);
    });

    test("every kind of write reaches the main server and the backup", async () => {
      const c = await RawClient.connect(proxy.port);
      const key = "writes:1";
      const main = mains[ring.serverOfKey(key)]!;
      expect(await c.call(`set ${key} 3 0 1\r\n5\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`incr ${key} 10\r\n`)).toBe("15\r\n");
      expect(await c.call(`decr ${key} 2\r\n`)).toBe("13\r\n");
      expect(await c.call(`append ${key} 0 0 1\r\nx\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`prepend ${key} 0 0 1\r\ny\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`touch ${key} 1000\r\n`)).toBe("TOUCHED\r\n");
      expect(await rawOn(main.port, `get ${key}\r\n`, "END\r\n")).toBe(`VALUE ${key} 3 4\r\ny13x\r\nEND\r\n`);
      const copied = `VALUE ${key} 3 4\r\ny13x\r\nEND\r\n`;
      expect(await settledOn(backup.port, `get ${key}\r\n`, copied)).toBe(copied);
      expect(await c.call(`add ${key} 0 0 1\r\nz\r\n`)).toBe("NOT_STORED\r\n");
      expect(await c.call(`replace ${key} 9 0 2\r\nrr\r\n`)).toBe("STORED\r\n");
      const gets = await c.call(`gets ${key}\r\n`, "END\r\n");
      const cas = gets.match(/^VALUE \S+ 9 2 (\d+)\r\n/)![1]!;
      expect(await c.call(`cas ${key} 4 0 2 ${cas}\r\ncc\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`cas ${key} 4 0 2 ${cas}\r\ndd\r\n`)).toBe("EXISTS\r\n");
      const replaced = `VALUE ${key} 4 2\r\ncc\r\nEND\r\n`;
      expect(await rawOn(main.port, `get ${key}\r\n`, "END\r\n")).toBe(replaced);
      expect(await settledOn(backup.port, `get ${key}\r\n`, replaced)).toBe(replaced);
      expect(await c.call(`add writes:2 6 0 1\r\na\r\n`)).toBe("STORED\r\n");
      const added = "VALUE writes:2 6 1\r\na\r\nEND\r\n";
      expect(await settledOn(backup.port, `get writes:2\r\n`, added)).toBe(added);
      expect(await c.call(`delete ${key}\r\n`)).toBe("DELETED\r\n");
      expect(await c.call(`delete ${key}\r\n`)).toBe("NOT_FOUND\r\n");
      expect(await rawOn(main.port, `get ${key}\r\n`, "END\r\n")).toBe("END\r\n");
      expect(await settledOn(backup.port, `get ${key}\r\n`, "END\r\n")).toBe("END\r\n");
      c.close();
    });

    test("multi-get across servers answers in request key order (misses and repeats too)", async () => {
      const c = await RawClient.connect(proxy.port);
      const keys = Array.from({ length: 40 }, (_, i) => `mg:${i}`);
      for (const key of keys) expect(await c.call(`set ${key} 1 0 ${key.length}\r\n${key}\r\n`)).toBe("STORED\r\n");
      const servers = new Set(keys.map((key) => ring.serverOfKey(key)));
      expect(servers.size).toBe(3);
      const order = [...keys].reverse();
      order.splice(5, 0, "mg:missing", "mg:3");
      const reply = await c.call(`get ${order.join(" ")}\r\n`, "END\r\n");
      const expected = order.filter((key) => key !== "mg:missing").map((key) => `VALUE ${key} 1 ${key.length}\r\n${key}\r\n`).join("") + "END\r\n";
      expect(reply).toBe(expected);
      const gets = await c.call(`gets mg:1 mg:2 mg:3\r\n`, "END\r\n");
      expect(gets).toMatch(/^VALUE mg:1 1 4 \d+\r\nmg:1\r\nVALUE mg:2 1 4 \d+\r\nmg:2\r\nVALUE mg:3 1 4 \d+\r\nmg:3\r\nEND\r\n$/);
      const gat = await c.call(`gat 500 mg:7 mg:nope mg:8\r\n`, "END\r\n");
      expect(gat).toBe("VALUE mg:7 1 4\r\nmg:7\r\nVALUE mg:8 1 4\r\nmg:8\r\nEND\r\n");
      c.close();
    });

    test("a pipeline of mixed commands in one packet gets its replies in order", async () => {
      const c = await RawClient.connect(proxy.port);
      let request = "";
      let expected = "";
      for (let i = 0; i < 300; i++) {
        request += `set pipe:${i} ${i} 0 ${String(i).length}\r\n${i}\r\nget pipe:${i} pipe:${i + 1000} pipe:${Math.max(0, i - 1)}\r\n`;
        expected += `STORED\r\nVALUE pipe:${i} ${i} ${String(i).length}\r\n${i}\r\n`;
        const prev = Math.max(0, i - 1);
        expected += `VALUE pipe:${prev} ${prev} ${String(prev).length}\r\n${prev}\r\nEND\r\n`;
        if (i % 50 === 0) {
          request += "version\r\nbogus\r\n";
          expected += "VERSION memcached agent v0.5\r\nERROR\r\n";
        }
      }
      c.send(request);
      const reply = await c.readUntil((b) => b.length >= expected.length, 10_000);
      expect(reply.toString("latin1")).toBe(expected);
      c.close();
    });

    test("noreply: nothing comes back, yet the writes are done (main and backup)", async () => {
      const c = await RawClient.connect(proxy.port);
      c.send("set nr:1 0 0 2 noreply\r\nab\r\nset nr:2 0 0 2 noreply\r\ncd\r\nincr nr:none 1 noreply\r\ndelete nr:2 noreply\r\n");
      expect(await c.call("get nr:1 nr:2\r\n", "END\r\n")).toBe("VALUE nr:1 0 2\r\nab\r\nEND\r\n");
      c.close();
      const main = mains[ring.serverOfKey("nr:1")]!;
      expect(await rawOn(main.port, "get nr:1\r\n", "END\r\n")).toBe("VALUE nr:1 0 2\r\nab\r\nEND\r\n");
      const mirrored = "VALUE nr:1 0 2\r\nab\r\nEND\r\n";
      expect(await settledOn(backup.port, "get nr:1 nr:2\r\n", mirrored)).toBe(mirrored);
    });

    test("bad input is answered like memcached and the connection lives on", async () => {
      const c = await RawClient.connect(proxy.port);
      expect(await c.call("bogus\r\n")).toBe("ERROR\r\n");
      expect(await c.call("set k 0 0 notanumber\r\n")).toBe("CLIENT_ERROR bad command line format\r\n");
      expect(await c.call("incr k abc\r\n")).toBe("CLIENT_ERROR invalid numeric delta argument\r\n");
      expect(await c.call("touch k abc\r\n")).toBe("CLIENT_ERROR invalid exptime argument\r\n");
      expect(await c.call(`get ${"k".repeat(251)}\r\n`)).toBe("CLIENT_ERROR bad command line format\r\n");
      // As memcached: "de" is taken as the terminator, then the empty line left is an ERROR.
      expect(await c.call("set k 0 0 3\r\nabcde\r\n", "ERROR\r\n")).toBe("CLIENT_ERROR bad data chunk\r\nERROR\r\n");
      expect(await c.call("delete k 5\r\n")).toBe("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
      const huge = 2 * 1024 * 1024;
      c.send(Buffer.concat([Buffer.from(`set huge 0 0 ${huge}\r\n`), Buffer.alloc(huge, 65), Buffer.from("\r\nget huge\r\n")]));
      expect(await c.call("", "END\r\n", 10_000)).toBe("SERVER_ERROR object too large for cache\r\nEND\r\n");
      expect(await c.call("set ok 0 0 2\r\nok\r\nget ok\r\n", "END\r\n")).toBe("STORED\r\nVALUE ok 0 2\r\nok\r\nEND\r\n");
      expect(await c.call("mn\r\n")).toBe("MN\r\n");
      c.close();
    });

    test("values up to 1 MiB pass through intact, split at odd places", async () => {
      const c = await RawClient.connect(proxy.port);
      const size = 900 * 1024;
      const value = Buffer.alloc(size);
      for (let i = 0; i < size; i++) value[i] = (i * 13 + 1) & 0xff;
      const request = Buffer.concat([Buffer.from(`set big 1 0 ${size}\r\n`), value, Buffer.from("\r\n")]);
      for (let at = 0; at < request.length; at += 65_519) c.send(request.subarray(at, Math.min(request.length, at + 65_519)));
      expect(await c.readText("\r\n", 10_000)).toBe("STORED\r\n");
      c.send("get big small:none\r\n");
      const header = `VALUE big 1 ${size}\r\n`;
      const reply = await c.readUntil((b) => b.length >= header.length + size + 7, 10_000);
      expect(reply.subarray(0, header.length).toString()).toBe(header);
      expect(Buffer.compare(reply.subarray(header.length, header.length + size), value)).toBe(0);
      expect(reply.subarray(header.length + size).toString()).toBe("\r\nEND\r\n");
      c.close();
    });

    test("flush_all and verbosity go to every server", async () => {
      const c = await RawClient.connect(proxy.port);
      expect(await c.call("set fl:1 0 0 1\r\n1\r\n")).toBe("STORED\r\n");
      expect(await c.call("verbosity 0\r\n")).toBe("OK\r\n");
      expect(await c.call("flush_all\r\n")).toBe("OK\r\n");
      expect(await c.call("get fl:1\r\n", "END\r\n")).toBe("END\r\n");
      for (const server of [...mains, backup]) expect(await rawOn(server.port, "get fl:1\r\n", "END\r\n")).toBe("END\r\n");
      c.send("flush_all noreply\r\n");
      expect(await c.call("mn\r\n")).toBe("MN\r\n");
      c.close();
    });

    test("pooled upstream connections stay within -i, however many clients", async () => {
      const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect(proxy.port)));
      await Promise.all(clients.map(async (c, i) => {
        let request = "";
        for (let j = 0; j < 50; j++) request += `set pool:${i}:${j} 0 0 1\r\n${j % 10}\r\nget pool:${i}:${j}\r\n`;
        c.send(request);
        await c.readUntil((b) => b.toString("latin1").split("END\r\n").length > 50, 10_000);
      }));
      for (const c of clients) c.close();
      const stats = await rawOn(proxy.port, "stats\r\n", "END\r\n");
      const sizes = [...stats.matchAll(/, pool size (\d+)\r\n/g)].map((m) => Number(m[1]));
      expect(sizes.length).toBe(4);
      for (const size of sizes) {
        expect(size).toBeGreaterThanOrEqual(1);
        expect(size).toBeLessThanOrEqual(4);
      }
    });

    test("quit closes after the replies before it", async () => {
      const c = await RawClient.connect(proxy.port);
      c.send("set q 0 0 1\r\n1\r\nget q\r\nquit\r\nget q\r\n");
      expect((await c.readUntil(() => false, 1_000)).toString("latin1")).toBe("STORED\r\nVALUE q 0 1\r\n1\r\nEND\r\n");
      expect(c.closed).toBe(true);
    });
  });
}

describe("magent limits", () => {
  let main: Spawned;
  let proxy: Spawned;

  beforeAll(async () => {
    main = await startMemcached();
    proxy = await startMagent(["-s", `127.0.0.1:${main.port}`, "-n", "2"]);
  });

  afterAll(async () => {
    await proxy?.stop();
    await main?.stop();
  });

  test("-n: connections beyond it are refused like memcached", async () => {
    await Bun.sleep(300); // let the readiness probe's connection close on the proxy's side
    const a = await RawClient.connect(proxy.port);
    const b = await RawClient.connect(proxy.port);
    expect(await a.call("version\r\n")).toBe("VERSION memcached agent v0.5\r\n");
    expect(await b.call("version\r\n")).toBe("VERSION memcached agent v0.5\r\n");
    const c = await RawClient.connect(proxy.port);
    expect(await c.readText()).toBe("ERROR Too many open connections\r\n");
    expect(await c.waitClosed()).toBe(true);
    a.close();
    b.close();
    await Bun.sleep(100);
  });

  test("a client that never reads is paused, not buffered without bound", async () => {
    const c = await RawClient.connect(proxy.port);
    const value = "v".repeat(100_000);
    expect(await c.call(`set fat 0 0 ${value.length}\r\n${value}\r\n`)).toBe("STORED\r\n");
    // Ask for ~200 MB of replies without reading any; the proxy must stay responsive to others.
    const request = "get fat\r\n".repeat(2_000);
    c.send(request);
    await Bun.sleep(300);
    const other = await RawClient.connect(proxy.port);
    expect(await other.call("get fat\r\n", "END\r\n", 5_000)).toContain(`VALUE fat 0 ${value.length}\r\n`);
    other.close();
    c.close();
  });
});
