// -F and -C over the binary and meta protocols, side by side with memcached 1.6.18 started with the
// same flags: the bytes must be the same (under -C every cas memcached shows is 0, so no renumbering).
// -F: a binary flush/flushq answers "Auth failure." and is not counted. -C: a binary request's cas is
// ignored (the store runs as without one), replies carry cas 0; meta shows c0 and a given C<cas>
// never matches (EX). The text side of both flags is in compat_cases.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient, type Spawned, startMemcached, startOurs } from "../helpers/procs.ts";
import { frame, Op, storeExtras, deltaExtras } from "../helpers/binary.ts";

const flags = ["-F", "-C"];
let ours: Spawned;
let theirs: Spawned;

beforeAll(async () => {
  ours = await startOurs(flags);
  theirs = await startMemcached(flags);
});

afterAll(async () => {
  await ours.stop();
  await theirs.stop();
});

/** Sends the bytes on a fresh connection and returns what arrives until `done` holds (or 3 s). */
async function exchange(port: number, bytes: Uint8Array | string, done: (b: Buffer) => boolean): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    c.send(bytes);
    return (await c.readUntil(done, 3_000)).toString("hex");
  } finally {
    c.close();
  }
}

async function both(bytes: Uint8Array | string, done: (b: Buffer) => boolean): Promise<[string, string]> {
  return [await exchange(ours.port, bytes, done), await exchange(theirs.port, bytes, done)];
}

/** Binary responses: done after `n` frames. */
function frames(n: number): (b: Buffer) => boolean {
  return (b) => {
    let at = 0;
    for (let i = 0; i < n; i++) {
      if (b.length < at + 24) return false;
      at += 24 + b.readUInt32BE(at + 8);
    }
    return b.length >= at;
  };
}

describe("-F and -C over binary and meta, as memcached 1.6.18", () => {
  test("binary: flush and flushq answer Auth failure under -F, uncounted", async () => {
    const req = Buffer.concat([frame({ opcode: Op.FLUSH }), frame({ opcode: Op.FLUSHQ }), frame({ opcode: Op.NOOP })]);
    const [a, b] = await both(req, frames(3));
    expect(a).toBe(b);
    expect(Buffer.from(a, "hex").subarray(24, 37).toString("latin1")).toBe("Auth failure.");
    const stat = (port: number) => exchange(port, "stats\r\n", (x) => x.includes("END\r\n"));
    const flushes = (hex: string) => Buffer.from(hex, "hex").toString("latin1").match(/STAT cmd_flush (\d+)/)![1];
    expect([flushes(await stat(ours.port)), flushes(await stat(theirs.port))]).toEqual(["0", "0"]);
  });

  test("binary: under -C a given cas is ignored and every reply carries cas 0", async () => {
    const req = Buffer.concat([
      frame({ opcode: Op.SET, key: "cb", extras: storeExtras(7, 0), value: "one" }),
      frame({ opcode: Op.SET, key: "cb", extras: storeExtras(7, 0), value: "two", cas: 12345n }),
      frame({ opcode: Op.GETK, key: "cb" }),
      frame({ opcode: Op.APPEND, key: "cb", value: "!", cas: 999n }),
      frame({ opcode: Op.INCREMENT, key: "cn", extras: deltaExtras(1n, 5n, 0) }),
      frame({ opcode: Op.DELETE, key: "cn", cas: 77n }),
      frame({ opcode: Op.GETK, key: "cb" }),
    ]);
    const [a, b] = await both(req, frames(7));
    expect(a).toBe(b);
  });

  test("meta: c shows 0 and a given C never matches (EX) under -C", async () => {
    const req = "ms mc 3 T0 F5\r\nabc\r\nmg mc v c f\r\nms mc 1 C12345\r\nx\r\nma mn N0 J10 C5\r\nmd mc C1 q\r\nmg mc c s\r\nmn\r\n";
    const [a, b] = await both(req, (x) => x.includes("MN\r\n"));
    expect(Buffer.from(a, "hex").toString("latin1")).toBe(Buffer.from(b, "hex").toString("latin1"));
    expect(Buffer.from(a, "hex").toString("latin1")).toContain("c0");
  });
});
