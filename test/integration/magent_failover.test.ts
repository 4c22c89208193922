// The magent proxy when servers die, hang and come back — with real backends on 127.0.0.1.
// - kill -9 a main server: its reads hit the backup, its writes go to the backup only;
// - restart it empty: reads still hit (magent 0.5 served misses here) and the server fills back up,
//   keeping the remaining TTL when the backup speaks memcached 1.6's meta protocol;
// - no backup: a dead server's keys get SERVER_ERROR promptly, other servers' keys are untouched;
// - SIGSTOP (a hung server): requests time out, fail over, and other clients never wait;
// - with the default flags a down server is probed at a steady, short interval: restarted, it is up
//   well within a second and the first reads warm it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { freePort, pauseProcess, RawClient, type Spawned, startMagent, startMemcached, startOurs, startYrmcds } from "../helpers/procs.ts";
import { eventually } from "../helpers/cache_client.ts";
import { Continuum } from "../../src/proxy/ketama.ts";

const timeouts = ["--connect-timeout", "500", "--request-timeout", "500", "--retry-min", "100", "--retry-max", "400"];

async function startMagentQuick(args: string[]): Promise<Spawned> {
  return await startMagent(["-v", ...timeouts, ...args]);
}

async function rawOn(port: number, request: string, suffix = "\r\n"): Promise<string> {
  const c = await RawClient.connect(port);
  const reply = await c.call(request, suffix);
  c.close();
  return reply;
}

async function serverState(proxy: Spawned, role: string, n: number): Promise<string> {
  const stats = await rawOn(proxy.port, "stats\r\n", "END\r\n");
  return stats.match(new RegExp(`STAT ${role}:${n}:state (\\w+)`))?.[1] ?? "none";
}

async function serverStat(proxy: Spawned, role: string, n: number, name: string): Promise<number> {
  const stats = await rawOn(proxy.port, "stats\r\n", "END\r\n");
  return Number(stats.match(new RegExp(`STAT ${role}:${n}:${name} (\\d+)`))?.[1] ?? -1);
}

function expectedGet(keys: string[]): string {
  return keys.map((key) => `VALUE ${key} 5 ${key.length}\r\n${key}\r\n`).join("") + "END\r\n";
}

type Starter = (args?: string[], opts?: { port?: number }) => Promise<Spawned>;
const backups: Array<[string, Starter, boolean]> = [
  ["stock memcached (meta get: TTL kept)", (args = [], opts = {}) => startMemcached(args, opts), true],
  ["our server (meta get: TTL kept)", (args = [], opts = {}) => startOurs(args, opts), true],
  ["yrmcds (no meta get: written back without a TTL)", (_args = [], opts = {}) => startYrmcds(opts), false],
];

