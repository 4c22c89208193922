// Real clients from Debian against our server: libmemcached's memccapable (ASCII conformance),
// memcstat, memcslap, Python's pymemcache and pylibmc, Perl's Cache::Memcached.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startOurs, type Spawned } from "../helpers/procs.ts";

/** Debian's python (the one that sees python3-pymemcache), not a pyenv shim on PATH. */
const debian_python = "/usr/bin/python3";

function run(cmd: string[], timeout_ms = 60_000): { code: number; out: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: timeout_ms });
  return { code: result.exitCode ?? -1, out: result.stdout.toString() + result.stderr.toString() };
}

describe("real clients", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-m", "64"]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("memccapable -a (libmemcached's ASCII protocol conformance) passes", () => {
    const { code, out } = run(["memccapable", "-a", "-h", "127.0.0.1", "-p", String(server.port), "-t", "5"]);
    expect(out).not.toContain("[FAIL]");
    expect(out).toContain("[pass]");
    expect(code).toBe(0);
  }, 60_000);

  test("memcstat reads our stats", () => {
    const { code, out } = run(["memcstat", `--servers=127.0.0.1:${server.port}`]);
    expect(code).toBe(0);
    expect(out).toMatch(/pid: \d+/);
    expect(out).toContain("curr_items");
  });

  test("memcslap runs a short load with no errors", () => {
    const { code, out } = run(["memcslap", `--servers=127.0.0.1:${server.port}`, "--concurrency=4", "--execute-number=2000", "--test=set"]);
    expect(code).toBe(0);
    expect(out).toMatch(/Time to set\s+8000 keys/);
  }, 60_000);

  test("pymemcache: set/get/gets/cas/incr/delete/get_many/touch", () => {
    const script = `
import sys
from pymemcache.client.base import Client
c = Client(("127.0.0.1", ${server.port}))
assert c.set("py:a", b"alpha", expire=0, noreply=False)
assert c.get("py:a") == b"alpha"
v, cas = c.gets("py:a")
assert v == b"alpha" and cas
assert c.cas("py:a", b"beta", cas, noreply=False) is True
assert c.cas("py:a", b"gamma", cas, noreply=False) is False
c.set("py:n", b"10", noreply=False)
assert c.incr("py:n", 5) == 15
assert c.decr("py:n", 20) == 0
assert c.get_many(["py:a", "py:n", "py:missing"]) == {"py:a": b"beta", "py:n": b"0 "}
assert c.touch("py:a", 100, noreply=False) is True
assert c.delete("py:a", noreply=False) is True
assert c.get("py:a") is None
assert c.add("py:b", b"1", noreply=False) is True
assert c.add("py:b", b"2", noreply=False) is False
assert c.append("py:b", b"3", noreply=False) and c.prepend("py:b", b"0", noreply=False)
assert c.get("py:b") == b"013"
assert c.version()
print("ok")
`;
    const { code, out } = run([debian_python, "-c", script]);
    expect(out.trim()).toBe("ok");
    expect(code).toBe(0);
  });

  test("pylibmc (libmemcached) set_multi/get_multi", () => {
    const script = `
import pylibmc
c = pylibmc.Client(["127.0.0.1:${server.port}"])
c.set_multi({"pl:%d" % i: "v%d" % i for i in range(200)})
got = c.get_multi(["pl:%d" % i for i in range(200)])
assert len(got) == 200 and got["pl:7"] == "v7", got
c.set("pl:int", 41)
assert c.incr("pl:int") == 42
print("ok")
`;
    const { code, out } = run([debian_python, "-c", script]);
    expect(out.trim()).toBe("ok");
    expect(code).toBe(0);
  });

  test("Perl Cache::Memcached", () => {
    const script = `
use Cache::Memcached;
my $m = Cache::Memcached->new({ servers => ["127.0.0.1:${server.port}"] });
$m->set("pl:x", "perl value") or die "set";
$m->get("pl:x") eq "perl value" or die "get";
my $h = $m->get_multi("pl:x", "pl:none");
exists $h->{"pl:x"} && !exists $h->{"pl:none"} or die "multi";
$m->delete("pl:x") or die "delete";
defined $m->get("pl:x") and die "deleted";
print "ok\\n";
`;
    const { code, out } = run(["perl", "-e", script]);
    expect(out.trim()).toBe("ok");
    expect(code).toBe(0);
  });
});
