// Ketama placement against a real libmemcached client (Debian's python3-pylibmc): keys set by
// pylibmc land on the server our Continuum names, for every key — so a client-side ketama setup and
// the proxy agree. Also the other way round: keys set through the proxy are found by pylibmc talking
// to the servers directly, and pylibmc works through the proxy.
//
// Which pylibmc behaviors are libketama-compatible (checked below): {"ketama_weighted": True} —
// alone or with "ketama"/"hash": "md5" — sets MD5 key hashing and 160 points per server (four per
// MD5 digest of "host:port-i"), which is what we implement. {"ketama": True} alone keeps the
// default one-at-a-time key hash and 100 points (one per digest); adding "hash": "md5" (and
// "ketama_hash": "md5") still uses 100 points: neither matches libketama.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RawClient, type Spawned, startMagent, startMemcached } from "../helpers/procs.ts";
import { Continuum } from "../../src/proxy/ketama.ts";

const python = "/usr/bin/python3"; // Debian's, where python3-pylibmc is installed (not a pyenv one)

/** Sets `count` keys k0..k<count-1> through pylibmc with each behavior set; prints where each landed. */
const placement_script = `
import sys, json, socket, pylibmc
ports = [int(p) for p in sys.argv[1].split(",")]
count = int(sys.argv[2])
combos = json.loads(sys.argv[3])
servers = ["127.0.0.1:%d" % p for p in ports]
keys = ["k%d" % i for i in range(count)]
def flush():
    for p in ports:
        s = socket.create_connection(("127.0.0.1", p)); s.sendall(b"flush_all\\r\\n"); s.recv(100); s.close()
def where():
    found = {}
    for p in ports:
        s = socket.create_connection(("127.0.0.1", p)); f = s.makefile("rb")
        for k in keys:
            s.sendall(b"get " + k.encode() + b"\\r\\n")
            line = f.readline()
            if line.startswith(b"VALUE"):
                f.readline(); f.readline(); found[k] = p
        s.close()
    return found
out = {}
for name, behaviors in combos.items():
    flush()
    c = pylibmc.Client(servers, behaviors=behaviors)
    for k in keys: c.set(k, "v")
    out[name] = where()
print(json.dumps(out))
`;

const combos = {
  ketama_weighted: { ketama_weighted: true },
  "ketama_weighted+md5": { ketama_weighted: true, hash: "md5" },
  "ketama_weighted+ketama": { ketama_weighted: true, ketama: true },
  ketama: { ketama: true },
  "ketama+md5": { ketama: true, hash: "md5" },
  "ketama+md5+ketama_hash": { ketama: true, hash: "md5", ketama_hash: "md5" },
};

function runPython(script: string, args: string[]): string {
  const result = Bun.spawnSync([python, "-c", script, ...args], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`python failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

function agreement(ring: Continuum, ports: number[], placed: Record<string, number>): number {
  let same = 0;
  for (const [key, port] of Object.entries(placed)) if (ports[ring.serverOfKey(key)] === port) same++;
  return same;
}


describe("ketama vs libmemcached (pylibmc), 3 servers", () => {
  let servers: Spawned[] = [];
  let ports: number[] = [];
  let ring: Continuum;

  beforeAll(async () => {
    servers = [await startMemcached(), await startMemcached(), await startMemcached()];
    ports = servers.map((s) => s.port);
    ring = new Continuum(ports.map((port) => ({ host: "127.0.0.1", port })));
  });

  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  test("ketama_weighted places every key where our ring does; plain ketama does not", () => {
    const count = 1000;
    const placed = JSON.parse(runPython(placement_script, [ports.join(","), String(count), JSON.stringify(combos)]));
    const result: Record<string, number> = {};
    for (const name of Object.keys(combos)) {
      expect(Object.keys(placed[name]).length).toBe(count); // every key landed somewhere
      result[name] = agreement(ring, ports, placed[name]);
    }
    expect(result["ketama_weighted"]).toBe(count);
    expect(result["ketama_weighted+md5"]).toBe(count);
    expect(result["ketama_weighted+ketama"]).toBe(count);
    expect(result["ketama"]).toBeLessThan(count * 0.8);
    expect(result["ketama+md5"]).toBeLessThan(count * 0.8);
    expect(result["ketama+md5+ketama_hash"]).toBeLessThan(count * 0.8);
  }, 30_000);

  test("keys set through the proxy are found by pylibmc (ketama_weighted) on the servers", async () => {
    const proxy = await startMagent(ports.flatMap((port) => ["-s", `127.0.0.1:${port}`]));
    try {
      const c = await RawClient.connect(proxy.port);
      let request = "flush_all\r\n";
      const keys = Array.from({ length: 300 }, (_, i) => `viaproxy:${i}`);
      for (const key of keys) request += `set ${key} 0 0 ${key.length}\r\n${key}\r\n`;
      c.send(request);
      await c.readUntil((b) => b.length >= 4 + keys.length * 8, 10_000);
      c.close();
      const script = `
import sys, json, pylibmc
c = pylibmc.Client(sys.argv[1].split(","), behaviors={"ketama_weighted": True})
keys = ["viaproxy:%d" % i for i in range(300)]
got = c.get_multi(keys)
print(json.dumps(sum(1 for k in keys if got.get(k) == k.encode())))
`;
      const found = Number(runPython(script, [ports.map((port) => `127.0.0.1:${port}`).join(",")]).trim());
      expect(found).toBe(300);
    } finally {
      await proxy.stop();
    }
  }, 30_000);

  test("pylibmc works through the proxy (set, get_multi, incr, delete, cas)", async () => {
    const proxy = await startMagent(ports.flatMap((port) => ["-s", `127.0.0.1:${port}`]));
    try {
      const script = `
import sys, pylibmc
c = pylibmc.Client(["127.0.0.1:" + sys.argv[1]], behaviors={"cas": True})
assert c.set("a", "1") and c.set("b", "two") and c.set("n", 5)
assert c.get_multi(["a", "b", "zz", "n"]) == {"a": "1", "b": "two", "n": 5}, c.get_multi(["a", "b", "zz", "n"])
assert c.incr("n", 3) == 8
value, cas = c.gets("b")
assert value == "two" and c.cas("b", "three", cas) and c.get("b") == "three"
assert c.delete("a") and c.get("a") is None
assert c.add("a", "x") and not c.add("a", "y")
print("ok")
`;
      expect(runPython(script, [String(proxy.port)]).trim()).toBe("ok");
    } finally {
      await proxy.stop();
    }
  }, 30_000);
});

describe("ketama vs libmemcached, 25 servers (C float rounding: 156 points each)", () => {
  let servers: Spawned[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 25; i++) servers.push(await startMemcached(["-m", "8"]));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop())); // 25 stops one by one outlasted the 5 s hook default under load
  }, 60_000);

  test("every key agrees", () => {
    const ports = servers.map((s) => s.port);
    const ring = new Continuum(ports.map((port) => ({ host: "127.0.0.1", port })));
    expect(ring.points.length).toBe(25 * 156);
    const count = 1000;
    const placed = JSON.parse(runPython(placement_script, [ports.join(","), String(count), JSON.stringify({ w: { ketama_weighted: true } })]));
    expect(Object.keys(placed.w).length).toBe(count);
    expect(agreement(ring, ports, placed.w)).toBe(count);
  }, 60_000);
});
