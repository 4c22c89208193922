// -F and -C with replication, on two real nodes. (Without replication, both flags are compared
// byte for byte with memcached 1.6.18 in compat_cases.ts.)
// -F refuses a client's flush_all; a peer's flush still applies (the pair stays alike).
// -C hides cas from clients only: items keep theirs, so replication still orders versions by it.
import { afterEach, describe, expect, test } from "bun:test";
import { freePort, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually, untilValue } from "../helpers/cache_client.ts";
import { FakePeer } from "../helpers/fake_peer.ts";

const started: Spawned[] = [];
const clients: CacheClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of started.splice(0)) await server.stop("SIGKILL");
});

async function pair(flags_a: string[], flags_b: string[]): Promise<{ a: CacheClient; b: CacheClient; rb: RawClient }> {
  const rport = await freePort();
  const a = await startOurs(["-X", String(rport), ...flags_a]);
  started.push(a);
  const b = await startOurs(["-x", "127.0.0.1", "-X", String(rport), ...flags_b]);
  started.push(b);
  const ca = await CacheClient.connect(a.port);
  const cb = await CacheClient.connect(b.port);
  clients.push(ca, cb);
  const synced = async () => (await ca.stats("replication")).get("state") === "synced" &&
    (await cb.stats("replication")).get("state") === "synced";
  expect(await eventually(synced, 10_000, 50)).toBe(true);
  return { a: ca, b: cb, rb: cb.raw };
}

describe("-F and -C with replication", () => {
  test("-F: a client's flush_all is refused on the -F node; the peer's flush still reaches it", async () => {
    const { a, b, rb } = await pair([], ["-F"]);
    expect(await a.set("fk", "v")).toBe("STORED");
    await untilValue(rb, "fk", "v");
    expect(await b.command("flush_all\r\n")).toBe("CLIENT_ERROR flush_all not allowed");
    expect((await b.get("fk"))?.value).toBe("v");
    expect(await a.command("flush_all\r\n")).toBe("OK");
    await untilValue(rb, "fk", null);
    expect((await b.stats("settings")).get("flush_enabled")).toBe("no");
  }, 30_000);

  test("-F: a classic repcached peer's `flush_all` line applies on a -F node", async () => {
    const rport = await freePort();
    const node = await startOurs(["-X", String(rport), "-F"]);
    started.push(node);
    const peer = await FakePeer.connect(rport);
    const c = await RawClient.connect(node.port);
    try {
      await peer.readUntilMarugotoEnd();
      peer.send("rep classic_k 0 0 1 5\r\nx\r\n");
      await untilValue(c, "classic_k", "x");
      expect(await c.call("flush_all\r\n")).toBe("CLIENT_ERROR flush_all not allowed\r\n");
      expect(await c.call("get classic_k\r\n", "END\r\n")).toBe("VALUE classic_k 0 1\r\nx\r\nEND\r\n");
      peer.send("flush_all\r\n");
      await untilValue(c, "classic_k", null);
    } finally {
      c.close();
      peer.close();
    }
  }, 30_000);

  test("-C on both nodes: clients see cas 0 everywhere, writes still replicate and converge", async () => {
    const { a, b, rb } = await pair(["-C"], ["-C"]);
    expect(await a.set("ck", "from_a")).toBe("STORED");
    await untilValue(rb, "ck", "from_a");
    expect((await a.get("ck"))?.cas).toBe("0");
    expect((await b.get("ck"))?.cas).toBe("0");
    expect(await b.command("cas ck 0 0 1 0\r\nx\r\n")).toBe("EXISTS");
    // the later write wins on both nodes (ordered by the cas the items keep)
    expect(await b.set("ck", "from_b")).toBe("STORED");
    await untilValue(a.raw, "ck", "from_b");
    expect((await b.get("ck"))?.value).toBe("from_b");
    expect((await a.stats("settings")).get("cas_enabled")).toBe("no");
  }, 30_000);
});
