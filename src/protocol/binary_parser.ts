// memcached's binary protocol: the request header parser (pure).
//
// Contract: `parseBinaryHeader(buf, at, end, cmd)` looks only at the 24-byte header at `at`; it
// fills `cmd` (reused, offsets into buf, never copies) and returns a BinParse result. NEED_MORE
// (fewer than 24 bytes) consumes nothing and leaves `cmd` meaningless. The header alone decides
// everything memcached 1.6.18 decides before it reads a body (checked against the real binary):
// - magic other than 0x80 → CLOSE (memcached closes at once);
// - key longer than key_bytes_max, or a body shape the opcode does not take → INVALID: the reply
//   is status EINVAL and the connection closes after it;
// - extras + key longer than the body → MALFORMED: status UNKNOWN_COMMAND, then close;
// - an opcode memcached does not implement → UNKNOWN: status UNKNOWN_COMMAND, body skipped;
// - otherwise FRAME: the frame is `header_bytes + bodylen` long; its body may not be here yet.
// Bodies are bounded here before anything is buffered: every opcode but the storage ones takes at
// most header + 20 extras + 250 key (+ sasl_data_bytes_max for SASL); a storage value is bounded
// by the caller (item size max: too large → E2BIG and the value is skipped, never held).

import { key_bytes_max } from "./parser.ts";

export const header_bytes = 24;
export const request_magic = 0x80;
export const response_magic = 0x81;
/** SASL PLAIN data ("authzid\0user\0password") a request may carry. */
export const sasl_data_bytes_max = 1024;

export const BinParse = { NEED_MORE: 0, FRAME: 1, CLOSE: 2, INVALID: 3, MALFORMED: 4, UNKNOWN: 5 } as const;

export const Opcode = {
  GET: 0x00, SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, INCREMENT: 0x05, DECREMENT: 0x06,
  QUIT: 0x07, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, VERSION: 0x0b, GETK: 0x0c, GETKQ: 0x0d,
  APPEND: 0x0e, PREPEND: 0x0f, STAT: 0x10, SETQ: 0x11, ADDQ: 0x12, REPLACEQ: 0x13, DELETEQ: 0x14,
  INCREMENTQ: 0x15, DECREMENTQ: 0x16, QUITQ: 0x17, FLUSHQ: 0x18, APPENDQ: 0x19, PREPENDQ: 0x1a,
  VERBOSITY: 0x1b, TOUCH: 0x1c, GAT: 0x1d, GATQ: 0x1e, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21,
  SASL_STEP: 0x22, GATK: 0x23, GATKQ: 0x24,
} as const;

/** What an opcode does, whatever its quiet/key variant (BinaryCommand.kind). */
export const BinKind = {
  UNKNOWN: 0, GET: 1, STORE: 2, CONCAT: 3, DELETE: 4, DELTA: 5, QUIT: 6, FLUSH: 7, NOOP: 8, VERSION: 9,
  STAT: 10, TOUCH: 11, GAT: 12, SASL_LIST: 13, SASL_AUTH: 14, SASL_STEP: 15,
} as const;

/** Body shapes memcached accepts per kind: extras (-1: 0 or 4), key (1: required, 0: none, -1: any), value allowed. */
interface Shape {
  kind: number;
  extras: number;
  key: number;
  value: boolean;
}

const opcode_count = 256;
const shapes: Array<Shape | null> = new Array(opcode_count).fill(null);
const quiet = new Uint8Array(opcode_count);
const with_key = new Uint8Array(opcode_count);

function define(opcodes: number[], kind: number, extras: number, key: number, value: boolean): void {
  for (const op of opcodes) shapes[op] = { kind, extras, key, value };
}
define([Opcode.GET, Opcode.GETQ, Opcode.GETK, Opcode.GETKQ], BinKind.GET, 0, 1, false);
define([Opcode.SET, Opcode.ADD, Opcode.REPLACE, Opcode.SETQ, Opcode.ADDQ, Opcode.REPLACEQ], BinKind.STORE, 8, 1, true);
define([Opcode.APPEND, Opcode.PREPEND, Opcode.APPENDQ, Opcode.PREPENDQ], BinKind.CONCAT, 0, 1, true);
define([Opcode.DELETE, Opcode.DELETEQ], BinKind.DELETE, 0, 1, false);
define([Opcode.INCREMENT, Opcode.DECREMENT, Opcode.INCREMENTQ, Opcode.DECREMENTQ], BinKind.DELTA, 20, 1, false);
define([Opcode.QUIT, Opcode.QUITQ], BinKind.QUIT, 0, 0, false);
define([Opcode.FLUSH, Opcode.FLUSHQ], BinKind.FLUSH, -1, 0, false);
define([Opcode.NOOP], BinKind.NOOP, 0, 0, false);
define([Opcode.VERSION], BinKind.VERSION, 0, 0, false);
define([Opcode.STAT], BinKind.STAT, 0, -1, false); // memcached 1.6.18 skips a value; we refuse it (EINVAL)
define([Opcode.TOUCH], BinKind.TOUCH, 4, 1, false);
define([Opcode.GAT, Opcode.GATQ, Opcode.GATK, Opcode.GATKQ], BinKind.GAT, 4, 1, false);
define([Opcode.SASL_LIST_MECHS], BinKind.SASL_LIST, 0, 0, false);
define([Opcode.SASL_AUTH], BinKind.SASL_AUTH, 0, 1, true);
define([Opcode.SASL_STEP], BinKind.SASL_STEP, 0, 1, true);
for (const op of [Opcode.GETQ, Opcode.GETKQ, Opcode.SETQ, Opcode.ADDQ, Opcode.REPLACEQ, Opcode.DELETEQ,
  Opcode.INCREMENTQ, Opcode.DECREMENTQ, Opcode.QUITQ, Opcode.FLUSHQ, Opcode.APPENDQ, Opcode.PREPENDQ,
  Opcode.GATQ, Opcode.GATKQ]) quiet[op] = 1;
