// Scale-out behind Debian's nutcracker (twemproxy 0.5, md5 + ketama) on 127.0.0.1:
// - the suite's text clients (pymemcache, pylibmc in text mode, Perl's Cache::Memcached, a raw
//   socket) run one script through nutcracker → 3 stock memcached and through nutcracker → 3 of our
//   nodes, and print the same lines (cas numbers aside);
// - what README's "Scale-out" promises: nutcracker knows no replicas, so each of its entries is a
//   replicated pair behind our magent (A serves, B is its backup); kill -9 a pair's A and every key
//   written before stays readable through nutcracker, writes go on, and A restarted with its own
//   command gets the pair's keys back;
// - auto_eject_hosts with plain nodes: a dead node is ejected and its keys move to the others —
//   empty (nutcracker copies nothing), so what the dead node held is a miss;
// - named entries: ketama hashes the name, so an entry may change address without moving keys.
// Every process is stopped by PID; every wait has a deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, RawClient, type Spawned, startMagent, startMemcached, startOurs } from "../helpers/procs.ts";
import { eventually } from "../helpers/cache_client.ts";
import { startNutcracker, type Nutcracker } from "../helpers/nutcracker.ts";

const debian_python = "/usr/bin/python3";
const script_wait_ms = 30_000;
const failover_wait_ms = 10_000;
const test_wait_ms = 60_000;

function run(cmd: string[]): string {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: script_wait_ms });
  return `${result.stdout.toString()}${result.stderr.toString()}exit ${result.exitCode ?? "killed"}\n`;
}

/** Every operation prints one line: its name and what it returned or raised (the class only). */
const pymemcache_script = (port: number) => `
from pymemcache.client.base import Client
c = Client(("127.0.0.1", ${port}), connect_timeout=5, timeout=5)
def op(name, f):
    try:
        print(name, repr(f()))
    except Exception as e:
        print(name, "raised", type(e).__name__)
op("set", lambda: c.set("py:a", b"alpha", noreply=False))
op("get", lambda: c.get("py:a"))
op("gets", lambda: (lambda v: (v[0], bool(v[1])))(c.gets("py:a")))
cas = c.gets("py:a")[1]
op("cas", lambda: c.cas("py:a", b"beta", cas, noreply=False))
op("cas stale", lambda: c.cas("py:a", b"gamma", cas, noreply=False))
op("set n", lambda: c.set("py:n", b"10", noreply=False))
op("incr", lambda: c.incr("py:n", 5))
op("decr", lambda: c.decr("py:n", 20))
op("incr missing", lambda: c.incr("py:none", 1))
op("get_many", lambda: sorted(c.get_many(["py:a", "py:n", "py:missing"]).items()))
op("touch", lambda: c.touch("py:a", 100, noreply=False))
op("delete", lambda: c.delete("py:a", noreply=False))
op("get deleted", lambda: c.get("py:a"))
op("add", lambda: c.add("py:b", b"1", noreply=False))
op("add again", lambda: c.add("py:b", b"2", noreply=False))
op("replace missing", lambda: c.replace("py:none", b"x", noreply=False))
op("append", lambda: c.append("py:b", b"3", noreply=False))
op("prepend", lambda: c.prepend("py:b", b"0", noreply=False))
op("get b", lambda: c.get("py:b"))
op("set_many", lambda: c.set_many({"py:m%d" % i: b"v%d" % i for i in range(100)}, noreply=False))
op("get_many 100", lambda: sorted(c.get_many(["py:m%d" % i for i in range(100)]).items()) == [("py:m%d" % i, b"v%d" % i) for i in sorted(range(100), key=lambda i: "py:m%d" % i)])
op("big", lambda: c.set("py:big", b"x" * 200000, noreply=False) and len(c.get("py:big")))
op("noreply set", lambda: c.set("py:q", b"quiet", noreply=True))
op("get noreply", lambda: c.get("py:q"))
op("version", lambda: c.version())
`;

