// Replication from a `-t 4` node: every worker's writes reach the one link (the shared journal,
// replication/thread_sink.ts), a joining node gets the full copy while the workers keep writing,
// and deletes made on any worker stay deleted on the peer.
import { afterEach, expect, test } from "bun:test";
import { freePort, RawClient, startClassic, startOurs, type Spawned } from "../helpers/procs.ts";
import { BinaryClient, Op, parseFrames } from "../helpers/binary.ts";
import { allSynced, CacheClient, eventually, replicationState } from "../helpers/cache_client.ts";

/** Each test (and hook) may take this long: several processes and threads start on a shared 2-core machine. */
const test_ms_max = 30_000;
const started: Spawned[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.stop("SIGKILL");
}, test_ms_max);

/** Client connections per node: enough that every one of 4 workers serves some. */
const clients_per_node = 12;
const keys_per_client = 200;
/** Rounds of writes racing a flush_all, each 12 connections × flush_keys sets of fresh keys. */
const flush_rounds = 5;
const flush_keys = 500;
/** Write rounds while a node joins (each ~2,400 sets and 480 deletes over 12 connections). */
const rounds_max = 40;

async function node(args: string[], opts: { wait?: boolean } = {}): Promise<Spawned> {
  const server = await startOurs(["-v", ...args], opts);
  started.push(server);
  return server;
}

async function synced(...ports: number[]): Promise<boolean> {
  return await allSynced(ports, 15_000);
}

async function clients(port: number): Promise<RawClient[]> {
  const made: RawClient[] = [];
  for (let i = 0; i < clients_per_node; i++) made.push(await RawClient.connect(port));
  return made;
}

/** Every client writes its keys (pipelined), then deletes every fifth; resolves when all replies are in. */
async function writeAll(conns: RawClient[], tag: string): Promise<void> {
  await Promise.all(conns.map(async (c, ci) => {
    let request = "";
    let replies = "";
    for (let k = 0; k < keys_per_client; k++) {
      const value = `${tag}-${ci}-${k}`;
      request += `set ${tag}:${ci}:${k} ${k} 0 ${value.length}\r\n${value}\r\n`;
      replies += "STORED\r\n";
    }
    for (let k = 0; k < keys_per_client; k += 5) {
      request += `delete ${tag}:${ci}:${k}\r\n`;
      replies += "DELETED\r\n";
    }
    expect(await c.call(request, replies.slice(-9), 20_000)).toBe(replies);
  }));
}

/** The peer holds exactly what writeAll left: every key but each fifth, with its value and flags. */
async function holdsAll(port: number, tag: string): Promise<boolean> {
  const c = await CacheClient.connect(port);
  try {
    for (let ci = 0; ci < clients_per_node; ci++) {
      const keys = Array.from({ length: keys_per_client }, (_, k) => `${tag}:${ci}:${k}`);
      const got = await c.gets(keys);
      for (let k = 0; k < keys_per_client; k++) {
        const item = got.get(`${tag}:${ci}:${k}`);
        if (k % 5 === 0 ? item !== undefined : item?.value !== `${tag}-${ci}-${k}` || item.flags !== k) return false;
      }
    }
    return true;
  } finally {
    c.close();
  }
}

test("two -t 4 nodes: writes and deletes on every worker of either node reach the other", async () => {
  const rport = await freePort();
  const a = await node(["-t", "4", "-X", String(rport)]);
  const b = await node(["-t", "4", "-x", "127.0.0.1", "-X", String(rport)]);
  expect(await synced(a.port, b.port)).toBe(true);
  const on_a = await clients(a.port);
  const on_b = await clients(b.port);
  await Promise.all([writeAll(on_a, "fromA"), writeAll(on_b, "fromB")]);
  expect(await eventually(() => holdsAll(b.port, "fromA"), 15_000, 100)).toBe(true);
  expect(await eventually(() => holdsAll(a.port, "fromB"), 15_000, 100)).toBe(true);
  for (const c of [...on_a, ...on_b]) c.close();
}, test_ms_max);

