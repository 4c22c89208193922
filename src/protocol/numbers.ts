// memcached's numeric token rules (util.c safe_strtoul / safe_strtol / safe_strtoull), on byte ranges.
//
// A token is valid when: optional leading white space, an optional sign, at least one decimal digit,
// then either the end of the token or a white-space byte (anything after that is ignored, as strtol
// does). Results land in `parsed` (module scratch: no allocation); each function returns false on
// error (no digits, overflow, a negative value for an unsigned parse, trailing junk).
//
// 64-bit results are kept as two exact 32-bit halves (`lo`, `hi`), never as BigInt.

export const parsed = { lo: 0, hi: 0, negative: false, value: 0 };

// ---- formatting: decimal digits written into a caller's buffer; each returns the offset after ----

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

const two_32 = 4294967296;

function isSpace(byte: number): boolean {
  // C isspace: space, \t, \n, \v, \f, \r
  return byte === 32 || (byte >= 9 && byte <= 13);
}

/** Parses an unsigned magnitude into parsed.lo/hi; false on syntax error or > 2^64-1. */
/** Digits that always fit a double exactly (10^15 < 2^53): the common case needs no carries. */
const exact_digits_max = 15;

function parseMagnitude(buf: Uint8Array, off: number, len: number): boolean {
  let i = off;
  const end = off + len;
  while (i < end && isSpace(buf[i]!)) i++;
  parsed.negative = false;
  if (i < end && (buf[i] === 43 || buf[i] === 45)) {
    parsed.negative = buf[i] === 45;
    i++;
  }
  const digits_start = i;
  let value = 0;
  const fast_end = Math.min(end, i + exact_digits_max);
  while (i < fast_end) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
    i++;
  }
  const hi_fast = Math.floor(value / two_32);
  let lo = value - hi_fast * two_32;
  let hi = hi_fast;
  while (i < end) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    const low = lo * 10 + d; // < 2^36: exact
    const carry = Math.floor(low / two_32);
    lo = low - carry * two_32;
    hi = hi * 10 + carry;
    if (hi >= two_32) return false; // ERANGE
    i++;
  }
  if (i === digits_start) return false;
  if (i < end && !isSpace(buf[i]!)) return false;
  parsed.lo = lo;
  parsed.hi = hi;
  return true;
}

/** safe_strtoull: unsigned 64-bit; a '-' with a nonzero value is an error. */
export function parseU64(buf: Uint8Array, off: number, len: number): boolean {
  if (!parseMagnitude(buf, off, len)) return false;
  if (parsed.negative && (parsed.lo !== 0 || parsed.hi !== 0)) return false;
  return true;
}

/** safe_strtoul as memcached uses it for flags: parsed as unsigned long, stored into 32 bits. */
export function parseU32Truncating(buf: Uint8Array, off: number, len: number): boolean {
  if (!parseU64(buf, off, len)) return false;
  parsed.value = parsed.lo;
  return true;
}

/**
 * memcached 1.6's safe_strtol into an int32_t: strtol (a signed 64-bit long: outside it is ERANGE)
 * then a plain store into 32 bits, which keeps the low 32 bits (4294967297 -> 1, 2147483648 ->
 * -2147483648). Verified against memcached 1.6.18.
 */
export function parseI32(buf: Uint8Array, off: number, len: number): boolean {
  if (!parseMagnitude(buf, off, len)) return false;
  const hi = parsed.hi;
  const lo = parsed.lo;
  if (parsed.negative) {
    if (hi > 0x80000000 || (hi === 0x80000000 && lo !== 0)) return false;
    parsed.value = (-lo) | 0; // low 32 bits of the two's complement
  } else {
    if (hi >= 0x80000000) return false;
    parsed.value = lo | 0;
  }
  return true;
}