const pylibmc_script = (port: number) => `
import pylibmc
c = pylibmc.Client(["127.0.0.1:${port}"], behaviors={"cas": True})
def op(name, f):
    try:
        print(name, repr(f()))
    except Exception as e:
        print(name, "raised", type(e).__name__)
op("set_multi", lambda: c.set_multi({"pl:%d" % i: "v%d" % i for i in range(200)}))
op("get_multi", lambda: (lambda got: (len(got), got.get("pl:7")))(c.get_multi(["pl:%d" % i for i in range(200)] + ["pl:none"])))
op("set int", lambda: c.set("pl:int", 41))
op("incr", lambda: c.incr("pl:int"))
op("decr", lambda: c.decr("pl:int", 50))
op("add", lambda: c.add("pl:int", 1))
op("replace", lambda: c.replace("pl:int", 7))
op("get int", lambda: c.get("pl:int"))
op("append", lambda: c.append("pl:7", "+"))
op("prepend", lambda: c.prepend("pl:7", "-"))
op("get 7", lambda: c.get("pl:7"))
op("gets", lambda: (lambda v: (v[0], v[1] is not None))(c.gets("pl:7")))
op("cas", lambda: c.cas("pl:7", "swapped", c.gets("pl:7")[1]))
op("get swapped", lambda: c.get("pl:7"))
op("delete_multi", lambda: c.delete_multi(["pl:%d" % i for i in range(100)]))
op("after delete", lambda: len(c.get_multi(["pl:%d" % i for i in range(200)])))
op("pickled", lambda: c.set("pl:obj", {"a": [1, 2]}) and c.get("pl:obj"))
`;

const perl_script = (port: number) => `
use Cache::Memcached;
my $m = Cache::Memcached->new({ servers => ["127.0.0.1:${port}"] });
sub show { my ($name, $v) = @_; print "$name ", (defined $v ? "'$v'" : "undef"), "\\n"; }
show("set", $m->set("pe:x", "perl value"));
show("get", $m->get("pe:x"));
my $h = $m->get_multi("pe:x", "pe:none");
show("multi", join(",", map { "$_=$h->{$_}" } sort keys %$h));
show("add", $m->add("pe:x", "other"));
show("replace", $m->replace("pe:x", "replaced"));
show("get", $m->get("pe:x"));
show("set n", $m->set("pe:n", 5));
show("incr", $m->incr("pe:n", 10));
show("decr", $m->decr("pe:n", 100));
show("delete", $m->delete("pe:x"));
show("gone", $m->get("pe:x"));
$m->set("pe:$_", "v$_") for 1..50;
my $all = $m->get_multi(map { "pe:$_" } 1..50);
show("multi 50", scalar(keys %$all));
`;

/** Raw requests, one at a time, replies with cas numbers replaced by "N". */
const raw_requests = [
  "set raw:a 5 0 5\r\nhello\r\n", "get raw:a\r\n", "gets raw:a\r\n", "append raw:a 0 0 1\r\n!\r\n",
  "prepend raw:a 0 0 1\r\n>\r\n", "get raw:a raw:none\r\n", "add raw:a 0 0 1\r\nx\r\n", "replace raw:b 0 0 1\r\nx\r\n",
  "set raw:n 0 0 2\r\n10\r\n", "incr raw:n 5\r\n", "decr raw:n 100\r\n", "incr raw:none 1\r\n", "incr raw:a 1\r\n",
  "touch raw:a 100\r\n", "touch raw:none 100\r\n", "delete raw:a\r\n", "delete raw:a\r\n", "get raw:a\r\n",
  "set raw:q 1 0 1 noreply\r\nq\r\n", "get raw:q\r\n",
  `get ${Array.from({ length: 40 }, (_, i) => `raw:m${i}`).join(" ")}\r\n`,
  "set raw:neg 0 -1 1\r\nx\r\n", "get raw:neg\r\n",
];

