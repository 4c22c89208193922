// memcached's UDP transport (-U), byte for byte against stock memcached 1.6.18.
//
// Both servers get the same raw datagrams (8-byte header + text commands) from one node:dgram socket;
// every reply datagram, header included, must be identical. memcached runs with -t 1: its UDP state
// lives per worker thread, and the two requests that leave state behind (an incomplete storage
// command, `quit`) are sent last, so a case never depends on which thread read an earlier one.
// Every wait is bounded: a reply that does not come within reply_wait_ms is a failure, not a hang.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { RawClient, startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { udpReplyBytesMax } from "../../src/server/udp.ts";

/** A reply that has not started after this long is missing. */
const reply_wait_ms = 2_000;
/** After the last datagram, this much silence ends a reply. */
const quiet_ms = 120;
/** Requests that must stay unanswered are watched this long. */
const silence_ms = 300;

interface Datagram {
  id: number;
  seq: number;
  total: number;
  reserved: number;
  payload: string;
  bytes: Buffer;
}

function frame(id: number, payload: string | Buffer, seq = 0, total = 1, reserved = 0): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(seq, 2);
  header.writeUInt16BE(total, 4);
  header.writeUInt16BE(reserved, 6);
  return Buffer.concat([header, typeof payload === "string" ? Buffer.from(payload, "latin1") : payload]);
}

function decode(bytes: Buffer): Datagram {
  return {
    id: bytes.readUInt16BE(0), seq: bytes.readUInt16BE(2), total: bytes.readUInt16BE(4),
    reserved: bytes.readUInt16BE(6), payload: bytes.subarray(8).toString("latin1"), bytes,
  };
}

/** One client socket; `request` sends a datagram and collects the reply datagrams. */
class UdpClient {
  private socket = dgram.createSocket("udp4");
  private received: Buffer[] = [];
  private wake: (() => void) | null = null;

  async open(): Promise<void> {
    this.socket.on("message", (message: Buffer) => {
      this.received.push(message);
      this.wake?.();
    });
    await new Promise<void>((resolve) => this.socket.bind(0, "127.0.0.1", () => resolve()));
  }

  private async waitMessage(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
  }

  /** Sends `data` to port; returns the datagrams that came until quiet_ms of silence (bounded). */
  async request(port: number, data: Buffer, opts: { silent?: boolean } = {}): Promise<Datagram[]> {
    this.received = [];
    this.socket.send(data, port, "127.0.0.1");
    const deadline = Date.now() + reply_wait_ms;
    if (opts.silent) {
      await Bun.sleep(silence_ms);
      return this.received.map(decode);
    }
    while (this.received.length === 0 && Date.now() < deadline) await this.waitMessage(deadline - Date.now());
    let seen = -1;
    while (this.received.length !== seen && Date.now() < deadline + reply_wait_ms) {
      seen = this.received.length;
      await this.waitMessage(quiet_ms);
    }
    return this.received.map(decode);
  }

  close(): void {
    this.socket.close();
  }
}

function show(datagrams: Datagram[]): string[] {
  return datagrams.map((d) => `${d.id} ${d.seq}/${d.total} r${d.reserved} ${JSON.stringify(d.payload)}`);
}

/** gets' cas differs by design (ours is a wall clock); the rest must match. */
function withoutCas(datagrams: Datagram[]): string[] {
  return show(datagrams).map((line) => line.replace(/(VALUE \S+ \d+ \d+) \d+/g, "$1 <cas>"));
}

let mc: Spawned;
let ours: Spawned;
let mc_udp = 0;
let our_udp = 0;
const client = new UdpClient();
let next_id = 1;

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Sends the same payload (same request id) to both; asserts identical reply datagrams; returns ours. */
async function same(payload: string | Buffer, opts: { silent?: boolean; header?: Buffer } = {}): Promise<Datagram[]> {
  const id = next_id++;
  const data = opts.header ? Buffer.concat([opts.header, Buffer.from(payload)]) : frame(id, payload);
  const theirs = await client.request(mc_udp, data, opts);
  const mine = await client.request(our_udp, data, opts);
  expect(show(mine)).toEqual(show(theirs));
  for (let i = 0; i < mine.length; i++) expect(mine[i]!.bytes.equals(theirs[i]!.bytes)).toBe(true);
  if (!opts.silent) expect(mine.length).toBeGreaterThan(0);
  return mine;
}