for (const [backup_flavor, startBackup, has_meta] of backups) {
  describe(`kill and restart a main server; backup: ${backup_flavor}`, () => {
    let mains: Spawned[] = [];
    let backup: Spawned;
    let proxy: Spawned;
    let ring: Continuum;
    let keys: string[] = [];
    let victim_keys: string[] = [];

    beforeAll(async () => {
      mains = [await startMemcached(), await startMemcached()];
      backup = await startBackup();
      const args = mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]);
      proxy = await startMagentQuick([...args, "-b", `127.0.0.1:${backup.port}`]);
      ring = new Continuum(mains.map((m) => ({ host: "127.0.0.1", port: m.port })));
      keys = Array.from({ length: 200 }, (_, i) => `fo:${i}`);
      victim_keys = keys.filter((key) => ring.serverOfKey(key) === 0);
      const c = await RawClient.connect(proxy.port);
      let request = "";
      for (const key of keys) request += `set ${key} 5 1000 ${key.length}\r\n${key}\r\n`;
      c.send(request);
      await c.readUntil((b) => b.length >= keys.length * 8, 10_000);
      c.close();
    });

    afterAll(async () => {
      await proxy?.stop();
      for (const m of mains) await m.stop();
      await backup?.stop();
    });

    test("kill -9 a main server: its keys are read from the backup, writes go to the backup", async () => {
      expect(victim_keys.length).toBeGreaterThan(50);
      await mains[0]!.stop("SIGKILL");
      const c = await RawClient.connect(proxy.port);
      const started = Date.now();
      expect(await c.call(`get ${keys.join(" ")}\r\n`, "END\r\n")).toBe(expectedGet(keys));
      for (const key of victim_keys.slice(0, 20)) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(expectedGet([key]));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await serverState(proxy, "matrix", 1)).toBe("down");
      const written = victim_keys[0]!;
      expect(await c.call(`set ${written} 5 1000 3\r\nnew\r\n`)).toBe("STORED\r\n");
      expect(await rawOn(backup.port, `get ${written}\r\n`, "END\r\n")).toBe(`VALUE ${written} 5 3\r\nnew\r\nEND\r\n`);
      expect(await c.call(`set ${written} 5 1000 ${written.length}\r\n${written}\r\n`)).toBe("STORED\r\n");
      c.close();
    });

    test("restart it empty: reads still hit, and the restarted server fills back up", async () => {
      mains[0] = await startMemcached([], { port: mains[0]!.port });
      expect(await eventually(async () => (await serverState(proxy, "matrix", 1)) === "up", 5_000)).toBe(true);
      expect(await rawOn(mains[0]!.port, `get ${victim_keys[0]}\r\n`, "END\r\n")).toBe("END\r\n"); // empty
      const c = await RawClient.connect(proxy.port);
      // magent 0.5 answers END here although the backup holds every key.
      for (const key of victim_keys.slice(0, 10)) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(expectedGet([key]));
      expect(await c.call(`get ${keys.join(" ")}\r\n`, "END\r\n")).toBe(expectedGet(keys));
      const gets = await c.call(`gets ${victim_keys[11]} ${victim_keys[12]}\r\n`, "END\r\n");
      expect(gets).toMatch(new RegExp(`^VALUE ${victim_keys[11]} 5 \\d+ \\d+\\r\\n`));
      c.close();
      const refilled = await eventually(async () => {
        const direct = await rawOn(mains[0]!.port, `get ${victim_keys.join(" ")}\r\n`, "END\r\n");
        return direct === expectedGet(victim_keys);
      }, 5_000);
      expect(refilled).toBe(true);
      const meta = await rawOn(mains[0]!.port, `mg ${victim_keys[0]} t f\r\n`);
      if (has_meta) {
        const ttl = Number(meta.match(/ t(-?\d+)/)![1]);
        expect(ttl).toBeGreaterThan(900);
        expect(ttl).toBeLessThanOrEqual(1000);
      } else {
        expect(meta).toMatch(/ t-1/); // without `mg` the backup cannot tell the TTL: written back forever
      }
      expect(meta).toMatch(/ f5/);
      const stats = await rawOn(proxy.port, "stats\r\n", "END\r\n");
      expect(Number(stats.match(/STAT matrix:1:backup_fills (\d+)/)![1])).toBeGreaterThanOrEqual(victim_keys.length);
      expect(stats).toContain(`STAT backup:1:meta_get ${has_meta ? "yes" : "no"}\r\n`);
    });

    test("a key deleted through the proxy is not brought back from the backup", async () => {
      const c = await RawClient.connect(proxy.port);
      const key = victim_keys[1]!;
      expect(await c.call(`delete ${key}\r\n`)).toBe("DELETED\r\n");
      expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe("END\r\n");
      c.close();
    });
  });
}

