// The binary header parser without sockets: every opcode's shape, every bad length, every split point.
import { describe, expect, test } from "bun:test";
import {
  BinaryCommand, BinKind, BinParse, header_bytes, Opcode, parseBinaryHeader, sasl_data_bytes_max,
} from "../../src/protocol/binary_parser.ts";
import { deltaExtras, frame, storeExtras, u32Extras, type Request } from "../helpers/binary.ts";

function parse(r: Request | Uint8Array): { status: number; cmd: BinaryCommand } {
  const buf = r instanceof Uint8Array ? r : frame(r);
  const cmd = new BinaryCommand();
  return { status: parseBinaryHeader(buf, 0, buf.length, cmd), cmd };
}

/** Parses a pipeline as a connection does (whole frames; unknown opcodes' bodies skipped); a trace. */
function trace(buf: Uint8Array, start: number, end: number, cmd: BinaryCommand, out: string[]): number {
  let at = start;
  for (;;) {
    const status = parseBinaryHeader(buf, at, end, cmd);
    if (status === BinParse.NEED_MORE) return at;
    if (end - at < header_bytes + cmd.bodylen) return at; // need_more: nothing consumed
    const key = Buffer.from(buf.subarray(cmd.key_off, cmd.key_off + cmd.keylen)).toString("latin1");
    const value = Buffer.from(buf.subarray(cmd.value_off, cmd.value_off + cmd.value_len)).toString("latin1");
    out.push(`${status}:${cmd.opcode}:${cmd.kind}:${cmd.quiet ? "q" : ""}:${cmd.opaque}:${cmd.cas_hi}.${cmd.cas_lo}:${key}=${value}`);
    at = cmd.frame_end;
  }
}

const pipeline = Buffer.concat([
  frame({ opcode: Opcode.SET, key: "alpha", extras: storeExtras(7, 100), value: "one", opaque: 1, cas: 0x1_0000_0002n }),
  frame({ opcode: Opcode.GETKQ, key: "alpha", opaque: 2 }),
  frame({ opcode: Opcode.INCREMENT, key: "n", extras: deltaExtras(1n, 5n, 0), opaque: 3 }),
  frame({ opcode: 0x50, key: "zz", value: "unknown body", opaque: 4 }),
  frame({ opcode: Opcode.APPENDQ, key: "alpha", value: "tail", opaque: 5 }),
  frame({ opcode: Opcode.FLUSH, extras: u32Extras(10), opaque: 6 }),
  frame({ opcode: Opcode.STAT, key: "settings", opaque: 7 }),
  frame({ opcode: Opcode.SASL_AUTH, key: "PLAIN", value: "\0u\0p", opaque: 8 }),
  frame({ opcode: Opcode.NOOP, opaque: 0xffffffff }),
]);

describe("binary parser on every split point", () => {
  const whole_trace: string[] = [];
  test("the unsplit pipeline parses completely", () => {
    const cmd = new BinaryCommand();
    expect(trace(pipeline, 0, pipeline.length, cmd, whole_trace)).toBe(pipeline.length);
    expect(whole_trace).toHaveLength(9);
    expect(whole_trace[0]).toBe(`${BinParse.FRAME}:1:${BinKind.STORE}::1:1.2:alpha=one`);
    expect(whole_trace[3]).toBe(`${BinParse.UNKNOWN}:80:${BinKind.UNKNOWN}::4:0.0:zz=unknown body`);
    expect(whole_trace[8]).toBe(`${BinParse.FRAME}:10:${BinKind.NOOP}::4294967295:0.0:=`);
  });

  test("two chunks at every split point give the same frames; need_more consumes nothing", () => {
    for (let split = 0; split <= pipeline.length; split++) {
      const cmd = new BinaryCommand();
      const out: string[] = [];
      const first = pipeline.subarray(0, split);
      const used = trace(first, 0, first.length, cmd, out);
      expect(used).toBeLessThanOrEqual(split);
      const rest = Buffer.concat([first.subarray(used), pipeline.subarray(split)]);
      expect(trace(rest, 0, rest.length, cmd, out)).toBe(rest.length);
      expect(out).toEqual(whole_trace);
    }
  });

  test("fewer than 24 bytes is need_more, even with a bad magic", () => {
    for (let n = 0; n < header_bytes; n++) {
      expect(parse(frame({ opcode: Opcode.NOOP }).subarray(0, n)).status).toBe(BinParse.NEED_MORE);
      expect(parse(Buffer.alloc(n, 0x47)).status).toBe(BinParse.NEED_MORE);
    }
  });
});

