// memcached's binary protocol: response frames written into the shared Output.
//
// Contract: `putHeader` writes a 24-byte response header at out.len (room ensured by the caller);
// `putError` writes a whole error frame with memcached 1.6.18's message as its body (the texts are
// what the real server sends, checked by test/integration/binary_compat.test.ts). Error frames carry
// cas 0 and echo the request's opcode and opaque.

import type { Output } from "../server/output.ts";
import { header_bytes, response_magic, type BinaryCommand } from "./binary_parser.ts";

export const BinStatus = {
  OK: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  AUTH_ERROR: 0x20,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
} as const;

const encoder = new TextEncoder();
const messages = new Map<number, Uint8Array>([
  [BinStatus.KEY_ENOENT, encoder.encode("Not found")],
  [BinStatus.KEY_EEXISTS, encoder.encode("Data exists for key.")],
  [BinStatus.E2BIG, encoder.encode("Too large.")],
  [BinStatus.EINVAL, encoder.encode("Invalid arguments")],
  [BinStatus.NOT_STORED, encoder.encode("Not stored.")],
  [BinStatus.DELTA_BADVAL, encoder.encode("Non-numeric server-side value for incr or decr")],
  [BinStatus.AUTH_ERROR, encoder.encode("Auth failure.")],
  [BinStatus.UNKNOWN_COMMAND, encoder.encode("Unknown command")],
  [BinStatus.ENOMEM, encoder.encode("Out of memory")],
]);

export function putHeader(
  out: Output, cmd: BinaryCommand, status: number, keylen: number, extlen: number, bodylen: number,
  cas_lo: number, cas_hi: number,
): void {
  const b = out.buf;
  const at = out.len;
  b[at] = response_magic;
  b[at + 1] = cmd.opcode;
  b[at + 2] = keylen >>> 8;
  b[at + 3] = keylen & 0xff;
  b[at + 4] = extlen;
  b[at + 5] = 0;
  b[at + 6] = status >>> 8;
  b[at + 7] = status & 0xff;
  putU32(b, at + 8, bodylen);
  putU32(b, at + 12, cmd.opaque);
  putU32(b, at + 16, cas_hi);
  putU32(b, at + 20, cas_lo);
  out.len = at + header_bytes;
}

export function putU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = (n >>> 16) & 0xff;
  b[at + 2] = (n >>> 8) & 0xff;
  b[at + 3] = n & 0xff;
}

/** A frame with no extras, key or body (a success without data): its cas only. */
export function putEmpty(out: Output, cmd: BinaryCommand, cas_lo = 0, cas_hi = 0): void {
  out.ensure(header_bytes);
  putHeader(out, cmd, BinStatus.OK, 0, 0, 0, cas_lo, cas_hi);
}

/** An error frame with memcached's message. */
export function putError(out: Output, cmd: BinaryCommand, status: number): void {
  const message = messages.get(status)!;
  out.ensure(header_bytes + message.length);
  putHeader(out, cmd, status, 0, 0, message.length, 0, 0);
  out.buf.set(message, out.len);
  out.len += message.length;
}

/** A frame whose body is latin1 text (version, SASL mechanisms, "Authenticated"). */
export function putText(out: Output, cmd: BinaryCommand, text: string): void {
  out.ensure(header_bytes + text.length);
  putHeader(out, cmd, BinStatus.OK, 0, 0, text.length, 0, 0);
  out.putText(text);
}

/** One stat frame: key = name, value = value (latin1). */
export function putStat(out: Output, cmd: BinaryCommand, name: string, value: string): void {
  out.ensure(header_bytes + name.length + value.length);
  putHeader(out, cmd, BinStatus.OK, name.length, 0, name.length + value.length, 0, 0);
  out.putText(name);
  out.putText(value);
}
