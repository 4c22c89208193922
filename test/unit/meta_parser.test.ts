// The meta protocol parser without sockets: framing of every meta line at every split point, an
// ms data block never parsed as a command, the flags record, memcached's errors, base64.
import { describe, expect, test } from "bun:test";
import { Cmd, Command, Parse, parseCommand } from "../../src/protocol/parser.ts";
import {
  base64DecodeInPlace, base64Encode, MetaError, MetaFlags, parseMetaFlags,
} from "../../src/protocol/meta_parser.ts";
import { Prng } from "../helpers/prng.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const text = (buf: Uint8Array, off: number, len: number) => Buffer.from(buf.subarray(off, off + len)).toString("latin1");

/** Parses a pipeline as a connection frames it (an ms takes its data block); returns a trace. */
function trace(buf: Uint8Array, start: number, end: number, cmd: Command, out: string[]): number {
  let at = start;
  for (;;) {
    const status = parseCommand(buf, at, end, cmd);
    if (status === Parse.NEED_MORE) return at;
    if (status === Parse.CLOSE) {
      out.push("CLOSE");
      return end;
    }
    let entry = `${cmd.kind}`;
    let next = cmd.next;
    if (cmd.kind >= Cmd.MG && cmd.kind <= Cmd.MS_INVALID && cmd.kind !== Cmd.TOMB && cmd.kind !== Cmd.FLUSH_BEFORE) {
      entry += `:${text(buf, cmd.key_off, cmd.key_len)}`;
    }
    if (cmd.kind === Cmd.MS) {
      const total = cmd.data_len + 2;
      if (end - cmd.next < total) return at;
      entry += `=${text(buf, cmd.next, cmd.data_len)}`;
      next += total;
    }
    out.push(entry);
    at = next;
  }
}

const pipeline =
  "mn\r\nmg key v f t\r\nms key 11 T0 F5\r\nflush_all 0\r\nmd key q I\r\nma cnt N0 J5 v\r\nme key\r\n" +
  "ms empty 0\r\n\r\nms bad x\r\nms\r\nmg\r\nmx a\r\nms k 4 b\r\nmn\r\n\r\nmn extra\r\n";

describe("meta framing at every split point", () => {
  const whole = bytes(pipeline);
  const expected: string[] = [];
  const used = trace(whole, 0, whole.length, new Command(), expected);

  test("the unsplit pipeline frames completely; the ms data `flush_all 0` is data, not a command", () => {
    expect(used).toBe(whole.length);
    expect(expected).toEqual([
      `${Cmd.MN}`,
      `${Cmd.MG}:key`,
      `${Cmd.MS}:key=flush_all 0`,
      `${Cmd.MD}:key`,
      `${Cmd.MA}:cnt`,
      `${Cmd.ME}:key`,
      `${Cmd.MS}:empty=`,
      `${Cmd.MS_INVALID}:bad`,
      `${Cmd.ERROR}`, // ms alone
      `${Cmd.ERROR}`, // mg alone
      `${Cmd.ERROR}`, // mx: not a meta command
      `${Cmd.MS}:k=mn\r\n`,
      `${Cmd.MN}`,
    ]);
  });

  test("two chunks at every split point frame the same commands", () => {
    for (let split = 0; split <= whole.length; split++) {
      const out: string[] = [];
      const cmd = new Command();
      const first = whole.subarray(0, split);
      const used_first = trace(first, 0, first.length, cmd, out);
      const stash = Buffer.concat([first.subarray(used_first), whole.subarray(split)]);
      expect(trace(stash, 0, stash.length, cmd, out)).toBe(stash.length);
      expect(out).toEqual(expected);
    }
  });

  test("byte-by-byte feeding frames the same commands", () => {
    const out: string[] = [];
    const cmd = new Command();
    let stash = Buffer.alloc(0);
    for (let i = 0; i < whole.length; i++) {
      stash = Buffer.concat([stash, whole.subarray(i, i + 1)]);
      stash = stash.subarray(trace(stash, 0, stash.length, cmd, out));
    }
    expect(stash.length).toBe(0);
    expect(out).toEqual(expected);
  });

  test("ms lengths: memcached's range, and MS_INVALID says whether a length token was there", () => {
    const cmd = new Command();
    const frame = (line: string) => {
      const buf = bytes(line);
      expect(parseCommand(buf, 0, buf.length, cmd)).toBe(Parse.LINE);
      return cmd.kind;
    };
    expect(frame("ms k 2147483645\r\n")).toBe(Cmd.MS);
    expect(cmd.data_len).toBe(2147483645);
    expect(frame("ms k 2147483646\r\n")).toBe(Cmd.MS_INVALID);
    expect(cmd.has_arg).toBe(true);
    expect(frame("ms k -1\r\n")).toBe(Cmd.MS_INVALID);
    expect(frame("ms k 1x\r\n")).toBe(Cmd.MS_INVALID);
    expect(frame("ms k\r\n")).toBe(Cmd.MS_INVALID);
    expect(cmd.has_arg).toBe(false);
    expect(frame("ms k +3 T1\r\n")).toBe(Cmd.MS);
    expect(cmd.data_len).toBe(3);
  });
});

