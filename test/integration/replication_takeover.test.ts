// Takeover: one node of a pair is killed (-9) and restarted as repcached's write-ups do (with -x
// pointing at the survivor); it must end with every key the survivor holds. In every mix of our
// node and a classic repcached 2.2.1 (the emulator, test/helpers/classic_repcached.ts), with the
// listener or the connector killed, on one host sharing the -X port or on two addresses.
import { afterEach, describe, expect, test } from "bun:test";
import { freePort, startClassic, startOurs, type Spawned } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";

type Kind = "ours" | "classic";
const started: Spawned[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.stop("SIGKILL");
});

async function node(kind: Kind, args: string[], host: string, port?: number, wait = true): Promise<Spawned> {
  const opts = { host, port, wait };
  const server = kind === "ours" ? await startOurs(["-v", ...args], opts) : await startClassic(["-v", ...args], opts);
  started.push(server);
  return server;
}

async function client(server: Spawned): Promise<CacheClient> {
  return await CacheClient.connect(server.port, server.host);
}

/** Waits until `key` reads `value` on `server` (a connector's client port opens after its copy). */
async function shows(server: Spawned, key: string, value: string, ms = 10_000): Promise<boolean> {
  return await eventually(async () => {
    const c = await client(server).catch(() => null);
    if (c === null) return false;
    try {
      return (await c.get(key))?.value === value;
    } finally {
      c.close();
    }
  }, ms, 25);
}

async function contents(server: Spawned, keys: string[]): Promise<Map<string, string>> {
  const c = await client(server);
  try {
    const items = await c.gets(keys);
    return new Map([...items].map(([key, item]) => [key, item.value]));
  } finally {
    c.close();
  }
}

interface Case {
  listener: Kind;
  connector: Kind;
  killed: "listener" | "connector";
  topology: "one host, shared port" | "two addresses";
}

const cases: Case[] = [];
for (const [listener, connector] of [["ours", "ours"], ["classic", "ours"], ["ours", "classic"]] as Array<[Kind, Kind]>) {
  for (const killed of ["listener", "connector"] as const) {
    for (const topology of ["one host, shared port", "two addresses"] as const) cases.push({ listener, connector, killed, topology });
  }
}

describe("takeover: the restarted node gets every key the survivor holds", () => {
  for (const c of cases) {
    test(`${c.listener} listener + ${c.connector} connector, ${c.killed} killed, ${c.topology}`, async () => {
      const rport = await freePort();
      const host_l = "127.0.0.1";
      const host_c = c.topology === "two addresses" ? "127.0.0.2" : "127.0.0.1";
      const l = await node(c.listener, ["-X", String(rport)], host_l);
      const connector_args = (peer: string) => ["-x", peer, "-X", String(rport)];
      const k = await node(c.connector, connector_args(host_l), host_c);
      // Writes on both sides before the kill, each seen on the other side.
      const keys: string[] = [];
      for (const [side, server] of [["l", l], ["c", k]] as const) {
        const cl = await client(server);
        for (let i = 0; i < 20; i++) {
          keys.push(`${side}${i}`);
          expect(await cl.set(`${side}${i}`, `v-${side}${i}`)).toBe("STORED");
        }
        cl.close();
      }
      expect(await shows(l, "c19", "v-c19")).toBe(true);
      expect(await shows(k, "l19", "v-l19")).toBe(true);
      const [victim, survivor] = c.killed === "listener" ? [l, k] : [k, l];
      const victim_kind = c.killed === "listener" ? c.listener : c.connector;
      const listens = (server: Spawned) => server.output().split("replication: listen").length - 1;
      const listened = listens(survivor);
      await victim.stop("SIGKILL");
      // The survivor takes the replication port (repcached's rule); as the write-ups say, the
      // other node is restarted once it has (started earlier, it could take the port itself).
      expect(await eventually(async () => listens(survivor) > listened, 10_000, 10)).toBe(true);
      // The survivor serves on and takes writes.
      const cs = await client(survivor);
      for (let i = 0; i < 5; i++) {
        keys.push(`during${i}`);
        expect(await cs.set(`during${i}`, `outage${i}`)).toBe("STORED");
      }
      cs.close();
      // Restarted with -x pointing at the survivor, as the repcached write-ups do.
      const restarted = await node(victim_kind, connector_args(survivor.host), victim.host, victim.port, false);
      try {
        await expectEverything(survivor, restarted, keys);
      } catch (error) {
        console.log(`survivor:\n${survivor.output()}\nkilled:\n${victim.output()}\nrestarted:\n${restarted.output()}`);
        throw error;
      }
    }, 60_000);
  }
});

/** The restarted node ends with every key the survivor holds, and the pair replicates again. */
async function expectEverything(survivor: Spawned, restarted: Spawned, keys: string[]): Promise<void> {
  expect(await shows(restarted, "during4", "outage4", 15_000)).toBe(true);
  const want = await contents(survivor, keys);
  expect(want.size).toBe(keys.length);
  expect(await eventually(async () => {
    const got = await contents(restarted, keys);
    return keys.every((key) => got.get(key) === want.get(key));
  }, 10_000)).toBe(true);
  // And the pair replicates again, both ways.
  const cr = await client(restarted);
  expect(await cr.set("after", "both ways")).toBe("STORED");
  cr.close();
  expect(await shows(survivor, "after", "both ways")).toBe(true);
}
