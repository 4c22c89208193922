// Reply framing of the proxy's upstream connections, without sockets: every reply kind at every
// split point, resume offsets, and the VALUE / VA header readers.
import { describe, expect, test } from "bun:test";
import {
  BAD, NEED_MORE, ReplyKind, lineIs, meta_line, readMetaLine, readValueLine, replyEnd, scan, value_line,
} from "../../src/proxy/reply.ts";
import { upstream_line_bytes_max } from "../../src/proxy/limits.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

/** Frames a stream of replies of the given kinds, fed in two pieces split at `split`. */
function frame(kinds: number[], text: string, split: number): string[] {
  const all = bytes(text);
  const replies: string[] = [];
  let buf = all.subarray(0, split);
  let at = 0;
  let resume_rel = 0;
  let k = 0;
  for (let round = 0; round < 2; round++) {
    while (k < kinds.length) {
      const end = replyEnd(kinds[k]!, buf, at, at + resume_rel, buf.length);
      if (end === NEED_MORE) {
        resume_rel = scan.resume - at;
        break;
      }
      expect(end).toBeGreaterThan(at);
      replies.push(Buffer.from(buf.subarray(at, end)).toString("latin1"));
      at = end;
      resume_rel = 0;
      k++;
    }
    buf = all;
  }
  return replies;
}

describe("replyEnd at every split point", () => {
  const stream = [
    [ReplyKind.LINE, "STORED\r\n"],
    [ReplyKind.VALUES, "VALUE a 0 3\r\nxyz\r\nVALUE bb 5 10 77\r\n0123456789\r\nEND\r\n"],
    [ReplyKind.VALUES, "END\r\n"],
    [ReplyKind.LINE, "12345\r\n"],
    [ReplyKind.VALUES, "VALUE k 0 5\r\nEND\r\n\r\nEND\r\n"], // data that looks like END
    [ReplyKind.VALUES, "SERVER_ERROR out of memory\r\n"],
    [ReplyKind.META, "VA 2 f3 t-1\r\nhi\r\n"],
    [ReplyKind.META, "EN\r\n"],
    [ReplyKind.META, "ERROR\r\n"],
    [ReplyKind.LINE, "OK\r\n"],
  ] as const;
  const kinds = stream.map(([kind]) => kind as number);
  const text = stream.map(([, reply]) => reply).join("");
  const expected = stream.map(([, reply]) => reply as string);

  test("each split yields the same replies", () => {
    for (let split = 0; split <= text.length; split++) expect(frame(kinds, text, split)).toEqual(expected);
  });
});

describe("replyEnd details", () => {
  test("incomplete value data is NEED_MORE with a resume point at its VALUE line", () => {
    const buf = bytes("VALUE a 0 3\r\nxyz\r\nVALUE b 0 100\r\nabc");
    expect(replyEnd(ReplyKind.VALUES, buf, 0, 0, buf.length)).toBe(NEED_MORE);
    expect(scan.resume).toBe(18);
  });

  test("a line longer than any reply line is BAD", () => {
    const buf = bytes("X".repeat(upstream_line_bytes_max + 10));
    expect(replyEnd(ReplyKind.LINE, buf, 0, 0, buf.length)).toBe(BAD);
  });

  test("a VALUE line without a length is BAD", () => {
    const buf = bytes("VALUE a 0\r\nEND\r\n");
    expect(replyEnd(ReplyKind.VALUES, buf, 0, 0, buf.length)).toBe(BAD);
  });
});

describe("header readers", () => {
  test("readValueLine: key, flags, length, cas and the block end", () => {
    const buf = bytes("VALUE key1 42 5 999\r\nhello\r\nEND\r\n");
    expect(readValueLine(buf, 0, buf.length)).toBe(true);
    const v = value_line;
    expect(buf.subarray(v.key_off, v.key_off + v.key_len).toString()).toBe("key1");
    expect(buf.subarray(v.flags_off, v.flags_off + v.flags_len).toString()).toBe("42");
    expect(buf.subarray(v.cas_off, v.cas_off + v.cas_len).toString()).toBe("999");
    expect(v.data_len).toBe(5);
    expect(buf.subarray(v.data_off, v.data_off + 5).toString()).toBe("hello");
    expect(lineIs(buf, v.block_end, buf.length, "END\r\n")).toBe(true);
    expect(readValueLine(buf, v.block_end, buf.length)).toBe(false);
  });

  test("readMetaLine: VA with flags, ttl and cas; EN; and a refusal", () => {
    const hit = bytes("VA 3 f7 t120 c55\r\nabc\r\n");
    expect(readMetaLine(hit, 0, hit.length)).toBe(true);
    expect(meta_line.hit).toBe(true);
    expect(meta_line.flags).toBe(7);
    expect(meta_line.ttl_s).toBe(120);
    expect(hit.subarray(meta_line.cas_off, meta_line.cas_off + meta_line.cas_len).toString()).toBe("55");
    expect(hit.subarray(meta_line.data_off, meta_line.data_off + 3).toString()).toBe("abc");
    const forever = bytes("VA 1 f0 t-1\r\nz\r\n");
    expect(readMetaLine(forever, 0, forever.length)).toBe(true);
    expect(meta_line.ttl_s).toBe(-1);
    const miss = bytes("EN\r\n");
    expect(readMetaLine(miss, 0, miss.length)).toBe(true);
    expect(meta_line.hit).toBe(false);
    const error = bytes("ERROR\r\n");
    expect(readMetaLine(error, 0, error.length)).toBe(false);
  });
});
