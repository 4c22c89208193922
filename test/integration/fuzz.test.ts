// Seeded, bounded fuzzing of a real server over TCP on 127.0.0.1: the text protocol on the client
// port, and hostile handshake lines and garbage on the replication port (-X, with a secret).
//
// Each request is drawn from a mulberry32 stream (FUZZ_SEED, default 1103): valid and invalid
// commands, random splits across writes, binary garbage, huge lengths, overlong keys and lines,
// half-sent commands, noreply floods, meta commands with random flags; and binary frames
// (test/helpers/binary_fuzz.ts). After every batch: the process is alive, printed no
// 'error:'/'panic', answers `version` within version_deadline_ms, and its RSS is under
// rss_bytes_max. At the end a key written first (never named by the generator) is intact.
//
//   FUZZ_REQUESTS=100000 npx bun test test/integration/fuzz.test.ts   (10^5 requests; default 3000)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, RawClient, type Spawned, startOurs } from "../helpers/procs.ts";
import { Prng } from "../helpers/prng.ts";
import { MiB, rssBytes } from "../helpers/rss.ts";
import { binary_opening, binaryRequest } from "../helpers/binary_fuzz.ts";

const requests_total = Number(process.env.FUZZ_REQUESTS ?? 3000);
const seed = Number(process.env.FUZZ_SEED ?? 1103);
const batch_requests = 100;
const connections_max = 8;
const version_deadline_ms = 5_000;
/** -m 64 reserves the arena up front; the rest is the runtime, buffers and stashes of 8 clients. */
const rss_bytes_max = 400 * MiB;
const known_key = "fuzz:known";
const known_value = "the-known-value-" + "x".repeat(200);
const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
const test_ms_max = Math.max(60_000, requests_total * 5);

type Request = Uint8Array;
const text = (s: string): Request => Buffer.from(s, "latin1");

function key(rng: Prng): string {
  if (rng.chance(0.03)) return "o".repeat(rng.int(251, 400)); // overlong
  if (rng.chance(0.03)) return "";
  return rng.pick(keys);
}

function storage(rng: Prng): Request {
  const verb = rng.pick(["set", "add", "replace", "append", "prepend", "cas"]);
  const real = rng.int(0, rng.chance(0.1) ? 70_000 : 64);
  const declared = rng.chance(0.9) ? real : rng.pick([real + 1, Math.max(0, real - 1), -1, 4294967295, 2_000_000_000]);
  const cas = verb === "cas" ? ` ${rng.int(0, 1 << 30)}` : "";
  const noreply = rng.chance(0.2) ? " noreply" : "";
  const flags = rng.pick(["0", "1", "4294967295", "-1", "x"]);
  const exptime = rng.pick(["0", "100", "-1", "99999999999"]);
  const head = `${verb} ${key(rng)} ${flags} ${exptime} ${declared}${cas}${noreply}\r\n`;
  return Buffer.concat([text(head), Buffer.alloc(real, 0x61 + rng.int(0, 25)), text(rng.chance(0.95) ? "\r\n" : "xx")]);
}

function retrieval(rng: Prng): Request {
  const verb = rng.pick(["get", "gets", "gat 10", "gats 0", "gat x", "bget"]);
  const n = rng.chance(0.05) ? rng.int(100, 2000) : rng.int(0, 5);
  const names = Array.from({ length: n }, () => key(rng)).join(" ");
  return text(`${verb} ${names}\r\n`);
}

function other(rng: Prng): Request {
  const k = key(rng);
  return text(rng.pick([
    `incr ${k} ${rng.int(0, 100)}\r\n`, `decr ${k} 18446744073709551615\r\n`, `incr ${k} -1\r\n`,
    `delete ${k}\r\n`, `delete ${k} 0 noreply\r\n`, `delete ${k} 5\r\n`, `touch ${k} 10\r\n`, `touch ${k} x\r\n`,
    `mg ${k} v f t c k s\r\n`, `mg ${k} v v\r\n`, `mg ${k} z\r\n`, "mn\r\n", "version\r\n", "verbosity 0\r\n",
    "stats\r\n", "stats items\r\n", "stats slabs\r\n", "stats nonsense\r\n", "shutdown\r\n", "\r\n", "  \r\n",
    "GET / HTTP/1.1\r\n", `${"a ".repeat(30)}\r\n`, "slabs reassign 1 2\r\n", "rep k0 0 0 1 1\r\nz\r\n",
    "marugoto_end\r\n", "rcb1_tomb k1 5\r\n", "rcb1_fetch 1 k1\r\n", "quit\r\n",
  ]));
}

const meta_flags = [
  "v", "f", "t", "c", "k", "s", "h", "l", "q", "u", "b", "I", "O1", "O" + "9".repeat(40), "N30", "N-1", "Nx", "T0",
  "T100", "T-1", "R30", "C1", "C0", "Cx", "F7", "F4294967296", "MS", "ME", "MA", "MP", "MR", "MI", "MD", "M+", "Mz",
  "MEE", "J5", "D3", "D-1", "E5", "x", "P", "L", "\x80",
];

