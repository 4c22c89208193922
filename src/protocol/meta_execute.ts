// Executes memcached 1.6's meta commands (mg ms md ma mn me) against the Store: the flags come
// from meta_parser.ts, the replies are written straight into the Output, in the order memcached
// writes them (return flags in the order they were asked, then Z X W for mg).
//
// Contract: as execute.ts — one call per command, every successful mutation reported to
// ctx.mutations in one call (a meta get that creates, touches or hands out a win token counts:
// replication carries the item state to the peer). Quiet mode (q) drops the nominal reply
// (mg: EN; ms / md: HD; ma: HD / VA); errors are always sent. `ms` comes in two halves for a
// value that streams (metaSetBegin, then metaSetReply once it is stored); both share
// MetaSetPlan. Nothing is allocated per command.

import { Cmd, key_bytes_max, type Command } from "./parser.ts";
import {
  base64DecodeInPlace, base64Encode, MetaError, MetaErrorText, MetaFlags, meta_tokens_max, parseMetaFlags,
} from "./meta_parser.ts";
import { putU64, putUint } from "./numbers.ts";
import { Reply } from "./replies.ts";
import { itemTooLarge, type Context } from "./execute.ts";
import { IoIndex, MetaDelete, MetaDelta, MetaGet, MetaState, Status, StoreOp } from "../native/store.ts";

/** Room for a meta reply line without its value: status, every return flag, a base64 key, Z X W. */
export const meta_reply_bytes_max = 1024;
/** Room an `ma` result needs: 20 digits. */
const digits_bytes_max = 24;

const encoder = new TextEncoder();
const error_replies = MetaErrorText.map((text) => encoder.encode(text + "\r\n"));
const Text = {
  HD: encoder.encode("HD"),
  VA: encoder.encode("VA "),
  EN: encoder.encode("EN"),
  NF: encoder.encode("NF"),
  NS: encoder.encode("NS"),
  EX: encoder.encode("EX"),
  ME: encoder.encode("ME "),
  B: encoder.encode(" b"),
  MA_NON_NUMERIC: encoder.encode("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
  MA_NO_MEMORY: encoder.encode("SERVER_ERROR out of memory\r\n"),
  MA_VIVIFY_NO_MEMORY: encoder.encode("SERVER_ERROR Out of memory allocating new item\r\n"),
} as const;

const flags = new MetaFlags();
const digits = new Uint8Array(digits_bytes_max);
/** memcached's sizeof(item) with a cas: `me` prints memcached's item size. */
const memcached_item_with_cas_bytes = 56;

function putError(ctx: Context, error: number): void {
  ctx.out.put(error_replies[error]!);
}

function put(out: Uint8Array, at: number, bytes: Uint8Array): number {
  out.set(bytes, at);
  return at + bytes.length;
}

function putCopy(out: Uint8Array, at: number, src: Uint8Array, off: number, len: number): number {
  for (let i = 0; i < len; i++) out[at + i] = src[off + i]!;
  return at + len;
}

function putFlag(out: Uint8Array, at: number, letter: number): number {
  out[at] = 32;
  out[at + 1] = letter;
  return at + 2;
}

function putCrlf(out: Uint8Array, at: number): number {
  out[at] = 13;
  out[at + 1] = 10;
  return at + 2;
}

/** ` k<key>`, base64 with ` b` after it when the line gave the key in base64. */
function putKey(out: Uint8Array, at: number, buf: Uint8Array, m: MetaFlags): number {
  at = putFlag(out, at, 107);
  if (!m.base64) return putCopy(out, at, buf, m.key_off, m.key_len);
  at = base64Encode(out, at, buf, m.key_off, m.key_len);
  return put(out, at, Text.B);
}

/** ` <O token>` */
function putToken(out: Uint8Array, at: number, buf: Uint8Array, cmd: Command, i: number): number {
  out[at++] = 32;
  return putCopy(out, at, buf, cmd.token_off[i]!, cmd.token_len[i]!);
}

/** memcached prints a ttl as the seconds left (-1: none). */
function putTtl(out: Uint8Array, at: number, exptime_abs: number, now_s: number): number {
  if (exptime_abs === 0) {
    out[at] = 45;
    out[at + 1] = 49;
    return at + 2;
  }
  return putUint(out, at, Math.max(0, exptime_abs - now_s));
}

/** memcached's realtime() of a ttl as unix seconds (0: none); a negative one is already due. */
function absoluteOf(exptime: number, now_s: number): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return now_s;
  return exptime > relative_time_s_max ? exptime : now_s + exptime;
}

