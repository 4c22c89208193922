// Replication over TLS (--replication-tls-*): two nodes pair with mutual verification through a
// relay that plays the on-path host. The relay sees only ciphertext (no key or value bytes), bytes
// it injects break the link instead of landing as a write, and both nodes keep identical content;
// a node whose certificate comes from another CA is refused and counted.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { freePort, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { Relay } from "../helpers/relay.ts";
import { makeCerts, type Certs } from "../helpers/certs.ts";

const key_count = 100;
const value_marker = "plaintext-value-";
const pair_wait_ms = 10_000;
/** Bound on one test: pairing, a re-pair and the checks, on a shared 2-core box. */
const test_ms_max = 40_000;

let certs: Certs;
beforeAll(() => {
  // No IP SAN: peers are identified by the CA, not by address.
  certs = makeCerts(["node-a", "node-b", "intruder"], { foreign: ["intruder"] });
});
afterAll(() => certs.remove());

const running: Spawned[] = [];
const clients: CacheClient[] = [];
let relay: Relay | null = null;
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of running.splice(0)) await p.stop();
  await relay?.close();
  relay = null;
});

function tlsFlags(name: string, ca = certs.ca): string[] {
  const pair = certs.pairs.get(name)!;
  return ["--replication-tls-cert", pair.cert, "--replication-tls-key", pair.key, "--replication-tls-ca", ca];
}

async function start(args: string[]): Promise<[Spawned, CacheClient]> {
  const node = await startOurs(args);
  running.push(node);
  const client = await CacheClient.connect(node.port);
  clients.push(client);
  return [node, client];
}

async function replication(c: CacheClient): Promise<Map<string, string>> {
  return await c.stats("replication");
}

/** A listener node A and a node B that dials A through the relay; resolves once both are synced. */
async function pairThroughRelay(): Promise<{ a: CacheClient; b: CacheClient; a_node: Spawned }> {
  const a_port = await freePort();
  const [a_node, a] = await start(["-X", String(a_port), ...tlsFlags("node-a")]);
  relay = await Relay.start(a_port);
  const [, b] = await start(["-x", "127.0.0.1", "-X", `${await freePort()}:${relay.port}`, ...tlsFlags("node-b")]);
  const synced = async () => (await replication(a)).get("state") === "synced" && (await replication(b)).get("state") === "synced";
  expect(await eventually(synced, pair_wait_ms)).toBe(true);
  return { a, b, a_node };
}

async function values(c: CacheClient): Promise<Map<string, string>> {
  const keys = Array.from({ length: key_count }, (_, i) => `sec:${i}`);
  const items = await c.gets(keys);
  return new Map([...items].map(([key, item]) => [key, item.value]));
}

test("the relay sees only ciphertext; injected bytes break the link, never land; both nodes stay equal", async () => {
  const { a, b } = await pairThroughRelay();
  const seen: Buffer[] = [];
  relay!.up.tap = (chunk) => seen.push(Buffer.from(chunk));
  relay!.down.tap = (chunk) => seen.push(Buffer.from(chunk));
  for (let i = 0; i < key_count; i++) {
    expect(await (i % 2 === 0 ? a : b).set(`sec:${i}`, `${value_marker}${i}`)).toBe("STORED");
  }
  const all_on_both = async () => (await values(a)).size === key_count && (await values(b)).size === key_count;
  expect(await eventually(all_on_both, pair_wait_ms)).toBe(true);
  const relayed = Buffer.concat(seen);
  expect(relayed.length).toBeGreaterThan(0);
  expect(relayed.includes(value_marker)).toBe(false);
  expect(relayed.includes("sec:")).toBe(false);
  expect((await replication(a)).get("tls")).toBe("on");

  const pairings_before = Number((await replication(a)).get("pairings"));
  const evil = Buffer.from("rep sec:10 0 0 5 99999999\r\nEVIL!\r\n", "latin1");
  expect(relay!.inject("up", evil) + relay!.inject("down", evil)).toBeGreaterThan(0);
  // The link breaks and re-pairs (through the same relay); nothing injected is applied.
  const repaired = async () => Number((await replication(a)).get("pairings")) > pairings_before &&
    (await replication(a)).get("state") === "synced" && (await replication(b)).get("state") === "synced";
  expect(await eventually(repaired, pair_wait_ms)).toBe(true);
  expect(`${(await replication(a)).get("last_error")} ${(await replication(b)).get("last_error")}`).toContain("link error");
  const on_a = await values(a);
  const on_b = await values(b);
  expect(on_a.get("sec:10")).toBe(`${value_marker}10`);
  expect(on_b).toEqual(on_a);
  expect(on_a.size).toBe(key_count);
}, test_ms_max);

