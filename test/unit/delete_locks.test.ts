// Delete locks (1.2.8's deferred delete from a classic peer) without sockets: lock, time, release,
// the bound and what it drops, and the protocol's use of them.
import { describe, expect, test } from "bun:test";
import { DeleteLocks, delete_locks_max } from "../../src/protocol/delete_locks.ts";
import { Cmd, Command, parseCommand } from "../../src/protocol/parser.ts";
import { lockedStoreReply } from "../../src/protocol/execute.ts";
import { Reply } from "../../src/protocol/replies.ts";
import type { Context } from "../../src/protocol/execute.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const t0 = 1_800_000_000;

describe("DeleteLocks", () => {
  test("a lock holds while now < until, then is gone (found expired, or by the tick)", () => {
    const locks = new DeleteLocks(t0);
    const key = bytes("xxkeyyy");
    locks.lock(key, 2, 3, t0 + 5);
    expect(locks.size).toBe(1);
    expect(locks.locked(key, 2, 3)).toBe(true);
    expect(locks.locked(bytes("key"), 0, 3)).toBe(true); // by bytes, not by buffer
    expect(locks.locked(bytes("ke"), 0, 2)).toBe(false);
    locks.tick(t0 + 4);
    expect(locks.locked(key, 2, 3)).toBe(true);
    locks.now_s = t0 + 5;
    expect(locks.locked(key, 2, 3)).toBe(false); // an expired lock met on lookup is removed
    expect(locks.size).toBe(0);

    locks.lock(bytes("a"), 0, 1, t0 + 6);
    locks.lock(bytes("b"), 0, 1, t0 + 9);
    locks.tick(t0 + 6);
    expect(locks.size).toBe(1);
    expect(locks.locked(bytes("b"), 0, 1)).toBe(true);
    locks.tick(t0 + 9);
    expect(locks.size).toBe(0);
  });

  test("a time already past takes no lock; a second lock of a key replaces the first", () => {
    const locks = new DeleteLocks(t0);
    locks.lock(bytes("k"), 0, 1, t0);
    locks.lock(bytes("k"), 0, 1, t0 - 100);
    expect(locks.size).toBe(0);
    locks.lock(bytes("k"), 0, 1, t0 + 2);
    locks.lock(bytes("k"), 0, 1, t0 + 10);
    expect(locks.size).toBe(1);
    locks.tick(t0 + 5);
    expect(locks.locked(bytes("k"), 0, 1)).toBe(true);
  });

  test("release ends a lock (a set or rep of the key); releasing a missing key is fine", () => {
    const locks = new DeleteLocks(t0);
    locks.lock(bytes("k"), 0, 1, t0 + 5);
    locks.release(bytes("k"), 0, 1);
    locks.release(bytes("nothing"), 0, 7);
    expect(locks.size).toBe(0);
    expect(locks.locked(bytes("k"), 0, 1)).toBe(false);
  });

  test(`bounded: past ${delete_locks_max} locks the oldest is dropped and counted`, () => {
    const locks = new DeleteLocks(t0);
    for (let i = 0; i < delete_locks_max; i++) locks.lock(bytes(`k${i}`), 0, `k${i}`.length, t0 + 60);
    expect(locks.size).toBe(delete_locks_max);
    expect(locks.dropped).toBe(0);
    // re-locking k0 makes it the newest: k1 is now the oldest
    locks.lock(bytes("k0"), 0, 2, t0 + 60);
    expect(locks.dropped).toBe(0);
    locks.lock(bytes("new"), 0, 3, t0 + 60);
    expect(locks.size).toBe(delete_locks_max);
    expect(locks.dropped).toBe(1);
    expect(locks.locked(bytes("k1"), 0, 2)).toBe(false);
    expect(locks.locked(bytes("k0"), 0, 2)).toBe(true);
    expect(locks.locked(bytes("k2"), 0, 2)).toBe(true);
    expect(locks.locked(bytes("new"), 0, 3)).toBe(true);
    expect(locks.taken).toBe(delete_locks_max + 2);
  });

  test("keys must be 1..250 bytes", () => {
    const locks = new DeleteLocks(t0);
    expect(() => locks.lock(bytes("k"), 0, 0, t0 + 1)).toThrow(RangeError);
    expect(() => locks.locked(bytes("k".repeat(251)), 0, 251)).toThrow(RangeError);
  });
});

describe("lockedStoreReply: what 1.2.8 refused while a key is delete-locked", () => {
  const ctx = { delete_locks: new DeleteLocks(t0) } as unknown as Context;
  const cmd = new Command();
  const reply = (line: string): Uint8Array | null => {
    const buf = bytes(line);
    parseCommand(buf, 0, buf.length, cmd);
    return lockedStoreReply(ctx, cmd, buf);
  };

  test("no lock held: nothing refused", () => {
    expect(reply("add k 0 0 1\r\n")).toBeNull();
  });

  test("add/replace/append/prepend NOT_STORED, cas NOT_FOUND, set and rep go on; other keys untouched", () => {
    ctx.delete_locks.lock(bytes("k"), 0, 1, t0 + 5);
    for (const verb of ["add", "replace", "append", "prepend"]) expect(reply(`${verb} k 0 0 1\r\n`)).toBe(Reply.NOT_STORED);
    expect(reply("cas k 0 0 1 7\r\n")).toBe(Reply.NOT_FOUND);
    expect(reply("set k 0 0 1\r\n")).toBeNull();
    expect(cmd.kind).toBe(Cmd.SET);
    expect(reply("rep k 0 0 1 7\r\n")).toBeNull();
    expect(cmd.kind).toBe(Cmd.REP);
    expect(reply("add other 0 0 1\r\n")).toBeNull();
  });
});
