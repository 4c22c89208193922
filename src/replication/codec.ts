// repcached's replication messages, encoded into a caller's buffer (pure: bytes out, no I/O).
//
//   rep <key> <flags> <exptime> <bytes> <cas>\r\n<data>\r\n     item state (set semantics)
//   delete <key>\r\n                                            the key is gone
//   flush_all \r\n   |   flush_all <time>\r\n                   flush now (note the space) / later
//   marugoto_end\r\n                                            end of a full copy
//
// Contract: every `encode*` writes at `at` and returns the offset after what it wrote; the caller
// guarantees room (`repBytesMax` etc. give the bound). Flags go out as a signed 32-bit number to a
// classic peer (repcached 1.2.8 prints them with %d: 4294967295 travels as -1) and unsigned to ours.

const SPACE = 32;
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

/** Decimal digits of a non-negative integer below 2^53. */
export function putUint(buf: Uint8Array, at: number, value: number): number {
  if (value < 10) {
    buf[at] = 48 + value;
    return at + 1;
  }
  let digits = 0;
  for (let v = value; v >= 1; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = digits - 1; i >= 0; i--) {
    buf[at + i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

function putInt(buf: Uint8Array, at: number, value: number): number {
  if (value < 0) {
    buf[at++] = 45;
    return putUint(buf, at, -value);
  }
  return putUint(buf, at, value);
}

/** Decimal digits of the 64-bit value hi·2^32 + lo, exactly (no BigInt). */
export function putU64(buf: Uint8Array, at: number, lo: number, hi: number): number {
  if (hi < 0x200000) return putUint(buf, at, hi * 4294967296 + lo); // below 2^53: exact as a double
  const digits = new Uint8Array(20);
  let n = 0;
  while (hi !== 0 || lo !== 0) {
    const hi_rem = hi % 10;
    hi = Math.floor(hi / 10);
    const cur = hi_rem * 4294967296 + lo; // < 10 * 2^32: exact
    lo = Math.floor(cur / 10);
    digits[n++] = 48 + (cur % 10);
  }
  for (let i = n - 1; i >= 0; i--) buf[at++] = digits[i]!;
  return at;
}

export const rep_header_bytes_max = "rep ".length + 250 + " -2147483648 4294967295 4294967295 18446744073709551615\r\n".length;
export const message_trailer_bytes = 2;

export interface RepFields {
  flags: number;
  /** 0 = never; otherwise what the exptime field carries (absolute unix time, or seconds left). */
  exptime: number;
  cas_lo: number;
  cas_hi: number;
}

export function encodeRep(
  buf: Uint8Array, at: number, key: Uint8Array, key_off: number, key_len: number,
  value: Uint8Array, value_off: number, value_len: number, fields: RepFields, signed_flags: boolean,
): number {
  at = putAscii(buf, at, "rep ");
  at = putBytes(buf, at, key, key_off, key_len);
  buf[at++] = SPACE;
  at = signed_flags ? putInt(buf, at, fields.flags | 0) : putUint(buf, at, fields.flags >>> 0);
  buf[at++] = SPACE;
  at = putInt(buf, at, fields.exptime);
  buf[at++] = SPACE;
  at = putUint(buf, at, value_len);
  buf[at++] = SPACE;
  at = putU64(buf, at, fields.cas_lo, fields.cas_hi);
  buf[at++] = CR;
  buf[at++] = LF;
  at = putBytes(buf, at, value, value_off, value_len);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

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

export const flush_bytes_max = "flush_all -2147483648\r\n".length;
export const delete_bytes_max = "delete \r\n".length + 250;
