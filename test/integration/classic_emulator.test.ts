// The classic repcached 2.2.1 emulator (test/helpers/classic_repcached.ts): first that it speaks the
// bytes of the spec's captures (section 9) and follows its startup, copy and failover rules
// (sections 1, 5, 6), then that it pairs with our node in both roles, as a real classic node would.
//
// Every process binds 127.0.0.1 and is stopped by PID; every wait is bounded and on a condition.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, RawClient, startClassic, startOurs, type Spawned } from "../helpers/procs.ts";
import { eventually, FakePeer, nowS, portAccepts, splitMessages } from "../helpers/fake_peer.ts";
import { untilValue, valueOf } from "../helpers/cache_client.ts";

setDefaultTimeout(60_000);

const started: Spawned[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const node of started.splice(0)) await node.stop("SIGKILL");
});

async function classic(args: string[], opts: { port?: number; wait?: boolean } = {}): Promise<Spawned> {
  const node = await startClassic(args, opts);
  started.push(node);
  return node;
}

async function ours(args: string[], opts: { port?: number; wait?: boolean } = {}): Promise<Spawned> {
  const node = await startOurs(args, opts);
  started.push(node);
  return node;
}

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

function countOf(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** Waits until `line` appears at least `count` times in the node's output. */
async function waitForLog(node: Spawned, line: string, count = 1, ms = 10_000): Promise<void> {
  const ok = await eventually(() => countOf(node.output(), line) >= count, ms);
  if (!ok) throw new Error(`no ${count}x "${line}" within ${ms} ms; output:\n${node.output()}`);
}

/** A joining node (-x) got the peer's full copy: `replication: start` logged and its client port open. */
async function joined(node: Spawned): Promise<void> {
  await waitForLog(node, "replication: start");
  if (!(await eventually(() => portAccepts(node.port)))) throw new Error(`port ${node.port} did not open:\n${node.output()}`);
}

/** The lines of `expected` appear in the output in this order. */
function expectInOrder(output: string, expected: string[]): void {
  let from = 0;
  for (const line of expected) {
    const at = output.indexOf(line, from);
    if (at < 0) throw new Error(`"${line}" missing (after offset ${from}) in:\n${output}`);
    from = at + line.length;
  }
}


/** Writes keys k0..k(n-1) = v<i>-<tag> on c. */
async function fill(c: RawClient, prefix: string, n: number, tag: string): Promise<void> {
  let batch = "";
  for (let i = 0; i < n; i++) batch += `set ${prefix}${i} ${i} 0 ${`v${i}-${tag}`.length}\r\nv${i}-${tag}\r\n`;
  c.send(batch);
  const text = await c.readUntil((b) => countOf(b.toString("latin1"), "STORED\r\n") >= n, 10_000);
  expect(countOf(text.toString("latin1"), "STORED\r\n")).toBe(n);
}

/** Every key prefix0..prefix(n-1) holds v<i>-<tag> with flags i on c. */
async function expectAll(c: RawClient, prefix: string, n: number, tag: string): Promise<void> {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const text = await c.call(`get ${keys.join(" ")}\r\n`, "END\r\n", 10_000);
  let expected = "";
  for (let i = 0; i < n; i++) expected += `VALUE ${prefix}${i} ${i} ${`v${i}-${tag}`.length}\r\nv${i}-${tag}\r\n`;
  expect(text).toBe(expected + "END\r\n");
}

function expectNoUnexpected(node: Spawned): void {
  expect(node.output()).not.toContain("emulator: unexpected");
}

/** One message on the fake peer after a client request (checked reply). */
async function oneMessage(c: RawClient, peer: FakePeer, request: string, reply: string): Promise<string> {
  expect(await c.call(request)).toBe(reply);
  const { messages, rest } = splitMessages(await peer.readMessages(1));
  expect(rest).toBe("");
  expect(messages.length).toBe(1);
  return messages[0]!;
}

/** A request that must send nothing: the next message is the sentinel's rep. */
let sentinel_n = 0;
async function nothingFor(c: RawClient, peer: FakePeer, request: string, reply: string): Promise<void> {
  expect(await c.call(request)).toBe(reply);
  const key = `s${sentinel_n++}`;
  const m = await oneMessage(c, peer, `set ${key} 0 0 1\r\nS\r\n`, "STORED\r\n");
  expect(m).toMatch(new RegExp(`^rep ${key} 0 0 1 \\d+\\r\\nS\\r\\n$`));
}

/** A `rep` line's absolute exptime, checked to be within 2 s of `near`. */
function repExptime(m: string, near: number): number {
  const exptime = Number(m.split("\r\n")[0]!.split(" ")[3]);
  expect(Math.abs(exptime - near)).toBeLessThanOrEqual(2);
  return exptime;
}

// ---------------------------------------------------------------------------------------------
describe("the emulator on the wire: the spec's captures (section 9)", () => {
  test("full copy, live operations with their cas numbers, replies suppressed, graceful stop", async () => {
    const rport = await freePort();
    const a = await classic(["-X", String(rport), "-v"]);
    const c = await client(a.port);
    const at = nowS();
    expect(await c.call("set pre1 5 0 3\r\nabc\r\n")).toBe("STORED\r\n");
    expect(await c.call("set pre2 0 3600 2\r\nxy\r\n")).toBe("STORED\r\n");
    expect(await c.call("set pre3 4294967295 0 0\r\n\r\n")).toBe("STORED\r\n");
    expect(await c.call("gets pre3\r\n", "END\r\n")).toBe("VALUE pre3 -1 0 3\r\n\r\nEND\r\n");

    const peer = await FakePeer.connect(rport);
    const { messages } = splitMessages(await peer.readUntilMarugotoEnd());
    expect(messages.length).toBe(4);
    const exptime = repExptime(messages[1]!, at + 3600);
    expect(messages).toEqual([
      "rep pre3 -1 0 0 3\r\n\r\n", `rep pre2 0 ${exptime} 2 2\r\nxy\r\n`, "rep pre1 5 0 3 1\r\nabc\r\n", "marugoto_end\r\n",
    ]);
    await waitForLog(a, "replication: marugoto owari");
    expectInOrder(a.output(), [
      "replication: listen", "replication: accept", "replication: marugoto start", "replication: marugoto 3",
      "replication: marugoto owari",
    ]);

    // live operations, each sent separately (the capture's sequence, so the cas numbers match)
    expect(await oneMessage(c, peer, "set k1 7 0 5\r\nhello\r\n", "STORED\r\n")).toBe("rep k1 7 0 5 4\r\nhello\r\n");
    expect(await oneMessage(c, peer, "add k2 0 0 1\r\nA\r\n", "STORED\r\n")).toBe("rep k2 0 0 1 5\r\nA\r\n");
    let m = await oneMessage(c, peer, "replace k2 3 100 2\r\nRR\r\n", "STORED\r\n");
    expect(m).toBe(`rep k2 3 ${repExptime(m, nowS() + 100)} 2 6\r\nRR\r\n`);
    expect(await oneMessage(c, peer, "append k1 9 9 3\r\n+ap\r\n", "STORED\r\n")).toBe("rep k1 7 0 8 7\r\nhello+ap\r\n");
    expect(await oneMessage(c, peer, "prepend k1 0 0 3\r\npp+\r\n", "STORED\r\n")).toBe("rep k1 7 0 11 8\r\npp+hello+ap\r\n");
    expect(await oneMessage(c, peer, "set n 0 0 2\r\n10\r\n", "STORED\r\n")).toBe("rep n 0 0 2 9\r\n10\r\n");
    expect(await oneMessage(c, peer, "incr n 5\r\n", "15\r\n")).toBe("rep n 0 0 2 10\r\n15\r\n");
    expect(await oneMessage(c, peer, "decr n 7\r\n", "8\r\n")).toBe("rep n 0 0 2 11\r\n8 \r\n");
    expect(await oneMessage(c, peer, "decr n 100\r\n", "0\r\n")).toBe("rep n 0 0 2 12\r\n0 \r\n");
    expect(await oneMessage(c, peer, "incr k1 1\r\n", "1\r\n")).toBe("rep k1 7 0 11 13\r\n1          \r\n");
    await nothingFor(c, peer, "add k2 0 0 1\r\nB\r\n", "NOT_STORED\r\n");
    await nothingFor(c, peer, "cas k1 0 0 1 999\r\nx\r\n", "EXISTS\r\n");
    await nothingFor(c, peer, "incr nokey 1\r\n", "NOT_FOUND\r\n");
    expect(await oneMessage(c, peer, "delete k2\r\n", "DELETED\r\n")).toBe("delete k2\r\n");
    await nothingFor(c, peer, "delete k2\r\n", "NOT_FOUND\r\n");
    expect(await c.call("set d 0 0 1\r\nd\r\n")).toBe("STORED\r\n");
    await peer.readMessages(1);
    m = await oneMessage(c, peer, "delete d 10\r\n", "DELETED\r\n");
    expect(m).toMatch(/^delete d \d+\r\n$/);
    expect(Math.abs(Number(m.split(" ")[2]) - (nowS() + 10))).toBeLessThanOrEqual(2);
    // 1.2.8's delete lock on the emulator itself: hidden, add refused, set overrides
    expect(await c.call("get d\r\n", "END\r\n")).toBe("END\r\n");
    await nothingFor(c, peer, "add d 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    m = await oneMessage(c, peer, "flush_all 100\r\n", "OK\r\n");
    expect(Math.abs(Number(/^flush_all (\d+)\r\n$/.exec(m)![1]) - (nowS() + 100))).toBeLessThanOrEqual(2);
    expect(await oneMessage(c, peer, "flush_all\r\n", "OK\r\n")).toBe("flush_all \r\n");
    c.send("flush_all noreply\r\n");
    expect(splitMessages(await peer.readMessages(1)).messages).toEqual(["flush_all \r\n"]);
    // flush_all 0 sends the start time (stats: time - uptime)
    const stats = await c.call("stats\r\n", "END\r\n");
    expect(stats).toContain("STAT replication MASTER\r\nSTAT repcached_version 2.2.1\r\n");
    expect(countOf(stats, "STAT ")).toBe(30);
    const start = Number(/STAT time (\d+)/.exec(stats)![1]) - Number(/STAT uptime (\d+)/.exec(stats)![1]);
    expect(await oneMessage(c, peer, "flush_all 0\r\n", "OK\r\n")).toBe(`flush_all ${start}\r\n`);

    // pipelined in one packet: reversed batches, state at send time
    c.send("set p1 0 0 1\r\n1\r\nset p2 0 0 1\r\n2\r\nset p3 0 0 1\r\n3\r\ndelete p2\r\n");
    expect(await c.readText("DELETED\r\n")).toBe("STORED\r\nSTORED\r\nSTORED\r\nDELETED\r\n");
    const pipelined = splitMessages(await peer.readMessages(4));
    expect(pipelined.messages.join("")).toMatch(/^delete p2\r\nrep p3 0 0 1 \d+\r\n3\r\ndelete p2\r\nrep p1 0 0 1 \d+\r\n1\r\n$/);
    c.send("flush_all\r\nset survivor 0 0 1\r\nS\r\n");
    expect(await c.readText("STORED\r\n")).toBe("OK\r\nSTORED\r\n");
    const flush_then_set = splitMessages(await peer.readMessages(2));
    expect(flush_then_set.messages.join("")).toMatch(/^rep survivor 0 0 1 \d+\r\nS\r\nflush_all \r\n$/);

    // the peer's messages: applied with its cas, nothing written back, except get's reply
    peer.send("rep fromB 1 0 3 1\r\nbbb\r\nset quiet 0 0 1\r\nq\r\ndelete nothing\r\nbogus\r\n");
    await untilValue(c, "fromB", "bbb");
    expect(await c.call("gets fromB\r\n", "END\r\n")).toBe("VALUE fromB 1 3 1\r\nbbb\r\nEND\r\n");
    expect(await valueOf(c, "quiet")).toBe("q");
    peer.send("get fromB\r\n");
    expect(await peer.readUntil((t) => t.endsWith("END\r\n"))).toBe("VALUE fromB 1 3\r\nbbb\r\nEND\r\n");
    expect(a.output()).toContain("emulator: unexpected on replication: bogus -> ERROR");
    // a client may not send the peer-only verbs
    expect(await c.call("rep x 0 0 1 1\r\nx\r\n", "ERROR\r\nERROR\r\n")).toBe("ERROR\r\nERROR\r\n");
    expect(await c.call("marugoto_end\r\n")).toBe("ERROR\r\n");

    // graceful stop: what was just written still reaches the peer, then FIN, exit 0
    c.send("set lastB 0 0 1\r\nL\r\n");
    expect(await c.readText()).toBe("STORED\r\n");
    const code = await a.stop("SIGTERM");
    expect(code).toBe(0);
    expect(splitMessages(await peer.readMessages(1)).messages[0]).toMatch(/^rep lastB 0 0 1 \d+\r\nL\r\n$/);
    expect(await peer.waitClosed()).toBe(true);
    expectInOrder(a.output(), ["got signal 15", "replication: cleanup start", "replication: close", "replication: cleanup complete"]);
  });

  test("empty cache: marugoto_end at once, no marugoto log lines; a second connector is refused", async () => {
    const rport = await freePort();
    const a = await classic(["-X", String(rport), "-v"]);
    const peer = await FakePeer.connect(rport);
    expect(await peer.readUntilMarugotoEnd()).toBe("marugoto_end\r\n");
    await waitForLog(a, "replication: accept");
    expect(a.output()).not.toContain("marugoto start");
    // the listen socket was closed on accept: nothing answers on the replication port now
    expect(await portAccepts(rport)).toBe(false);
    // the peer goes away: close, then listen again
    peer.close();
    await waitForLog(a, "replication: listen", 2);
    expectInOrder(a.output(), ["replication: listen", "replication: accept", "replication: close", "replication: listen"]);
    expect(await portAccepts(rport)).toBe(true);
  });

  test("-x with no peer: marugoto copying, close, then it listens and serves", async () => {
    const rport = await freePort();
    const b = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"]);
    expectInOrder(b.output(), [
      `replication: connect (peer=127.0.0.1:${rport})`, "replication: marugoto copying", "replication: close",
      "replication: listen",
    ]);
    const c = await client(b.port);
    expect(await c.call("version\r\n")).toBe("VERSION 1.2.8\r\n");
  });
});

// ---------------------------------------------------------------------------------------------
describe("two emulators", () => {
  test("pair: full copy on join, client port only after it, writes both ways, deferred delete", async () => {
    const rport = await freePort();
    const a = await classic(["-X", String(rport), "-v"]);
    const ca = await client(a.port);
    await fill(ca, "k", 50, "a");
    const b = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { wait: false });
    await joined(b);
    expectInOrder(b.output(), [`replication: connect (peer=127.0.0.1:${rport})`, "replication: marugoto copying", "replication: start"]);
    expect(b.output()).not.toContain("replication: listen");
    const cb = await client(b.port);
    await expectAll(cb, "k", 50, "a");
    await waitForLog(a, "replication: marugoto owari");
    expect(a.output()).toContain("replication: marugoto 50");

    expect(await cb.call("set fromB 0 0 1\r\nb\r\n")).toBe("STORED\r\n");
    await untilValue(ca, "fromB", "b");
    expect(await ca.call("set fromA 0 0 1\r\na\r\n")).toBe("STORED\r\n");
    await untilValue(cb, "fromA", "a");
    expect(await ca.call("delete fromB\r\n")).toBe("DELETED\r\n");
    await untilValue(cb, "fromB", null);
    // deferred delete: hidden and add-locked on both, set overrides
    expect(await ca.call("delete k1 30\r\n")).toBe("DELETED\r\n");
    await untilValue(cb, "k1", null);
    expect(await cb.call("add k1 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
    expect(await ca.call("add k1 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
    expect(await cb.call("set k1 0 0 1\r\ny\r\n")).toBe("STORED\r\n");
    await untilValue(ca, "k1", "y");
    expect(await ca.call("flush_all\r\n")).toBe("OK\r\n");
    await untilValue(cb, "k2", null);
    expectNoUnexpected(a);
    expectNoUnexpected(b);
  });

  test("kill -9 the listener: the survivor listens; the dead one restarted with -x gets every key", async () => {
    const rport = await freePort();
    const a = await classic(["-X", String(rport), "-v"]);
    const ca = await client(a.port);
    await fill(ca, "k", 100, "a");
    const b = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { wait: false });
    await joined(b);
    const cb = await client(b.port);
    await expectAll(cb, "k", 100, "a");
    ca.close();
    await a.stop("SIGKILL");
    await waitForLog(b, "replication: listen");
    expectInOrder(b.output(), ["replication: start", "replication: close", "replication: listen"]);
    await fill(cb, "after", 20, "b"); // written while alone
    await fill(cb, "k", 10, "b2"); // overwrites k0..k9

    const a2 = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { port: a.port, wait: false });
    await joined(a2);
    const ca2 = await client(a2.port);
    await expectAll(ca2, "after", 20, "b");
    await expectAll(ca2, "k", 10, "b2");
    const rest = Array.from({ length: 90 }, (_, i) => `k${i + 10}`);
    const text = await ca2.call(`get ${rest.join(" ")}\r\n`, "END\r\n");
    expect(countOf(text, "VALUE ")).toBe(90);
    await waitForLog(b, "replication: marugoto owari");
    expect(b.output()).toContain("replication: marugoto 120");
    // roles swapped: the restarted node (now the connector) writes, the survivor sees it
    expect(await ca2.call("set back 0 0 1\r\nx\r\n")).toBe("STORED\r\n");
    await untilValue(cb, "back", "x");
  });

  test("kill -9 the connector: the listener listens again; SIGTERM right after a set still delivers it", async () => {
    const rport = await freePort();
    const a = await classic(["-X", String(rport), "-v"]);
    const b = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { wait: false });
    await joined(b);
    const ca = await client(a.port);
    await fill(ca, "k", 10, "a");
    await b.stop("SIGKILL");
    await waitForLog(a, "replication: listen", 2);
    const b2 = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { port: b.port, wait: false });
    await joined(b2);
    const cb = await client(b2.port);
    await expectAll(cb, "k", 10, "a");
    cb.send("set lastB 0 0 1\r\nL\r\n");
    expect(await cb.readText()).toBe("STORED\r\n");
    cb.close();
    expect(await b2.stop("SIGTERM")).toBe(0);
    await untilValue(ca, "lastB", "L");
    expectInOrder(b2.output(), ["replication: cleanup start", "replication: close", "replication: cleanup complete"]);
  });
});

// ---------------------------------------------------------------------------------------------
describe("the emulator paired with our node", () => {
  test("our node listens, the emulator joins with -x: copy, writes both ways, kill -9 and rejoin", async () => {
    const rport = await freePort();
    const node = await ours(["-v", "-X", String(rport)]);
    const co = await client(node.port);
    await fill(co, "k", 50, "ours");
    expect(await co.call("set big 4294967295 0 3\r\nmax\r\n")).toBe("STORED\r\n");
    const em = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { wait: false });
    await joined(em);
    const ce = await client(em.port);
    await expectAll(ce, "k", 50, "ours");
    expect(await ce.call("get big\r\n", "END\r\n")).toBe("VALUE big -1 3\r\nmax\r\nEND\r\n");
    // the cas travelled with the copy
    const cas_ours = /VALUE k3 3 \d+ (\d+)/.exec(await co.call("gets k3\r\n", "END\r\n"))![1];
    expect(await ce.call("gets k3\r\n", "END\r\n")).toBe(`VALUE k3 3 7 ${cas_ours}\r\nv3-ours\r\nEND\r\n`);

    expect(await ce.call("set fromEm 2 0 2\r\nem\r\n")).toBe("STORED\r\n");
    await untilValue(co, "fromEm", "em");
    expect(await co.call("set fromOurs 0 0 2\r\nou\r\n")).toBe("STORED\r\n");
    await untilValue(ce, "fromOurs", "ou");
    expect(await ce.call("incr k9 0\r\n")).toBe("0\r\n"); // non-numeric counts as 0: "0" padded to 7
    await untilValue(co, "k9", "0      ");
    expect(await co.call("delete k0\r\n")).toBe("DELETED\r\n");
    await untilValue(ce, "k0", null);
    expect(await ce.call("delete k1\r\n")).toBe("DELETED\r\n");
    await untilValue(co, "k1", null);

    ce.close();
    await em.stop("SIGKILL");
    await waitForLog(node, "replication: close");
    await fill(co, "alone", 10, "ours"); // written while the emulator is dead
    const em2 = await classic(["-x", "127.0.0.1", "-X", String(rport), "-v"], { port: em.port, wait: false });
    await joined(em2);
    const ce2 = await client(em2.port);
    await expectAll(ce2, "alone", 10, "ours");
    expect(await valueOf(ce2, "fromEm")).toBe("em");
    expect(await valueOf(ce2, "k0")).toBeNull();
    expect(await ce2.call("set again 0 0 1\r\ng\r\n")).toBe("STORED\r\n");
    await untilValue(co, "again", "g");
    expectNoUnexpected(em);
    expectNoUnexpected(em2);
  });

  test("the emulator listens, our node joins with -x: its hello is answered END, copy, writes both ways", async () => {
    const rport = await freePort();
    const em = await classic(["-X", String(rport), "-v"]);
    const ce = await client(em.port);
    await fill(ce, "k", 50, "em");
    expect(await ce.call("set neg 4294967295 0 1\r\nn\r\n")).toBe("STORED\r\n");
    const node = await ours(["-v", "-x", "127.0.0.1", "-X", String(rport)], { wait: false });
    await joined(node);
    const co = await client(node.port);
    await expectAll(co, "k", 50, "em");
    expect(await co.call("gets neg\r\n", "END\r\n")).toMatch(/^VALUE neg 4294967295 1 \d+\r\nn\r\nEND\r\n$/);
    const cas_em = /VALUE k3 3 \d+ (\d+)/.exec(await ce.call("gets k3\r\n", "END\r\n"))![1];
    expect(await co.call("gets k3\r\n", "END\r\n")).toBe(`VALUE k3 3 5 ${cas_em}\r\nv3-em\r\nEND\r\n`);

    expect(await co.call("set fromOurs 0 0 2\r\nou\r\n")).toBe("STORED\r\n");
    await untilValue(ce, "fromOurs", "ou");
    expect(await ce.call("set fromEm 0 0 2\r\nem\r\n")).toBe("STORED\r\n");
    await untilValue(co, "fromEm", "em");
    expect(await co.call("append fromEm 0 0 1\r\n+\r\n")).toBe("STORED\r\n");
    await untilValue(ce, "fromEm", "em+");
    expect(await ce.call("delete k2\r\n")).toBe("DELETED\r\n");
    await untilValue(co, "k2", null);
    expect(await co.call("flush_all\r\n")).toBe("OK\r\n");
    await untilValue(ce, "k5", null);
    expect(await ce.call("set post 0 0 1\r\np\r\n")).toBe("STORED\r\n");
    await untilValue(co, "post", "p");
    // the hello was an ordinary get on the classic side: no error, nothing unexpected
    expectNoUnexpected(em);
    expectInOrder(em.output(), ["replication: listen", "replication: accept", "replication: marugoto start", "replication: marugoto 51"]);
  });
});
