// The binary protocol on our server alone: libmemcached's memccapable -b, SASL (-S), -B, -Y ASCII
// auth, large values, and the places we differ from memcached on purpose (binary_compat.test.ts).
// Replies that memcached 1.6.18 also gives were checked against the real binary (see the comments).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun_path, project_root, RawClient, startOurs, type Spawned } from "../helpers/procs.ts";

const main_path = join(project_root, "src", "main.ts");
import { MiB, NonReader, RssSampler, rssSettled } from "../helpers/rss.ts";
import { BinaryClient, deltaExtras, frame, Op, parseFrames, storeExtras, type Response } from "../helpers/binary.ts";

const Status = { OK: 0, ENOENT: 1, EINVAL: 4, E2BIG: 3, AUTH_ERROR: 0x20, UNKNOWN: 0x81 } as const;

function run(cmd: string[], timeout_ms = 60_000): { code: number; out: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: timeout_ms });
  return { code: result.exitCode ?? -1, out: result.stdout.toString() + result.stderr.toString() };
}

const text = (f: Response): string => f.value.toString("latin1");

async function statsOf(client: BinaryClient): Promise<Map<string, string>> {
  client.send({ opcode: Op.STAT });
  const stats = new Map<string, string>();
  const bytes = await client.raw.readUntil((b) => parseFrames(b).frames.some((f) => f.key.length === 0));
  for (const f of parseFrames(bytes).frames) if (f.key.length > 0) stats.set(f.key.toString("latin1"), text(f));
  return stats;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "binary-auth-"));
  writeFileSync(join(dir, "pwdb"), "alice:wonderland\nbob:builder\n");
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("binary protocol (auto-negotiated)", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-m", "64"]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("memccapable -b (libmemcached's binary conformance, 27 cases) passes", () => {
    const { code, out } = run(["memccapable", "-b", "-h", "127.0.0.1", "-p", String(server.port), "-t", "5"]);
    expect(out).not.toContain("[FAIL]");
    expect(out.match(/\[pass\]/g)?.length).toBe(27);
    expect(out).toContain("All tests passed");
    expect(code).toBe(0);
  }, 60_000);

  test("memccapable -a still passes beside it", () => {
    const { code, out } = run(["memccapable", "-a", "-h", "127.0.0.1", "-p", String(server.port), "-t", "5"]);
    expect(out).not.toContain("[FAIL]");
    expect(code).toBe(0);
  }, 60_000);

  test("text and binary connections share the cache", async () => {
    const bin = await BinaryClient.connect(server.port);
    const [stored] = await bin.call([{ opcode: Op.SET, key: "shared", extras: storeExtras(42, 0), value: "from-binary" }]);
    expect(stored!.status).toBe(Status.OK);
    const raw = await RawClient.connect(server.port);
    expect(await raw.call("gets shared\r\n", "END\r\n")).toBe(`VALUE shared 42 11 ${stored!.cas}\r\nfrom-binary\r\nEND\r\n`);
    raw.close();
    bin.close();
  });

  test("binary stats come from the text stats' source", async () => {
    const bin = await BinaryClient.connect(server.port);
    const stats = await statsOf(bin);
    expect(stats.get("version")).toBe("1.6.18");
    expect(Number(stats.get("curr_connections"))).toBeGreaterThanOrEqual(1);
    expect(stats.get("auth_cmds")).toBe("0");
    const raw = await RawClient.connect(server.port);
    const lines = await raw.call("stats\r\n", "END\r\n");
    for (const name of stats.keys()) expect(lines).toContain(`STAT ${name} `);
    raw.close();
    bin.close();
  });

  test("a 1 MiB - 1 KiB value streams in (staged) and reads back; the connection goes on", async () => {
    const bin = await BinaryClient.connect(server.port);
    const value = Buffer.alloc(1024 * 1024 - 1024, 0x5a);
    const request = frame({ opcode: Op.SET, key: "huge", extras: storeExtras(1, 0), value });
    for (let at = 0; at < request.length; at += 100_000) bin.raw.send(request.subarray(at, at + 100_000));
    bin.send({ opcode: Op.GETK, key: "huge" }, { opcode: Op.NOOP, opaque: 1 });
    const { frames } = await bin.read(3);
    expect(frames.map((f) => f.status)).toEqual([0, 0, 0]);
    expect(frames[1]!.value.equals(value)).toBe(true);
    bin.close();
  });

  test("differences kept on purpose: E2BIG at the header, the body skipped as it comes", async () => {
    const bin = await BinaryClient.connect(server.port);
    const body = 2 * 1024 * 1024;
    bin.send({ opcode: Op.SET, key: "toolarge", extras: storeExtras(0, 0), bodylen: 8 + 8 + body });
    const first = await bin.read(1);
    expect(first.frames[0]!.status).toBe(Status.E2BIG);
    expect(text(first.frames[0]!)).toBe("Too large.");
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    for (let sent = 0; sent < body; sent += chunk.length) bin.raw.send(chunk);
    bin.send({ opcode: Op.NOOP, opaque: 77 });
    const { frames } = await bin.read(1);
    expect(frames[0]!.opaque).toBe(77);
    bin.close();
  });

  test("differences kept on purpose: an unknown opcode's body (and verbosity's) is skipped once", async () => {
    const bin = await BinaryClient.connect(server.port);
    const frames = await bin.call([
      { opcode: 0x50, key: "abc", value: "xyz" }, { opcode: Op.VERBOSITY, extras: Buffer.alloc(4) }, { opcode: Op.NOOP, opaque: 5 },
    ]);
    expect(frames.map((f) => [f.status, text(f)])).toEqual([[Status.UNKNOWN, "Unknown command"], [Status.UNKNOWN, "Unknown command"], [0, ""]]);
    bin.close();
  });

  test("differences kept on purpose: extras + key over the body answers 0x81 and closes at the header", async () => {
    const bin = await BinaryClient.connect(server.port);
    bin.send({ opcode: Op.GET, key: "k", extlen: 255, bodylen: 1 });
    const { frames, closed } = await bin.read(2, 2_000);
    expect(frames.map((f) => f.status)).toEqual([Status.UNKNOWN]);
    expect(closed).toBe(true);
  });

  test("1,000 pipelined GETKs of a 1 MB value from a client that never reads: RSS grows by a few MiB", async () => {
    // The bound (output_bound.test.ts's derivation): output_pending_bytes_max (4 MiB) unsent per
    // connection plus the shared Output buffer, allocated at start; 16 MiB leaves the allocator room.
    const value = Buffer.alloc(1_000_000, 0x62);
    const setter = await BinaryClient.connect(server.port);
    expect((await setter.call([{ opcode: Op.SET, key: "onemeg", extras: storeExtras(0, 0), value }]))[0]!.status).toBe(0);
    setter.close();
    const pid = server.proc.pid;
    await rssSettled(pid, 300, 3_000);
    const sampler = new RssSampler(pid);
    const client = await NonReader.connect(server.port);
    client.send(Buffer.concat(Array.from({ length: 1_000 }, () => frame({ opcode: Op.GETK, key: "onemeg" }))));
    await rssSettled(pid);
    sampler.stop();
    console.log(`binary non-reading client: RSS growth ${sampler.growthMiB()} MiB`);
    expect(sampler.growthMiB() * MiB).toBeLessThanOrEqual(16 * MiB);
    const other = await BinaryClient.connect(server.port);
    expect(text((await other.call([{ opcode: Op.VERSION }]))[0]!)).toBe("1.6.18");
    other.close();
    client.close();
  }, 30_000);

  test("a frame cut at every point leaves nothing half-done: the rest completes it", async () => {
    const whole = Buffer.concat([
      frame({ opcode: Op.SET, key: "cut", extras: storeExtras(3, 0), value: "v".repeat(100) }),
      frame({ opcode: Op.INCREMENT, key: "cutn", extras: deltaExtras(1n, 0n, 0) }),
      frame({ opcode: Op.GETK, key: "cut" }),
    ]);
    for (let split = 1; split < whole.length; split += 7) {
      const bin = await BinaryClient.connect(server.port);
      bin.raw.send(whole.subarray(0, split));
      await Bun.sleep(0); // let the first part arrive on its own where it can
      bin.raw.send(whole.subarray(split));
      const { frames } = await bin.read(3);
      expect(frames.map((f) => f.status)).toEqual([0, 0, 0]);
      expect(text(frames[2]!)).toBe("v".repeat(100));
      bin.close();
    }
  }, 30_000);
});

