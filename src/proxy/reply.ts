// Framing and reading of a memcached server's text replies. Pure: bytes in, offsets out.
//
// Contract:
// - `replyEnd(kind, buf, start, from, end)` finds where the reply that begins at `start` ends, given
//   what kind of reply the request asked for. It returns the offset after the reply, NEED_MORE (and
//   sets `scan.resume`: where to continue once more bytes arrive, so a long multi-get reply is
//   scanned once, not once per read), or BAD (a line too long to be a reply line).
//   `from` is a previous `scan.resume` (or `start`). Only VALUE/VA data is skipped by length;
//   every other line ends at '\n'.
// - `valuesLine(buf, at, end)` reads one line of a VALUES reply without needing its data block:
//   for a reply that is dropped as it arrives (the data is skipped by count, never held).
// - `readValueLine` / `readMetaLine` split one `VALUE ...` / `VA ...` header into offsets and
//   numbers, for merging and read-through.
// Reply kinds:
//   LINE    one line: STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, a number, errors;
//   VALUES  `VALUE <key> <flags> <bytes> [<cas>]` blocks, then END — or a line that is neither
//           (ERROR, CLIENT_ERROR, SERVER_ERROR), which ends the reply;
//   META    `VA <bytes> <flags>*` + data block, or any other single line (EN, HD, ERROR, ...).

import { upstream_line_bytes_max } from "./limits.ts";

export const ReplyKind = { LINE: 0, VALUES: 1, META: 2 } as const;
export const NEED_MORE = -1;
export const BAD = -2;

const NL = 10;
const CR = 13;
const SPACE = 32;

/** Where a NEED_MORE scan may resume (an offset at a line start inside the reply). */
export const scan = { resume: 0 };

