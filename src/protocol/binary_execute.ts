// memcached's binary protocol: executes a parsed request against the Store, replies into the Output.
//
// Contract: the same Context as the text protocol (execute.ts): the same Store calls, the same
// counters, and every successful mutation reported once to `ctx.mutations` (replication). Replies
// follow memcached 1.6.18 byte for byte (status, message body, cas, opaque, quiet variants): a
// quiet request's success (a get's miss) is not answered, its errors are. Requests arrive whole
// (the frame in `buf`), except a large store's value, which the connection streams and hands to
// `storeReply` once committed.

import { GetMode, IoIndex, Status, StoreOp } from "../native/store.ts";
import { countRefusal, flushStore, releaseDeleteLock, type Context } from "./execute.ts";
import { putU64 } from "./numbers.ts";
import { BinKind, header_bytes, Opcode, u32, type BinaryCommand } from "./binary_parser.ts";
import { BinStatus, putEmpty, putError, putHeader, putU32 } from "./binary_replies.ts";

/** incr/decr's expiration that means "do not create a missing counter". */
const delta_no_create = 0xffffffff;
const flags_bytes = 4;
const counter_bytes = 8;
const no_bytes = new Uint8Array(0);
/** Decimal digits of a u64 (an incr's result or initial value). */
const digits = new Uint8Array(24);

/** The op a set/add/replace/append/prepend runs as: a given cas makes set/add/replace a CAS. */
export function binaryStoreOp(cmd: BinaryCommand): number {
  const has_cas = cmd.cas_lo !== 0 || cmd.cas_hi !== 0;
  switch (cmd.opcode) {
    case Opcode.APPEND: case Opcode.APPENDQ: return StoreOp.APPEND;
    case Opcode.PREPEND: case Opcode.PREPENDQ: return StoreOp.PREPEND;
  }
  if (has_cas) return StoreOp.CAS;
  switch (cmd.opcode) {
    case Opcode.ADD: case Opcode.ADDQ: return StoreOp.ADD;
    case Opcode.REPLACE: case Opcode.REPLACEQ: return StoreOp.REPLACE;
  }
  return StoreOp.SET;
}

export function binaryFlags(cmd: BinaryCommand, buf: Uint8Array): number {
  return cmd.kind === BinKind.STORE ? u32(buf, cmd.ext_off) : 0;
}

export function binaryExptime(cmd: BinaryCommand, buf: Uint8Array): number {
  return cmd.kind === BinKind.STORE ? exptimeAt(buf, cmd.ext_off + 4) : 0;
}

/** The largest exptime the store takes (an absolute time in 2038). */
const exptime_max = 0x7fffffff;

/**
 * A binary exptime is unsigned (memcached 1.6.18: 0xffffffff is an absolute time in 2106, not
 * "expired" as a text -1 is); past the store's i32 it is the latest absolute time we can keep.
 */
function exptimeAt(buf: Uint8Array, at: number): number {
  return Math.min(u32(buf, at), exptime_max);
}

export function binaryTooLarge(ctx: Context, cmd: BinaryCommand): boolean {
  return ctx.item_overhead_bytes + cmd.keylen + cmd.value_len > ctx.item_size_max;
}

/** E2BIG; a set also drops the key's old value, as memcached does ("avoid stale data"). */
export function binaryTooLargeReply(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  ctx.counters.store_too_large++;
  const op = binaryStoreOp(cmd);
  if (op === StoreOp.SET && ctx.store.delete(buf, cmd.key_off, cmd.keylen) === Status.OK) {
    if (ctx.mutations !== null) ctx.mutations.deleted(buf, cmd.key_off, cmd.keylen);
  }
  putError(ctx.out, cmd, BinStatus.E2BIG);
}

/** Whether the key is here; its cas is then in io (a peek: no counters, no LRU bump). */
function peek(ctx: Context, buf: Uint8Array, key_off: number, key_len: number): boolean {
  const n = ctx.store.get(buf, key_off, key_len, no_bytes, 0, 0, GetMode.PEEK, 0);
  return n >= 0 || n === Status.BUFFER_SMALL;
}

