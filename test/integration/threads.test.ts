// `-t N`: N worker threads over one store (src/server/threads.ts). Real processes, real sockets:
// connections land on different workers (the kernel's SO_REUSEPORT spread) and still see one
// cache; `stats` sums every thread; -c, verbosity, flush_all, stats reset and shutdown apply to
// all; the unix socket and UDP (owned by the main thread) work beside the workers; SIGTERM stops
// every worker. Replication at -t 4 lives in replication_threads.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { BinaryClient, Op, parseFrames } from "../helpers/binary.ts";

/** Each test (and hook) may take this long: several processes and threads start on a shared 2-core machine. */
const test_ms_max = 30_000;
/** Connections opened to find several workers: with 4 workers, all 16 on one has odds 4^-15. */
const connections_spread = 16;

async function statsOf(port: number, sub = ""): Promise<Map<string, string>> {
  const c = await CacheClient.connect(port);
  try {
    return await c.stats(sub);
  } finally {
    c.close();
  }
}

/** `stats threads`: each thread's curr_connections, by thread index (0 is the main thread). */
async function connectionsByThread(asker: RawClient): Promise<Map<number, number>> {
  const reply = await asker.call("stats threads\r\n", "END\r\n");
  const counts = new Map<number, number>();
  for (const m of reply.matchAll(/STAT (\d+):curr_connections (\d+)\r\n/g)) counts.set(Number(m[1]), Number(m[2]));
  return counts;
}

