// A deferred delete from a classic repcached peer keeps memcached 1.2.8's meaning on our node.
// The classic peer is the emulator (test/helpers/classic_repcached.ts); a client of the emulator runs
// `delete <key> <seconds>`, which repcached sends as `delete <key> <abs unix time>`. On our node the
// key is then hidden AND delete-locked until that time: add/replace/append/prepend answer
// NOT_STORED, cas and incr/decr NOT_FOUND; set (ours) and rep (the peer's) override the lock; after
// the time the lock is gone. (Our own clients cannot make deferred deletes: `delete k 1` stays
// memcached 1.6's CLIENT_ERROR.)
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, RawClient, startClassic, startOurs, type Spawned } from "../helpers/procs.ts";
import { eventually, portAccepts } from "../helpers/fake_peer.ts";
import { untilValue, valueOf } from "../helpers/cache_client.ts";

setDefaultTimeout(30_000);

const started: Spawned[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const node of started.splice(0)) await node.stop("SIGKILL");
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

/** Our node listening on a replication port, the emulator joined with -x; a client on each. */
async function pair(): Promise<{ ours: RawClient; classic: RawClient }> {
  const rport = await freePort();
  const node = await startOurs(["-v", "-X", String(rport)]);
  started.push(node);
  const em = await startClassic(["-v", "-x", "127.0.0.1", "-X", String(rport)], { wait: false });
  started.push(em);
  // `replication: start` is logged as the client port opens: wait for both
  const ok = await eventually(async () => em.output().includes("replication: start") && (await portAccepts(em.port)), 10_000);
  if (!ok) throw new Error(`the emulator did not pair:\n${em.output()}\n${node.output()}`);
  const classic = await client(em.port);
  const ours = await client(node.port);
  return { ours, classic };
}


/** Sets `key` on the emulator and waits until our node has it. */
async function seed(p: { ours: RawClient; classic: RawClient }, key: string, data: string): Promise<void> {
  expect(await p.classic.call(`set ${key} 0 0 ${data.length}\r\n${data}\r\n`)).toBe("STORED\r\n");
  await untilValue(p.ours, key, data);
}

test("during the window: hidden; add/replace/append/prepend NOT_STORED, cas and incr NOT_FOUND; set overrides", async () => {
  const p = await pair();
  await seed(p, "k", "v");
  await seed(p, "n", "10");
  const cas = /^VALUE k 0 1 (\d+)/.exec(await p.ours.call("gets k\r\n", "END\r\n"))![1];
  expect(await p.classic.call("delete k 5\r\n")).toBe("DELETED\r\n");
  expect(await p.classic.call("delete n 5\r\n")).toBe("DELETED\r\n");
  await untilValue(p.ours, "k", null);
  await untilValue(p.ours, "n", null);
  const o = p.ours;
  expect(await o.call("add k 0 0 1\r\na\r\n")).toBe("NOT_STORED\r\n");
  expect(await o.call("replace k 0 0 1\r\nr\r\n")).toBe("NOT_STORED\r\n");
  expect(await o.call("append k 0 0 1\r\na\r\n")).toBe("NOT_STORED\r\n");
  expect(await o.call("prepend k 0 0 1\r\np\r\n")).toBe("NOT_STORED\r\n");
  expect(await o.call(`cas k 0 0 1 ${cas}\r\nc\r\n`)).toBe("NOT_FOUND\r\n");
  expect(await o.call("incr n 1\r\n")).toBe("NOT_FOUND\r\n");
  expect(await o.call("decr n 1\r\n")).toBe("NOT_FOUND\r\n");
  expect(await o.call("delete k\r\n")).toBe("NOT_FOUND\r\n");
  expect(await o.call("get k\r\n", "END\r\n")).toBe("END\r\n");
  // a value large enough to stream into the store is refused the same way (and swallowed)
  const big = "B".repeat(100_000);
  expect(await o.call(`add n 0 0 ${big.length}\r\n${big}\r\n`)).toBe("NOT_STORED\r\n");
  expect(await o.call("get n\r\n", "END\r\n")).toBe("END\r\n");
  // nothing refused here was sent to the peer: it still misses both keys
  expect(await valueOf(p.classic, "k")).toBeNull();
  // set overrides the lock (and ends it: after a delete, add works again)
  expect(await o.call("set k 0 0 1\r\ns\r\n")).toBe("STORED\r\n");
  expect(await valueOf(o, "k")).toBe("s");
  await untilValue(p.classic, "k", "s");
  expect(await o.call("delete k\r\n")).toBe("DELETED\r\n");
  expect(await o.call("add k 0 0 1\r\na\r\n")).toBe("STORED\r\n");
  // the streamed set path overrides too
  expect(await o.call(`set n 0 0 ${big.length}\r\n${big}\r\n`)).toBe("STORED\r\n");
  expect(await o.call("delete n\r\n")).toBe("DELETED\r\n");
  expect(await o.call("add n 0 0 1\r\n1\r\n")).toBe("STORED\r\n");
});

test("the peer's own set after its deferred delete (a rep) overrides the lock on our node", async () => {
  const p = await pair();
  await seed(p, "r", "1");
  expect(await p.classic.call("delete r 5\r\n")).toBe("DELETED\r\n");
  await untilValue(p.ours, "r", null);
  expect(await p.ours.call("add r 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
  expect(await p.classic.call("set r 0 0 1\r\n2\r\n")).toBe("STORED\r\n"); // 1.2.8: set overrides
  await untilValue(p.ours, "r", "2");
  expect(await p.ours.call("delete r\r\n")).toBe("DELETED\r\n");
  expect(await p.ours.call("add r 0 0 1\r\n3\r\n")).toBe("STORED\r\n");
  await untilValue(p.classic, "r", "3");
});

test("after the time the lock is gone: add works again", async () => {
  const p = await pair();
  await seed(p, "t", "1");
  expect(await p.classic.call("delete t 2\r\n")).toBe("DELETED\r\n");
  await untilValue(p.ours, "t", null);
  expect(await p.ours.call("add t 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
  let reply = "";
  const ok = await eventually(async () => (reply = await p.ours.call("add t 0 0 1\r\ny\r\n")) === "STORED\r\n", 5_000, 100);
  expect(ok).toBe(true);
  expect(reply).toBe("STORED\r\n");
  expect(await valueOf(p.ours, "t")).toBe("y");
});

test("the classic side (1.2.8 semantics in the emulator): add during its own window answers NOT_STORED", async () => {
  const p = await pair();
  await seed(p, "e", "1");
  expect(await p.classic.call("delete e 5\r\n")).toBe("DELETED\r\n");
  expect(await p.classic.call("get e\r\n", "END\r\n")).toBe("END\r\n");
  expect(await p.classic.call("add e 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
  expect(await p.classic.call("replace e 0 0 1\r\nx\r\n")).toBe("NOT_STORED\r\n");
  expect(await p.classic.call("set e 0 0 1\r\ns\r\n")).toBe("STORED\r\n");
  await untilValue(p.ours, "e", "s");
});

test("our clients still cannot make a deferred delete (memcached 1.6's reply, a documented choice)", async () => {
  const p = await pair();
  await seed(p, "c", "1");
  expect(await p.ours.call("delete c 1\r\n")).toBe("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  expect(await valueOf(p.ours, "c")).toBe("1");
});