/** memcached's boundary between relative and absolute times (30 days). */
const relative_time_s_max = 2_592_000;

/** The checks every keyed meta command makes before its flags (memcached's order). */
function lineError(cmd: Command, too_long: number): number {
  if (cmd.token_len[1]! > key_bytes_max) return MetaError.FORMAT;
  if (cmd.ntokens > meta_tokens_max) return too_long;
  return MetaError.NONE;
}

/**
 * mn, mg, md, ma, me and an `ms` line without a valid length. Returns true when the connection
 * must close after the reply (an `ms` whose data block cannot be found).
 */
export function executeMeta(ctx: Context, cmd: Command, buf: Uint8Array, now_s: number): boolean {
  switch (cmd.kind) {
    case Cmd.MN:
      ctx.out.put(Reply.MN);
      return false;
    case Cmd.MG:
      executeMetaGet(ctx, cmd, buf, now_s);
      return false;
    case Cmd.MD:
      executeMetaDelete(ctx, cmd, buf);
      return false;
    case Cmd.MA:
      executeMetaArithmetic(ctx, cmd, buf, now_s);
      return false;
    case Cmd.ME:
      executeMetaDebug(ctx, cmd, buf, now_s);
      return false;
    case Cmd.MS_INVALID: {
      const error = lineError(cmd, MetaError.TOO_LONG);
      putError(ctx, error === MetaError.NONE ? MetaError.FORMAT : error);
      return cmd.has_arg;
    }
  }
  return false;
}

export function isMetaKind(kind: number): boolean {
  return kind === Cmd.MN || kind === Cmd.MG || (kind >= Cmd.MS && kind <= Cmd.MS_INVALID);
}

/** Meta commands that may change what is stored (replication's write gate holds them). */
export function isMetaWrite(kind: number): boolean {
  return kind === Cmd.MS || kind === Cmd.MD || kind === Cmd.MA;
}

// ---- mg ----

function metaGetOptions(m: MetaFlags): number {
  let opts = 0;
  if (m.value) opts |= MetaGet.VALUE;
  if (m.touch) opts |= MetaGet.TOUCH;
  if (m.vivify) opts |= MetaGet.VIVIFY;
  if (m.recache) opts |= MetaGet.RECACHE;
  if (m.no_bump) opts |= MetaGet.NO_BUMP;
  if (m.touch_first) opts |= MetaGet.TOUCH_FIRST;
  return opts;
}

export function executeMetaGet(ctx: Context, cmd: Command, buf: Uint8Array, now_s: number): void {
  const m = flags;
  const error = lineError(cmd, MetaError.TOO_LONG_MG);
  if (error !== MetaError.NONE) return putError(ctx, error);
  if (!parseMetaFlags(buf, cmd, 2, m)) return putError(ctx, m.error);
  if (m.opaque_too_long) return putError(ctx, MetaError.OPAQUE);
  if (m.touch) ctx.counters.cmd_touch++;
  else ctx.counters.cmd_get++;
  const out = ctx.out;
  out.ensure(meta_reply_bytes_max + 2);
  const opts = metaGetOptions(m);
  let n = metaGetInto(ctx, buf, m, opts);
  if (n === Status.BUFFER_SMALL) {
    out.flushNow();
    n = metaGetInto(ctx, buf, m, opts);
  }
  if (n < 0) return metaGetMiss(ctx, cmd, buf, m);
  const io = ctx.store.io;
  const state = io[IoIndex.META]!;
  if ((state & (MetaState.CREATED | MetaState.WON)) !== 0 || m.touch) {
    if (ctx.mutations !== null) ctx.mutations.stored(buf, m.key_off, m.key_len);
  }
  const value_at = out.len + meta_reply_bytes_max;
  let at = metaGetHeader(ctx, cmd, buf, m, io[IoIndex.VALUE_LEN]!, now_s);
  if (m.value) {
    out.buf.copyWithin(at, value_at, value_at + n);
    at = putCrlf(out.buf, at + n);
  }
  out.len = at;
}