async function rawSession(port: number): Promise<string> {
  const c = await RawClient.connect(port);
  let out = "";
  for (let i = 0; i < 40; i++) {
    out += await c.call(`set raw:m${i} ${i} 0 ${String(i).length}\r\n${i}\r\n`);
  }
  for (const request of raw_requests) {
    const reply = await c.readUntil(() => false, 0); // nothing may arrive unasked
    if (reply.length > 0) out += `unasked ${reply.toString("latin1")}`;
    c.send(request);
    const text = (await c.readUntil((b) => /(END|STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|ERROR[^\r]*|^\d+)\r\n$/.test(b.toString("latin1")))).toString("latin1");
    out += `${request.split("\r\n")[0]} -> ${text.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, "$1 N\r\n")}`;
  }
  c.close();
  return out;
}

async function clientsThrough(port: number): Promise<Record<string, string>> {
  return {
    pymemcache: run([debian_python, "-c", pymemcache_script(port)]),
    pylibmc: run([debian_python, "-c", pylibmc_script(port)]),
    perl: run(["perl", "-e", perl_script(port)]),
    raw: await rawSession(port),
  };
}

async function currItems(port: number): Promise<number> {
  const c = await RawClient.connect(port);
  const stats = await c.call("stats\r\n", "END\r\n");
  c.close();
  return Number(/STAT curr_items (\d+)/.exec(stats)?.[1] ?? -1);
}

async function getOn(port: number, key: string): Promise<string> {
  const c = await RawClient.connect(port);
  const reply = await c.call(`get ${key}\r\n`, "END\r\n", 3_000);
  c.close();
  return reply;
}

/** The keys (of `keys`) the server on `port` holds. */
async function keysOn(port: number, keys: string[]): Promise<string[]> {
  const c = await RawClient.connect(port);
  const found: string[] = [];
  for (let at = 0; at < keys.length; at += 50) {
    const reply = await c.call(`get ${keys.slice(at, at + 50).join(" ")}\r\n`, "END\r\n");
    for (const match of reply.matchAll(/^VALUE (\S+) /gm)) found.push(match[1]!);
  }
  c.close();
  return found;
}

async function setAll(port: number, keys: string[]): Promise<void> {
  const c = await RawClient.connect(port);
  for (const key of keys) expect(await c.call(`set ${key} 3 0 ${key.length}\r\n${key}\r\n`)).toBe("STORED\r\n");
  c.close();
}

const valueLine = (key: string) => `VALUE ${key} 3 ${key.length}\r\n${key}\r\nEND\r\n`;

describe("nutcracker (ketama) in front of 3 nodes: the same client scripts, stock memcached vs ours", () => {
  const results: Record<string, Record<string, string>> = {};
  const items: Record<string, number[]> = {};

  beforeAll(async () => {
    for (const [flavor, start] of [["memcached", () => startMemcached()], ["ours", () => startOurs()]] as const) {
      const nodes: Spawned[] = [await start(), await start(), await start()];
      const proxy = await startNutcracker(nodes.map((n) => ({ address: `127.0.0.1:${n.port}` })));
      try {
        results[flavor] = await clientsThrough(proxy.port);
        items[flavor] = await Promise.all(nodes.map((n) => currItems(n.port)));
      } finally {
        await proxy.stop();
        await Promise.all(nodes.map((n) => n.stop()));
      }
    }
  }, test_wait_ms);

  for (const client of ["pymemcache", "pylibmc", "perl", "raw"]) {
    test(`${client}: the same output through nutcracker → ours as through nutcracker → memcached`, () => {
      expect(results.ours![client]).toBe(results.memcached![client]!);
    });
  }

  test("the scripts did real work: values came back, on every node", () => {
    expect(results.ours!.pymemcache).toContain("get b b'013'\n");
    expect(results.ours!.pymemcache).toContain("get_many 100 True\n");
    expect(results.ours!.pymemcache).toContain("big 200000\n");
    expect(results.ours!.pymemcache).toContain("touch True\n");
    expect(results.ours!.pymemcache).toContain("version b'1.6.18'\n");
    expect(results.ours!.pylibmc).toContain("get_multi (200, 'v7')\n");
    expect(results.ours!.pylibmc).toContain("get swapped 'swapped'\n");
    expect(results.ours!.perl).toContain("multi 50 '50'\n");
    expect(results.ours!.raw).toContain("get raw:a raw:none -> VALUE raw:a 5 7\r\n>hello!\r\nEND\r\n");
    for (const out of Object.values(results.ours!)) expect(out).not.toContain("raised");
    // ketama spread the keys: every one of our nodes holds some.
    expect(items.ours!.every((n) => n > 20)).toBe(true);
  });
});