function casDiffers(ctx: Context, cmd: BinaryCommand): boolean {
  if (!ctx.cas_enabled) return true; // -C: items keep no cas for clients (0), and the given one is not 0
  const io = ctx.store.io;
  return io[IoIndex.CAS_LO] !== cmd.cas_lo || io[IoIndex.CAS_HI] !== cmd.cas_hi;
}

/** The cas a reply carries: the item's, or 0 under -C (memcached keeps none then). */
function replyCasLo(ctx: Context): number {
  return ctx.cas_enabled ? ctx.store.io[IoIndex.CAS_LO]! : 0;
}

function replyCasHi(ctx: Context): number {
  return ctx.cas_enabled ? ctx.store.io[IoIndex.CAS_HI]! : 0;
}

function hasCas(cmd: BinaryCommand): boolean {
  return cmd.cas_lo !== 0 || cmd.cas_hi !== 0;
}

/**
 * What refuses a store before the store sees it (BinStatus), or -1: an append/prepend with a cas
 * that is not the key's (EEXISTS; a missing key NOT_STORED), and a 1.2.8 delete lock.
 */
export function binaryStoreRefusal(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): number {
  const op = binaryStoreOp(cmd);
  if ((op === StoreOp.APPEND || op === StoreOp.PREPEND) && hasCas(cmd)) {
    if (!peek(ctx, buf, cmd.key_off, cmd.keylen)) return BinStatus.NOT_STORED;
    if (casDiffers(ctx, cmd)) return BinStatus.KEY_EEXISTS;
  }
  const locks = ctx.delete_locks;
  if (locks.size === 0 || op === StoreOp.SET || !locks.locked(buf, cmd.key_off, cmd.keylen)) return -1;
  return op === StoreOp.CAS ? BinStatus.KEY_ENOENT : BinStatus.NOT_STORED;
}

/** A set/add/replace/append/prepend whose whole frame is in buf. */
export function executeBinaryStore(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  ctx.counters.cmd_set++;
  ctx.detail.recordSet(buf, cmd.key_off, cmd.keylen);
  if (binaryTooLarge(ctx, cmd)) return binaryTooLargeReply(ctx, cmd, buf);
  const refused = binaryStoreRefusal(ctx, cmd, buf);
  if (refused >= 0) return putError(ctx.out, cmd, refused);
  const op = binaryStoreOp(cmd);
  if (op === StoreOp.CAS) ctx.store.setCas(cmd.cas_lo, cmd.cas_hi);
  const status = ctx.store.store(
    op, buf, cmd.key_off, cmd.keylen, buf, cmd.value_off, cmd.value_len, binaryFlags(cmd, buf), binaryExptime(cmd, buf),
  );
  storeReply(ctx, cmd, buf, cmd.key_off, status);
}

/** The reply (and replication) of a store's status; the key is key_buf[key_off, +cmd.keylen). */
export function storeReply(ctx: Context, cmd: BinaryCommand, key_buf: Uint8Array, key_off: number, status: number): void {
  if (status === Status.OK) {
    releaseDeleteLock(ctx, key_buf, key_off, cmd.keylen);
    if (ctx.mutations !== null) ctx.mutations.stored(key_buf, key_off, cmd.keylen);
    if (cmd.quiet) return;
    return putEmpty(ctx.out, cmd, replyCasLo(ctx), replyCasHi(ctx));
  }
  countRefusal(ctx.counters, status);
  putError(ctx.out, cmd, storeStatus(binaryStoreOp(cmd), status));
}

function storeStatus(op: number, status: number): number {
  switch (status) {
    case Status.NOT_STORED:
      if (op === StoreOp.ADD) return BinStatus.KEY_EEXISTS;
      if (op === StoreOp.REPLACE) return BinStatus.KEY_ENOENT;
      return BinStatus.NOT_STORED;
    case Status.EXISTS: return BinStatus.KEY_EEXISTS;
    case Status.NOT_FOUND: return BinStatus.KEY_ENOENT;
    case Status.TOO_LARGE:
      return op === StoreOp.APPEND || op === StoreOp.PREPEND ? BinStatus.NOT_STORED : BinStatus.E2BIG;
  }
  return BinStatus.ENOMEM;
}