/**
 * Meta commands with random flags; an ms's data may hold harmless command lines (`mn`, `version`).
 * (Never a destructive one: after another request's wrong length desynchronizes a connection, its
 * bytes are commands — in memcached too. ms data that must stay data: meta.test.ts.)
 */
function meta(rng: Prng): Request {
  const verb = rng.pick(["mg", "ms", "md", "ma", "me", "mn", "mg", "ms"]);
  const k = rng.chance(0.1) ? rng.pick(["YQ==", "a2V5", "!!", "YQ", "===="]) : key(rng);
  const flags = Array.from({ length: rng.chance(0.05) ? rng.int(18, 30) : rng.int(0, 6) }, () => rng.pick(meta_flags)).join(" ");
  if (verb !== "ms") return text(`${verb} ${k} ${flags}\r\n`);
  const value = rng.chance(0.3) ? "mn\r\nversion" : "v".repeat(rng.int(0, rng.chance(0.1) ? 70_000 : 64));
  if (rng.chance(0.1)) return text(`ms ${k} ${rng.pick(["x", "-1", "", "2147483646"])} ${flags}\r\n`);
  const declared = rng.chance(0.9) ? value.length : value.length + rng.pick([1, 2]);
  return text(`ms ${k} ${declared} ${flags}\r\n${value}\r\n`);
}

function garbage(rng: Prng): Request {
  const bytes = new Uint8Array(rng.int(1, rng.chance(0.1) ? 5000 : 200));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
  if (rng.chance(0.5)) bytes[bytes.length - 1] = 10;
  return bytes;
}

function noreplyFlood(rng: Prng): Request {
  const k = rng.pick(keys);
  return text(`set ${k} 0 0 1 noreply\r\nv\r\n`.repeat(rng.int(100, 1000)));
}

function request(rng: Prng): Request {
  const make = rng.weighted<(r: Prng) => Request>([
    [storage, 30], [retrieval, 25], [other, 25], [meta, 20], [garbage, 10], [noreplyFlood, 2],
    [(r) => text("x".repeat(r.int(2049, 70_000))), 1], // a line too long (closes), or a long get line
    [(r) => text("get " + "k1 ".repeat(r.int(700, 23_000))), 1],
  ]);
  return make(rng);
}

/** A fuzzing connection: reads and drops every reply; `closed` once either side closed it (or the
 *  connect was refused). */
class FuzzConnection {
  closed = false;
  private socket: Awaited<ReturnType<typeof Bun.connect<undefined>>> | null = null;

  static async open(port: number): Promise<FuzzConnection> {
    const c = new FuzzConnection();
    const gone = () => void (c.closed = true);
    try {
      c.socket = await Bun.connect({
        hostname: "127.0.0.1", port,
        socket: { data: () => {}, close: gone, error: gone, end: gone, drain: () => {} },
      });
    } catch {
      c.closed = true; // reset at once (the replication port drops a connection it will not pair with)
    }
    return c;
  }

  /** Sends `bytes` in `pieces` writes (a short pause between some); stops at the first short write. */
  async send(bytes: Uint8Array, rng: Prng): Promise<void> {
    let at = 0;
    const pieces = rng.chance(0.3) ? rng.int(2, 6) : 1;
    for (let p = 0; p < pieces && at < bytes.length && !this.closed; p++) {
      const end = p === pieces - 1 ? bytes.length : rng.int(at, bytes.length);
      const written = this.socket!.write(bytes.subarray(at, end));
      if (written < end - at) return; // the server is not reading this one: leave it
      at = end;
      if (pieces > 1 && rng.chance(0.5)) await Bun.sleep(1);
    }
  }

  close(): void {
    this.closed = true;
    this.socket?.terminate();
  }
}

async function versionWithin(port: number, ms: number): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    return await c.call("version\r\n", "\r\n", ms);
  } finally {
    c.close();
  }
}

async function getKnown(port: number): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    return await c.call(`get ${known_key}\r\n`, "END\r\n", version_deadline_ms);
  } finally {
    c.close();
  }
}

function checkHealthy(node: Spawned): void {
  expect(node.proc.exitCode).toBeNull();
  expect(node.output()).not.toMatch(/error:|panic/i);
  expect(rssBytes(node.proc.pid)).toBeLessThanOrEqual(rss_bytes_max);
}

