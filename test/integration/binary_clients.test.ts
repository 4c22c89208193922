// Real binary-protocol clients against our server with SASL on (-S): memjs (npm), @keyv/memcache
// (npm, over memjs) and pylibmc in binary mode (Debian python3-pylibmc, libmemcached). Each stores
// and reads back small, large (>= 512 KiB) and binary values, and fails with a wrong password.
// What a client has no call for is said where it is missing (memjs 1.3: no multi-get, no cas;
// keyv: no cas, incr or touch) — pylibmc covers multi-get and cas over binary.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import memjs from "memjs";
import Keyv from "keyv";
import KeyvMemcache from "@keyv/memcache";
import { startOurs, type Spawned } from "../helpers/procs.ts";

/** Debian's python (the one that sees python3-pylibmc), not a pyenv shim on PATH. */
const debian_python = "/usr/bin/python3";
const large_bytes = 600 * 1024;
const user = "carol";
const password = "s3cret-pass";

let dir: string;
let server: Spawned;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "binary-clients-"));
  writeFileSync(join(dir, "pwdb"), `${user}:${password}\n`);
  server = await startOurs(["-S", "--sasl-pwdb", join(dir, "pwdb"), "-m", "64"]);
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function memjsClient(pass = password): memjs.Client {
  return memjs.Client.create(`127.0.0.1:${server.port}`, {
    username: user, password: pass, retries: 1, timeout: 2, logger: { log: () => {} },
  });
}

describe("memjs (binary, SASL PLAIN)", () => {
  test("small, large and binary values; flags; add/replace; incr/decr; touch; append; delete; pipelined gets", async () => {
    const c = memjsClient();
    try {
      expect(await c.set("mj:small", "hello", { expires: 0 })).toBe(true);
      expect((await c.get("mj:small")).value?.toString()).toBe("hello");
      const large = Buffer.alloc(large_bytes, 0x61);
      large[large_bytes - 1] = 0x7a;
      expect(await c.set("mj:large", large, {})).toBe(true);
      expect((await c.get("mj:large")).value?.equals(large)).toBe(true);
      const binary = Buffer.from([0, 1, 2, 0x80, 0xff, 13, 10, 0]);
      expect(await c.set("mj:binary", binary, {})).toBe(true);
      expect((await c.get("mj:binary")).value?.equals(binary)).toBe(true);
      expect(await c.add("mj:small", "again", {})).toBe(false);
      expect(await c.replace("mj:small", "replaced", {})).toBe(true);
      expect((await c.increment("mj:counter", 5, { initial: 10 })).value).toBe(10);
      expect((await c.increment("mj:counter", 5, {})).value).toBe(15);
      expect((await c.decrement("mj:counter", 20, {})).value).toBe(0);
      expect(await c.touch("mj:small", 100)).toBe(true);
      expect(await c.append("mj:small", "!")).toBe(true);
      const many = await Promise.all(["mj:small", "mj:binary", "mj:missing"].map((key) => c.get(key)));
      expect(many.map((r) => r.value?.toString("latin1") ?? null)).toEqual(["replaced!", binary.toString("latin1"), null]);
      expect(await c.delete("mj:small")).toBe(true);
      expect((await c.get("mj:small")).value).toBeNull();
    } finally {
      c.close();
    }
  });

  test("a wrong password fails every request", async () => {
    const c = memjsClient("wrong");
    try {
      const error = await c.get("mj:large").then(() => null, (e: unknown) => e);
      expect(String(error)).toBe("Memcached server authentication failed!"); // memjs rejects with a string
    } finally {
      c.close();
    }
  });
});