beforeAll(async () => {
  mc_udp = await freeUdpPort();
  our_udp = await freeUdpPort();
  mc = await startMemcached(["-U", String(mc_udp), "-t", "1"]);
  ours = await startOurs(["-U", String(our_udp)]);
  await client.open();
});

afterAll(async () => {
  client.close();
  await Promise.all([mc?.stop(), ours?.stop()]);
});

describe("UDP framing vs memcached 1.6.18", () => {
  test("set, get hit and miss, delete, incr/decr, touch, one datagram each", async () => {
    expect(show(await same("set u_a 5 0 3\r\nabc\r\n"))).toEqual([`${next_id - 1} 0/1 r0 "STORED\\r\\n"`]);
    await same("get u_a\r\n");
    await same("get u_missing\r\n");
    await same("set u_n 0 0 2\r\n10\r\nincr u_n 5\r\ndecr u_n 100\r\nincr u_n 18446744073709551615\r\n");
    await same("touch u_a 100\r\ndelete u_n\r\ndelete u_n\r\nincr u_none 1\r\n");
    await same("add u_a 0 0 1\r\nx\r\nreplace u_new 0 0 1\r\nx\r\nappend u_a 0 0 2\r\nde\r\nget u_a\r\n");
  });

  test("gets (cas masked: ours is a wall clock by design)", async () => {
    const id = next_id++;
    const data = frame(id, "gets u_a u_missing\r\n");
    const theirs = await client.request(mc_udp, data);
    const mine = await client.request(our_udp, data);
    expect(withoutCas(mine)).toEqual(withoutCas(theirs));
  });

  test("meta commands: one response each; an ms data block is stored, never run as a command", async () => {
    await same("ms u_meta 11 T0 k\r\nflush_all 0\r\nmg u_meta v s\r\nma u_cnt N0 J3 v\r\nmd u_cnt\r\nmg u_cnt v\r\n");
    await same("ms u_meta 2 Z\r\nxx\r\nmg u_meta k v\r\nmg u_meta s f\r\nmn\r\n"); // (not me: its la= ticks apart)
  });

  test("several commands in one datagram: one response (datagram) each, replies in order", async () => {
    const replies = await same("version\r\nset u_b 1 0 1\r\nb\r\nget u_b\r\nbogus\r\n\r\n");
    expect(replies.map((d) => d.payload)).toEqual([
      "VERSION 1.6.18\r\n", "STORED\r\n", "VALUE u_b 1 1\r\nb\r\nEND\r\n", "ERROR\r\n", "ERROR\r\n",
    ]);
    expect(replies.every((d) => d.seq === 0 && d.total === 1 && d.reserved === 0)).toBe(true);
  });

  test("a 5000-byte value: 4 datagrams of at most 1400 bytes, seq 0..3, total 4", async () => {
    const value = "v".repeat(4990) + "0123456789";
    await same(`set u_big 3 0 5000\r\n${value}\r\n`);
    const replies = await same("get u_big\r\n");
    // 20 + 5000 + 2 + 5 = 5027 reply bytes = 3 x 1392 + 851: three full datagrams and 8 + 851.
    const framing = replies.map((d) => [d.seq, d.total, d.bytes.length]);
    expect(framing).toEqual([[0, 4, 1400], [1, 4, 1400], [2, 4, 1400], [3, 4, 859]]);
    expect(replies.map((d) => d.payload).join("")).toBe(`VALUE u_big 3 5000\r\n${value}\r\nEND\r\n`);
  });

  test("1392 reply bytes fill one 1400-byte datagram, 1393 need two", async () => {
    // "VALUE u_exact 0 1363\r\n" (22) + 1363 + "\r\n" + "END\r\n" = 1392 = 1400 - 8.
    await same(`set u_exact 0 0 1363\r\n${"e".repeat(1363)}\r\n`);
    const one = await same("get u_exact\r\n");
    expect(one.map((d) => [d.seq, d.total, d.bytes.length])).toEqual([[0, 1, 1400]]);
    await same(`set u_exact 0 0 1364\r\n${"e".repeat(1364)}\r\n`);
    const two = await same("get u_exact\r\n");
    expect(two.map((d) => [d.seq, d.total, d.bytes.length])).toEqual([[0, 2, 1400], [1, 2, 9]]);
  });

  test("a multi-get spanning several datagrams: one response per key, each numbered from 0", async () => {
    await same(`set u_m1 0 0 3000\r\n${"1".repeat(3000)}\r\nset u_m2 0 0 3000\r\n${"2".repeat(3000)}\r\n`);
    await same("set u_m3 0 0 2\r\n33\r\n");
    const replies = await same("get u_m1 u_nope u_m2 u_m3 u_nope2\r\n");
    expect(replies.map((d) => `${d.seq}/${d.total}`)).toEqual(["0/3", "1/3", "2/3", "0/3", "1/3", "2/3", "0/1", "0/1"]);
    expect(replies.at(-1)!.payload).toBe("END\r\n");
  });

  test("empty responses: a missed key heading the queue goes out as a bare header (total 0)", async () => {
    const head_miss = await same("get u_nope u_a\r\n");
    expect(head_miss[0]!.bytes.length).toBe(8);
    expect(head_miss[0]!.total).toBe(0);
    await same("get u_nope u_nope\r\n");
    await same("get u_a u_nope u_b u_nope\r\n");
    await same("set u_q 0 0 1 noreply\r\nq\r\nget u_nope u_a\r\n");
    await same("get u_a\r\nget u_nope u_a\r\n");
    await same("mn\r\nget u_nope u_a\r\n");
    await same("version\r\nget u_nope u_a\r\n");
    await same(`get ${Array.from({ length: 30 }, (_, i) => (i === 25 ? "u_a" : `u_x${i}`)).join(" ")}\r\n`);
  });

  test("-R batches: after 21 requests (then 20) memcached flushes what it holds", async () => {
    for (const n of [5, 20, 21, 22, 41, 42, 43]) await same("version\r\n".repeat(n) + "get u_nope u_a\r\n");
  });

  test("noreply responses are never sent", async () => {
    await same("set u_nr 0 0 1 noreply\r\nx\r\nverbosity 1 noreply\r\nflush_all 0 noreply\r\n", { silent: true });
    await same("delete u_nothing noreply\r\nversion\r\nget u_nope u_a\r\n");
  });

  test("errors: unknown command, bad data chunk, bad line, exptime, overlong get key", async () => {
    await same("bogus\r\n");
    await same("set u_c 0 0 3\r\nabcde\r\n");
    await same("set u_c 0 0 abc\r\n");
    await same("gat x u_a\r\n");
    await same("delete u_a 5\r\n");
    await same("shutdown\r\n");
    // An overlong key drops every response not yet sent (even other commands') and answers alone.
    const alone = await same(`version\r\nget u_a ${"k".repeat(251)} u_b\r\nversion\r\n`);
    expect(alone.map((d) => d.payload)).toEqual(["CLIENT_ERROR bad command line format\r\n", "VERSION 1.6.18\r\n"]);
  });

  test("header: request id echoed, sequence and reserved ignored, total must be 1", async () => {
    await same("get u_a\r\n", { header: frame(65535, "") });
    await same("get u_a\r\n", { header: frame(7, "", 5, 1, 9) });
    await same("get u_a\r\n", { header: frame(9, "", 0, 0), silent: true });
    await same("get u_a\r\n", { header: frame(10, "", 0, 2), silent: true });
    await same("get u_a\r\n", { header: frame(11, "", 0, 256 + 1), silent: true });
  });

  test("malformed datagrams (8 bytes or fewer) are dropped, 9 bytes are served", async () => {
    for (const size of [0, 1, 5, 8]) {
      const data = frame(12, "").subarray(0, size);
      expect(await client.request(mc_udp, data, { silent: true })).toEqual([]);
      expect(await client.request(our_udp, data, { silent: true })).toEqual([]);
    }
    await same("\n");
  });

  test("a line without its newline: replies so far are flushed, the partial line is not answered", async () => {
    await same("get u_a", { silent: true });
    await same("version\r\nget u_a");
    await same("get u_a\r\nversion");
  });

  test("an HTTP request line ends the datagram and drops what was not sent", async () => {
    await same("version\r\nGET / HTTP/1.1\r\nversion\r\n", { silent: true });
    await same("get u_a\r\nGET / HTTP/1.1\r\nversion\r\n");
  });

  test("stats over UDP: same framing (1400-byte datagrams, seq/total), same first line", async () => {
    const id = next_id++;
    const data = frame(id, "stats\r\n");
    for (const port of [mc_udp, our_udp]) {
      const replies = await client.request(port, data);
      expect(replies.length).toBeGreaterThan(1);
      replies.forEach((d, i) => {
        expect([d.id, d.seq, d.total, d.reserved]).toEqual([id, i, replies.length, 0]);
        if (i < replies.length - 1) expect(d.bytes.length).toBe(1400);
      });
      const text = replies.map((d) => d.payload).join("");
      expect(text).toMatch(/^STAT pid \d+\r\n/);
      expect(text.endsWith("END\r\n")).toBe(true);
    }
  });
});