describe("no backup: a dead server answers SERVER_ERROR promptly", () => {
  let alive: Spawned;
  let dead_port: number;
  let proxy: Spawned;
  let ring: Continuum;

  beforeAll(async () => {
    alive = await startMemcached();
    dead_port = await freePort(); // nothing listens there
    proxy = await startMagentQuick(["-s", `127.0.0.1:${alive.port}`, "-s", `127.0.0.1:${dead_port}`]);
    ring = new Continuum([{ host: "127.0.0.1", port: alive.port }, { host: "127.0.0.1", port: dead_port }]);
  });

  afterAll(async () => {
    await proxy?.stop();
    await alive?.stop();
  });

  test("keys of the dead server fail fast; keys of the live one are served", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `nb:${i}`);
    const dead_key = keys.find((key) => ring.serverOfKey(key) === 1)!;
    const live_key = keys.find((key) => ring.serverOfKey(key) === 0)!;
    const c = await RawClient.connect(proxy.port);
    const started = Date.now();
    expect(await c.call(`set ${dead_key} 0 0 1\r\nx\r\n`)).toMatch(/^SERVER_ERROR /);
    expect(await c.call(`get ${dead_key}\r\n`)).toMatch(/^SERVER_ERROR /);
    expect(await c.call(`get ${live_key} ${dead_key}\r\n`)).toMatch(/^SERVER_ERROR /);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await c.call(`set ${live_key} 0 0 1\r\ny\r\n`)).toBe("STORED\r\n");
    expect(await c.call(`get ${live_key}\r\n`, "END\r\n")).toBe(`VALUE ${live_key} 0 1\r\ny\r\nEND\r\n`);
    expect(await c.call(`flush_all\r\n`)).toBe("SERVER_ERROR 1 of 2 servers unavailable\r\n");
    c.close();
  });
});

describe("a hung server (SIGSTOP)", () => {
  let mains: Spawned[] = [];
  let backup: Spawned;
  let proxy: Spawned;
  let ring: Continuum;

  beforeAll(async () => {
    mains = [await startMemcached(), await startMemcached()];
    backup = await startMemcached();
    const args = mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]);
    proxy = await startMagentQuick([...args, "-b", `127.0.0.1:${backup.port}`]);
    ring = new Continuum(mains.map((m) => ({ host: "127.0.0.1", port: m.port })));
  });

  afterAll(async () => {
    mains[0]?.proc.kill("SIGCONT");
    await proxy?.stop();
    for (const m of mains) await m.stop();
    await backup?.stop();
  });

  test("its reads fail over after the request timeout; other clients never wait", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `hang:${i}`);
    const hung_key = keys.find((key) => ring.serverOfKey(key) === 0)!;
    const other_key = keys.find((key) => ring.serverOfKey(key) === 1)!;
    const a = await RawClient.connect(proxy.port);
    for (const key of [hung_key, other_key]) expect(await a.call(`set ${key} 0 0 2\r\nok\r\n`)).toBe("STORED\r\n");
    await pauseProcess(mains[0]!.proc.pid);
    const b = await RawClient.connect(proxy.port);
    const started = Date.now();
    a.send(`get ${hung_key}\r\n`);
    // Meanwhile another client, on the other server, is answered at once.
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      expect(await b.call(`get ${other_key}\r\n`, "END\r\n")).toBe(`VALUE ${other_key} 0 2\r\nok\r\nEND\r\n`);
      expect(Date.now() - t0).toBeLessThan(200);
    }
    expect(await a.readText("END\r\n", 3_000)).toBe(`VALUE ${hung_key} 0 2\r\nok\r\nEND\r\n`);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(400);
    expect(waited).toBeLessThan(1_500);
    expect(await serverState(proxy, "matrix", 1)).not.toBe("up"); // probes are not answered either
    // While it is down, its keys go to the backup at once.
    const t1 = Date.now();
    expect(await a.call(`get ${hung_key}\r\n`, "END\r\n")).toBe(`VALUE ${hung_key} 0 2\r\nok\r\nEND\r\n`);
    expect(Date.now() - t1).toBeLessThan(200);
    mains[0]!.proc.kill("SIGCONT");
    expect(await eventually(async () => (await serverState(proxy, "matrix", 1)) === "up", 5_000)).toBe(true);
    expect(await a.call(`get ${hung_key}\r\n`, "END\r\n")).toBe(`VALUE ${hung_key} 0 2\r\nok\r\nEND\r\n`);
    a.close();
    b.close();
  }, 15_000);
});