function flagsOf(line: string, first = 2): { ok: boolean; m: MetaFlags; buf: Buffer } {
  const buf = bytes(line + "\r\n");
  const cmd = new Command();
  expect(parseCommand(buf, 0, buf.length, cmd)).toBe(Parse.LINE);
  const m = new MetaFlags();
  return { ok: parseMetaFlags(buf, cmd, first, m), m, buf };
}

describe("meta flags", () => {
  test("values of N T R F C M J D, the switches, the key", () => {
    const { ok, m, buf } = flagsOf("ms key 5 N30 T-1 R20 F4294967295 C18446744073709551615 MA J7 D9 I q u v", 3);
    expect(ok).toBe(true);
    expect([m.vivify, m.vivify_exptime, m.touch, m.exptime, m.recache, m.recache_exptime]).toEqual([true, 30, true, -1, true, 20]);
    expect([m.client_flags, m.cas_lo, m.cas_hi, m.has_cas, m.mode]).toEqual([4294967295, 4294967295, 4294967295, true, 65]);
    expect([m.initial_lo, m.delta_lo, m.set_stale, m.quiet, m.no_bump, m.value]).toEqual([7, 9, true, true, true, true]);
    expect(text(buf, m.key_off, m.key_len)).toBe("key");
    expect(m.touch_first).toBe(true);
    expect(flagsOf("mg k R5 T5").m.touch_first).toBe(false);
  });

  test("defaults: delta 1, nothing set", () => {
    const { ok, m } = flagsOf("ma k");
    expect(ok).toBe(true);
    expect([m.delta_lo, m.delta_hi, m.has_cas, m.vivify, m.mode]).toEqual([1, 0, false, false, 0]);
  });

  test("memcached's errors: unknown, duplicate (also bytes >= 127), bad numbers; the last error wins", () => {
    const error = (line: string) => flagsOf(line).m.error;
    expect(error("mg k z")).toBe(MetaError.INVALID);
    expect(error("mg k E5")).toBe(MetaError.INVALID);
    expect(error("mg k v v")).toBe(MetaError.DUPLICATE);
    expect(error("mg k \x80")).toBe(MetaError.DUPLICATE);
    expect(error("mg k T")).toBe(MetaError.BAD_TOKEN);
    expect(error("mg k Nx")).toBe(MetaError.BAD_TOKEN);
    expect(error("mg k C-1")).toBe(MetaError.BAD_TOKEN);
    expect(error("mg k Mxy")).toBe(MetaError.M_LENGTH);
    expect(error("mg k J-5")).toBe(MetaError.INITIAL);
    expect(error("mg k Dabc")).toBe(MetaError.DELTA);
    expect(error("mg k Fx")).toBe(MetaError.FORMAT);
    expect(error("mg k Tx Fx")).toBe(MetaError.BAD_TOKEN); // F keeps the message it finds
    expect(error("mg k Fx Tx")).toBe(MetaError.BAD_TOKEN);
    expect(error("mg k Tx q q")).toBe(MetaError.DUPLICATE);
    expect(error("mg YQ== b")).toBe(MetaError.NONE);
    expect(error("mg YQ b")).toBe(MetaError.DECODE_KEY);
    expect(flagsOf("mg k " + "O".padEnd(33, "1")).m.opaque_too_long).toBe(true);
    expect(flagsOf("mg k " + "O".padEnd(32, "1")).m.opaque_too_long).toBe(false);
  });

  test("b decodes the key in place", () => {
    const { ok, m, buf } = flagsOf("mg AA0KIP8= b v");
    expect(ok).toBe(true);
    expect([...buf.subarray(m.key_off, m.key_off + m.key_len)]).toEqual([0, 13, 10, 32, 255]);
    expect(m.base64).toBe(true);
  });
});

describe("base64 as memcached 1.6.18 decodes keys", () => {
  const decode = (s: string) => {
    const buf = bytes(s);
    const n = base64DecodeInPlace(buf, 0, buf.length);
    return n === 0 ? null : text(buf, 0, n);
  };

  test("checked against the binary", () => {
    expect(decode("YQ==")).toBe("a");
    expect(decode("YWJj")).toBe("abc");
    expect(decode("YQ==YQ==")).toBe("a");
    expect(decode("YWJ=")).toBe("ab");
    expect(decode("Y!Q==")).toBe("a");
    expect(decode("YQ=A")).toBe("a\0");
    expect(decode("YQ")).toBeNull();
    expect(decode("YQ=")).toBeNull();
    expect(decode("YQ==Y")).toBeNull();
    expect(decode("====")).toBeNull();
    expect(decode("Y===")).toBeNull();
  });

  test("random keys: encode then decode is the identity, and encode matches Buffer's", () => {
    const prng = new Prng(12);
    for (let i = 0; i < 2000; i++) {
      const len = prng.int(1, 187);
      const key = new Uint8Array(len);
      for (let j = 0; j < len; j++) key[j] = prng.int(0, 255);
      const out = new Uint8Array(260);
      const end = base64Encode(out, 0, key, 0, len);
      expect(text(out, 0, end)).toBe(Buffer.from(key).toString("base64"));
      expect(base64DecodeInPlace(out, 0, end)).toBe(len);
      expect([...out.subarray(0, len)]).toEqual([...key]);
    }
  });
});
