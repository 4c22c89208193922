// Compatibility of our replication link with a classic repcached 2.2.1 peer, byte for byte.
// The peer is scripted: a plain TCP socket in the test that sends and expects exactly the bytes
// of /work/shared/spec/repcached-replication.md (sections 1-5 and the captures in section 9).
//
// Role 1: our node listens (-X L), the fake connects as `repcached -x` does and sends nothing first.
// Role 2: our node connects (-x 127.0.0.1 -X <fake port>), the fake is a classic listener.
//
// Where we differ from repcached on purpose (and pin it here):
// - order: repcached sent each drained batch in reverse; we send in the order the changes happened;
// - touch (not in 1.2.8) replicates as a `rep` carrying the new absolute exptime;
// - --replication-secret refuses classic peers altogether (no dump, no applied writes).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createSocket } from "node:dgram";
import { freePort, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";
import { eventually, FakeListener, FakePeer, nowS, portAccepts, splitMessages } from "../helpers/fake_peer.ts";

setDefaultTimeout(30_000);

const two32 = 4294967296;
/** repcached 1.2.8 prints flags through %d: 4294967295 travels as -1. */
function signedFlags(flags: number): number {
  return flags >= 2147483648 ? flags - two32 : flags;
}

interface Item {
  flags: number;
  value: string;
  cas: string;
}

/** `gets key` on our node: null when absent. */
async function itemOf(c: RawClient, key: string): Promise<Item | null> {
  const text = await c.call(`gets ${key}\r\n`, "END\r\n");
  if (text === "END\r\n") return null;
  const match = /^VALUE (\S+) (\d+) (\d+) (\d+)\r\n/.exec(text);
  if (!match || match[1] !== key) throw new Error(`unexpected gets reply ${JSON.stringify(text)}`);
  const len = Number(match[3]);
  const value = text.slice(match[0].length, match[0].length + len);
  expect(text.slice(match[0].length + len)).toBe("\r\nEND\r\n");
  return { flags: Number(match[2]), value, cas: match[4]! };
}

async function casOf(c: RawClient, key: string): Promise<string> {
  const item = await itemOf(c, key);
  if (item === null) throw new Error(`${key} is not on our node`);
  return item.cas;
}

/** The exptime field of a `rep` message (checked against `near` within ±tolerance seconds). */
function repExptime(message: string, near: number, tolerance = 2): number {
  const exptime = Number(message.split("\r\n")[0]!.split(" ")[3]);
  expect(Math.abs(exptime - near)).toBeLessThanOrEqual(tolerance);
  return exptime;
}

/**
 * The exact `rep` our node must send for `key`: flags and value as given, cas as `gets` shows it
 * on our node, exptime 0 or (when `near` is given) the absolute time found in `message` if it is
 * within 2 s of `near`.
 */
async function expectedRep(c: RawClient, key: string, flags: number, value: string, near: number | null, message: string): Promise<string> {
  const item = await itemOf(c, key);
  expect(item).not.toBeNull();
  expect(item!.value).toBe(value);
  expect(item!.flags).toBe(flags);
  expect(Number(item!.cas)).toBeGreaterThan(0);
  const exptime = near === null ? 0 : repExptime(message, near);
  return `rep ${key} ${signedFlags(flags)} ${exptime} ${Buffer.byteLength(value, "latin1")} ${item!.cas}\r\n${value}\r\n`;
}

/** Sends a client request, checks the reply, then reads exactly one message on the fake peer. */
async function opThenOneMessage(c: RawClient, peer: FakePeer, request: string, reply: string): Promise<string> {
  expect(await c.call(request)).toBe(reply);
  const text = await peer.readMessages(1);
  const { messages, rest } = splitMessages(text);
  expect(rest).toBe("");
  expect(messages.length).toBe(1);
  return messages[0]!;
}

/** A client request that must replicate nothing: afterwards a sentinel set must be the next message. */
let sentinel_n = 0;
async function expectNothingFor(c: RawClient, peer: FakePeer, request: string, reply: string): Promise<void> {
  expect(await c.call(request)).toBe(reply);
  const key = `sentinel${sentinel_n++}`;
  const message = await opThenOneMessage(c, peer, `set ${key} 0 0 1\r\nS\r\n`, "STORED\r\n");
  expect(message).toBe(await expectedRep(c, key, 0, "S", null, message));
}

async function waitForLog(node: Spawned, line: string, ms = 5_000): Promise<boolean> {
  return await eventually(() => node.output().includes(line), ms);
}

/** What a classic receiver holds after applying `messages` in order (immediate flushes only). */
function applyMessages(state: Map<string, string>, messages: string[]): void {
  for (const m of messages) {
    const line = m.slice(0, m.indexOf("\r\n"));
    const tokens = line.split(" ");
    if (tokens[0] === "rep") state.set(tokens[1]!, m.slice(line.length + 2, m.length - 2));
    else if (tokens[0] === "delete" && tokens.length === 2) state.delete(tokens[1]!);
    else if (line === "flush_all ") state.clear();
    else if (line !== "marugoto_end") throw new Error(`unexpected message ${JSON.stringify(m)}`);
  }
}

/** Values of `keys` on our node (absent keys left out), with multi-key gets in batches. */
async function valuesOf(c: RawClient, keys: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 100) {
    const batch = keys.slice(i, i + 100);
    const text = await c.call(`get ${batch.join(" ")}\r\n`, "END\r\n", 10_000);
    let at = 0;
    for (;;) {
      const line_end = text.indexOf("\r\n", at);
      const line = text.slice(at, line_end);
      if (line === "END") break;
      const [, key, , bytes] = line.split(" ");
      const start = line_end + 2;
      found.set(key!, text.slice(start, start + Number(bytes)));
      at = start + Number(bytes) + 2;
    }
  }
  return found;
}