describe("-t 4: one cache over four workers", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-t", "4", "-m", "64", "-A", "-c", "1000"]);
  }, test_ms_max);
  afterAll(async () => {
    await server.stop();
  }, test_ms_max);

  test("connections land on several workers, and a key written on one is read on all", async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    // Several workers serve some of them (stats threads), and `stats conns` on any worker lists
    // every thread's connections (gathered by the main thread).
    let by_thread = new Map<number, number>();
    const sum = () => [...by_thread.values()].reduce((a, b) => a + b, 0);
    // A connection is counted once its worker has run its accept (just after the client's connect).
    expect(await eventually(async () => {
      by_thread = await connectionsByThread(clients[0]!);
      return sum() === connections_spread;
    })).toBe(true);
    expect(by_thread.size).toBe(5);
    expect(by_thread.get(0)).toBe(0);
    expect([...by_thread.values()].filter((n) => n > 0).length).toBeGreaterThan(1);
    const conns = await clients[3]!.call("stats conns\r\n", "END\r\n");
    for (const c of clients) expect(conns).toContain(`:addr tcp:127.0.0.1:${c.localPort}\r\n`);
    // Every connection reads what one wrote: some of them are on another worker than the writer.
    const [writer, ...readers] = clients;
    expect(await writer!.call("set shared 7 0 5\r\nhello\r\n")).toBe("STORED\r\n");
    for (const reader of readers) {
      expect(await reader.call("get shared\r\n", "END\r\n")).toBe("VALUE shared 7 5\r\nhello\r\nEND\r\n");
    }
    expect(await readers[0]!.call("delete shared\r\n")).toBe("DELETED\r\n");
    expect(await writer!.call("get shared\r\n", "END\r\n")).toBe("END\r\n");
    for (const c of clients) c.close();
  }, test_ms_max);

  test("stats and stats conns asked at once by many connections: every `stats conns` (text or binary) lists every thread's connections", async () => {
    // A worker fetches the main thread's groups once for every `stats` waiting on it, and gathers
    // the other workers' connections only for `stats conns` / `stats detail dump`: a `stats conns`
    // that arrives while a plain `stats` waits must still be answered with every thread's.
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    const bin = await BinaryClient.connect(server.port);
    const ports = [...clients.map((c) => c.localPort), bin.raw.localPort];
    expect(await eventually(async () => {
      const counts = await connectionsByThread(clients[0]!);
      return [...counts.values()].reduce((a, b) => a + b, 0) >= ports.length;
    })).toBe(true);
    for (let round = 0; round < 5; round++) {
      bin.send({ opcode: Op.STAT, key: Buffer.from("conns") });
      const replies = await Promise.all(clients.map((c, i) => c.call(i % 2 === 0 ? "stats\r\n" : "stats conns\r\n", "END\r\n")));
      replies.forEach((reply, i) => {
        if (i % 2 === 0) return expect(reply).toMatch(/^STAT pid \d+\r\n[^]*STAT threads 4\r\n[^]*END\r\n$/);
        for (const port of ports) expect(reply).toContain(`:addr tcp:127.0.0.1:${port}\r\n`);
      });
      const bytes = await bin.raw.readUntil((b) => parseFrames(b).frames.some((f) => f.key.length === 0));
      const addrs = parseFrames(bytes).frames.map((f) => `${f.key.toString("latin1")} ${f.value.toString("latin1")}`).join("\n");
      for (const port of ports) expect(addrs).toContain(`addr tcp:127.0.0.1:${port}`);
    }
    bin.close();
    for (const c of clients) c.close();
  }, test_ms_max);

  test("stats sums every thread: cmd_set, cmd_get, curr_connections, total_connections; threads is 4", async () => {
    const before = await statsOf(server.port);
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    for (const [i, c] of clients.entries()) {
      expect(await c.call(`set sum${i} 0 0 1\r\nx\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`get sum${i} nothing${i}\r\n`, "END\r\n")).toBe(`VALUE sum${i} 0 1\r\nx\r\nEND\r\n`);
    }
    const after = await statsOf(server.port);
    expect(after.get("threads")).toBe("4");
    expect(Number(after.get("cmd_set")) - Number(before.get("cmd_set"))).toBe(connections_spread);
    expect(Number(after.get("cmd_get")) - Number(before.get("cmd_get"))).toBe(2 * connections_spread);
    expect(Number(after.get("get_hits")) - Number(before.get("get_hits"))).toBe(connections_spread);
    expect(Number(after.get("total_connections")) - Number(before.get("total_connections"))).toBe(connections_spread + 1);
    // the 16 clients + the stats connection
    expect(Number(after.get("curr_connections"))).toBe(connections_spread + 1);
    for (const c of clients) c.close();
    expect(await eventually(async () => (await statsOf(server.port)).get("curr_connections") === "1")).toBe(true);
  }, test_ms_max);

  test("flush_all and stats reset on one worker apply to every worker", async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    for (const [i, c] of clients.entries()) expect(await c.call(`set fl${i} 0 0 1\r\nx\r\n`)).toBe("STORED\r\n");
    expect(await clients[0]!.call("flush_all\r\n")).toBe("OK\r\n");
    for (const [i, c] of clients.entries()) expect(await c.call(`get fl${i}\r\n`, "END\r\n")).toBe("END\r\n");
    expect(await clients[3]!.call("stats reset\r\n")).toBe("RESET\r\n");
    const stats = await statsOf(server.port);
    expect(stats.get("cmd_set")).toBe("0");
    expect(stats.get("cmd_get")).toBe("0");
    for (const c of clients) c.close();
  }, test_ms_max);

  test("stats detail on/off/dump and stats reset cover every worker's prefixes", async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    expect(await clients[0]!.call("stats detail on\r\n")).toBe("OK\r\n");
    for (const [i, c] of clients.entries()) {
      expect(await c.call(`set pfx:${i} 0 0 1\r\nx\r\n`)).toBe("STORED\r\n");
      expect(await c.call(`get pfx:${i} pfx:none${i}\r\n`, "END\r\n")).toStartWith("VALUE");
    }
    const dump = await clients[5]!.call("stats detail dump\r\n", "END\r\n");
    expect(dump).toBe(`PREFIX pfx get ${2 * connections_spread} hit ${connections_spread} set ${connections_spread} del 0\r\nEND\r\n`);
    expect(await clients[7]!.call("stats reset\r\n")).toBe("RESET\r\n");
    expect(await eventually(async () => (await clients[9]!.call("stats detail dump\r\n", "END\r\n")) === "END\r\n")).toBe(true);
    expect(await clients[2]!.call("stats detail off\r\n")).toBe("OK\r\n");
    for (const c of clients) expect(await c.call("set pfx:off 0 0 1\r\nx\r\n")).toBe("STORED\r\n");
    expect(await clients[11]!.call("stats detail dump\r\n", "END\r\n")).toBe("END\r\n");
    for (const c of clients) c.close();
  }, test_ms_max);

  test("a value larger than the input stash arrives in pieces on any worker", async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await RawClient.connect(server.port));
    const value = "v".repeat(300_000);
    for (const [i, c] of clients.entries()) {
      expect(await c.call(`set big${i} 0 0 ${value.length}\r\n${value}\r\n`)).toBe("STORED\r\n");
    }
    for (const [i, c] of clients.entries()) {
      const reply = await c.call(`get big${(i + 1) % 4}\r\n`, "END\r\n");
      expect(reply.length).toBe(`VALUE big0 0 ${value.length}\r\n`.length + value.length + 7);
    }
    for (const c of clients) c.close();
  }, test_ms_max);
});

describe("-t 4: limits and settings shared by the workers", () => {
  const started: Spawned[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop("SIGKILL");
  }, test_ms_max);

  test("-c counts connections across every worker", async () => {
    const server = await startOurs(["-t", "4", "-c", "6"]);
    started.push(server);
    const clients: RawClient[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(server.port);
      expect(await c.call("version\r\n")).toStartWith("VERSION ");
      clients.push(c);
    }
    const extra = await RawClient.connect(server.port);
    expect(await extra.readText()).toBe("ERROR Too many open connections\r\n");
    extra.close();
    clients.pop()!.close();
    expect(await eventually(async () => {
      const c = await RawClient.connect(server.port);
      try {
        return (await c.call("version\r\n")).startsWith("VERSION ");
      } catch {
        return false;
      } finally {
        c.close();
      }
    })).toBe(true);
    for (const c of clients) c.close();
  }, test_ms_max);

  test("verbosity set on one connection applies to every worker (-vv logs other workers' commands)", async () => {
    const server = await startOurs(["-t", "4"]);
    started.push(server);
    const clients: RawClient[] = [];
    for (let i = 0; i < connections_spread; i++) clients.push(await RawClient.connect(server.port));
    expect(await clients[0]!.call("verbosity 2\r\n")).toBe("OK\r\n");
    for (const [i, c] of clients.entries()) expect(await c.call(`set verb${i} 0 0 1\r\nx\r\n`)).toBe("STORED\r\n");
    expect(await eventually(() => Promise.resolve(
      Array.from({ length: connections_spread }, (_, i) => `set verb${i} `).every((line) => server.output().includes(line)),
    ))).toBe(true);
    const settings = await statsOf(server.port, "settings");
    expect(settings.get("verbosity")).toBe("2");
    for (const c of clients) c.close();
  }, test_ms_max);

  test("shutdown (-A) sent to a worker stops the whole process", async () => {
    const server = await startOurs(["-t", "4", "-A"]);
    started.push(server);
    const c = await RawClient.connect(server.port);
    c.send("shutdown\r\n");
    const code = await Promise.race([server.proc.exited, Bun.sleep(10_000).then(() => "timeout")]);
    expect(code).toBe(0);
    c.close();
  }, test_ms_max);

  test("SIGTERM stops every worker and the process exits 0", async () => {
    const server = await startOurs(["-t", "4"]);
    started.push(server);
    const c = await RawClient.connect(server.port);
    expect(await c.call("set k 0 0 1\r\nx\r\n")).toBe("STORED\r\n");
    expect(await server.stop("SIGTERM")).toBe(0);
    c.close();
  }, test_ms_max);

  test("the unix socket (-s) is served beside the workers' threads", async () => {
    const path = join(tmpdir(), `rcb-threads-${process.pid}-${Date.now()}.sock`);
    const port = await freePort();
    const server = await startOurs(["-t", "4", "-s", path], { port, wait: false });
    started.push(server);
    try {
      expect(await eventually(async () => {
        try {
          const c = await RawClient.connectUnix(path);
          c.close();
          return true;
        } catch {
          return false;
        }
      }, 10_000)).toBe(true);
      const c = await RawClient.connectUnix(path);
      expect(await c.call("set u 0 0 2\r\nok\r\n")).toBe("STORED\r\n");
      expect(await c.call("get u\r\n", "END\r\n")).toBe("VALUE u 0 2\r\nok\r\nEND\r\n");
      expect((await c.call("stats\r\n", "END\r\n")).includes("STAT threads 4\r\n")).toBe(true);
      expect(server.output()).toContain("WARNING: -t 4 with -s: a unix socket cannot be shared between threads");
      c.close();
    } finally {
      rmSync(path, { force: true });
    }
  }, test_ms_max);

  test("UDP (-U) is served by the main thread over the same store the TCP workers use", async () => {
    const udp_port = await freePort();
    const server = await startOurs(["-t", "4", "-U", String(udp_port)]);
    started.push(server);
    const tcp = await RawClient.connect(server.port);
    expect(await tcp.call("set viaTcp 0 0 3\r\nabc\r\n")).toBe("STORED\r\n");
    const socket = dgram.createSocket("udp4");
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no UDP reply")), 5_000);
        socket.on("message", (msg) => {
          clearTimeout(timer);
          resolve(msg.subarray(8).toString("latin1"));
        });
        const header = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0]);
        socket.send(Buffer.concat([header, Buffer.from("get viaTcp\r\n")]), udp_port, "127.0.0.1");
      });
      expect(reply).toBe("VALUE viaTcp 0 3\r\nabc\r\nEND\r\n");
    } finally {
      socket.close();
      tcp.close();
    }
  }, test_ms_max);

  test("-t above the cores is started as asked, with a warning", async () => {
    const threads = String(availableParallelism() + 1);
    const server = await startOurs(["-t", threads]);
    started.push(server);
    expect((await statsOf(server.port)).get("threads")).toBe(threads);
    expect((await statsOf(server.port, "settings")).get("num_threads")).toBe(threads);
    expect(server.output()).toContain(`WARNING: -t ${threads}: more worker threads than the ${availableParallelism()} cores here`);
  }, test_ms_max);
});