function metaGetInto(ctx: Context, buf: Uint8Array, m: MetaFlags, opts: number): number {
  const out = ctx.out;
  const value_at = out.len + meta_reply_bytes_max;
  const cap = Math.max(0, out.buf.length - value_at - 2);
  return ctx.store.metaGet(buf, m.key_off, m.key_len, out.buf, value_at, cap, opts, m.exptime, m.vivify_exptime, m.recache_exptime);
}

function metaGetMiss(ctx: Context, cmd: Command, buf: Uint8Array, m: MetaFlags): void {
  if (m.quiet) return;
  const out = ctx.out;
  let at = put(out.buf, out.len, Text.EN);
  at = putEcho(out.buf, at, cmd, buf, m);
  out.len = putCrlf(out.buf, at);
}

/** The O and k flags of a reply, in the order they were asked (every reply that has no item). */
function putEcho(out: Uint8Array, at: number, cmd: Command, buf: Uint8Array, m: MetaFlags): number {
  for (let i = m.first; i < m.end; i++) {
    const letter = buf[cmd.token_off[i]!];
    if (letter === 79 /* O */) at = putToken(out, at, buf, cmd, i);
    else if (letter === 107 /* k */) at = putKey(out, at, buf, m);
  }
  return at;
}

/** `VA <size>` or `HD`, the return flags in the line's order, then Z X W; returns where it ended. */
function metaGetHeader(ctx: Context, cmd: Command, buf: Uint8Array, m: MetaFlags, size: number, now_s: number): number {
  const out = ctx.out.buf;
  const io = ctx.store.io;
  const state = io[IoIndex.META]!;
  let exptime_abs = io[IoIndex.EXPTIME_ABS]!;
  let at = ctx.out.len;
  if (m.value) at = putUint(out, put(out, at, Text.VA), size);
  else at = put(out, at, Text.HD);
  for (let i = m.first; i < m.end; i++) {
    switch (buf[cmd.token_off[i]!]) {
      case 84 /* T */: exptime_abs = io[IoIndex.TOUCH_ABS]!; break;
      case 78 /* N */: if ((state & MetaState.CREATED) !== 0) exptime_abs = io[IoIndex.VIVIFY_ABS]!; break;
      case 115 /* s */: at = putUint(out, putFlag(out, at, 115), size); break;
      case 116 /* t */: at = putTtl(out, putFlag(out, at, 116), exptime_abs, now_s); break;
      case 99 /* c */: at = putU64(out, putFlag(out, at, 99), replyCas(ctx, io[IoIndex.CAS_LO]!), replyCas(ctx, io[IoIndex.CAS_HI]!)); break;
      case 102 /* f */: at = putUint(out, putFlag(out, at, 102), io[IoIndex.FLAGS]!); break;
      case 108 /* l */: at = putUint(out, putFlag(out, at, 108), io[IoIndex.LAST_ACCESS_S]!); break;
      case 104 /* h */: at = putUint(out, putFlag(out, at, 104), (state & MetaState.FETCHED) !== 0 ? 1 : 0); break;
      case 79 /* O */: at = putToken(out, at, buf, cmd, i); break;
      case 107 /* k */: at = putKey(out, at, buf, m); break;
    }
  }
  if ((state & MetaState.TOKEN_SENT) !== 0) at = putFlag(out, at, 90 /* Z */);
  if ((state & MetaState.STALE) !== 0) at = putFlag(out, at, 88 /* X */);
  if ((state & MetaState.WON) !== 0) at = putFlag(out, at, 87 /* W */);
  return putCrlf(out, at);
}

// ---- md ----