describe("binary header checks (memcached 1.6.18's, from the real server)", () => {
  test("a magic other than 0x80 closes", () => {
    expect(parse({ opcode: Opcode.NOOP, magic: 0x81 }).status).toBe(BinParse.CLOSE);
    expect(parse(Buffer.from("get foo bar baz quux 123\r\n")).status).toBe(BinParse.CLOSE);
  });

  test("a key over 250 bytes is EINVAL", () => {
    expect(parse({ opcode: Opcode.GET, key: "k".repeat(250) }).status).toBe(BinParse.FRAME);
    expect(parse({ opcode: Opcode.GET, key: "k".repeat(251) }).status).toBe(BinParse.INVALID);
    expect(parse({ opcode: 0x50, key: "k".repeat(251) }).status).toBe(BinParse.INVALID);
  });

  test("extras + key longer than the body is malformed", () => {
    expect(parse({ opcode: Opcode.SET, key: "abc", extras: storeExtras(0, 0), bodylen: 10 }).status).toBe(BinParse.MALFORMED);
    expect(parse({ opcode: Opcode.GET, key: "k", extlen: 255, bodylen: 1 }).status).toBe(BinParse.MALFORMED);
    expect(parse({ opcode: Opcode.SET, key: "abc", extras: storeExtras(0, 0), bodylen: 11 }).status).toBe(BinParse.FRAME);
  });

  test("each opcode's body shape", () => {
    const ok: Request[] = [
      { opcode: Opcode.GET, key: "k" }, { opcode: Opcode.GETKQ, key: "k" },
      { opcode: Opcode.SET, key: "k", extras: storeExtras(1, 2) }, { opcode: Opcode.ADDQ, key: "k", extras: storeExtras(1, 2), value: "v" },
      { opcode: Opcode.APPEND, key: "k", value: "v" }, { opcode: Opcode.PREPENDQ, key: "k" },
      { opcode: Opcode.DELETE, key: "k" }, { opcode: Opcode.INCREMENTQ, key: "k", extras: deltaExtras(1n, 0n, 0) },
      { opcode: Opcode.QUIT }, { opcode: Opcode.FLUSH }, { opcode: Opcode.FLUSHQ, extras: u32Extras(5) },
      { opcode: Opcode.NOOP }, { opcode: Opcode.VERSION }, { opcode: Opcode.STAT }, { opcode: Opcode.STAT, key: "items" },
      { opcode: Opcode.TOUCH, key: "k", extras: u32Extras(1) }, { opcode: Opcode.GATKQ, key: "k", extras: u32Extras(1) },
      { opcode: Opcode.SASL_LIST_MECHS }, { opcode: Opcode.SASL_AUTH, key: "PLAIN", value: "\0a\0b" },
      { opcode: Opcode.SASL_STEP, key: "PLAIN", value: "x" },
    ];
    for (const r of ok) expect([r.opcode, parse(r).status]).toEqual([r.opcode, BinParse.FRAME]);
    const invalid: Request[] = [
      { opcode: Opcode.GET }, { opcode: Opcode.GET, key: "k", extras: u32Extras(0) }, { opcode: Opcode.GET, key: "k", value: "v" },
      { opcode: Opcode.SET, key: "k", value: "v" }, { opcode: Opcode.SET, extras: storeExtras(0, 0), value: "v" },
      { opcode: Opcode.APPEND, key: "k", extras: u32Extras(1), value: "v" }, { opcode: Opcode.APPEND, value: "v" },
      { opcode: Opcode.DELETE, key: "k", extras: u32Extras(0) }, { opcode: Opcode.DELETE, key: "k", value: "x" },
      { opcode: Opcode.INCREMENT, key: "k" }, { opcode: Opcode.INCREMENT, extras: deltaExtras(1n, 0n, 0) },
      { opcode: Opcode.INCREMENT, key: "k", extras: deltaExtras(1n, 0n, 0), value: "x" },
      { opcode: Opcode.QUIT, key: "x" }, { opcode: Opcode.NOOP, key: "k" }, { opcode: Opcode.NOOP, value: "v" },
      { opcode: Opcode.VERSION, key: "x" }, { opcode: Opcode.FLUSH, extras: storeExtras(0, 0) }, { opcode: Opcode.FLUSH, key: "x" },
      { opcode: Opcode.STAT, extras: u32Extras(1) }, { opcode: Opcode.STAT, key: "settings", value: "x" },
      { opcode: Opcode.TOUCH, key: "k" }, { opcode: Opcode.GAT, key: "k" }, { opcode: Opcode.SASL_STEP },
      { opcode: Opcode.SASL_AUTH, key: "PLAIN", value: "x".repeat(sasl_data_bytes_max + 1) },
    ];
    for (const r of invalid) expect([r.opcode, parse(r).status]).toEqual([r.opcode, BinParse.INVALID]);
  });

  test("opcodes memcached 1.6.18 answers 'Unknown command' (verbosity among them) are UNKNOWN", () => {
    for (const opcode of [Opcode.VERBOSITY, 0x1f, 0x25, 0x50, 0xff]) {
      expect(parse({ opcode, value: "body" }).status).toBe(BinParse.UNKNOWN);
    }
  });

  test("fields: lengths, opaque, cas, quiet and key variants; the value's length is the body's rest", () => {
    const { status, cmd } = parse({
      opcode: Opcode.SETQ, key: "key", extras: storeExtras(0xdeadbeef, 9), value: "value", opaque: 0x01020304, cas: 0xfffffffffffffffen,
    });
    expect(status).toBe(BinParse.FRAME);
    expect(cmd.quiet).toBe(true);
    expect(cmd.with_key).toBe(false);
    expect([cmd.keylen, cmd.extlen, cmd.bodylen, cmd.value_len]).toEqual([3, 8, 16, 5]);
    expect([cmd.ext_off, cmd.key_off, cmd.value_off, cmd.frame_end, cmd.fixed_bytes]).toEqual([24, 32, 35, 40, 35]);
    expect(cmd.opaque).toBe(0x01020304);
    expect([cmd.cas_hi, cmd.cas_lo]).toEqual([0xffffffff, 0xfffffffe]);
    expect(parse({ opcode: Opcode.GATK, key: "k", extras: u32Extras(1) }).cmd.with_key).toBe(true);
  });

  test("a body length of 4 GiB - 1 is read as such (the caller bounds it), never negative", () => {
    const { status, cmd } = parse({ opcode: Opcode.SET, key: "k", extras: storeExtras(0, 0), bodylen: 0xffffffff });
    expect(status).toBe(BinParse.FRAME);
    expect(cmd.bodylen).toBe(0xffffffff);
    expect(cmd.value_len).toBe(0xffffffff - 9);
  });
});