describe("@keyv/memcache (over memjs, binary, SASL PLAIN)", () => {
  test("small, large and binary-ish values, many, has, delete, TTL", async () => {
    const store = new KeyvMemcache(`127.0.0.1:${server.port}`, { username: user, password, retries: 1, timeout: 2 });
    const keyv = new Keyv({ store, namespace: "kv" });
    try {
      await keyv.set("small", { a: 1, s: "x" });
      expect(await keyv.get("small")).toEqual({ a: 1, s: "x" });
      const large = "L".repeat(large_bytes);
      await keyv.set("large", large);
      expect(await keyv.get("large")).toBe(large);
      const binary = "\u0000\u0080\u00ff\r\n";
      await keyv.set("binary", binary);
      expect(await keyv.get("binary")).toBe(binary);
      expect(await keyv.get(["small", "missing", "binary"])).toEqual([{ a: 1, s: "x" }, undefined, binary]);
      expect(await keyv.has("small")).toBe(true);
      await keyv.set("short", "lived", 1000);
      expect(await keyv.get("short")).toBe("lived");
      expect(await keyv.delete("small")).toBe(true);
      expect(await keyv.get("small")).toBeUndefined();
    } finally {
      store.client.close();
    }
  });

  test("a wrong password surfaces as an error", async () => {
    const store = new KeyvMemcache(`127.0.0.1:${server.port}`, { username: user, password: "nope", retries: 1, timeout: 2 });
    const errors: unknown[] = [];
    store.on("error", (error: unknown) => errors.push(error));
    const keyv = new Keyv({ store });
    keyv.on("error", (error: unknown) => errors.push(error));
    try {
      let threw = false;
      try {
        await keyv.set("denied", "x");
      } catch {
        threw = true;
      }
      expect(threw || errors.length > 0).toBe(true);
    } finally {
      store.client.close();
    }
  });
});

describe("the server counted every failed login (stats auth_errors, read over binary by memjs)", () => {
  test("auth_cmds and auth_errors", async () => {
    const c = memjsClient();
    try {
      const stats = await new Promise<Record<string, string>>((resolve, reject) => {
        c.stats((error, _server, stats) => (error ? reject(error) : resolve(stats as Record<string, string>)));
      });
      expect(Number(stats.auth_errors)).toBeGreaterThanOrEqual(2);
      expect(Number(stats.auth_cmds)).toBeGreaterThan(Number(stats.auth_errors));
    } finally {
      c.close();
    }
  });
});

describe("pylibmc (libmemcached, binary=True, SASL PLAIN)", () => {
  function python(script: string): { code: number; out: string } {
    const result = Bun.spawnSync([debian_python, "-c", script], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    return { code: result.exitCode ?? -1, out: result.stdout.toString() + result.stderr.toString() };
  }

  test("small, large, binary; get_multi; gets/cas; incr/decr; touch; delete", () => {
    const { code, out } = python(`
import pylibmc
c = pylibmc.Client(["127.0.0.1:${server.port}"], binary=True, username="${user}", password="${password}")
assert c.set("py:small", b"hello")
assert c.get("py:small") == b"hello"
large = b"a" * ${large_bytes} + b"z"
assert c.set("py:large", large)
assert c.get("py:large") == large
binary = bytes([0, 1, 0x80, 0xff, 13, 10, 0])
assert c.set("py:binary", binary)
assert c.get("py:binary") == binary
assert c.get_multi(["py:small", "py:binary", "py:missing"]) == {"py:small": b"hello", "py:binary": binary}
c.behaviors["cas"] = True
value, cas = c.gets("py:small")
assert value == b"hello" and cas
assert c.cas("py:small", b"swapped", cas) is True
assert c.cas("py:small", b"stale", cas) is False
assert c.get("py:small") == b"swapped"
c.set("py:n", 10)
assert c.incr("py:n", 5) == 15
assert c.decr("py:n", 20) == 0
assert c.touch("py:small", 100) is True
assert c.delete("py:small") is True
assert c.get("py:small") is None
print("ok")
`);
    expect(out).toContain("ok");
    expect(code).toBe(0);
  });

  test("a wrong password is refused", () => {
    const { code, out } = python(`
import pylibmc
c = pylibmc.Client(["127.0.0.1:${server.port}"], binary=True, username="${user}", password="wrong")
try:
    c.set("py:denied", b"x")
    print("stored?!")
except pylibmc.Error as error:
    print("refused", type(error).__name__)
`);
    expect(out).toContain("refused");
    expect(code).toBe(0);
  });
});
