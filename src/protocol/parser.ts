// The memcached text-protocol command-line parser. Pure: bytes in, a reused `Command` record out.
//
// Contract: `parseCommand(buf, start, end, cmd)` looks at buf[start, end) and returns
//   Parse.NEED_MORE  no complete line yet; nothing consumed, `cmd` untouched except scratch;
//   Parse.LINE       one command line parsed into `cmd`; cmd.next is the offset after its '\n'.
//                    A storage command's data block starts at cmd.next and is NOT consumed here;
//   Parse.CLOSE      the line is too long to be a command (memcached closes the connection);
//   Parse.GET_PART   a get/gets line longer than get_line_bytes_max whose '\n' has not arrived:
//                    cmd.kind is GET or GETS and its complete keys so far are [keys_off, line_end);
//                    the rest of the line starts at cmd.next: parse it with `parseGetRest`. If
//                    cmd.keys_final, the line carries no more keys (a NUL ended them, or the last one
//                    is already too long): skip to its '\n'.
// memcached buffers a long get line whole, without bound; we execute it key by key as it arrives.
// Tokens are offsets into `buf`, never copies. Splitting follows memcached 1.6's tokenize_command:
// single spaces separate, runs of spaces are skipped, at most `tokens_max` tokens (the last holds the
// rest of the line), a NUL byte ends the line, a '\r' before the '\n' is dropped.
// Errors the line itself carries come back as Cmd.ERROR or Cmd.CLIENT_ERROR with cmd.error set to
// the reply to send; `cmd.noreply` is set exactly where memcached's set_noreply_maybe would set it.

import { parsed, parseI32, parseU32Truncating, parseU64 } from "./numbers.ts";
import { frameMeta } from "./meta_parser.ts";

export const Parse = { NEED_MORE: 0, LINE: 1, CLOSE: 2, GET_PART: 3 } as const;

export const Cmd = {
  ERROR: 0, // reply `ERROR`
  CLIENT_ERROR: 1, // reply cmd.error
  GET: 2,
  GETS: 3,
  GAT: 4,
  GATS: 5,
  SET: 6,
  ADD: 7,
  REPLACE: 8,
  APPEND: 9,
  PREPEND: 10,
  CAS: 11,
  INCR: 12,
  DECR: 13,
  DELETE: 14,
  TOUCH: 15,
  FLUSH_ALL: 16,
  VERSION: 17,
  VERBOSITY: 18,
  QUIT: 19,
  SHUTDOWN: 20,
  STATS: 21,
  MN: 22,
  REP: 23, // repcached: only valid on a replication link
  MARUGOTO_END: 24, // repcached: only valid on a replication link
  CLOSE: 25, // an HTTP request line: memcached just closes
  SLABS: 26,
  FETCH: 27, // repcached-bun peers: `rcb1_fetch <id> <key>...` (read-through during a full copy)
  FETCHED: 28, // repcached-bun peers: `rcb1_fetched <id>` (the fetched keys were sent)
  MG: 29, // memcached 1.6's meta protocol (meta_parser.ts): mg
  TOMB: 30, // repcached-bun peers: `rcb1_tomb <key> <cas>` (the key was deleted at that cas)
  FLUSH_BEFORE: 31, // repcached-bun peers: `rcb1_flush_before <cas>` (an immediate flush_all at that cas)
  MS: 32, // meta set: cmd.data_len is its data block
  MD: 33,
  MA: 34,
  ME: 35,
  MS_INVALID: 36, // an `ms` line without a valid length (answered; with a length token the connection closes)
  META_MARK: 37, // repcached-bun peers: `rcb1_meta <key> <cas> <bits>` (the item's meta state)
  COPY_TOTAL: 38, // repcached-bun peers: `rcb1_copy_total <items>` (the size of the full copy that follows)
} as const;

/** Client errors a command line can carry; the reply text is `ClientError[n]`. */
export const ClientErrorText = [
  "CLIENT_ERROR bad command line format",
  "CLIENT_ERROR invalid numeric delta argument",
  "CLIENT_ERROR invalid exptime argument",
  "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
] as const;
/** (The meta commands' errors are in meta_parser.ts.) */
export const ClientError = { FORMAT: 0, DELTA: 1, EXPTIME: 2, DELETE_USAGE: 3 } as const;