describe("UDP and TCP share the store and the stats", () => {
  test("TCP set, UDP get; UDP set, TCP get", async () => {
    for (const [tcp_port, udp_port] of [[mc.port, mc_udp], [ours.port, our_udp]] as const) {
      const tcp = await RawClient.connect(tcp_port);
      expect(await tcp.call("set x_tcp 9 0 4\r\nfrom\r\n")).toBe("STORED\r\n");
      const got = await client.request(udp_port, frame(40, "get x_tcp\r\n"));
      expect(got.map((d) => d.payload)).toEqual(["VALUE x_tcp 9 4\r\nfrom\r\nEND\r\n"]);
      await client.request(udp_port, frame(41, "set x_udp 1 0 3\r\nudp\r\n"));
      expect(await tcp.call("get x_udp\r\n", "END\r\n")).toBe("VALUE x_udp 1 3\r\nudp\r\nEND\r\n");
      tcp.close();
    }
  });

  test("UDP commands count in stats like TCP ones (same deltas as memcached)", async () => {
    const names = ["cmd_get", "cmd_set", "get_hits", "get_misses", "cmd_touch", "delete_hits", "incr_misses"];
    const deltas: Array<Record<string, number>> = [];
    for (const [tcp_port, udp_port] of [[mc.port, mc_udp], [ours.port, our_udp]] as const) {
      const tcp = await RawClient.connect(tcp_port);
      const before = statsOf(await tcp.call("stats\r\n", "END\r\n"));
      await client.request(udp_port, frame(42, "set s_a 0 0 1\r\na\r\nget s_a s_none\r\ntouch s_a 10\r\n"));
      await client.request(udp_port, frame(43, "delete s_a\r\nincr s_none 1\r\n"));
      const after = statsOf(await tcp.call("stats\r\n", "END\r\n"));
      deltas.push(Object.fromEntries(names.map((name) => [name, after.get(name)! - before.get(name)!])));
      tcp.close();
    }
    expect(deltas[1]).toEqual(deltas[0]!);
    expect(deltas[1]!.cmd_set).toBe(1);
  });
});