export function executeMetaDelete(ctx: Context, cmd: Command, buf: Uint8Array): void {
  const m = flags;
  const error = lineError(cmd, MetaError.TOO_LONG);
  if (error !== MetaError.NONE) return putError(ctx, error);
  if (!parseMetaFlags(buf, cmd, 2, m)) return putError(ctx, MetaError.INVALID_OR_DUPLICATE);
  if (m.opaque_too_long) return putError(ctx, MetaError.OPAQUE);
  const store = ctx.store;
  let opts = 0;
  if (m.has_cas) {
    opts |= MetaDelete.CAS;
    store.setCas(compareCas(ctx, m.cas_lo), compareCas(ctx, m.cas_hi));
  }
  if (m.set_stale) opts |= MetaDelete.STALE;
  if (m.touch) opts |= MetaDelete.TOUCH;
  ctx.detail.recordDelete(buf, m.key_off, m.key_len);
  const status = store.metaDelete(buf, m.key_off, m.key_len, opts, m.exptime);
  if (status === Status.OK && ctx.mutations !== null) {
    if (m.set_stale) ctx.mutations.stored(buf, m.key_off, m.key_len);
    else ctx.mutations.deleted(buf, m.key_off, m.key_len);
  }
  if (status === Status.OK && m.quiet) return;
  const code = status === Status.OK ? Text.HD : status === Status.EXISTS ? Text.EX : Text.NF;
  putStatusLine(ctx, cmd, buf, m, code);
}

function putStatusLine(ctx: Context, cmd: Command, buf: Uint8Array, m: MetaFlags, code: Uint8Array): void {
  const out = ctx.out;
  out.ensure(meta_reply_bytes_max);
  const at = putEcho(out.buf, put(out.buf, out.len, code), cmd, buf, m);
  out.len = putCrlf(out.buf, at);
}

// ---- ma ----

export function executeMetaArithmetic(ctx: Context, cmd: Command, buf: Uint8Array, now_s: number): void {
  const m = flags;
  const error = lineError(cmd, MetaError.TOO_LONG);
  if (error !== MetaError.NONE) return putError(ctx, error);
  if (!parseMetaFlags(buf, cmd, 2, m)) return putError(ctx, MetaError.INVALID_OR_DUPLICATE);
  let incr = true;
  if (m.mode === 68 /* D */ || m.mode === 45 /* - */) incr = false;
  else if (m.mode !== 0 && m.mode !== 73 /* I */ && m.mode !== 43 /* + */) return putError(ctx, MetaError.MA_MODE);
  if (m.opaque_too_long) return putError(ctx, MetaError.OPAQUE);
  const store = ctx.store;
  store.setDelta(m.delta_lo, m.delta_hi);
  let opts = incr ? MetaDelta.INCR : 0;
  if (m.has_cas) {
    opts |= MetaDelta.CAS;
    store.setCas(compareCas(ctx, m.cas_lo), compareCas(ctx, m.cas_hi));
  }
  if (m.touch) opts |= MetaDelta.TOUCH;
  let n = store.metaDelta(buf, m.key_off, m.key_len, opts, m.exptime, digits, 0, digits.length);
  let created = false;
  if (n === Status.NOT_FOUND && m.vivify) {
    n = vivifyCounter(ctx, cmd, buf, m);
    if (n < 0) return;
    created = true;
  }
  if (n >= 0) {
    if (ctx.mutations !== null) ctx.mutations.stored(buf, m.key_off, m.key_len);
    // memcached drops the reply of a quiet ma only when the item was there
    if (!m.quiet || created) putArithmeticReply(ctx, cmd, buf, m, n, created, now_s);
    return;
  }
  if (n === Status.NON_NUMERIC) return ctx.out.put(Text.MA_NON_NUMERIC);
  if (n === Status.NOT_FOUND) return putStatusLine(ctx, cmd, buf, m, Text.NF);
  if (n === Status.EXISTS) return putStatusLine(ctx, cmd, buf, m, Text.EX);
  ctx.out.put(Text.MA_NO_MEMORY);
}

/** ma N: stores J (default 0) with the exptime the line's last N / T gives; the digits' length or -1 (answered). */
function vivifyCounter(ctx: Context, cmd: Command, buf: Uint8Array, m: MetaFlags): number {
  const n = putU64(digits, 0, m.initial_lo, m.initial_hi);
  let exptime = 0;
  for (let i = m.first; i < m.end; i++) {
    const letter = buf[cmd.token_off[i]!];
    if (letter === 78 /* N */) exptime = m.vivify_exptime;
    else if (letter === 84 /* T */) exptime = m.exptime;
  }
  const store = ctx.store;
  const status = store.store(StoreOp.ADD, buf, m.key_off, m.key_len, digits, 0, n, 0, exptime);
  if (status === Status.OK) {
    store.metaGet(buf, m.key_off, m.key_len, digits, n, 0, MetaGet.PEEK, 0, 0, 0); // the new item's cas into io
    return n;
  }
  if (status === Status.NOT_STORED) putStatusLine(ctx, cmd, buf, m, Text.NS);
  else ctx.out.put(Text.MA_VIVIFY_NO_MEMORY);
  return -1;
}