/** get/getq/getk/getkq and (touch: true) gat/gatq/gatk/gatkq. */
export function executeBinaryGet(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  const touching = cmd.kind === BinKind.GAT;
  if (touching) ctx.counters.cmd_touch++;
  else ctx.counters.cmd_get++;
  const out = ctx.out;
  const key_len = cmd.with_key ? cmd.keylen : 0;
  const fixed = header_bytes + flags_bytes + key_len;
  const mode = touching ? GetMode.RAW | GetMode.TOUCH : GetMode.RAW;
  const exptime = touching ? exptimeAt(buf, cmd.ext_off) : 0;
  for (;;) {
    out.ensure(fixed);
    const value_at = out.len + fixed;
    const n = ctx.store.get(buf, cmd.key_off, cmd.keylen, out.buf, value_at, out.buf.length - value_at, mode, exptime);
    if (n >= 0) {
      ctx.detail.recordGet(buf, cmd.key_off, cmd.keylen, true);
      if (touching && ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.keylen);
      const io = ctx.store.io;
      putHeader(out, cmd, BinStatus.OK, key_len, flags_bytes, flags_bytes + key_len + n, replyCasLo(ctx), replyCasHi(ctx));
      putU32(out.buf, out.len, io[IoIndex.FLAGS]!);
      const key_at = out.len + flags_bytes;
      for (let i = 0; i < key_len; i++) out.buf[key_at + i] = buf[cmd.key_off + i]!; // no subarray per get
      out.len = value_at + n;
      return;
    }
    if (n !== Status.BUFFER_SMALL || out.len === 0) break;
    out.flushNow();
  }
  ctx.detail.recordGet(buf, cmd.key_off, cmd.keylen, false);
  if (cmd.quiet) return;
  if (!cmd.with_key) return putError(out, cmd, BinStatus.KEY_ENOENT);
  out.ensure(header_bytes + cmd.keylen);
  putHeader(out, cmd, BinStatus.KEY_ENOENT, cmd.keylen, 0, cmd.keylen, 0, 0);
  out.putRange(buf, cmd.key_off, cmd.keylen);
}

export function executeBinaryDelete(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  ctx.detail.recordDelete(buf, cmd.key_off, cmd.keylen);
  if (hasCas(cmd) && peek(ctx, buf, cmd.key_off, cmd.keylen) && casDiffers(ctx, cmd)) {
    return putError(ctx.out, cmd, BinStatus.KEY_EEXISTS);
  }
  if (ctx.store.delete(buf, cmd.key_off, cmd.keylen) !== Status.OK) return putError(ctx.out, cmd, BinStatus.KEY_ENOENT);
  if (ctx.mutations !== null) ctx.mutations.deleted(buf, cmd.key_off, cmd.keylen);
  if (!cmd.quiet) putEmpty(ctx.out, cmd);
}

/** incr/decr: extras are delta (u64), initial (u64), expiration (u32; 0xffffffff: no create). */
export function executeBinaryDelta(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  const store = ctx.store;
  const incr = cmd.opcode === Opcode.INCREMENT || cmd.opcode === Opcode.INCREMENTQ;
  const e = cmd.ext_off;
  if (hasCas(cmd) && peek(ctx, buf, cmd.key_off, cmd.keylen) && casDiffers(ctx, cmd)) {
    return putError(ctx.out, cmd, BinStatus.KEY_EEXISTS);
  }
  store.setDelta(u32(buf, e + 4), u32(buf, e));
  const n = store.delta(buf, cmd.key_off, cmd.keylen, incr, digits, 0, digits.length);
  if (n >= 0) return deltaReply(ctx, cmd, buf, store.io[IoIndex.NUM_LO]!, store.io[IoIndex.NUM_HI]!);
  if (n === Status.NON_NUMERIC) return putError(ctx.out, cmd, BinStatus.DELTA_BADVAL);
  if (n !== Status.NOT_FOUND) return putError(ctx.out, cmd, BinStatus.ENOMEM);
  const exptime = u32(buf, e + 16);
  if (exptime === delta_no_create) return putError(ctx.out, cmd, BinStatus.KEY_ENOENT);
  const initial_lo = u32(buf, e + 12);
  const initial_hi = u32(buf, e + 8);
  const len = putU64(digits, 0, initial_lo, initial_hi);
  const status = store.store(StoreOp.ADD, buf, cmd.key_off, cmd.keylen, digits, 0, len, 0, Math.min(exptime, exptime_max));
  if (status !== Status.OK) return putError(ctx.out, cmd, BinStatus.ENOMEM);
  deltaReply(ctx, cmd, buf, initial_lo, initial_hi);
}