describe("nutcracker → magent per replicated pair: kill -9 a pair's serving node", () => {
  interface Pair { a: Spawned; b: Spawned; replication_port: number; magent: Spawned }
  const pairs: Pair[] = [];
  let nut: Nutcracker;
  const keys = Array.from({ length: 200 }, (_, i) => `pair:${i}`);
  const magent_timeouts = ["--connect-timeout", "500", "--request-timeout", "500", "--retry-min", "100", "--retry-max", "400"];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const replication_port = await freePort();
      const a = await startOurs(["-X", String(replication_port)]);
      const b = await startOurs(["-x", "127.0.0.1", "-X", String(replication_port)]);
      const magent = await startMagent([...magent_timeouts, "-s", `127.0.0.1:${a.port}`, "-b", `127.0.0.1:${b.port}`]);
      pairs.push({ a, b, replication_port, magent });
    }
    nut = await startNutcracker(pairs.map((p, i) => ({ address: `127.0.0.1:${p.magent.port}`, name: `pair${i + 1}` })));
  }, test_wait_ms);

  afterAll(async () => {
    await nut?.stop();
    await Promise.all(pairs.flatMap((p) => [p.magent.stop(), p.a.stop(), p.b.stop()]));
  });

  test("keys written before the kill are read through nutcracker afterwards; writes go on; A comes back whole", async () => {
    await setAll(nut.port, keys);
    const on_first = await keysOn(pairs[0]!.a.port, keys);
    expect(on_first.length).toBeGreaterThan(30); // ketama gave the first pair its share
    expect((await keysOn(pairs[1]!.a.port, keys)).length).toBe(keys.length - on_first.length);
    // B has every key of its pair before A dies (replication is asynchronous: wait for it).
    expect(await eventually(async () => (await keysOn(pairs[0]!.b.port, on_first)).length === on_first.length, failover_wait_ms)).toBe(true);

    const killed = pairs[0]!.a;
    await killed.stop("SIGKILL");
    const c = await RawClient.connect(nut.port);
    for (const key of keys) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(valueLine(key));
    const during = Array.from({ length: 60 }, (_, i) => `pair:during:${i}`);
    for (const key of during) expect(await c.call(`set ${key} 3 0 ${key.length}\r\n${key}\r\n`)).toBe("STORED\r\n");
    for (const key of during) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(valueLine(key));
    const during_first = await keysOn(pairs[0]!.b.port, during); // the dead A's share went to its B
    expect(during_first.length).toBeGreaterThan(5);
    expect((await keysOn(pairs[1]!.a.port, during)).length).toBe(during.length - during_first.length);

    // A restarted with its own command (no -x: B, the survivor, holds the shared -X port) gets
    // the pair's keys back, including those written while it was dead.
    pairs[0]!.a = await startOurs(["-X", String(pairs[0]!.replication_port)], { port: killed.port });
    const back = [...on_first, ...during_first];
    const whole = await eventually(async () => (await keysOn(pairs[0]!.a.port, back)).length === back.length, failover_wait_ms);
    expect(whole).toBe(true);
    for (const key of keys) expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(valueLine(key));
    c.close();
  }, test_wait_ms);
});