for (const op of [Opcode.GETK, Opcode.GETKQ, Opcode.GATK, Opcode.GATKQ]) with_key[op] = 1;

/** One request header, reused: offsets point into the buffer it was parsed from. */
export class BinaryCommand {
  opcode = 0;
  kind: number = BinKind.UNKNOWN;
  /** A quiet variant (…Q): success (a get's miss) is not answered. */
  quiet = false;
  /** GETK/GETKQ/GATK/GATKQ: the reply carries the key. */
  with_key = false;
  keylen = 0;
  extlen = 0;
  bodylen = 0;
  opaque = 0;
  cas_lo = 0;
  cas_hi = 0;
  /** Offsets of extras, key and value, and the value's length (body - extras - key). */
  ext_off = 0;
  key_off = 0;
  value_off = 0;
  value_len = 0;
  /** Offset just past the whole frame. */
  frame_end = 0;
  /** Bytes from the frame's start to its value (header + extras + key). */
  fixed_bytes = 0;
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

/** Parses the header at buf[at]; see the contract at the top. */
export function parseBinaryHeader(buf: Uint8Array, at: number, end: number, cmd: BinaryCommand): number {
  if (end - at < header_bytes) return BinParse.NEED_MORE;
  if (buf[at] !== request_magic) return BinParse.CLOSE;
  const opcode = buf[at + 1]!;
  cmd.opcode = opcode;
  cmd.keylen = u16(buf, at + 2);
  cmd.extlen = buf[at + 4]!;
  cmd.bodylen = u32(buf, at + 8);
  cmd.opaque = u32(buf, at + 12);
  cmd.cas_hi = u32(buf, at + 16);
  cmd.cas_lo = u32(buf, at + 20);
  cmd.ext_off = at + header_bytes;
  cmd.key_off = cmd.ext_off + cmd.extlen;
  cmd.value_off = cmd.key_off + cmd.keylen;
  cmd.fixed_bytes = header_bytes + cmd.extlen + cmd.keylen;
  cmd.value_len = cmd.bodylen - cmd.extlen - cmd.keylen;
  cmd.frame_end = at + header_bytes + cmd.bodylen;
  cmd.quiet = quiet[opcode] === 1;
  cmd.with_key = with_key[opcode] === 1;
  const shape = shapes[opcode];
  cmd.kind = shape === null || shape === undefined ? BinKind.UNKNOWN : shape.kind;
  if (cmd.keylen > key_bytes_max) return BinParse.INVALID;
  if (cmd.value_len < 0) return BinParse.MALFORMED;
  if (shape === null || shape === undefined) return BinParse.UNKNOWN;
  return shapeFits(shape, cmd) ? BinParse.FRAME : BinParse.INVALID;
}

function shapeFits(shape: Shape, cmd: BinaryCommand): boolean {
  if (shape.extras === -1 ? cmd.extlen !== 0 && cmd.extlen !== 4 : cmd.extlen !== shape.extras) return false;
  if (shape.key === 1 && cmd.keylen === 0) return false;
  if (shape.key === 0 && cmd.keylen !== 0) return false;
  if (!shape.value && cmd.value_len !== 0) return false;
  if ((shape.kind === BinKind.SASL_AUTH || shape.kind === BinKind.SASL_STEP) && cmd.value_len > sasl_data_bytes_max) return false;
  return true;
}

/** Whether the frame's value may be large (storage commands): the caller bounds it by item size. */
export function carriesValue(cmd: BinaryCommand): boolean {
  return cmd.kind === BinKind.STORE || cmd.kind === BinKind.CONCAT;
}