function deltaReply(ctx: Context, cmd: BinaryCommand, buf: Uint8Array, lo: number, hi: number): void {
  if (ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.keylen);
  if (cmd.quiet) return;
  const out = ctx.out;
  out.ensure(header_bytes + counter_bytes);
  putHeader(out, cmd, BinStatus.OK, 0, 0, counter_bytes, replyCasLo(ctx), replyCasHi(ctx));
  putU32(out.buf, out.len, hi);
  putU32(out.buf, out.len + 4, lo);
  out.len += counter_bytes;
}

export function executeBinaryTouch(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  ctx.counters.cmd_touch++;
  const status = ctx.store.touch(buf, cmd.key_off, cmd.keylen, exptimeAt(buf, cmd.ext_off));
  if (status !== Status.OK) return putError(ctx.out, cmd, BinStatus.KEY_ENOENT);
  if (ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.keylen);
  const out = ctx.out;
  const io = ctx.store.io;
  out.ensure(header_bytes + flags_bytes);
  putHeader(out, cmd, BinStatus.OK, 0, flags_bytes, flags_bytes, replyCasLo(ctx), replyCasHi(ctx));
  putU32(out.buf, out.len, io[IoIndex.FLAGS]!);
  out.len += flags_bytes;
}

/** flush/flushq, with an optional delay (extras: u32 exptime). */
export function executeBinaryFlush(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): void {
  // -F: memcached 1.6.18 answers "Auth failure." (quiet or not) and does not count it.
  if (!ctx.flush_enabled) return putError(ctx.out, cmd, BinStatus.AUTH_ERROR);
  ctx.counters.cmd_flush++;
  const exptime = cmd.extlen === 4 ? exptimeAt(buf, cmd.ext_off) : 0;
  flushStore(ctx, exptime);
  if (!cmd.quiet) putEmpty(ctx.out, cmd);
}

/** The requests that meet the store; false for the rest (the connection's: quit, stat, SASL, ...). */
export function executeBinaryKeyCommand(ctx: Context, cmd: BinaryCommand, buf: Uint8Array): boolean {
  switch (cmd.kind) {
    case BinKind.GET:
    case BinKind.GAT:
      executeBinaryGet(ctx, cmd, buf);
      return true;
    case BinKind.STORE:
    case BinKind.CONCAT:
      executeBinaryStore(ctx, cmd, buf);
      return true;
    case BinKind.DELETE:
      executeBinaryDelete(ctx, cmd, buf);
      return true;
    case BinKind.DELTA:
      executeBinaryDelta(ctx, cmd, buf);
      return true;
    case BinKind.TOUCH:
      executeBinaryTouch(ctx, cmd, buf);
      return true;
    case BinKind.FLUSH:
      executeBinaryFlush(ctx, cmd, buf);
      return true;
  }
  return false;
}

/** Requests that change what is stored (they wait while replication's write gate is shut). */
export function isBinaryWrite(kind: number): boolean {
  return kind === BinKind.STORE || kind === BinKind.CONCAT || kind === BinKind.DELETE || kind === BinKind.DELTA ||
    kind === BinKind.TOUCH || kind === BinKind.GAT || kind === BinKind.FLUSH;
}