describe("nutcracker auto_eject_hosts with plain nodes (no replicas)", () => {
  let nodes: Spawned[] = [];
  let nut: Nutcracker;
  const keys = Array.from({ length: 150 }, (_, i) => `eject:${i}`);

  beforeAll(async () => {
    nodes = [await startOurs(), await startOurs(), await startOurs()];
    nut = await startNutcracker(nodes.map((n) => ({ address: `127.0.0.1:${n.port}` })), { eject_after_failures: 1, retry_timeout_ms: 60_000 });
  }, test_wait_ms);

  afterAll(async () => {
    await nut?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  test("a dead node is ejected: its keys move to the live nodes, empty; the others' keys stay", async () => {
    await setAll(nut.port, keys);
    const dead_keys = await keysOn(nodes[0]!.port, keys);
    expect(dead_keys.length).toBeGreaterThan(20);
    const live_keys = keys.filter((key) => !dead_keys.includes(key));
    await nodes[0]!.stop("SIGKILL");

    // The first request for a dead node's key fails (nutcracker's error), and ejects the node.
    const c = await RawClient.connect(nut.port);
    const key = dead_keys[0]!;
    const moved = await eventually(async () => {
      const reply = await c.call(`set ${key} 3 0 ${key.length}\r\n${key}\r\n`, "\r\n", 3_000);
      return reply === "STORED\r\n";
    }, failover_wait_ms);
    expect(moved).toBe(true);
    expect(await c.call(`get ${key}\r\n`, "END\r\n")).toBe(valueLine(key));
    const now_on = await Promise.all(nodes.slice(1).map((n) => getOn(n.port, key)));
    expect(now_on.filter((reply) => reply === valueLine(key)).length).toBe(1);
    // What the dead node held is gone: nutcracker moved the keys, not the values.
    for (const lost of dead_keys.slice(1, 11)) expect(await c.call(`get ${lost}\r\n`, "END\r\n")).toBe("END\r\n");
    for (const kept of live_keys) expect(await c.call(`get ${kept}\r\n`, "END\r\n")).toBe(valueLine(kept));
    c.close();
  }, test_wait_ms);
});

describe("nutcracker's ketama hashes an entry's name, not its address", () => {
  test("two entries swap addresses under the same names: every key follows its name to the other node", async () => {
    const nodes = [await startOurs(), await startOurs()];
    const keys = Array.from({ length: 100 }, (_, i) => `named:${i}`);
    try {
      const put = async (addresses: Spawned[], value: string): Promise<void> => {
        const nut = await startNutcracker(addresses.map((n, i) => ({ address: `127.0.0.1:${n.port}`, name: `entry${i + 1}` })));
        try {
          const c = await RawClient.connect(nut.port);
          for (const key of keys) expect(await c.call(`set ${key} 0 0 1\r\n${value}\r\n`)).toBe("STORED\r\n");
          c.close();
        } finally {
          await nut.stop();
        }
      };
      await put([nodes[0]!, nodes[1]!], "1");
      await put([nodes[1]!, nodes[0]!], "2");
      // Hashed by name, each key went to one node first and to the other after the swap: both
      // hold it, with different values. (Hashed by address, the second set would overwrite the first.)
      const values = async (port: number) => {
        const c = await RawClient.connect(port);
        const reply = await c.call(`get ${keys.join(" ")}\r\n`, "END\r\n");
        c.close();
        return new Map([...reply.matchAll(/^VALUE (\S+) 0 1\r\n(\d)\r\n/gm)].map((m) => [m[1]!, m[2]!]));
      };
      const [on_first, on_second] = [await values(nodes[0]!.port), await values(nodes[1]!.port)];
      const first_on_first = keys.filter((key) => on_first.get(key) === "1").length;
      expect(first_on_first).toBeGreaterThan(10);
      expect(first_on_first).toBeLessThan(90);
      for (const key of keys) {
        expect([on_first.get(key), on_second.get(key)].sort()).toEqual(["1", "2"]);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }, test_wait_ms);
});
