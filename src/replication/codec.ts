// repcached's replication messages, encoded into a caller's buffer (pure: bytes out, no I/O).
//
//   rep <key> <flags> <exptime> <bytes> <cas>\r\n<data>\r\n     item state (set semantics): the
//                                                               store writes these itself
//                                                               (GetMode.REP, cursorNext's mode)
//   delete <key>\r\n                                            the key is gone
//   flush_all \r\n   |   flush_all <time>\r\n                   flush now (note the space) / later
//   marugoto_end\r\n                                            end of a full copy
//   rcb1_tomb <key> <cas>\r\n                                   repcached-bun peers only: the
//                                                               key was deleted at that cas
//                                                               (the store writes these too)
//   rcb1_flush_before <cas>\r\n                                 ... an immediate flush_all
//   rcb1_meta <key> <cas> <bits>\r\n                            ... after a rep line: the meta
//                                                               protocol state of that version
//                                                               (stale 8, win token sent 128;
//                                                               the store writes these too)
//
// Contract: every `encode*` writes at `at` and returns the offset after what it wrote; the caller
// guarantees room (link.ts sizes its send buffer from `rep_header_bytes_max` and the item size).

import { putU64, putUint } from "../protocol/numbers.ts";

const CR = 13;
const LF = 10;

function putAscii(buf: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}

function putBytes(buf: Uint8Array, at: number, src: Uint8Array, off: number, len: number): number {
  buf.set(src.subarray(off, off + len), at);
  return at + len;
}

function putInt(buf: Uint8Array, at: number, value: number): number {
  if (value < 0) {
    buf[at++] = 45;
    return putUint(buf, at, -value);
  }
  return putUint(buf, at, value);
}

export const rep_header_bytes_max = "rep ".length + 250 + " -2147483648 4294967295 4294967295 18446744073709551615\r\n".length;

export function encodeDelete(buf: Uint8Array, at: number, key: Uint8Array, key_off: number, key_len: number): number {
  at = putAscii(buf, at, "delete ");
  at = putBytes(buf, at, key, key_off, key_len);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

/** `flush_all \r\n` (now, with repcached's space) or `flush_all <time>\r\n`. */
export function encodeFlush(buf: Uint8Array, at: number, time: number): number {
  at = putAscii(buf, at, "flush_all ");
  if (time !== 0) at = putInt(buf, at, time);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

export function encodeMarugotoEnd(buf: Uint8Array, at: number): number {
  return putAscii(buf, at, "marugoto_end\r\n");
}

/** `rcb1_tomb <key> <cas>\r\n`: the version with this cas (and every older one) is gone. */
export function encodeTomb(buf: Uint8Array, at: number, key: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number): number {
  at = putAscii(buf, at, "rcb1_tomb ");
  at = putBytes(buf, at, key, key_off, key_len);
  buf[at++] = 32;
  at = putU64(buf, at, cas_lo, cas_hi);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

/** `rcb1_flush_before <cas>\r\n`: remove every item older than this cas (resync.ts). */
export function encodeFlushBefore(buf: Uint8Array, at: number, cas_lo: number, cas_hi: number): number {
  at = putAscii(buf, at, "rcb1_flush_before ");
  at = putU64(buf, at, cas_lo, cas_hi);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}