function putArithmeticReply(
  ctx: Context, cmd: Command, buf: Uint8Array, m: MetaFlags, n: number, created: boolean, now_s: number,
): void {
  const out = ctx.out;
  out.ensure(meta_reply_bytes_max + digits_bytes_max);
  const o = out.buf;
  const io = ctx.store.io;
  let at = out.len;
  if (m.value) at = putUint(o, put(o, at, Text.VA), n);
  else at = put(o, at, Text.HD);
  // a created item starts without an exptime; then N and T set theirs in the line's order
  let exptime_abs = created ? 0 : io[IoIndex.EXPTIME_ABS]!;
  for (let i = m.first; i < m.end; i++) {
    switch (buf[cmd.token_off[i]!]) {
      case 84 /* T */: exptime_abs = created ? absoluteOf(m.exptime, now_s) : io[IoIndex.TOUCH_ABS]!; break;
      case 78 /* N */: if (created) exptime_abs = absoluteOf(m.vivify_exptime, now_s); break;
      case 99 /* c */: at = putU64(o, putFlag(o, at, 99), replyCas(ctx, io[IoIndex.CAS_LO]!), replyCas(ctx, io[IoIndex.CAS_HI]!)); break;
      case 116 /* t */: at = putTtl(o, putFlag(o, at, 116), exptime_abs, now_s); break;
      case 79 /* O */: at = putToken(o, at, buf, cmd, i); break;
      case 107 /* k */: at = putKey(o, at, buf, m); break;
    }
  }
  if (m.value) at = putCopy(o, putCrlf(o, at), digits, 0, n);
  out.len = putCrlf(o, at);
}

// ---- me ----

export function executeMetaDebug(ctx: Context, cmd: Command, buf: Uint8Array, now_s: number): void {
  if (cmd.ntokens < 3 || cmd.token_len[1]! > key_bytes_max) return putError(ctx, MetaError.FORMAT);
  const m = flags;
  m.key_off = cmd.token_off[1]!;
  m.key_len = cmd.token_len[1]!;
  m.base64 = cmd.ntokens >= 4 && cmd.token_len[2] === 1 && buf[cmd.token_off[2]!] === 98 /* b */;
  if (m.base64) {
    m.key_len = base64DecodeInPlace(buf, m.key_off, m.key_len);
    if (m.key_len === 0) return putError(ctx, MetaError.FORMAT);
  }
  const store = ctx.store;
  const n = store.metaGet(buf, m.key_off, m.key_len, digits, 0, 0, MetaGet.PEEK, 0, 0, 0);
  if (n < 0) return ctx.out.putText("EN\r\n");
  const io = store.io;
  const exptime_abs = io[IoIndex.EXPTIME_ABS]!;
  const flags_bytes = io[IoIndex.FLAGS] === 0 ? 0 : 4;
  const size = memcached_item_with_cas_bytes + m.key_len + 1 + io[IoIndex.VALUE_LEN]! + 2 + flags_bytes;
  const out = ctx.out;
  out.ensure(meta_reply_bytes_max);
  let at = put(out.buf, out.len, Text.ME);
  at = m.base64 ? base64Encode(out.buf, at, buf, m.key_off, m.key_len) : putCopy(out.buf, at, buf, m.key_off, m.key_len);
  out.len = at;
  const exp = exptime_abs === 0 ? -1 : now_s - exptime_abs;
  const cas = casText(replyCas(ctx, io[IoIndex.CAS_LO]!), replyCas(ctx, io[IoIndex.CAS_HI]!));
  const fetched = (io[IoIndex.META]! & MetaState.FETCHED) !== 0 ? "yes" : "no";
  out.putText(` exp=${exp} la=${io[IoIndex.LAST_ACCESS_S]} cas=${cas} fetch=${fetched} cls=${io[IoIndex.CLASS_ID]} size=${size}\r\n`);
}