test("a node joining a -t 4 node gets the full copy while every worker keeps writing", async () => {
  const rport = await freePort();
  const a = await node(["-t", "4", "-X", String(rport)]);
  const on_a = await clients(a.port);
  await writeAll(on_a, "before");
  const joining = node(["-t", "4", "-x", "127.0.0.1", "-X", String(rport)], { wait: false });
  // Rounds of writes on every worker until the joiner has paired and synced, then one more:
  // some land before its copy, some during, some after (journal).
  const tags: string[] = [];
  let b: Spawned | null = null;
  void joining.then((made) => { b = made; });
  for (let round = 0; round < rounds_max; round++) {
    const tag = `during${round}`;
    tags.push(tag);
    await writeAll(on_a, tag);
    const joined: Spawned | null = b;
    if (joined !== null && (await replicationState((joined as Spawned).port).catch(() => "")) === "synced") break;
  }
  const joined = await joining;
  await writeAll(on_a, "after");
  tags.push("after");
  expect(await eventually(async () => (await replicationState(joined.port).catch(() => "")) === "synced", 15_000, 50)).toBe(true);
  for (const tag of ["before", ...tags]) expect(await eventually(() => holdsAll(joined.port, tag), 15_000, 100)).toBe(true);
  for (const c of on_a) c.close();
}, test_ms_max);

test("SIGTERM on a -t 4 node right after its workers acknowledged writes: the peer has every one", async () => {
  const rport = await freePort();
  const a = await node(["-t", "4", "-X", String(rport)]);
  const b = await node(["-x", "127.0.0.1", "-X", String(rport)]);
  expect(await synced(a.port, b.port)).toBe(true);
  const on_a = await clients(a.port);
  await writeAll(on_a, "last");
  expect(await a.stop("SIGTERM")).toBe(0); // the workers stop, then the journal drains to the peer
  expect(a.output()).toContain("replication: cleanup complete");
  expect(await holdsAll(b.port, "last")).toBe(true);
  for (const c of on_a) c.close();
}, test_ms_max);

test("-t 4 beside a classic repcached: flush_all on one worker while the others write leaves both nodes identical", async () => {
  const rport = await freePort();
  const a = await node(["-t", "4", "-X", String(rport)]);
  const classic = await startClassic(["-v", "-x", "127.0.0.1", "-X", String(rport)], { wait: false });
  started.push(classic);
  expect(await eventually(async () => classic.output().includes("replication: start"), 10_000)).toBe(true);
  const writers = await clients(a.port);
  const flusher = await RawClient.connect(a.port);
  // Every key is written once, so its one write is its last: one the flush passed but whose
  // journal entry went ahead of the flush's would be on A and not on the classic node.
  const keysOf = (round: number, ci: number) => Array.from({ length: flush_keys }, (_, k) => `f:${round}:${ci}:${k}`);
  for (let round = 0; round < flush_rounds; round++) {
    const writing = writers.map(async (c, ci) => {
      const request = keysOf(round, ci).map((key) => `set ${key} 0 0 1 noreply\r\nx\r\n`).join("");
      expect(await c.call(request + "mn\r\n", "MN\r\n", 10_000)).toBe("MN\r\n");
    });
    await Bun.sleep(round % 3); // the flush lands at a different point of the writes each round
    expect(await flusher.call("flush_all\r\n")).toBe("OK\r\n");
    await Promise.all(writing);
  }
  const on_a = await CacheClient.connect(a.port);
  const on_classic = await CacheClient.connect(classic.port);
  for (let round = 0; round < flush_rounds; round++) {
    const keys = writers.flatMap((_, ci) => keysOf(round, ci));
    const same = await eventually(async () => {
      const [x, y] = [await on_a.gets(keys), await on_classic.gets(keys)];
      return x.size === y.size && [...x.keys()].every((key) => y.has(key));
    }, 10_000, 100);
    expect({ round, same }).toEqual({ round, same: true });
  }
  for (const c of [...writers, flusher]) c.close();
  on_a.close();
  on_classic.close();
}, test_ms_max);

test("a binary client's stat on a -t 4 worker carries the main thread's replication lines", async () => {
  const rport = await freePort();
  const a = await node(["-t", "4", "-X", String(rport)]);
  const b = await node(["-x", "127.0.0.1", "-X", String(rport)]);
  expect(await synced(a.port, b.port)).toBe(true);
  // Several connections, so some land on workers; each asks for the replication group.
  for (let i = 0; i < 8; i++) {
    const bin = await BinaryClient.connect(a.port);
    bin.send({ opcode: Op.STAT, key: Buffer.from("replication") });
    const bytes = await bin.raw.readUntil((got) => parseFrames(got).frames.some((f) => f.key.length === 0));
    const stats = new Map(parseFrames(bytes).frames.filter((f) => f.key.length > 0)
      .map((f) => [f.key.toString("latin1"), f.value.toString("latin1")]));
    expect(stats.get("state")).toBe("synced");
    bin.close();
  }
}, test_ms_max);