/** Runs `total` requests in batches over up to connections_max connections; checks after each batch. */
async function fuzzClientPort(
  node: Spawned, rng: Prng, total: number, make: (rng: Prng) => Request = request, opening: Request | null = null,
): Promise<void> {
  const conns: FuzzConnection[] = [];
  for (let done = 0; done < total; done += batch_requests) {
    for (let i = 0; i < batch_requests && done + i < total; i++) {
      const slot = rng.int(0, connections_max - 1);
      if (conns[slot] === undefined || conns[slot]!.closed) {
        conns[slot] = await FuzzConnection.open(node.port);
        if (opening !== null) await conns[slot]!.send(opening, rng);
      }
      const conn = conns[slot]!;
      const bytes = make(rng);
      if (rng.chance(0.02)) {
        await conn.send(bytes.subarray(0, rng.int(0, bytes.length)), rng); // half-sent, then gone
        conn.close();
      } else {
        await conn.send(bytes, rng);
      }
    }
    expect(await versionWithin(node.port, version_deadline_ms)).toStartWith("VERSION ");
    checkHealthy(node);
    if (rng.chance(0.2)) for (const c of conns.splice(0)) c.close(); // let swallowing connections go
  }
  for (const c of conns) c.close();
}

const hostile_lines = [
  "END\r\n", "get rcb1:hello:0123456789abcdef:0123456789abcdef\r\n", "get rcb1:hello:zz:zz\r\n",
  `get rcb1:auth:${"0".repeat(64)}\r\n`, "get rcb1:auth:-\r\n", "VALUE rcb1:hello 0 5\r\nabcde\r\nEND\r\n",
  `rep ${known_key} 0 0 5 99999999999\r\nEVIL!\r\n`, `rcb1_tomb ${known_key} 18446744073709551615\r\n`,
  "rcb1_flush_before 18446744073709551615\r\n", `delete ${known_key}\r\n`, "flush_all\r\n", "marugoto_end\r\n",
  `rcb1_fetch 1 ${known_key}\r\n`, "rcb1_fetched 1\r\n", `get rcb1:hello:${"f".repeat(3000)}\r\n`,
];

/** Hostile lines and garbage on the replication port; a connection the node closes is opened again.
 *  Returns how many connections it took. */
async function fuzzReplicationPort(node: Spawned, repl_port: number, rng: Prng, total: number): Promise<number> {
  let opened = 0;
  for (let done = 0; done < total; done += batch_requests) {
    let conn: FuzzConnection | null = null;
    for (let i = 0; i < batch_requests && done + i < total; i++) {
      if (conn === null || conn.closed || rng.chance(0.1)) {
        conn?.close();
        conn = await FuzzConnection.open(repl_port);
        opened++;
      }
      const bytes = rng.chance(0.6) ? text(rng.pick(hostile_lines)) : rng.chance(0.5) ? garbage(rng) : request(rng);
      await conn.send(bytes, rng);
    }
    conn?.close();
    expect(await versionWithin(node.port, version_deadline_ms)).toStartWith("VERSION ");
    checkHealthy(node);
  }
  return opened;
}

describe(`fuzz (seed ${seed}, ${requests_total} requests per port)`, () => {
  let node: Spawned;
  let repl_port: number;

  beforeAll(async () => {
    repl_port = await freePort();
    node = await startOurs(["-m", "64", "-X", String(repl_port), "--replication-secret", "5d41402abc4b2a76b9719d911017c592"]);
    const c = await RawClient.connect(node.port);
    expect(await c.call(`set ${known_key} 7 0 ${known_value.length}\r\n${known_value}\r\n`)).toBe("STORED\r\n");
    c.close();
  });

  afterAll(async () => {
    await node?.stop("SIGKILL");
  });

  test("the client port survives, answers, stays bounded; the known key is intact", async () => {
    const started = Date.now();
    await fuzzClientPort(node, new Prng(seed), requests_total);
    expect(await getKnown(node.port)).toBe(`VALUE ${known_key} 7 ${known_value.length}\r\n${known_value}\r\nEND\r\n`);
    console.log(`fuzz client port: seed ${seed}, ${requests_total} requests, ${Date.now() - started} ms, RSS ${Math.round(rssBytes(node.proc.pid) / MiB)} MiB`);
  }, test_ms_max);

  test("binary frames on the client port: it survives, answers, stays bounded; the known key is intact", async () => {
    const started = Date.now();
    await fuzzClientPort(node, new Prng(seed + 2), requests_total, binaryRequest, binary_opening);
    expect(await getKnown(node.port)).toBe(`VALUE ${known_key} 7 ${known_value.length}\r\n${known_value}\r\nEND\r\n`);
    console.log(`fuzz binary frames: seed ${seed + 2}, ${requests_total} requests, ${Date.now() - started} ms, RSS ${Math.round(rssBytes(node.proc.pid) / MiB)} MiB`);
  }, test_ms_max);

  test("the replication port survives hostile handshakes and garbage; the known key is intact", async () => {
    const started = Date.now();
    const opened = await fuzzReplicationPort(node, repl_port, new Prng(seed + 1), requests_total);
    expect(await getKnown(node.port)).toBe(`VALUE ${known_key} 7 ${known_value.length}\r\n${known_value}\r\nEND\r\n`);
    console.log(`fuzz replication port: seed ${seed + 1}, ${requests_total} requests on ${opened} connections, ${Date.now() - started} ms`);
  }, test_ms_max);
});