describe("a down server is probed at a steady interval (default flags)", () => {
  let mains: Spawned[] = [];
  let backup: Spawned;
  let proxy: Spawned;
  let keys: string[] = [];
  let victim_keys: string[] = [];
  /** Refused connects to wait for before the restart: were the interval a doubling backoff from
   *  200 ms (the old default), the next probe would be at least 1.6 s away by then. */
  const refusals_before_restart_min = 4;
  /** Between the restarted server's port opening and the proxy's stats saying it is up. */
  const up_after_restart_ms_max = 1_000;
  const deadline_ms = 10_000;
  const poll_ms = 10;

  beforeAll(async () => {
    mains = [await startMemcached(), await startMemcached()];
    backup = await startOurs();
    const args = mains.flatMap((m) => ["-s", `127.0.0.1:${m.port}`]);
    proxy = await startMagent([...args, "-b", `127.0.0.1:${backup.port}`]); // default timeouts and retries
    const ring = new Continuum(mains.map((m) => ({ host: "127.0.0.1", port: m.port })));
    keys = Array.from({ length: 240 }, (_, i) => `pr:${i}`);
    victim_keys = keys.filter((key) => ring.serverOfKey(key) === 0);
    const c = await RawClient.connect(proxy.port);
    let request = "";
    for (const key of keys) request += `set ${key} 5 1000 ${key.length}\r\n${key}\r\n`;
    c.send(request);
    await c.readUntil((b) => b.length >= keys.length * 8, deadline_ms);
    c.close();
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const m of mains) await m.stop();
    await backup?.stop();
  });

  test("kill -9, restart empty: up again within a second, and one read of each key warms it", async () => {
    expect(victim_keys.length).toBeGreaterThanOrEqual(100);
    await mains[0]!.stop("SIGKILL");
    const c = await RawClient.connect(proxy.port);
    expect(await c.call(`get ${keys.join(" ")}\r\n`, "END\r\n")).toBe(expectedGet(keys)); // from the backup
    expect(await serverState(proxy, "matrix", 1)).not.toBe("up");
    const refused = await eventually(
      async () => (await serverStat(proxy, "matrix", 1, "connect_failures")) >= refusals_before_restart_min,
      deadline_ms, poll_ms);
    expect(refused).toBe(true);

    mains[0] = await startMemcached([], { port: mains[0]!.port });
    const port_open_ms = Date.now();
    expect(await eventually(async () => (await serverState(proxy, "matrix", 1)) === "up", deadline_ms, poll_ms)).toBe(true);
    expect(Date.now() - port_open_ms).toBeLessThan(up_after_restart_ms_max);
    expect(await serverStat(proxy, "matrix", 1, "probes")).toBeGreaterThanOrEqual(refusals_before_restart_min);
    expect(await serverStat(proxy, "matrix", 1, "probe_failures")).toBeGreaterThanOrEqual(refusals_before_restart_min - 1);
    expect(await rawOn(mains[0]!.port, `get ${victim_keys.join(" ")}\r\n`, "END\r\n")).toBe("END\r\n"); // empty

    for (const key of keys) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(expectedGet([key]));
    const fills = await serverStat(proxy, "matrix", 1, "backup_fills");
    expect(fills).toBeGreaterThanOrEqual(victim_keys.length);
    // A client's requests to a server travel one connection, in order: this read is answered after
    // the restarted server applied every write-back above. Each key is a hit there now, not a fill.
    expect(await c.call(`get ${victim_keys.join(" ")}\r\n`, "END\r\n")).toBe(expectedGet(victim_keys));
    expect(await serverStat(proxy, "matrix", 1, "backup_fills")).toBe(fills);
    c.close();
    expect(await rawOn(mains[0]!.port, `get ${victim_keys.join(" ")}\r\n`, "END\r\n")).toBe(expectedGet(victim_keys));
  }, 30_000);
});