function statsOf(text: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const match of text.matchAll(/STAT (\S+) (\d+)\r\n/g)) stats.set(match[1]!, Number(match[2]));
  return stats;
}

describe("UDP bounds (ours)", () => {
  const reply_bytes_max = udpReplyBytesMax(1024 * 1024);
  test(`a request whose replies pass udpReplyBytesMax (${reply_bytes_max} bytes at -I 1m) is dropped`, async () => {
    const value_bytes = 900 * 1024;
    const value = "z".repeat(value_bytes);
    const tcp = await RawClient.connect(ours.port);
    const keys = ["b_1", "b_2", "b_3", "b_4", "b_5"];
    for (const key of keys) {
      expect(await tcp.call(`set ${key} 0 0 ${value_bytes}\r\n${value}\r\n`, "\r\n", 10_000)).toBe("STORED\r\n");
    }
    expect(keys.length * value_bytes).toBeGreaterThan(reply_bytes_max);
    expect(await client.request(our_udp, frame(50, `get ${keys.join(" ")}\r\n`), { silent: true })).toEqual([]);
    // ... and the server goes on serving.
    const version = await client.request(our_udp, frame(51, "version\r\n"));
    expect(version.map((d) => d.payload)).toEqual(["VERSION 1.6.18\r\n"]);
    expect(await tcp.call("delete b_1\r\n")).toBe("DELETED\r\n");
    tcp.close();
  });
});

// These two leave memcached's (single) UDP connection in a state later requests would see: an
// incomplete storage command makes it read the *next* datagram as value bytes, and after `quit`
// its close_after_write flag stays set, ending every later datagram at its first flush. Ours keeps
// no state between datagrams; both answer these requests themselves identically.
describe("UDP requests that end in memcached-side state (last)", () => {
  test("a storage command without its whole data block is not answered, nor what preceded it", async () => {
    await same("version\r\nset u_inc 0 0 10\r\nabc", { silent: true });
  });

  test("quit: replies so far, then a bare header with total 0; the rest is not executed", async () => {
    // The incomplete set above still waits for its 9 missing bytes in memcached: one throwaway
    // datagram completes it (as a bad data chunk), so its connection reads commands again.
    await client.request(mc_udp, frame(60, "\r\n".repeat(16)), { silent: true });
    await same("get u_a\r\nquit\r\nget u_a\r\n");
  });
});