export const key_bytes_max = 250;
/** memcached 1.6: a line without '\n' beyond this many bytes closes the connection (except get/gets). */
export const line_bytes_max = 2048;
/**
 * The longest get/gets line we hold whole, waiting for its '\n' (memcached grows its buffer without
 * limit). A longer one is executed in parts as it arrives (Parse.GET_PART): its complete keys, then
 * its unfinished last key (at most key_bytes_max + 1 bytes) is all that is kept.
 */
export const get_line_bytes_max = 64 * 1024;
/** memcached's MAX_TOKENS, counting the terminal token. */
export const tokens_max = 24;

export class Command {
  kind: number = Cmd.ERROR;
  error = 0;
  /** Offset just past the line's '\n'. */
  next = 0;
  line_start = 0;
  /** End of the line's content (before "\r\n" or a NUL). */
  line_end = 0;
  /** Token count in memcached's convention: real tokens plus the terminal one. */
  ntokens = 0;
  readonly token_off = new Int32Array(tokens_max);
  readonly token_len = new Int32Array(tokens_max);
  key_off = 0;
  key_len = 0;
  /** For get/gets/gat/gats: where the first key starts; keys run to line_end. */
  keys_off = 0;
  flags = 0;
  exptime = 0;
  data_len = 0;
  /** 64-bit operand (cas unique, incr/decr delta, flush/verbosity argument) as exact halves. */
  num_lo = 0;
  num_hi = 0;
  /** A numeric argument was given (flush_all delay, verbosity level, delete's legacy 0). */
  has_arg = false;
  noreply = false;
  /** GET_PART: the line's keys end with this part (a NUL, or a key already too long). */
  keys_final = false;
}

const NL = 10;
const CR = 13;
const SPACE = 32;