describe("SASL (-S): PLAIN over binary, memcached 1.6.18's replies", () => {
  let server: Spawned;
  beforeAll(async () => {
    server = await startOurs(["-S"], { env: { MEMCACHED_SASL_PWDB: join(dir, "pwdb") } });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("before auth: version and the mechanisms are answered; anything else is 'Auth failure.' and a close", async () => {
    const bin = await BinaryClient.connect(server.port);
    const frames = await bin.call([{ opcode: Op.VERSION }, { opcode: Op.SASL_LIST_MECHS }]);
    expect(frames.map(text)).toEqual(["1.6.18", "PLAIN"]);
    bin.send({ opcode: Op.GET, key: "x", opaque: 9 }, { opcode: Op.NOOP });
    const after = await bin.read(2, 2_000);
    expect(after.frames.map((f) => [f.status, f.opaque, text(f)])).toEqual([[Status.AUTH_ERROR, 9, "Auth failure."]]);
    expect(after.closed || (await bin.raw.waitClosed(2_000))).toBe(true);
  });

  test("a wrong password, another mechanism and a step fail and keep the connection; the right one authenticates", async () => {
    const bin = await BinaryClient.connect(server.port);
    const failed = await bin.call([
      { opcode: Op.SASL_AUTH, key: "PLAIN", value: "\0alice\0wrong" },
      { opcode: Op.SASL_AUTH, key: "CRAM-MD5", value: "\0alice\0wonderland" },
      { opcode: Op.SASL_STEP, key: "PLAIN", value: "\0alice\0wonderland" },
      { opcode: Op.SASL_AUTH, key: "PLAIN", value: "\0nobody\0wonderland" },
    ]);
    expect(failed.map((f) => [f.status, text(f)])).toEqual(Array(4).fill([Status.AUTH_ERROR, "Auth failure."]));
    const [ok] = await bin.call([{ opcode: Op.SASL_AUTH, key: "PLAIN", value: "alice\0alice\0wonderland" }]);
    expect([ok!.status, text(ok!)]).toEqual([0, "Authenticated"]);
    const frames = await bin.call([
      { opcode: Op.SET, key: "authed", extras: storeExtras(0, 0), value: "yes" }, { opcode: Op.GET, key: "authed" },
    ]);
    expect(frames.map((f) => f.status)).toEqual([0, 0]);
    const stats = await statsOf(bin);
    expect(stats.get("auth_cmds")).toBe("5");
    expect(stats.get("auth_errors")).toBe("4");
    bin.close();
  });

  test("a text command is read as a binary header with a bad magic: closed, no reply", async () => {
    const raw = await RawClient.connect(server.port);
    raw.send("get authed and some more keys\r\n");
    expect(await raw.waitClosed(3_000)).toBe(true);
  });

  test("-S refuses UDP and the ASCII protocol with memcached's messages", () => {
    const udp = run([bun_path, main_path, "-S", "--sasl-pwdb", join(dir, "pwdb"), "-U", "11299"]);
    expect(udp.code).toBe(64);
    expect(udp.out).toContain("ERROR: Cannot enable UDP while using binary SASL authentication.");
    const ascii = run([bun_path, main_path, "-S", "--sasl-pwdb", join(dir, "pwdb"), "-B", "ascii"]);
    expect(ascii.code).toBe(64);
    expect(ascii.out).toContain("ERROR: You cannot allow the ASCII protocol while using SASL.");
    const missing = run([bun_path, main_path, "-S", "--sasl-pwdb", join(dir, "nonexistent")]);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain("Could not open password file");
  });
});

describe("-B", () => {
  test("-B binary: a text client is read as binary (bad magic: closed); binary works", async () => {
    const server = await startOurs(["-B", "binary"]);
    try {
      const bin = await BinaryClient.connect(server.port);
      expect((await bin.call([{ opcode: Op.NOOP, opaque: 3 }]))[0]!.opaque).toBe(3);
      bin.close();
      const raw = await RawClient.connect(server.port);
      raw.send("version\r\nversion\r\nversion\r\n");
      expect(await raw.waitClosed(3_000)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  test("-B ascii: a binary frame is text (memcached 1.6.18 answers ERROR to the noop's line)", async () => {
    const server = await startOurs(["-B", "ascii"]);
    try {
      const raw = await RawClient.connect(server.port);
      raw.send(frame({ opcode: Op.NOOP }));
      expect(await raw.readText("ERROR\r\n")).toBe("ERROR\r\n");
      raw.close();
    } finally {
      await server.stop();
    }
  });
});

describe("-Y: ASCII auth tokens (memcached 1.6.18's replies)", () => {
  let server: Spawned;
  beforeAll(async () => {
    writeFileSync(join(dir, "authfile"), "alice:wonderland\n");
    server = await startOurs(["-Y", join(dir, "authfile")]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("every command is refused until a set carries 'user password'", async () => {
    const raw = await RawClient.connect(server.port);
    expect(await raw.call("get foo\r\n")).toBe("CLIENT_ERROR unauthenticated\r\n");
    expect(await raw.call("version\r\n")).toBe("CLIENT_ERROR unauthenticated\r\n");
    expect(await raw.call("set x 0 0 5\r\nalice\r\n")).toBe("CLIENT_ERROR bad authentication token format\r\n");
    expect(await raw.call("set x 0 0 11\r\nalice wrong\r\n")).toBe("CLIENT_ERROR authentication failure\r\n");
    expect(await raw.call("add x 0 0 16\r\nalice wonderland\r\n")).toBe("CLIENT_ERROR unauthenticated\r\n");
    // a token not followed by CRLF does not authenticate (memcached 1.6.18 goes out of step here)
    expect(await raw.call("set x 0 0 5\r\nalice wonderlandXX\r\n", "unauthenticated\r\n")).toBe(
      "CLIENT_ERROR bad data chunk\r\nCLIENT_ERROR unauthenticated\r\n",
    );
    expect(await raw.call("set anything 5 6 16\r\nalice wonderland\r\n")).toBe("STORED\r\n");
    expect(await raw.call("set x 0 0 3\r\nabc\r\nget x\r\n", "END\r\n")).toBe("STORED\r\nVALUE x 0 3\r\nabc\r\nEND\r\n");
    raw.close();
  });

  test("a binary frame is text under -Y (memcached: CLIENT_ERROR unauthenticated)", async () => {
    const raw = await RawClient.connect(server.port);
    raw.send(frame({ opcode: Op.NOOP }));
    expect(await raw.readText()).toBe("CLIENT_ERROR unauthenticated\r\n");
    raw.close();
  });

  test("stats count the attempts", async () => {
    const raw = await RawClient.connect(server.port);
    await raw.call("set x 0 0 16\r\nalice wonderland\r\n");
    const stats = await raw.call("stats\r\n", "END\r\n");
    expect(stats).toMatch(/STAT auth_cmds [3-9]\r\n/);
    expect(stats).toMatch(/STAT auth_errors [1-9]\r\n/);
    raw.close();
  });
});