test("a node with a certificate from another CA is refused and counted; it gets no data", async () => {
  const a_port = await freePort();
  const [, a] = await start(["-X", String(a_port), ...tlsFlags("node-a")]);
  expect(await a.set("sec:1", `${value_marker}1`)).toBe("STORED");
  // The intruder trusts our CA (it could learn it), but its own certificate is from another one.
  const [intruder_node, intruder] = await start(["-x", "127.0.0.1", "-X", `${await freePort()}:${a_port}`, ...tlsFlags("intruder")]);
  const refused = async () => Number((await replication(a)).get("tls_failures")) > 0;
  expect(await eventually(refused, pair_wait_ms)).toBe(true);
  const a_stats = await replication(a);
  expect(a_stats.get("last_error")).toContain("did not verify");
  expect(a_stats.get("pairings")).toBe("0");
  expect(await intruder.get("sec:1")).toBeUndefined();
  expect((await replication(intruder)).get("state")).not.toBe("synced");
  expect(intruder_node.output()).not.toContain("replication: start");
}, test_ms_max);

test("a listener with a certificate from another CA is refused by the node that dials it", async () => {
  const intruder_port = await freePort();
  const [, intruder] = await start(["-X", String(intruder_port), ...tlsFlags("intruder")]);
  const [, b] = await start(["-x", "127.0.0.1", "-X", `${await freePort()}:${intruder_port}`, ...tlsFlags("node-b")]);
  expect(await b.set("sec:2", `${value_marker}2`)).toBe("STORED");
  const refused = async () => Number((await replication(b)).get("tls_failures")) > 0;
  expect(await eventually(refused, pair_wait_ms)).toBe(true);
  expect((await replication(b)).get("last_error")).toContain("did not verify");
  expect((await replication(b)).get("pairings")).toBe("0");
  expect(await intruder.get("sec:2")).toBeUndefined();
}, test_ms_max);

test("a pinned peer certificate pairs without a CA; a different pin refuses", async () => {
  const pin_of = (name: string) => certs.fingerprint(certs.pairs.get(name)!.cert);
  const pinned = (name: string, peer: string) => {
    const pair = certs.pairs.get(name)!;
    return ["--replication-tls-cert", pair.cert, "--replication-tls-key", pair.key, "--replication-tls-pin", pin_of(peer)];
  };
  const a_port = await freePort();
  const [, a] = await start(["-X", String(a_port), ...pinned("node-a", "node-b")]);
  const [, b] = await start(["-x", "127.0.0.1", "-X", `${await freePort()}:${a_port}`, ...pinned("node-b", "node-a")]);
  expect(await a.set("pin:1", "one")).toBe("STORED");
  expect(await eventually(async () => (await b.get("pin:1"))?.value === "one", pair_wait_ms)).toBe(true);
  // The intruder pins node-a correctly, but node-a pins node-b: the intruder is refused.
  const [, intruder] = await start(["-x", "127.0.0.1", "-X", `${await freePort()}:${a_port}`, ...pinned("intruder", "node-a")]);
  expect(intruder).toBeDefined();
  const refused = async () => Number((await replication(a)).get("tls_failures")) > 0;
  expect(await eventually(refused, pair_wait_ms)).toBe(true);
  expect((await replication(a)).get("last_error")).toContain("not the pinned one");
}, test_ms_max);