/** A cas word a reply shows: the item's, or 0 under -C (memcached keeps no cas then). */
function replyCas(ctx: Context, word: number): number {
  return ctx.cas_enabled ? word : 0;
}

/** Under -C no item has a cas a client could give: a compare uses a word no minted cas has. */
const cas_never_word = 0xffffffff;

/** A cas word a request compares with: its own, or under -C one that never matches (EX, as memcached). */
function compareCas(ctx: Context, word: number): number {
  return ctx.cas_enabled ? word : cas_never_word;
}

function casText(lo: number, hi: number): string {
  const end = putU64(digits, 0, lo, hi);
  return Buffer.from(digits.buffer, 0, end).toString("latin1");
}

// ---- ms ----

/** What an `ms` needs from its line once its value is in: the op and cas, and how to answer. */
export class MetaSetPlan {
  op = 0;
  cas_lo = 0;
  cas_hi = 0;
  quiet = false;
  base64 = false;
  /** The O / k / c tokens of the line in order, copied (the line may be gone when the value is in). */
  readonly echo = new Uint8Array(meta_reply_bytes_max);
  echo_len = 0;
}

const inline_plan = new MetaSetPlan();

function metaSetOp(m: MetaFlags): number {
  switch (m.mode) {
    case 0: case 83 /* S */: return m.has_cas ? (m.set_stale ? StoreOp.CAS_STALE : StoreOp.CAS) : StoreOp.SET;
    case 82 /* R */: return m.has_cas ? (m.set_stale ? StoreOp.CAS_STALE : StoreOp.CAS) : StoreOp.REPLACE;
    case 69 /* E */: return StoreOp.ADD;
    case 65 /* A */: return m.has_cas ? StoreOp.APPEND_CAS : StoreOp.APPEND;
    case 80 /* P */: return m.has_cas ? StoreOp.PREPEND_CAS : StoreOp.PREPEND;
  }
  return 0;
}

/**
 * The line of an `ms` (its data block not looked at): checks it as memcached does, answers an
 * error (the caller then skips the data block: false), or fills `plan` and rewrites cmd for the
 * store — key_off/key_len (decoded), flags, exptime — and returns true.
 */
export function metaSetBegin(ctx: Context, cmd: Command, buf: Uint8Array, plan: MetaSetPlan): boolean {
  const m = flags;
  let error = lineError(cmd, MetaError.TOO_LONG);
  if (error === MetaError.NONE && !parseMetaFlags(buf, cmd, 3, m)) error = m.error;
  if (error === MetaError.NONE && m.opaque_too_long) error = MetaError.OPAQUE;
  const op = error === MetaError.NONE ? metaSetOp(m) : 0;
  if (error === MetaError.NONE && op === 0) error = MetaError.MS_MODE;
  if (error !== MetaError.NONE) {
    putError(ctx, error);
    return false;
  }
  cmd.key_off = m.key_off;
  cmd.key_len = m.key_len;
  cmd.flags = m.client_flags;
  cmd.exptime = m.touch ? m.exptime : 0;
  cmd.noreply = false;
  cmd.num_lo = m.has_cas ? compareCas(ctx, m.cas_lo) : 0;
  cmd.num_hi = m.has_cas ? compareCas(ctx, m.cas_hi) : 0;
  ctx.counters.cmd_set++;
  ctx.detail.recordSet(buf, cmd.key_off, cmd.key_len);
  if (itemTooLarge(ctx, cmd)) {
    metaSetTooLarge(ctx, cmd, buf);
    return false;
  }
  plan.op = op;
  plan.cas_lo = m.has_cas ? compareCas(ctx, m.cas_lo) : 0;
  plan.cas_hi = m.has_cas ? compareCas(ctx, m.cas_hi) : 0;
  plan.quiet = m.quiet;
  plan.base64 = m.base64;
  let at = 0;
  for (let i = m.first; i < m.end; i++) {
    const letter = buf[cmd.token_off[i]!];
    if (letter === 79 /* O */) at = putToken(plan.echo, at, buf, cmd, i);
    else if (letter === 107 /* k */ || letter === 99 /* c */) at = putFlag(plan.echo, at, letter!);
  }
  plan.echo_len = at;
  return true;
}

