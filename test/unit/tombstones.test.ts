// Replication tombstones without sockets: what is remembered, its cas, the bounds, the wire line.
import { describe, expect, test } from "bun:test";
import { Tombstones, tombstones_entries_max, tombstones_key_bytes_max } from "../../src/replication/tombstones.ts";
import { encodeFlushBefore, encodeTomb } from "../../src/replication/codec.ts";
import { Cmd, Command, parseCommand } from "../../src/protocol/parser.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

describe("tombstones", () => {
  test("a delete is remembered with a cas past everything minted in its millisecond", () => {
    const t = new Tombstones();
    const key = bytes("xxsession:42yy");
    expect(t.add(key, 2, 10, 1_700_000_000_123)).toBe(true);
    expect(t.count).toBe(1);
    expect(Buffer.from(t.keys.subarray(t.key_off[0]!, t.key_off[0]! + t.key_len[0]!)).toString()).toBe("session:42");
    const cas = t.cas_hi[0]! * 2 ** 32 + t.cas_lo[0]!;
    expect(cas).toBe(1_700_000_000_123 * 1024 + 1023);
    expect(cas).toBeLessThan((1_700_000_000_124 * 1024)); // before anything of the next ms
    t.clear();
    expect(t.count).toBe(0);
    expect(t.added).toBe(1);
  });

  test("bounded by entries and by key bytes; what does not fit is counted, not kept", () => {
    const t = new Tombstones();
    const long = bytes("k".repeat(250));
    const fit = Math.floor(tombstones_key_bytes_max / 250);
    for (let i = 0; i < fit; i++) expect(t.add(long, 0, 250, 1)).toBe(true);
    expect(t.add(long, 0, 250, 1)).toBe(false);
    expect(t.dropped).toBe(1);
    t.clear();
    const short = bytes("k");
    for (let i = 0; i < tombstones_entries_max; i++) t.add(short, 0, 1, 1);
    expect(t.count).toBe(tombstones_entries_max);
    expect(t.add(short, 0, 1, 1)).toBe(false);
    expect(t.dropped).toBe(2);
    expect(() => t.add(short, 0, 0, 1)).toThrow(RangeError);
  });

  test("encodeTomb writes the line the parser reads back", () => {
    const t = new Tombstones();
    t.add(bytes("a:key"), 0, 5, Date.UTC(2026, 10, 23));
    const out = new Uint8Array(512);
    const end = encodeTomb(out, 3, t.keys, t.key_off[0]!, t.key_len[0]!, t.cas_lo[0]!, t.cas_hi[0]!);
    const line = Buffer.from(out.subarray(3, end)).toString("latin1");
    expect(line).toBe(`rcb1_tomb a:key ${Date.UTC(2026, 10, 23) * 1024 + 1023}\r\n`);
    const cmd = new Command();
    parseCommand(out, 3, end, cmd);
    expect(cmd.kind).toBe(Cmd.TOMB);
    expect(cmd.num_lo).toBe(t.cas_lo[0]!);
    expect(cmd.num_hi).toBe(t.cas_hi[0]!);
  });

  test("a flush is one cas (the latest), sent as rcb1_flush_before, forgotten by clear", () => {
    const t = new Tombstones();
    expect(t.has_flush).toBe(false);
    t.addFlush(1_000);
    t.addFlush(2_000);
    expect(t.flush_cas_hi * 2 ** 32 + t.flush_cas_lo).toBe(2_000 * 1024 + 1023);
    const out = new Uint8Array(64);
    const end = encodeFlushBefore(out, 0, t.flush_cas_lo, t.flush_cas_hi);
    expect(Buffer.from(out.subarray(0, end)).toString("latin1")).toBe(`rcb1_flush_before ${2_000 * 1024 + 1023}\r\n`);
    const cmd = new Command();
    parseCommand(out, 0, end, cmd);
    expect(cmd.kind).toBe(Cmd.FLUSH_BEFORE);
    expect(cmd.num_lo).toBe(t.flush_cas_lo);
    for (const line of ["rcb1_flush_before\r\n", "rcb1_flush_before 1 2\r\n"]) {
      parseCommand(bytes(line), 0, line.length, cmd);
      expect(cmd.kind).toBe(Cmd.ERROR);
    }
    t.clear();
    expect(t.has_flush).toBe(false);
  });
});