function countOf(text: string, part: string): number {
  return text.split(part).length - 1;
}

// ---------------------------------------------------------------------------------------------
describe("role 1: our node listens, a classic repcached connects and stays silent", () => {
  let node: Spawned;
  let rport: number;
  let c: RawClient;
  let peer: FakePeer;

  beforeAll(async () => {
    rport = await freePort();
    node = await startOurs(["-X", String(rport), "-v"]);
    c = await RawClient.connect(node.port);
  });
  afterAll(async () => {
    c?.close();
    peer?.close();
    await node?.stop();
  });

  test("empty store: the peer receives `marugoto_end\\r\\n` alone, within 2 s", async () => {
    const started = Date.now();
    const empty = await FakePeer.connect(rport);
    const text = await empty.readUntilMarugotoEnd(3_000);
    const elapsed = Date.now() - started;
    expect(text).toBe("marugoto_end\r\n");
    expect(elapsed).toBeLessThan(2_000);
    expect(await empty.quiet(300)).toBe("");
    empty.close();
    // The next peer may only connect once this link is gone (one peer at a time).
    expect(await waitForLog(node, "replication: close")).toBe(true);
  });

  test("full copy: exactly the stored items as rep lines (any order), then marugoto_end", async () => {
    expect(await c.call("set f0 0 0 3\r\nabc\r\n")).toBe("STORED\r\n");
    expect(await c.call("set f5 5 0 2\r\nxy\r\n")).toBe("STORED\r\n");
    expect(await c.call("set fmax 4294967295 0 3\r\nmax\r\n")).toBe("STORED\r\n");
    expect(await c.call("set fexp 0 3600 4\r\nexp!\r\n")).toBe("STORED\r\n");
    const set_at = nowS();
    expect(await c.call("set fempty 0 0 0\r\n\r\n")).toBe("STORED\r\n");
    const cas: Record<string, string> = {};
    for (const key of ["f0", "f5", "fmax", "fexp", "fempty"]) cas[key] = await casOf(c, key);

    const started = Date.now();
    peer = await FakePeer.connect(rport);
    const first = await peer.readUntil((text) => text.length > 0, 3_000);
    const first_byte_ms = Date.now() - started;
    expect(first_byte_ms).toBeLessThan(2_000);
    const rest = await peer.readUntil((text) => splitMessages(first + text).messages.includes("marugoto_end\r\n"), 5_000);
    const { messages, rest: tail } = splitMessages(first + rest);
    expect(tail).toBe("");
    expect(messages.length).toBe(6);
    expect(messages[5]).toBe("marugoto_end\r\n");

    const fexp = messages.find((m) => m.startsWith("rep fexp "));
    expect(fexp).toBeDefined();
    const exptime = repExptime(fexp!, set_at + 3600);
    const expected = [
      `rep f0 0 0 3 ${cas.f0}\r\nabc\r\n`,
      `rep f5 5 0 2 ${cas.f5}\r\nxy\r\n`,
      `rep fmax -1 0 3 ${cas.fmax}\r\nmax\r\n`,
      `rep fexp 0 ${exptime} 4 ${cas.fexp}\r\nexp!\r\n`,
      `rep fempty 0 0 0 ${cas.fempty}\r\n\r\n`,
    ];
    expect(messages.slice(0, 5).sort()).toEqual(expected.sort());
    for (const key of Object.keys(cas)) expect(Number(cas[key])).toBeGreaterThan(0);
    // Nothing else follows the copy.
    expect(await peer.quiet(300)).toBe("");
  });

  test("listener log lines at -v", async () => {
    const out = node.output();
    for (const line of ["replication: listen", "replication: accept", "replication: marugoto start", "replication: marugoto 5", "replication: marugoto owari"]) {
      expect(out).toContain(line);
    }
    // The empty copy logged no marugoto lines (repcached: only when there was at least one key).
    expect(countOf(out, "replication: marugoto owari")).toBe(1);
    expect(countOf(out, "replication: accept")).toBe(2);
  });

  test("a second connector while the peer is linked is refused (nothing listens, as in repcached) and gets nothing", async () => {
    // Like repcached, the listen socket is closed while a classic peer is linked.
    const second = await FakePeer.connect(rport).catch((error: Error) => {
      expect(String(error)).toMatch(/ECONNREFUSED/);
      return null;
    });
    expect(second).toBeNull();
    expect(await c.call("stats replication\r\n", "END\r\n")).toContain("STAT listening 0\r\n");
    // the first link is unaffected
    const m = await opThenOneMessage(c, peer, "set still 0 0 1\r\ns\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "still", 0, "s", null, m));
  });

  // ---- live traffic: client operations on our node -> exact bytes at the peer ----

  test("set -> rep with the full value", async () => {
    const m = await opThenOneMessage(c, peer, "set k1 7 0 5\r\nhello\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k1", 7, "hello", null, m));
  });

  test("set with flags 4294967295 and a relative exptime -> flags -1, absolute exptime", async () => {
    const at = nowS();
    const m = await opThenOneMessage(c, peer, "set big 4294967295 100 2\r\nbg\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "big", 4294967295, "bg", at + 100, m));
    expect(m.startsWith("rep big -1 ")).toBe(true);
  });

  test("add -> rep; failed add -> nothing", async () => {
    const m = await opThenOneMessage(c, peer, "add k2 0 0 1\r\nA\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k2", 0, "A", null, m));
    await expectNothingFor(c, peer, "add k2 0 0 1\r\nB\r\n", "NOT_STORED\r\n");
  });

  test("replace -> rep with new flags and absolute exptime; replace of a missing key -> nothing", async () => {
    const at = nowS();
    const m = await opThenOneMessage(c, peer, "replace k2 3 100 2\r\nRR\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k2", 3, "RR", at + 100, m));
    await expectNothingFor(c, peer, "replace nokey 0 0 1\r\nX\r\n", "NOT_STORED\r\n");
  });

  test("append/prepend -> rep with the whole value, old flags and exptime kept", async () => {
    let m = await opThenOneMessage(c, peer, "append k1 9 9 3\r\n+ap\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k1", 7, "hello+ap", null, m));
    m = await opThenOneMessage(c, peer, "prepend k1 0 0 3\r\npp+\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k1", 7, "pp+hello+ap", null, m));
    // append/prepend to an item with an exptime keep that exptime
    const at = nowS();
    m = await opThenOneMessage(c, peer, "set ak 2 500 1\r\na\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "ak", 2, "a", at + 500, m));
    m = await opThenOneMessage(c, peer, "append ak 0 0 1\r\nb\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "ak", 2, "ab", at + 500, m));
    await expectNothingFor(c, peer, "append nokey 0 0 1\r\nX\r\n", "NOT_STORED\r\n");
    await expectNothingFor(c, peer, "prepend nokey 0 0 1\r\nX\r\n", "NOT_STORED\r\n");
  });

  test("cas -> rep with the new cas; failed cas (EXISTS, NOT_FOUND) -> nothing", async () => {
    const old = await casOf(c, "k2");
    const m = await opThenOneMessage(c, peer, `cas k2 1 0 2 ${old}\r\nCC\r\n`, "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "k2", 1, "CC", null, m));
    expect(m).not.toContain(` ${old}\r\n`);
    await expectNothingFor(c, peer, `cas k2 1 0 2 ${old}\r\nDD\r\n`, "EXISTS\r\n");
    await expectNothingFor(c, peer, "cas nokey 0 0 1 1\r\nX\r\n", "NOT_FOUND\r\n");
  });

  test("incr/decr -> rep carrying the value (not the delta), padded in place", async () => {
    let m = await opThenOneMessage(c, peer, "set n 0 0 2\r\n10\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "n", 0, "10", null, m));
    m = await opThenOneMessage(c, peer, "incr n 5\r\n", "15\r\n");
    expect(m).toBe(await expectedRep(c, "n", 0, "15", null, m));
    m = await opThenOneMessage(c, peer, "decr n 7\r\n", "8\r\n");
    expect(m).toBe(await expectedRep(c, "n", 0, "8 ", null, m));
    m = await opThenOneMessage(c, peer, "decr n 100\r\n", "0\r\n");
    expect(m).toBe(await expectedRep(c, "n", 0, "0 ", null, m));
    // growing past the old length: a new, longer value
    m = await opThenOneMessage(c, peer, "set grow 0 0 1\r\n9\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "grow", 0, "9", null, m));
    m = await opThenOneMessage(c, peer, "incr grow 1\r\n", "10\r\n");
    expect(m).toBe(await expectedRep(c, "grow", 0, "10", null, m));
    await expectNothingFor(c, peer, "incr nokey 1\r\n", "NOT_FOUND\r\n");
    // memcached 1.6 refuses a non-numeric value (1.2.8 counted it as 0): nothing changes, nothing goes
    await expectNothingFor(c, peer, "incr k1 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  });

  test("set with a negative exptime (expired at once) -> the key's state: gone", async () => {
    const m = await opThenOneMessage(c, peer, "set gone 0 -1 1\r\nx\r\n", "STORED\r\n");
    // state-based: `delete gone`, or a rep whose absolute exptime is already past
    const rep = /^rep gone 0 (\d+) 1 \d+\r\nx\r\n$/.exec(m);
    expect(m === "delete gone\r\n" || (rep !== null && Number(rep[1]) <= nowS())).toBe(true);
  });

  test("delete -> `delete <key>\\r\\n`; delete of a missing key -> nothing", async () => {
    expect(await opThenOneMessage(c, peer, "delete k2\r\n", "DELETED\r\n")).toBe("delete k2\r\n");
    await expectNothingFor(c, peer, "delete k2\r\n", "NOT_FOUND\r\n");
    expect(await c.call("set d0 0 0 1\r\nd\r\n")).toBe("STORED\r\n");
    await peer.readMessages(1);
    // memcached 1.6 accepts `delete <key> 0` (no deferred delete): a plain delete on the wire
    expect(await opThenOneMessage(c, peer, "delete d0 0\r\n", "DELETED\r\n")).toBe("delete d0\r\n");
  });

  test("set with an absolute exptime (> 30 days) -> rep carrying that exact unix time", async () => {
    const abs = nowS() + 40 * 86400;
    const m = await opThenOneMessage(c, peer, `set far 0 ${abs} 1\r\nf\r\n`, "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "far", 0, "f", abs, m));
    expect(m.split(" ")[3]).toBe(String(abs));
  });

  test("a set refused as too large drops the old value on our node -> `delete <key>` (the peer drops it too)", async () => {
    let m = await opThenOneMessage(c, peer, "set huge 0 0 1\r\nh\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "huge", 0, "h", null, m));
    const big = "x".repeat(2 * 1024 * 1024);
    m = await opThenOneMessage(c, peer, `set huge 0 0 ${big.length}\r\n${big}\r\n`, "SERVER_ERROR object too large for cache\r\n");
    expect(m).toBe("delete huge\r\n");
  });

  test("touch (our extension: not in 1.2.8) -> rep carrying the new absolute exptime", async () => {
    let m = await opThenOneMessage(c, peer, "set tk 4 0 2\r\ntt\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "tk", 4, "tt", null, m));
    const at = nowS();
    m = await opThenOneMessage(c, peer, "touch tk 500\r\n", "TOUCHED\r\n");
    expect(m).toBe(await expectedRep(c, "tk", 4, "tt", at + 500, m));
    await expectNothingFor(c, peer, "touch nokey 500\r\n", "NOT_FOUND\r\n");
  });

  test("gat / gats (a touch through get, not in 1.2.8) -> rep carrying the new absolute exptime, like touch", async () => {
    let m = await opThenOneMessage(c, peer, "set gk 4 0 2\r\ngg\r\n", "STORED\r\n");
    expect(m).toBe(await expectedRep(c, "gk", 4, "gg", null, m));
    const at = nowS();
    expect(await c.call("gat 600 gk\r\n", "END\r\n")).toBe("VALUE gk 4 2\r\ngg\r\nEND\r\n");
    const text = await peer.readMessages(1, 1_000);
    const { messages } = splitMessages(text);
    expect(messages.length).toBe(1);
    expect(messages[0]).toBe(await expectedRep(c, "gk", 4, "gg", at + 600, messages[0] ?? "rep gk 4 0 2 0\r\ngg\r\n"));
    await expectNothingFor(c, peer, "gat 600 nokey\r\n", "END\r\n");
  });

  test("pipelined set p1; set p2; set p3; delete p2 arrive IN ORDER (repcached reversed them)", async () => {
    c.send("set p1 0 0 1\r\n1\r\nset p2 0 0 1\r\n2\r\nset p3 0 0 1\r\n3\r\ndelete p2\r\n");
    expect(await c.readText("DELETED\r\n")).toBe("STORED\r\nSTORED\r\nSTORED\r\nDELETED\r\n");
    const { messages, rest } = splitMessages(await peer.readMessages(4));
    expect(rest).toBe("");
    expect(messages.length).toBe(4);
    const p1 = await expectedRep(c, "p1", 0, "1", null, messages[0]!);
    const p3 = await expectedRep(c, "p3", 0, "3", null, messages[2]!);
    expect(messages[0]).toBe(p1);
    // state-based: p2's set is sent with p2's state at send time (already deleted) or its value
    expect(messages[1] === "delete p2\r\n" || /^rep p2 0 0 1 \d+\r\n2\r\n$/.test(messages[1]!)).toBe(true);
    expect(messages[2]).toBe(p3);
    expect(messages[3]).toBe("delete p2\r\n");
  });

  test("flush_all -> `flush_all \\r\\n` (with the space); noreply too", async () => {
    expect(await opThenOneMessage(c, peer, "flush_all\r\n", "OK\r\n")).toBe("flush_all \r\n");
    c.send("flush_all noreply\r\n");
    const { messages, rest } = splitMessages(await peer.readMessages(1));
    expect(rest).toBe("");
    expect(messages).toEqual(["flush_all \r\n"]);
  });

  test("flush_all 0 -> `flush_all \\r\\n` (repcached sent its start time, which the peer ignored: fixed)", async () => {
    expect(await opThenOneMessage(c, peer, "flush_all 0\r\n", "OK\r\n")).toBe("flush_all \r\n");
  });

  test("flush_all 100 -> `flush_all <unix time now+100>\\r\\n`", async () => {
    const at = nowS();
    const m = await opThenOneMessage(c, peer, "flush_all 100\r\n", "OK\r\n");
    const match = /^flush_all (\d+)\r\n$/.exec(m);
    expect(match).not.toBeNull();
    expect(Math.abs(Number(match![1]) - (at + 100))).toBeLessThanOrEqual(2);
  });

  test("pipelined flush_all + set survivor arrive as flush then rep (the peer keeps survivor)", async () => {
    c.send("flush_all\r\nset survivor 0 0 1\r\nS\r\n");
    expect(await c.readText("STORED\r\n")).toBe("OK\r\nSTORED\r\n");
    const { messages, rest } = splitMessages(await peer.readMessages(2));
    expect(rest).toBe("");
    expect(messages.length).toBe(2);
    expect(messages[0]).toBe("flush_all \r\n");
    expect(messages[1]).toBe(await expectedRep(c, "survivor", 0, "S", null, messages[1]!));
  });

  // ---- the classic peer's messages applied on our node ----

  test("rep k 7 0 5 42 -> VALUE k 7 5, cas 42; no reply, no echo", async () => {
    peer.send("rep in1 7 0 5 42\r\nhello\r\n");
    expect(await eventually(async () => (await itemOf(c, "in1")) !== null)).toBe(true);
    expect(await c.call("get in1\r\n", "END\r\n")).toBe("VALUE in1 7 5\r\nhello\r\nEND\r\n");
    expect(await c.call("gets in1\r\n", "END\r\n")).toBe("VALUE in1 7 5 42\r\nhello\r\nEND\r\n");
    expect(await peer.quiet(500)).toBe("");
  });

  test("rep overrides an existing item (set semantics) and adopts flags and cas", async () => {
    expect(await c.call("set in2 1 0 3\r\nold\r\n")).toBe("STORED\r\n");
    await peer.readMessages(1);
    peer.send("rep in2 2 0 3 77\r\nnew\r\n");
    expect(await eventually(async () => (await itemOf(c, "in2"))?.value === "new")).toBe(true);
    expect(await c.call("gets in2\r\n", "END\r\n")).toBe("VALUE in2 2 3 77\r\nnew\r\nEND\r\n");
    expect(await peer.quiet(500)).toBe("");
  });

  test("rep neg -1 0 1 9 -> flags 4294967295", async () => {
    peer.send("rep neg -1 0 1 9\r\nx\r\n");
    expect(await eventually(async () => (await itemOf(c, "neg")) !== null)).toBe(true);
    expect(await c.call("gets neg\r\n", "END\r\n")).toBe("VALUE neg 4294967295 1 9\r\nx\r\nEND\r\n");
  });

  test("rep with an absolute exptime: future -> present (and expires then); past -> absent", async () => {
    const now = nowS();
    peer.send(`rep abs 0 ${now + 100} 1 10\r\ny\r\n`);
    peer.send(`rep soon 0 ${now + 2} 1 12\r\ns\r\n`);
    peer.send(`rep past 0 ${now - 100} 1 11\r\nz\r\n`);
    peer.send("rep mark 0 0 1 13\r\nm\r\n");
    expect(await eventually(async () => (await itemOf(c, "mark")) !== null)).toBe(true);
    expect(await c.call("gets abs\r\n", "END\r\n")).toBe("VALUE abs 0 1 10\r\ny\r\nEND\r\n");
    expect(await itemOf(c, "past")).toBeNull();
    expect(await itemOf(c, "soon")).not.toBeNull();
    // `soon` goes at now+2 (absolute), `abs` stays
    expect(await eventually(async () => (await itemOf(c, "soon")) === null, 5_000, 100)).toBe(true);
    expect(await itemOf(c, "abs")).not.toBeNull();
    expect(await peer.quiet(300)).toBe("");
  });

  test("delete k -> gone; deferred `delete d <now+10>` -> gone at once", async () => {
    peer.send("rep dd 0 0 1 20\r\nd\r\n");
    expect(await eventually(async () => (await itemOf(c, "dd")) !== null)).toBe(true);
    peer.send("delete in1\r\n");
    expect(await eventually(async () => (await itemOf(c, "in1")) === null)).toBe(true);
    peer.send(`delete dd ${nowS() + 10}\r\n`);
    expect(await eventually(async () => (await itemOf(c, "dd")) === null, 2_000)).toBe(true);
    expect(await peer.quiet(500)).toBe("");
  });

  test("flush_all \\r\\n -> everything gone; no reply, no echo", async () => {
    peer.send("rep fa 0 0 1 30\r\na\r\n");
    expect(await eventually(async () => (await itemOf(c, "fa")) !== null)).toBe(true);
    expect(await itemOf(c, "survivor")).not.toBeNull();
    peer.send("flush_all \r\n");
    expect(await eventually(async () => (await itemOf(c, "fa")) === null)).toBe(true);
    expect(await itemOf(c, "survivor")).toBeNull();
    expect(await itemOf(c, "neg")).toBeNull();
    expect(await peer.quiet(500)).toBe("");
  });

  test("flush_all <now+2> -> items gone after ~2-3 s, not before", async () => {
    peer.send("rep late 0 0 1 40\r\nl\r\n");
    expect(await eventually(async () => (await itemOf(c, "late")) !== null)).toBe(true);
    // memcached (1.2.8 and 1.6 alike) flushes a delayed flush_all one second early (oldest_live =
    // realtime(t) - 1), on a one-second clock: start just after a second begins so the window is 1-2 s.
    await Bun.sleep(1_000 - (Date.now() % 1_000) + 20);
    const at = Date.now();
    peer.send(`flush_all ${nowS() + 2}\r\n`);
    await Bun.sleep(300);
    expect(await itemOf(c, "late")).not.toBeNull();
    expect(await eventually(async () => (await itemOf(c, "late")) === null, 5_000, 50)).toBe(true);
    const took = Date.now() - at;
    expect(took).toBeGreaterThan(500);
    expect(took).toBeLessThan(4_000);
    expect(await peer.quiet(500)).toBe("");
  });

  test("the peer's rep/delete/flush_all get no bytes back (replies suppressed, no echo)", async () => {
    peer.send("rep q1 0 0 1 50\r\nq\r\ndelete q1\r\ndelete q1\r\nrep q2 0 0 1 51\r\nq\r\nflush_all \r\nflush_all 0\r\n");
    await Bun.sleep(100);
    expect(await peer.quiet(500)).toBe("");
    expect(peer.all.includes("STORED") || peer.all.includes("DELETED") || peer.all.includes("OK\r\n") || peer.all.includes("NOT_FOUND")).toBe(false);
  });

  test("rep / marugoto_end from a normal client answer ERROR", async () => {
    expect(await c.call("rep cli 0 0 1 5\r\n")).toBe("ERROR\r\n");
    expect(await c.call("x\r\n")).toBe("ERROR\r\n");
    expect(await c.call("marugoto_end\r\n")).toBe("ERROR\r\n");
    expect(await c.call("get cli\r\n", "END\r\n")).toBe("END\r\n");
    expect(await peer.quiet(300)).toBe("");
  });

  test("the peer closing the link logs `replication: close` (and we listen again)", async () => {
    const closes = countOf(node.output(), "replication: close");
    peer.close();
    expect(await eventually(() => countOf(node.output(), "replication: close") > closes)).toBe(true);
    const again = await FakePeer.connect(rport);
    const text = await again.readUntilMarugotoEnd(3_000);
    expect(splitMessages(text).messages.at(-1)).toBe("marugoto_end\r\n");
    again.close();
    expect(await eventually(() => countOf(node.output(), "replication: close") > closes + 1)).toBe(true);
  });

  test("a classic connector whose first bytes after its answer to the probe (a rep, split) still gets its copy", async () => {
    const early = await FakePeer.connect(rport);
    expect(await eventually(async () => early.probe_answered, 3_000, 5)).toBe(true);
    early.send("r");
    await Bun.sleep(50);
    early.send("ep early 0 0 1 60\r\nE\r\n");
    const text = await early.readUntilMarugotoEnd(3_000);
    const { messages, rest } = splitMessages(text);
    expect(rest).toBe("");
    expect(messages.at(-1)).toBe("marugoto_end\r\n");
    expect(messages.filter((m) => m === "marugoto_end\r\n").length).toBe(1);
    // The rep and this read travel on two connections (with -t N, to two threads): no order
    // between them is promised, so the read waits for the rep, with a deadline.
    const applied = "VALUE early 0 1 60\r\nE\r\nEND\r\n";
    expect(await eventually(async () => (await c.call("gets early\r\n", "END\r\n")) === applied, 3_000, 10)).toBe(true);
    early.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe("role 1: full copy edge cases", () => {
  let node: Spawned;
  let rport: number;
  let c: RawClient;

  beforeAll(async () => {
    rport = await freePort();
    node = await startOurs(["-X", String(rport), "-v"]);
    c = await RawClient.connect(node.port);
  });
  afterAll(async () => {
    c?.close();
    await node?.stop();
  });

  test("expired, deleted and flushed items are not copied", async () => {
    expect(await c.call("set old1 0 0 1\r\n1\r\nset old2 0 0 1\r\n2\r\n", "STORED\r\nSTORED\r\n")).toBe("STORED\r\nSTORED\r\n");
    expect(await c.call("flush_all\r\n")).toBe("OK\r\n");
    expect(await c.call("set short 0 1 1\r\ns\r\n")).toBe("STORED\r\n");
    expect(await c.call("set del 0 0 1\r\nd\r\n")).toBe("STORED\r\n");
    expect(await c.call("delete del\r\n")).toBe("DELETED\r\n");
    expect(await c.call("set keep 0 0 1\r\nk\r\n")).toBe("STORED\r\n");
    await Bun.sleep(2_100);
    const cas = await casOf(c, "keep");
    const peer = await FakePeer.connect(rport);
    const text = await peer.readUntilMarugotoEnd(3_000);
    expect(text).toBe(`rep keep 0 0 1 ${cas}\r\nk\r\nmarugoto_end\r\n`);
    peer.close();
    expect(await waitForLog(node, "replication: close")).toBe(true);
  });

  test("a large copy (40000 items + a 700 KB binary value) with live writes during it: every byte, and the peer converges", async () => {
    const n = 40_000;
    let request = "";
    for (let i = 0; i < n; i++) request += `set bulk${i} ${i} 0 ${String(i).length} noreply\r\n${i}\r\n`;
    c.send(request);
    const binary = Buffer.alloc(700_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7 + 13) & 0xff;
    binary.write("\r\nrep fake 0 0 1 1\r\n", 1000, "latin1"); // protocol-looking bytes inside a value
    c.send(Buffer.concat([Buffer.from(`set blob 0 0 ${binary.length}\r\n`), binary, Buffer.from("\r\n")]));
    expect(await c.readText("STORED\r\n", 10_000)).toBe("STORED\r\n");
    const blob_cas = await casOf(c, "blob");

    const peer = await FakePeer.connect(rport);
    await peer.readUntil((text) => text.length > 0, 3_000);
    // live writes while the copy streams: overwrite, delete, create
    let live = "";
    for (let i = 0; i < n; i += 97) live += `set bulk${i} 0 0 4 noreply\r\nnew!\r\n`;
    for (let i = 50; i < n; i += 89) live += `delete bulk${i} noreply\r\n`;
    for (let i = 0; i < 300; i++) live += `set fresh${i} 0 0 1 noreply\r\nf\r\n`;
    c.send(live);
    expect(await c.call("get blob_sync\r\n", "END\r\n")).toBe("END\r\n");
    // peer.readUntil consumed the first bytes: use the full history instead
    await peer.readUntil(() => peer.all.includes("marugoto_end\r\n"), 20_000);
    await peer.quiet(500);
    const { messages, rest } = splitMessages(peer.all);
    expect(rest).toBe("");
    expect(messages.filter((m) => m === "marugoto_end\r\n").length).toBe(1);
    const blob = messages.find((m) => m.startsWith("rep blob "));
    expect(blob).toBe(`rep blob 0 0 ${binary.length} ${blob_cas}\r\n${binary.toString("latin1")}\r\n`);

    const state = new Map<string, string>();
    applyMessages(state, messages);
    const keys = [...Array.from({ length: n }, (_, i) => `bulk${i}`), ...Array.from({ length: 300 }, (_, i) => `fresh${i}`)];
    const ours = await valuesOf(c, keys);
    let mismatches = 0;
    const examples: string[] = [];
    for (const key of keys) {
      if (ours.get(key) !== state.get(key)) {
        mismatches++;
        if (examples.length < 5) examples.push(`${key}: ours=${JSON.stringify(ours.get(key))} peer=${JSON.stringify(state.get(key))}`);
      }
    }
    expect(examples).toEqual([]);
    expect(mismatches).toBe(0);
    expect(state.get("blob")).toBe(binary.toString("latin1"));
    // the copy itself: at least every untouched preloaded key once
    const match = /replication: marugoto (\d+)\n/.exec(node.output().split("replication: marugoto start").at(-1)!);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThanOrEqual(n - Math.ceil(n / 89));
    peer.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe("role 1: evictions are sent to the classic peer as deletes", () => {
  test("client sets and the peer's reps that evict both send `delete <evicted key>`; the peer converges", async () => {
    const rport = await freePort();
    const node = await startOurs(["-X", String(rport), "-m", "2", "-I", "64k"]);
    let c: RawClient | null = null;
    let peer: FakePeer | null = null;
    try {
      c = await RawClient.connect(node.port);
      peer = await FakePeer.connect(rport);
      expect(await peer.readUntilMarugotoEnd(3_000)).toBe("marugoto_end\r\n");
      const v = "v".repeat(10_000);
      let request = "";
      for (let i = 0; i < 300; i++) request += `set ev${i} 0 0 ${v.length} noreply\r\n${v}\r\n`;
      c.send(request);
      expect(await c.call("get sync\r\n", "END\r\n")).toBe("END\r\n");
      await peer.quiet(500);
      const keys = Array.from({ length: 300 }, (_, i) => `ev${i}`);
      const state = new Map<string, string>();
      applyMessages(state, splitMessages(peer.all).messages);
      const ours = await valuesOf(c, keys);
      expect(ours.size).toBeLessThan(300); // something was evicted
      expect([...state.keys()].filter((k) => k.startsWith("ev")).sort()).toEqual([...ours.keys()].sort());

      // reps from the peer that evict our items: the evictions go back as deletes (repcached does too)
      const before = peer.all.length;
      for (let i = 0; i < 50; i++) peer.send(`rep pr${i} 0 0 ${v.length} ${i + 1}\r\n${v}\r\n`);
      await Bun.sleep(300);
      await peer.quiet(500);
      const back = splitMessages(peer.all.slice(before)).messages;
      expect(back.length).toBeGreaterThan(0);
      for (const m of back) expect(m).toMatch(/^delete (ev|pr)\d+\r\n$/);
    } finally {
      c?.close();
      peer?.close();
      await node.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe("role 1: UDP-originated writes are replicated like TCP ones", () => {
  test("a set over UDP reaches the classic peer as a rep", async () => {
    const rport = await freePort();
    const uport = await freePort();
    const node = await startOurs(["-X", String(rport), "-U", String(uport)]);
    const sock = createSocket("udp4");
    let peer: FakePeer | null = null;
    let c: RawClient | null = null;
    try {
      peer = await FakePeer.connect(rport);
      expect(await peer.readUntilMarugotoEnd(3_000)).toBe("marugoto_end\r\n");
      const reply = new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 3_000);
        sock.once("message", (m: Buffer) => { clearTimeout(timer); resolve(m); });
      });
      const frame = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0]);
      sock.send(Buffer.concat([frame, Buffer.from("set viaudp 6 0 3\r\nudp\r\n")]), uport, "127.0.0.1");
      expect((await reply)?.subarray(8).toString("latin1")).toBe("STORED\r\n");
      const { messages } = splitMessages(await peer.readMessages(1));
      c = await RawClient.connect(node.port);
      expect(messages).toEqual([`rep viaudp 6 0 3 ${await casOf(c, "viaudp")}\r\nudp\r\n`]);
    } finally {
      sock.close();
      c?.close();
      peer?.close();
      await node.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe("role 1 with --replication-secret: a classic peer gets nothing", () => {
  let node: Spawned;
  let rport: number;

  beforeAll(async () => {
    rport = await freePort();
    node = await startOurs(["-X", String(rport), "--replication-secret", "9f86d081884c7d659a2feaa0c55ad015", "-v"]);
    const c = await RawClient.connect(node.port);
    expect(await c.call("set secret 0 0 6\r\nhidden\r\n")).toBe("STORED\r\n");
    c.close();
  });
  afterAll(async () => {
    await node?.stop();
  });

  test("a silent classic peer receives no dump and the link is closed", async () => {
    const peer = await FakePeer.connect(rport);
    expect(await peer.waitClosed(3_000)).toBe(true);
    expect(peer.all).toBe("");
    peer.close();
  });

  test("a classic peer that sends rep at once is closed and its rep not applied", async () => {
    const peer = await FakePeer.connect(rport);
    peer.send("rep intruder 0 0 1 1\r\nI\r\nflush_all \r\n");
    expect(await peer.waitClosed(3_000)).toBe(true);
    expect(peer.all).toBe("");
    peer.close();
    const c = await RawClient.connect(node.port);
    expect(await c.call("get intruder secret\r\n", "END\r\n")).toBe("VALUE secret 0 6\r\nhidden\r\nEND\r\n");
    c.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe("role 2: our node connects to a classic repcached listener", () => {
  const hello_pattern = /^get rcb1:hello:[0-9a-f]{16}:[0-9a-f]{16}\r\n$/;

  test("hello, interleaved END + full copy, client port opens only after marugoto_end; live traffic both ways", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port), "-v"], { wait: false });
    let c: RawClient | null = null;
    try {
      const peer = await fake.accept(0);
      const hello = await peer.readUntil((text) => text.includes("\r\n"), 5_000);
      expect(hello).toMatch(hello_pattern);
      expect(await portAccepts(node.port)).toBe(false);
      // A classic listener starts its copy at once; the END answering our `get` comes after.
      peer.send("rep a 0 0 1 1\r\nA\r\n");
      await Bun.sleep(200);
      expect(await portAccepts(node.port)).toBe(false);
      peer.send("END\r\n");
      await Bun.sleep(200);
      expect(await portAccepts(node.port)).toBe(false);
      peer.send("rep b 0 0 1 2\r\nB\r\nmarugoto_end\r\n");
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);

      c = await RawClient.connect(node.port);
      expect(await c.call("gets a b\r\n", "END\r\n")).toBe("VALUE a 0 1 1\r\nA\r\nVALUE b 0 1 2\r\nB\r\nEND\r\n");
      // The connector sends nothing after its hello: no copy of its own, no reply to END/rep.
      expect(await peer.quiet(300)).toBe("");

      // our writes reach the classic peer as rep lines
      const m = await opThenOneMessage(c, peer, "set live 3 0 2\r\nLV\r\n", "STORED\r\n");
      expect(m).toBe(await expectedRep(c, "live", 3, "LV", null, m));
      expect(await opThenOneMessage(c, peer, "delete a\r\n", "DELETED\r\n")).toBe("delete a\r\n");
      // the peer's writes reach us, without echo
      peer.send("rep cc 9 0 1 3\r\nC\r\n");
      expect(await eventually(async () => (await itemOf(c!, "cc")) !== null)).toBe(true);
      expect(await c.call("gets cc\r\n", "END\r\n")).toBe("VALUE cc 9 1 3\r\nC\r\nEND\r\n");
      expect(await peer.quiet(500)).toBe("");

      // log lines, in order
      const out = node.output();
      const lines = [`replication: connect (peer=127.0.0.1:${fake.port})`, "replication: marugoto copying", "replication: start"];
      let from = 0;
      for (const line of lines) {
        const at = out.indexOf(line, from);
        expect(at).toBeGreaterThanOrEqual(0);
        from = at + line.length;
      }
      await fake.close(false);
      peer.close();
      expect(await waitForLog(node, "replication: close")).toBe(true);
      // still serving after the peer is gone
      expect(await c.call("get b\r\n", "END\r\n")).toBe("VALUE b 0 1\r\nB\r\nEND\r\n");
    } finally {
      c?.close();
      await fake.close();
      await node.stop();
    }
  });

  test("an empty classic listener: `marugoto_end` comes before the END answering our hello", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port), "-v"], { wait: false });
    let c: RawClient | null = null;
    try {
      const peer = await fake.accept(0);
      // repcached sends marugoto_end right after accept (empty cache), possibly before our hello lands
      peer.send("marugoto_end\r\n");
      expect(await peer.readUntil((text) => text.includes("\r\n"), 5_000)).toMatch(hello_pattern);
      peer.send("END\r\n");
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);
      c = await RawClient.connect(node.port);
      const m = await opThenOneMessage(c, peer, "set after 0 0 1\r\na\r\n", "STORED\r\n");
      expect(m).toBe(await expectedRep(c, "after", 0, "a", null, m));
      expect(await peer.quiet(300)).toBe("");
      expect(node.output()).toContain("replication: start");
    } finally {
      c?.close();
      await fake.close();
      await node.stop();
    }
  });

  test("binary values split across packets, both ways", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port)], { wait: false });
    let c: RawClient | null = null;
    try {
      const peer = await fake.accept(0);
      expect(await peer.readUntil((text) => text.includes("\r\n"), 5_000)).toMatch(hello_pattern);
      const value = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)).toString("latin1") + "\r\nEND\r\n";
      const copy = `rep bin 4294967295 0 ${value.length} 7\r\n${value}\r\nEND\r\nmarugoto_end\r\n`;
      // first packet ends inside the value (the part our handshake reads), the rest comes later
      peer.send(copy.slice(0, 30));
      await Bun.sleep(100);
      peer.send(copy.slice(30, 200));
      await Bun.sleep(100);
      peer.send(copy.slice(200));
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);
      c = await RawClient.connect(node.port);
      const got = await c.call("gets bin\r\n", "END\r\n\r\nEND\r\n");
      expect(got).toBe(`VALUE bin 4294967295 ${value.length} 7\r\n${value}\r\nEND\r\n`);
      // and ours to the peer: high bytes and CRLFs inside a value, flags as -1
      const m = await opThenOneMessage(c, peer, `set bout 4294967295 0 ${value.length}\r\n${value}\r\n`, "STORED\r\n");
      expect(m).toBe(`rep bout -1 0 ${value.length} ${await casOf(c, "bout")}\r\n${value}\r\n`);
    } finally {
      c?.close();
      await fake.close();
      await node.stop();
    }
  });

  test("the classic listener closes before marugoto_end: our client port opens anyway", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port), "-v"], { wait: false });
    try {
      const peer = await fake.accept(0);
      expect(await peer.readUntil((text) => text.includes("\r\n"), 5_000)).toMatch(hello_pattern);
      peer.send("END\r\nrep a 0 0 1 1\r\nA\r\n");
      await Bun.sleep(300);
      expect(await portAccepts(node.port)).toBe(false);
      await fake.close(false);
      peer.close();
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);
      const c = await RawClient.connect(node.port);
      expect(await c.call("gets a\r\n", "END\r\n")).toBe("VALUE a 0 1 1\r\nA\r\nEND\r\n");
      c.close();
      expect(node.output()).toContain("replication: close");
    } finally {
      await fake.close();
      await node.stop();
    }
  });

  test("with --replication-secret our connector closes on a classic END and applies nothing", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port), "--replication-secret", "9f86d081884c7d659a2feaa0c55ad015", "-v"], { wait: false });
    try {
      const peer = await fake.accept(0);
      await fake.close(false); // later reconnects are refused
      expect(await peer.readUntil((text) => text.includes("\r\n"), 5_000)).toMatch(hello_pattern);
      peer.send("END\r\nrep a 0 0 1 1\r\nA\r\nmarugoto_end\r\n");
      expect(await peer.waitClosed(3_000)).toBe(true);
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);
      const c = await RawClient.connect(node.port);
      expect(await c.call("get a\r\n", "END\r\n")).toBe("END\r\n");
      c.close();
      // no auth line or anything else after the hello
      expect(peer.all).toMatch(hello_pattern);
    } finally {
      await fake.close();
      await node.stop();
    }
  });

  test("with --replication-secret, a classic listener whose copy starts before END is refused too", async () => {
    const fake = await FakeListener.listen();
    const node = await startOurs(["-x", "127.0.0.1", "-X", String(fake.port), "--replication-secret", "9f86d081884c7d659a2feaa0c55ad015"], { wait: false });
    try {
      const peer = await fake.accept(0);
      await fake.close(false);
      expect(await peer.readUntil((text) => text.includes("\r\n"), 5_000)).toMatch(hello_pattern);
      peer.send("rep a 0 0 1 1\r\nA\r\nEND\r\nmarugoto_end\r\n");
      expect(await peer.waitClosed(3_000)).toBe(true);
      expect(await eventually(() => portAccepts(node.port), 5_000)).toBe(true);
      const c = await RawClient.connect(node.port);
      expect(await c.call("get a\r\n", "END\r\n")).toBe("END\r\n");
      c.close();
    } finally {
      await fake.close();
      await node.stop();
    }
  });
});