/** memcached: an ms that cannot have its item answers the error and unlinks the key's old value. */
function metaSetTooLarge(ctx: Context, cmd: Command, buf: Uint8Array): void {
  ctx.counters.store_too_large++;
  if (ctx.store.delete(buf, cmd.key_off, cmd.key_len) === Status.OK && ctx.mutations !== null) {
    ctx.mutations.deleted(buf, cmd.key_off, cmd.key_len);
  }
  ctx.out.put(Reply.TOO_LARGE);
}

/** An `ms` whose whole data block (value + CRLF) is in buf at data_off. */
export function executeMetaSet(ctx: Context, cmd: Command, buf: Uint8Array, data_off: number): void {
  const plan = inline_plan;
  if (!metaSetBegin(ctx, cmd, buf, plan)) return;
  const end = data_off + cmd.data_len;
  if (buf[end] !== 13 || buf[end + 1] !== 10) return ctx.out.put(Reply.BAD_DATA_CHUNK);
  const store = ctx.store;
  store.setCas(plan.cas_lo, plan.cas_hi);
  const status = store.store(plan.op, buf, cmd.key_off, cmd.key_len, buf, data_off, cmd.data_len, cmd.flags, cmd.exptime);
  if (status === Status.OK && ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.key_len);
  metaSetReply(ctx, status, plan, buf, cmd.key_off, cmd.key_len);
}

/**
 * The reply to an `ms` once the store answered (`status`); the key is the stored (decoded) key.
 * memcached answers `c0` when nothing was stored. The caller reports the mutation.
 */
export function metaSetReply(
  ctx: Context, status: number, plan: MetaSetPlan, key: Uint8Array, key_off: number, key_len: number,
): void {
  const out = ctx.out;
  if (status === Status.TOO_LARGE || status === Status.NO_MEMORY) {
    const append = plan.op === StoreOp.APPEND || plan.op === StoreOp.PREPEND || plan.op === StoreOp.APPEND_CAS || plan.op === StoreOp.PREPEND_CAS;
    if (!append) {
      if (status === Status.TOO_LARGE) ctx.counters.store_too_large++;
      else ctx.counters.store_no_memory++;
      return out.put(status === Status.TOO_LARGE ? Reply.TOO_LARGE : Reply.NO_MEMORY);
    }
    status = Status.NOT_STORED;
  }
  if (status === Status.OK && plan.quiet) return;
  out.ensure(meta_reply_bytes_max);
  const o = out.buf;
  let at = put(o, out.len, statusText(status));
  const echo = plan.echo;
  for (let i = 0; i < plan.echo_len; ) {
    // tokens are " <text>": O tokens are copied, k and c are one letter
    let end = i + 1;
    while (end < plan.echo_len && echo[end] !== 32) end++;
    const letter = echo[i + 1];
    if (end - i === 2 && letter === 107 /* k */) at = putStoredKey(o, at, key, key_off, key_len, plan.base64);
    else if (end - i === 2 && letter === 99 /* c */) {
      at = putFlag(o, at, 99);
      at = status === Status.OK ? putU64(o, at, replyCas(ctx, ctx.store.io[IoIndex.CAS_LO]!), replyCas(ctx, ctx.store.io[IoIndex.CAS_HI]!)) : putUint(o, at, 0);
    } else at = putCopy(o, at, echo, i, end - i);
    i = end;
  }
  out.len = putCrlf(o, at);
}

function putStoredKey(o: Uint8Array, at: number, key: Uint8Array, key_off: number, key_len: number, base64: boolean): number {
  at = putFlag(o, at, 107);
  if (!base64) return putCopy(o, at, key, key_off, key_len);
  return put(o, base64Encode(o, at, key, key_off, key_len), Text.B);
}

function statusText(status: number): Uint8Array {
  switch (status) {
    case Status.OK: return Text.HD;
    case Status.EXISTS: return Text.EX;
    case Status.NOT_FOUND: return Text.NF;
  }
  return Text.NS;
}