function startsWith(buf: Uint8Array, off: number, end: number, text: string): boolean {
  if (end - off < text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[off + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** memcached's leading spaces before a long multi-get's name: more, and the line is closed. */
const long_get_spaces_max = 100;

/**
 * memcached lets a long line through only if it is a multi-get (`get ` / `gets `, gat/gats are
 * closed too): the kind (Cmd.GET or GETS), or -1. `cmd.keys_off` is set to after the name.
 */
function longGetKind(buf: Uint8Array, start: number, end: number, cmd: Command): number {
  let i = start;
  while (i < end && buf[i] === SPACE) i++;
  if (i - start > long_get_spaces_max) return -1;
  if (startsWith(buf, i, end, "get ")) {
    cmd.keys_off = i + 4;
    return Cmd.GET;
  }
  if (!startsWith(buf, i, end, "gets ")) return -1;
  cmd.keys_off = i + 5;
  return Cmd.GETS;
}

export function parseCommand(buf: Uint8Array, start: number, end: number, cmd: Command): number {
  const nl = buf.indexOf(NL, start);
  if (nl < 0 || nl >= end) {
    const pending = end - start;
    if (pending <= line_bytes_max) return Parse.NEED_MORE;
    const kind = longGetKind(buf, start, end, cmd);
    if (kind < 0) return Parse.CLOSE;
    if (pending <= get_line_bytes_max) return Parse.NEED_MORE;
    cmd.kind = kind;
    cmd.line_start = start;
    cmd.exptime = 0;
    cmd.noreply = false;
    return getPart(buf, cmd.keys_off, end, cmd);
  }
  let line_end = nl;
  if (line_end - start > 1 && buf[line_end - 1] === CR) line_end--;
  line_end = cutAtNul(buf, start, line_end);
  cmd.line_start = start;
  cmd.line_end = line_end;
  cmd.next = nl + 1;
  cmd.noreply = false;
  cmd.has_arg = false;
  tokenize(buf, start, line_end, cmd);
  dispatch(buf, cmd);
  return Parse.LINE;
}

/** memcached runs strlen() over the line: a NUL byte ends it. */
function cutAtNul(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === 0) return i;
  return end;
}

function tokenize(buf: Uint8Array, start: number, end: number, cmd: Command): void {
  let n = 0;
  let s = start;
  let e = start;
  for (; e < end; e++) {
    if (buf[e] !== SPACE) continue;
    if (s !== e) {
      cmd.token_off[n] = s;
      cmd.token_len[n] = e - s;
      n++;
      if (n === tokens_max - 1) {
        e++;
        s = e;
        break;
      }
    }
    s = e + 1;
  }
  if (n < tokens_max - 1 && s < end) {
    cmd.token_off[n] = s;
    cmd.token_len[n] = end - s;
    n++;
    s = end;
  }
  // Terminal token: empty when the whole line was consumed, else the unprocessed rest.
  cmd.token_off[n] = e;
  cmd.token_len[n] = e < end ? end - e : 0;
  cmd.ntokens = n + 1;
}

/** Token `index` of a parsed line as text (latin1); for rare paths (stats, shutdown), not per request. */
export function tokenText(buf: Uint8Array, cmd: Command, index: number): string {
  const off = cmd.token_off[index]!;
  let text = "";
  for (let i = 0; i < cmd.token_len[index]!; i++) text += String.fromCharCode(buf[off + i]!);
  return text;
}

function tokenIs(buf: Uint8Array, cmd: Command, index: number, text: string): boolean {
  if (cmd.token_len[index] !== text.length) return false;
  return startsWith(buf, cmd.token_off[index]!, cmd.token_off[index]! + text.length, text);
}

function fail(cmd: Command, error: number): void {
  cmd.kind = Cmd.CLIENT_ERROR;
  cmd.error = error;
}

/** memcached's set_noreply_maybe: the second-to-last token (before the terminal) is "noreply". */
function noreplyMaybe(buf: Uint8Array, cmd: Command): boolean {
  if (tokenIs(buf, cmd, cmd.ntokens - 2, "noreply")) cmd.noreply = true;
  return cmd.noreply;
}

function nameIs(buf: Uint8Array, cmd: Command, text: string): boolean {
  return tokenIs(buf, cmd, 0, text);
}

/** get, gets and set by their bytes, before the general name comparisons (the hot path). */
function hotCommand(buf: Uint8Array, cmd: Command): boolean {
  const o = cmd.token_off[0]!;
  const len = cmd.token_len[0]!;
  if (len < 3 || len > 4 || buf[o + 1] !== 101 /* e */ || buf[o + 2] !== 116 /* t */) return false;
  const first = buf[o];
  if (len === 4) {
    if (first !== 103 /* g */ || buf[o + 3] !== 115 /* s */) return false;
    if (cmd.ntokens >= 3) getLike(buf, cmd, Cmd.GETS);
    return true;
  }
  if (first === 103 /* g */) {
    if (cmd.ntokens >= 3) getLike(buf, cmd, Cmd.GET);
    return true;
  }
  if (first !== 115 /* s */) return false;
  storage(buf, cmd, Cmd.SET);
  return true;
}

function dispatch(buf: Uint8Array, cmd: Command): void {
  const n = cmd.ntokens;
  cmd.kind = Cmd.ERROR;
  if (n < 2 || cmd.token_len[0]! < 2) return;
  if (hotCommand(buf, cmd)) return;
  switch (buf[cmd.token_off[0]!]) {
    case 103 /* g */:
      if (n < 3) return;
      if (nameIs(buf, cmd, "get")) return getLike(buf, cmd, Cmd.GET);
      if (nameIs(buf, cmd, "gets")) return getLike(buf, cmd, Cmd.GETS);
      if (nameIs(buf, cmd, "gat")) return getLike(buf, cmd, Cmd.GAT);
      if (nameIs(buf, cmd, "gats")) return getLike(buf, cmd, Cmd.GATS);
      return;
    case 115 /* s */:
      if (nameIs(buf, cmd, "set")) return storage(buf, cmd, Cmd.SET);
      if (nameIs(buf, cmd, "stats")) return void (cmd.kind = Cmd.STATS);
      if (nameIs(buf, cmd, "shutdown")) return void (cmd.kind = Cmd.SHUTDOWN);
      if (nameIs(buf, cmd, "slabs")) return void (cmd.kind = Cmd.SLABS);
      return;
    case 97 /* a */:
      if (nameIs(buf, cmd, "add")) return storage(buf, cmd, Cmd.ADD);
      if (nameIs(buf, cmd, "append")) return storage(buf, cmd, Cmd.APPEND);
      return;
    case 99 /* c */:
      if (nameIs(buf, cmd, "cas")) return storage(buf, cmd, Cmd.CAS);
      return;
    case 105 /* i */:
      if (nameIs(buf, cmd, "incr")) return arithmetic(buf, cmd, Cmd.INCR);
      return;
    case 100 /* d */:
      if (nameIs(buf, cmd, "delete")) return deleteLine(buf, cmd);
      if (nameIs(buf, cmd, "decr")) return arithmetic(buf, cmd, Cmd.DECR);
      return;
    case 116 /* t */:
      if (nameIs(buf, cmd, "touch")) return touch(buf, cmd);
      return;
    case 109 /* m */:
      if (cmd.token_len[0] === 2) return isMetaName(buf[cmd.token_off[0]! + 1]!) ? frameMeta(buf, cmd) : undefined;
      if (nameIs(buf, cmd, "marugoto_end")) cmd.kind = Cmd.MARUGOTO_END;
      return;
  }
  if (nameIs(buf, cmd, "bget")) return n < 3 ? undefined : getLike(buf, cmd, Cmd.GET);
  if (nameIs(buf, cmd, "replace")) return storage(buf, cmd, Cmd.REPLACE);
  if (nameIs(buf, cmd, "prepend")) return storage(buf, cmd, Cmd.PREPEND);
  if (nameIs(buf, cmd, "flush_all")) return flushAll(buf, cmd);
  if (nameIs(buf, cmd, "version")) return void (cmd.kind = Cmd.VERSION);
  if (nameIs(buf, cmd, "quit")) return void (cmd.kind = Cmd.QUIT);
  if (nameIs(buf, cmd, "verbosity")) return verbosity(buf, cmd);
  if (nameIs(buf, cmd, "rep")) return storage(buf, cmd, Cmd.REP);
  if (nameIs(buf, cmd, "rcb1_fetch")) return fetchLine(buf, cmd, Cmd.FETCH, 4);
  if (nameIs(buf, cmd, "rcb1_fetched")) return fetchLine(buf, cmd, Cmd.FETCHED, 3);
  if (nameIs(buf, cmd, "rcb1_tomb")) return tombLine(buf, cmd);
  if (nameIs(buf, cmd, "rcb1_flush_before")) return flushBeforeLine(buf, cmd);
  if (nameIs(buf, cmd, "rcb1_meta")) return metaMarkLine(buf, cmd);
  if (nameIs(buf, cmd, "rcb1_copy_total")) return copyTotalLine(buf, cmd);
  if (tokenStartsWith(buf, cmd, n - 2, "HTTP/")) cmd.kind = Cmd.CLOSE;
}

function tokenStartsWith(buf: Uint8Array, cmd: Command, index: number, text: string): boolean {
  if (index < 0) return false;
  const off = cmd.token_off[index]!;
  return startsWith(buf, off, off + cmd.token_len[index]!, text);
}

function getLike(buf: Uint8Array, cmd: Command, kind: number): void {
  let first_key = 1;
  if (kind === Cmd.GAT || kind === Cmd.GATS) {
    if (!parseI32(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return fail(cmd, ClientError.EXPTIME);
    cmd.exptime = parsed.value;
    first_key = 2; // `gat 10` with no key is valid and answers END, as in memcached
  }
  cmd.kind = kind;
  cmd.keys_off = cmd.token_off[first_key]!;
}

function setKey(cmd: Command, index: number): boolean {
  cmd.key_off = cmd.token_off[index]!;
  cmd.key_len = cmd.token_len[index]!;
  return cmd.key_len <= key_bytes_max;
}

function storage(buf: Uint8Array, cmd: Command, kind: number): void {
  const n = cmd.ntokens;
  const with_cas = kind === Cmd.CAS || kind === Cmd.REP;
  if (with_cas ? n !== 7 && n !== 8 : n !== 6 && n !== 7) return;
  noreplyMaybe(buf, cmd);
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  const t = cmd.token_off;
  const l = cmd.token_len;
  if (!parseFlags(buf, t[2]!, l[2]!, kind === Cmd.REP)) return fail(cmd, ClientError.FORMAT);
  cmd.flags = parsed.value;
  if (!parseI32(buf, t[3]!, l[3]!)) return fail(cmd, ClientError.FORMAT);
  cmd.exptime = parsed.value;
  if (!parseI32(buf, t[4]!, l[4]!)) return fail(cmd, ClientError.FORMAT);
  cmd.data_len = parsed.value;
  if (with_cas) {
    if (!parseU64(buf, t[5]!, l[5]!)) return fail(cmd, ClientError.FORMAT);
    cmd.num_lo = parsed.lo;
    cmd.num_hi = parsed.hi;
  }
  if (cmd.data_len < 0 || cmd.data_len > 2147483645) return fail(cmd, ClientError.FORMAT);
  cmd.kind = kind;
}

/** Flags are unsigned; a repcached peer prints them as a signed int (4294967295 travels as -1). */
function parseFlags(buf: Uint8Array, off: number, len: number, signed_allowed: boolean): boolean {
  if (parseU32Truncating(buf, off, len)) return true;
  if (!signed_allowed || !parseI32(buf, off, len)) return false;
  parsed.value = parsed.value >>> 0;
  return true;
}

/** mn mg ms md ma me. */
function isMetaName(second: number): boolean {
  return second === 110 || second === 103 || second === 115 || second === 100 || second === 97 || second === 101;
}

/** `rcb1_meta <key> <cas> <bits>`: key in key_off/key_len, cas in num_lo/num_hi, bits in flags. */
function metaMarkLine(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 5) return;
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  if (!parseU64(buf, cmd.token_off[2]!, cmd.token_len[2]!)) return fail(cmd, ClientError.FORMAT);
  cmd.num_lo = parsed.lo;
  cmd.num_hi = parsed.hi;
  if (!parseU32Truncating(buf, cmd.token_off[3]!, cmd.token_len[3]!)) return fail(cmd, ClientError.FORMAT);
  cmd.flags = parsed.value;
  cmd.kind = Cmd.META_MARK;
}

/** `rcb1_fetch <id> <key>...` / `rcb1_fetched <id>`: the id in num_lo, keys from keys_off. */
function fetchLine(buf: Uint8Array, cmd: Command, kind: number, tokens_min: number): void {
  if (cmd.ntokens < tokens_min) return;
  if (!parseU32Truncating(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return;
  cmd.num_lo = parsed.value;
  cmd.keys_off = kind === Cmd.FETCH ? cmd.token_off[2]! : cmd.line_end;
  cmd.kind = kind;
}

/** `rcb1_tomb <key> <cas>`: the key in key_off/key_len, the cas in num_lo/num_hi. */
function tombLine(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 4) return;
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  if (!parseU64(buf, cmd.token_off[2]!, cmd.token_len[2]!)) return fail(cmd, ClientError.FORMAT);
  cmd.num_lo = parsed.lo;
  cmd.num_hi = parsed.hi;
  cmd.kind = Cmd.TOMB;
}

/** `rcb1_copy_total <items>`: the count in num_lo (a progress hint: a bad one is just not used). */
function copyTotalLine(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 3) return;
  if (!parseU32Truncating(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return fail(cmd, ClientError.FORMAT);
  cmd.num_lo = parsed.value;
  cmd.kind = Cmd.COPY_TOTAL;
}

/** `rcb1_flush_before <cas>`: the cas in num_lo/num_hi. */
function flushBeforeLine(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 3) return;
  if (!parseU64(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return fail(cmd, ClientError.FORMAT);
  cmd.num_lo = parsed.lo;
  cmd.num_hi = parsed.hi;
  cmd.kind = Cmd.FLUSH_BEFORE;
}

function arithmetic(buf: Uint8Array, cmd: Command, kind: number): void {
  if (cmd.ntokens !== 4 && cmd.ntokens !== 5) return;
  noreplyMaybe(buf, cmd);
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  if (!parseU64(buf, cmd.token_off[2]!, cmd.token_len[2]!)) return fail(cmd, ClientError.DELTA);
  cmd.num_lo = parsed.lo;
  cmd.num_hi = parsed.hi;
  cmd.kind = kind;
}

function deleteLine(buf: Uint8Array, cmd: Command): void {
  const n = cmd.ntokens;
  if (n < 3 || n > 5) return;
  if (n > 3) {
    const hold_is_zero = tokenIs(buf, cmd, 2, "0");
    const sets_noreply = noreplyMaybe(buf, cmd);
    const valid = (n === 4 && (hold_is_zero || sets_noreply)) || (n === 5 && hold_is_zero && sets_noreply);
    if (!valid) return fail(cmd, ClientError.DELETE_USAGE);
  }
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  cmd.kind = Cmd.DELETE;
}

function touch(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 4 && cmd.ntokens !== 5) return;
  noreplyMaybe(buf, cmd);
  if (!setKey(cmd, 1)) return fail(cmd, ClientError.FORMAT);
  if (!parseI32(buf, cmd.token_off[2]!, cmd.token_len[2]!)) return fail(cmd, ClientError.EXPTIME);
  cmd.exptime = parsed.value;
  cmd.kind = Cmd.TOUCH;
}

function flushAll(buf: Uint8Array, cmd: Command): void {
  const n = cmd.ntokens;
  if (n < 2 || n > 4) return;
  noreplyMaybe(buf, cmd);
  cmd.exptime = 0;
  if (n !== (cmd.noreply ? 3 : 2)) {
    if (!parseI32(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return fail(cmd, ClientError.EXPTIME);
    cmd.exptime = parsed.value;
    cmd.has_arg = true;
  }
  cmd.kind = Cmd.FLUSH_ALL;
}

/** A flush_all line the parser refused for its exptime (memcached counts it, and -F refuses it first). */
export function isFlushAllLine(buf: Uint8Array, cmd: Command): boolean {
  return cmd.kind === Cmd.CLIENT_ERROR && cmd.error === ClientError.EXPTIME && nameIs(buf, cmd, "flush_all");
}

function verbosity(buf: Uint8Array, cmd: Command): void {
  if (cmd.ntokens !== 3 && cmd.ntokens !== 4) return;
  noreplyMaybe(buf, cmd);
  if (!parseU32Truncating(buf, cmd.token_off[1]!, cmd.token_len[1]!)) return fail(cmd, ClientError.FORMAT);
  cmd.num_lo = parsed.value;
  cmd.kind = Cmd.VERBOSITY;
}

/**
 * The rest of a get line that came as Parse.GET_PART: buf[start, end) continues it (cmd.kind is the
 * caller's to keep). Returns Parse.LINE when its '\n' is here (keys [keys_off, line_end), as
 * parseCommand cuts a line: a '\r' before the '\n' dropped, a NUL ends it; cmd.next after the
 * '\n'), Parse.GET_PART (as parseCommand's), or Parse.NEED_MORE when only an unfinished key is
 * here (at most key_bytes_max + 1 bytes; nothing consumed).
 */
export function parseGetRest(buf: Uint8Array, start: number, end: number, cmd: Command): number {
  cmd.line_start = start;
  cmd.keys_off = start;
  const nl = buf.indexOf(NL, start);
  if (nl < 0 || nl >= end) return getPart(buf, start, end, cmd);
  let line_end = nl;
  if (line_end > start && buf[line_end - 1] === CR) line_end--;
  cmd.line_end = cutAtNul(buf, start, line_end);
  cmd.next = nl + 1;
  return Parse.LINE;
}

/**
 * A piece buf[from, end) of a long get line without its '\n': its complete keys are those before
 * its last space; a NUL ends the line's keys (memcached reads the line as a C string); an unfinished
 * key longer than key_bytes_max + 1 (room for a '\r') can only be too long, so it is handed over
 * with the rest (the executor answers the error). Otherwise NEED_MORE when no space is here.
 */
function getPart(buf: Uint8Array, from: number, end: number, cmd: Command): number {
  const nul = cutAtNul(buf, from, end);
  if (nul < end) return getPartEnd(cmd, nul, end, true);
  let last_space = end - 1;
  while (last_space >= from && buf[last_space] !== SPACE) last_space--;
  if (end - (last_space + 1) > key_bytes_max + 1) return getPartEnd(cmd, end, end, true);
  if (last_space < from) return Parse.NEED_MORE;
  return getPartEnd(cmd, last_space, last_space + 1, false);
}

function getPartEnd(cmd: Command, keys_end: number, next: number, keys_final: boolean): number {
  cmd.line_end = keys_end;
  cmd.next = next;
  cmd.keys_final = keys_final;
  return Parse.GET_PART;
}

/**
 * Iterates the keys of a get-like line: call with the previous key's end (start with cmd.keys_off);
 * sets `cursor.off/len` and returns true, or false when no key remains. Splits on spaces only.
 */
export const key_cursor = { off: 0, len: 0 };
export function nextKey(buf: Uint8Array, from: number, line_end: number): boolean {
  let i = from;
  while (i < line_end && buf[i] === SPACE) i++;
  if (i >= line_end) return false;
  let e = i;
  while (e < line_end && buf[e] !== SPACE) e++;
  key_cursor.off = i;
  key_cursor.len = e - i;
  return true;
}

/**
 * Where the first key longer than key_bytes_max starts among the keys of buf[from, line_end), or
 * -1 when there is none. Pure: memcached answers such a line with the error alone, so a get checks
 * this before it writes (or flushes) any value.
 */
export function firstLongKey(buf: Uint8Array, from: number, line_end: number): number {
  let key_start = from;
  for (let i = from; i <= line_end; i++) {
    if (i < line_end && buf[i] !== SPACE) continue;
    if (i - key_start > key_bytes_max) return key_start;
    key_start = i + 1;
  }
  return -1;
}