function startsWith(buf: Uint8Array, at: number, end: number, text: string): boolean {
  if (end - at < text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The offset after the line at `at` ('\n' included), NEED_MORE or BAD. */
function lineEnd(buf: Uint8Array, at: number, end: number): number {
  const nl = buf.indexOf(NL, at);
  if (nl >= 0 && nl < end) return nl + 1;
  return end - at > upstream_line_bytes_max ? BAD : NEED_MORE;
}

export function replyEnd(kind: number, buf: Uint8Array, start: number, from: number, end: number): number {
  if (kind === ReplyKind.VALUES) return valuesEnd(buf, from, end);
  const after = lineEnd(buf, start, end);
  if (after < 0) {
    scan.resume = start;
    return after;
  }
  if (kind === ReplyKind.META && startsWith(buf, start, after, "VA ")) {
    const data_len = tokenNumber(buf, start, after, 1);
    if (data_len < 0) return BAD;
    const block_end = after + data_len + 2;
    if (block_end <= end) return block_end;
    scan.resume = start;
    return NEED_MORE;
  }
  return after;
}

function valuesEnd(buf: Uint8Array, from: number, end: number): number {
  let at = from;
  for (;;) {
    const after = lineEnd(buf, at, end);
    if (after < 0) {
      scan.resume = at;
      return after;
    }
    if (!startsWith(buf, at, after, "VALUE ")) return after; // END, or an error line
    const data_len = tokenNumber(buf, at, after, 3);
    if (data_len < 0) return BAD;
    const block_end = after + data_len + 2;
    if (block_end > end) {
      scan.resume = at;
      return NEED_MORE;
    }
    at = block_end;
  }
}

/** Where a dropped VALUES reply stands after `valuesLine`: the data bytes (and CRLF) to skip after
 *  a VALUE line, or -1 after the reply's last line. */
export const values_line = { skip_bytes: 0 };

/** The offset after the line at `at` of a VALUES reply (setting values_line), NEED_MORE or BAD. */
export function valuesLine(buf: Uint8Array, at: number, end: number): number {
  const after = lineEnd(buf, at, end);
  if (after < 0) return after;
  if (!startsWith(buf, at, after, "VALUE ")) {
    values_line.skip_bytes = -1; // END, or an error line
    return after;
  }
  const data_len = tokenNumber(buf, at, after, 3);
  if (data_len < 0) return BAD;
  values_line.skip_bytes = data_len + 2;
  return after;
}

/** Finds token `index` (0-based, space separated) of the line [at, line_end); sets `token`. */
export const token = { off: 0, len: 0 };
function findToken(buf: Uint8Array, at: number, line_end: number, index: number): boolean {
  let i = at;
  let stop = line_end;
  if (stop > at && buf[stop - 1] === NL) stop--;
  if (stop > at && buf[stop - 1] === CR) stop--;
  for (let n = 0; ; n++) {
    while (i < stop && buf[i] === SPACE) i++;
    if (i >= stop) return false;
    let e = i;
    while (e < stop && buf[e] !== SPACE) e++;
    if (n === index) {
      token.off = i;
      token.len = e - i;
      return true;
    }
    i = e;
  }
}

/** Decimal digits at [off, off+len) as a number (at most 15 digits), or -1. */
export function decimal(buf: Uint8Array, off: number, len: number): number {
  if (len < 1 || len > 15) return -1;
  let value = 0;
  for (let i = off; i < off + len; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function tokenNumber(buf: Uint8Array, at: number, line_end: number, index: number): number {
  if (!findToken(buf, at, line_end, index)) return -1;
  return decimal(buf, token.off, token.len);
}

/** One `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` block, as offsets into the reply. */
export const value_line = {
  key_off: 0, key_len: 0, flags_off: 0, flags_len: 0, cas_off: 0, cas_len: 0,
  data_off: 0, data_len: 0, block_end: 0,
};

/** Reads the VALUE block at `at`; false when the line there is not a VALUE line (END, errors). */
export function readValueLine(buf: Uint8Array, at: number, end: number): boolean {
  const after = lineEnd(buf, at, end);
  if (after < 0 || !startsWith(buf, at, after, "VALUE ")) return false;
  const v = value_line;
  if (!findToken(buf, at, after, 1)) return false;
  v.key_off = token.off;
  v.key_len = token.len;
  if (!findToken(buf, at, after, 2)) return false;
  v.flags_off = token.off;
  v.flags_len = token.len;
  v.data_len = tokenNumber(buf, at, after, 3);
  if (v.data_len < 0) return false;
  v.cas_len = 0;
  if (findToken(buf, at, after, 4)) {
    v.cas_off = token.off;
    v.cas_len = token.len;
  }
  v.data_off = after;
  v.block_end = after + v.data_len + 2;
  return v.block_end <= end;
}

/** One `VA <bytes> f<flags> t<ttl> c<cas>` reply (memcached 1.6 meta get), as numbers and offsets. */
export const meta_line = {
  hit: false, flags: 0, ttl_s: -1, cas_off: 0, cas_len: 0, data_off: 0, data_len: 0, block_end: 0,
};

/** Reads a meta-get reply at `at`: true for VA (hit) or EN (miss); false for anything else. */
export function readMetaLine(buf: Uint8Array, at: number, end: number): boolean {
  const after = lineEnd(buf, at, end);
  if (after < 0) return false;
  const m = meta_line;
  m.hit = false;
  if (startsWith(buf, at, after, "EN")) return true;
  if (!startsWith(buf, at, after, "VA ")) return false;
  m.data_len = tokenNumber(buf, at, after, 1);
  if (m.data_len < 0) return false;
  m.flags = 0;
  m.ttl_s = -1;
  m.cas_len = 0;
  for (let index = 2; findToken(buf, at, after, index); index++) metaFlag(buf);
  m.data_off = after;
  m.block_end = after + m.data_len + 2;
  m.hit = true;
  return m.block_end <= end;
}

/** One return flag of a meta reply (in `token`): f<flags>, t<ttl> (-1 = never expires), c<cas>. */
function metaFlag(buf: Uint8Array): void {
  const m = meta_line;
  const letter = buf[token.off];
  const off = token.off + 1;
  const len = token.len - 1;
  if (letter === 102 /* f */) m.flags = Math.max(0, decimal(buf, off, len));
  else if (letter === 116 /* t */) m.ttl_s = len === 2 && buf[off] === 45 && buf[off + 1] === 49 ? -1 : decimal(buf, off, len);
  else if (letter === 99 /* c */) {
    m.cas_off = off;
    m.cas_len = len;
  }
}

/** Whether the line at `at` is exactly `text` (e.g. "END\r\n", "OK\r\n", "STORED\r\n"). */
export function lineIs(buf: Uint8Array, at: number, end: number, text: string): boolean {
  return end - at === text.length && startsWith(buf, at, end, text);
}
