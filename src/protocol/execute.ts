// Executes parsed commands against the Store and writes replies into the Output.
//
// Contract: protocol meets storage here and nowhere else. Storage sees typed calls with byte ranges
// (never text); replies are pre-encoded constants or bytes the store copies straight into the
// output buffer. `noreply` suppresses every reply of that command, as memcached's out_string does.
// A successful mutation is reported to `ctx.mutations` in one call (replication hooks in there).

import { Cmd, ClientErrorText, firstLongKey, isFlushAllLine, key_cursor, nextKey, type Command } from "./parser.ts";
import { Reply } from "./replies.ts";
import type { Output } from "../server/output.ts";
import type { PrefixStats } from "./detail.ts";
import { GetMode, Status, StoreOp, type Store } from "../native/store.ts";
import type { DeleteLocks } from "./delete_locks.ts";
import type { WriteGate } from "../replication/backpressure.ts";

/**
 * What a successful write tells replication. One call per mutation, on the request path, right
 * after the store call that made it: the store's io then holds the cas of the version it made
 * (the stored item's, the tombstone's, the touched item's), which the sink reads.
 */
export interface MutationSink {
  stored(key_buf: Uint8Array, key_off: number, key_len: number): void;
  deleted(key_buf: Uint8Array, key_off: number, key_len: number): void;
  /**
   * Flushes the store (now, or at `exptime`) and journals it, as one step against every other
   * thread's journal entries: a write that lands after the flush is journaled after it.
   */
  flush(store: Store, exptime: number): void;
}

/** flush_all (now, or at exptime) on the store, told to replication when it runs. */
export function flushStore(ctx: Context, exptime: number): void {
  if (ctx.mutations === null) ctx.store.flush(exptime);
  else ctx.mutations.flush(ctx.store, exptime);
}

/**
 * Replication's read-through for a node that serves while the peer's full copy is arriving: a get
 * that misses here first asks the peer. `fetchMissing` returns false when every key is here (or
 * read-through cannot run); otherwise it calls `done` once the keys arrived or a timeout passed.
 */
export interface ReadThrough {
  active(): boolean;
  fetchMissing(buf: Uint8Array, cmd: Command, done: () => void): boolean;
}

export interface Counters {
  cmd_get: number;
  cmd_set: number;
  cmd_flush: number;
  cmd_touch: number;
  get_keys_too_long: number;
  /** memcached's store_too_large / store_no_memory: storage commands refused for size / memory. */
  store_too_large: number;
  store_no_memory: number;
}

export function newCounters(): Counters {
  return {
    cmd_get: 0, cmd_set: 0, cmd_flush: 0, cmd_touch: 0, get_keys_too_long: 0, store_too_large: 0, store_no_memory: 0,
  };
}

export interface Context {
  store: Store;
  out: Output;
  counters: Counters;
  mutations: MutationSink | null;
  read_through: ReadThrough | null;
  /** Replication's backpressure: while shut, a connection's next write waits (backpressure.ts). */
  write_gate: WriteGate | null;
  /** 1.2.8 deferred deletes from a classic peer (consulted only while one is held). */
  delete_locks: DeleteLocks;
  detail: PrefixStats;
  /** Item header bytes + CRLF: an item is too large when header + key + value > item_size_max. */
  item_size_max: number;
  item_overhead_bytes: number;
  /** false with -F: a client's flush_all answers `CLIENT_ERROR flush_all not allowed` (still counted
   *  in cmd_flush, as memcached 1.6). A replication peer's flush still applies. */
  flush_enabled: boolean;
  /** false with -C: clients see cas 0 (gets, gats, mg c) and `cas` never matches (EXISTS, or
   *  NOT_FOUND for a missing key), as memcached -C. Items keep their cas: replication orders
   *  versions by it. */
  cas_enabled: boolean;
}

const encoder = new TextEncoder();
const client_error_replies = ClientErrorText.map((text) => encoder.encode(text + "\r\n"));
const flush_disabled_reply = encoder.encode("CLIENT_ERROR flush_all not allowed\r\n");

export function reply(out: Output, bytes: Uint8Array, noreply: boolean): void {
  if (!noreply) out.put(bytes);
}

export function replyCommandError(out: Output, cmd: Command): void {
  if (cmd.kind === Cmd.CLIENT_ERROR) reply(out, client_error_replies[cmd.error]!, cmd.noreply);
  else out.put(Reply.ERROR);
}

export function storeOpOf(kind: number): number {
  switch (kind) {
    case Cmd.SET: return StoreOp.SET;
    case Cmd.ADD: return StoreOp.ADD;
    case Cmd.REPLACE: return StoreOp.REPLACE;
    case Cmd.APPEND: return StoreOp.APPEND;
    case Cmd.PREPEND: return StoreOp.PREPEND;
    case Cmd.CAS: return StoreOp.CAS;
    case Cmd.REP: return StoreOp.REP;
  }
  throw new RangeError(`not a storage command: ${kind}`);
}

/**
 * The reply for a store status (STORED, NOT_STORED, EXISTS, NOT_FOUND, errors). memcached answers
 * NOT_STORED when an append/prepend would grow the item past the item size limit.
 */
export function countRefusal(counters: Counters, status: number): void {
  if (status === Status.TOO_LARGE) counters.store_too_large++;
  else if (status === Status.NO_MEMORY) counters.store_no_memory++;
}

export function storeReply(status: number, kind: number): Uint8Array {
  if (status === Status.TOO_LARGE && (kind === Cmd.APPEND || kind === Cmd.PREPEND)) return Reply.NOT_STORED;
  switch (status) {
    case Status.OK: return Reply.STORED;
    case Status.NOT_STORED: return Reply.NOT_STORED;
    case Status.EXISTS: return Reply.EXISTS;
    case Status.NOT_FOUND: return Reply.NOT_FOUND;
    case Status.TOO_LARGE: return Reply.TOO_LARGE;
    case Status.NO_MEMORY: return Reply.NO_MEMORY;
  }
  return Reply.NO_MEMORY;
}

export function isGet(kind: number): boolean {
  return kind >= Cmd.GET && kind <= Cmd.GATS;
}

/** Commands that change what is stored (and so reach the replication journal); ms md ma too. */
export function isWrite(kind: number): boolean {
  return (kind >= Cmd.GAT && kind <= Cmd.FLUSH_ALL) || (kind >= Cmd.MS && kind <= Cmd.MA);
}

export function isStorage(kind: number): boolean {
  return kind >= Cmd.SET && kind <= Cmd.CAS;
}

export function itemTooLarge(ctx: Context, cmd: Command): boolean {
  return ctx.item_overhead_bytes + cmd.key_len + cmd.data_len > ctx.item_size_max;
}

/**
 * What a delete lock refuses (memcached 1.2.8): add/replace/append/prepend answer NOT_STORED, cas
 * NOT_FOUND; set and rep override the lock. null when the command may go on. Free while no lock is held.
 */
export function lockedStoreReply(ctx: Context, cmd: Command, buf: Uint8Array): Uint8Array | null {
  const locks = ctx.delete_locks;
  if (locks.size === 0 || cmd.kind === Cmd.SET || cmd.kind === Cmd.REP) return null;
  if (!locks.locked(buf, cmd.key_off, cmd.key_len)) return null;
  return cmd.kind === Cmd.CAS ? Reply.NOT_FOUND : Reply.NOT_STORED;
}

/** A successful store of the key ends its delete lock (only a set or rep can succeed on a locked key). */
export function releaseDeleteLock(ctx: Context, key_buf: Uint8Array, key_off: number, key_len: number): void {
  if (ctx.delete_locks.size > 0) ctx.delete_locks.release(key_buf, key_off, key_len);
}

/**
 * The cas a `cas` command compares (lo and hi words): the client's, or 0 with -C — no item has cas
 * 0 (the store mints from 1), so it never matches, as memcached -C answers EXISTS. A peer's `rep`
 * keeps its cas.
 */
export function casOperandLo(ctx: Context, cmd: Command): number {
  return cmd.kind === Cmd.CAS && !ctx.cas_enabled ? 0 : cmd.num_lo;
}
export function casOperandHi(ctx: Context, cmd: Command): number {
  return cmd.kind === Cmd.CAS && !ctx.cas_enabled ? 0 : cmd.num_hi;
}

/** A storage command whose whole data block (value + CRLF) is in buf at data_off. */
export function executeStoreInline(
  ctx: Context, cmd: Command, buf: Uint8Array, data_off: number, rep_op: number = StoreOp.REP,
): void {
  const end = data_off + cmd.data_len;
  ctx.counters.cmd_set++;
  ctx.detail.recordSet(buf, cmd.key_off, cmd.key_len);
  if (buf[end] !== 13 || buf[end + 1] !== 10) {
    if (itemTooLarge(ctx, cmd)) return storeFailedTooLarge(ctx, cmd, buf);
    return reply(ctx.out, Reply.BAD_DATA_CHUNK, cmd.noreply);
  }
  const refused = lockedStoreReply(ctx, cmd, buf);
  if (refused !== null) return reply(ctx.out, refused, cmd.noreply);
  const store = ctx.store;
  if (cmd.kind === Cmd.CAS || cmd.kind === Cmd.REP) store.setCas(casOperandLo(ctx, cmd), casOperandHi(ctx, cmd));
  const op = cmd.kind === Cmd.REP ? rep_op : storeOpOf(cmd.kind);
  const status = store.store(
    op, buf, cmd.key_off, cmd.key_len, buf, data_off, cmd.data_len, cmd.flags, cmd.exptime,
  );
  if (status === Status.OK) {
    releaseDeleteLock(ctx, buf, cmd.key_off, cmd.key_len);
    if (ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.key_len);
  }
  countRefusal(ctx.counters, status);
  reply(ctx.out, storeReply(status, cmd.kind), cmd.noreply);
}

/** memcached: a SET that cannot be stored also drops the old value ("avoid stale data"). */
export function storeFailedTooLarge(ctx: Context, cmd: Command, buf: Uint8Array): void {
  ctx.counters.store_too_large++;
  if (cmd.kind === Cmd.SET && ctx.store.delete(buf, cmd.key_off, cmd.key_len) === Status.OK) {
    if (ctx.mutations !== null) ctx.mutations.deleted(buf, cmd.key_off, cmd.key_len);
  }
  reply(ctx.out, Reply.TOO_LARGE, cmd.noreply);
}

/** executeGet's answers besides a resume offset (>= 0). */
export const GetDone = {
  /** Every key was looked up (and, for the line's last part, END written). */
  ANSWERED: -1,
  /** A key over key_bytes_max: the line is answered with the error alone (what follows is not read). */
  LONG_KEY: -2,
} as const;

/**
 * get/gets/gat/gats from the key at `from` (cmd.keys_off at first) to cmd.line_end. Returns
 * GetDone.ANSWERED when every key was served and, if `last` (the range ends the line), END written
 * once; or the offset of the next key when it stopped because the owner's unsent output passed its
 * bound (`out.overBacklog()`): the caller keeps the line and calls again from there once the socket
 * drained. At least one key is served per call; nothing is allocated per key. A range with a key
 * over key_bytes_max is answered, like memcached, with the error alone (GetDone.LONG_KEY): the keys
 * before it are looked up (counted, touched) but their values are dropped — for a long line
 * executed in parts (parser's GET_PART), only those of the part with the long key.
 */
export function executeGet(
  ctx: Context, cmd: Command, buf: Uint8Array, from: number = cmd.keys_off, last: boolean = true,
): number {
  const out = ctx.out;
  let mode = GetMode.TEXT;
  if (cmd.kind === Cmd.GETS || cmd.kind === Cmd.GATS) mode |= ctx.cas_enabled ? GetMode.CAS : GetMode.CAS | GetMode.CAS_HIDDEN;
  if (cmd.kind === Cmd.GAT || cmd.kind === Cmd.GATS) mode |= GetMode.TOUCH;
  const long_key = firstLongKey(buf, from, cmd.line_end);
  const keys_end = long_key >= 0 ? long_key : cmd.line_end;
  let served = 0;
  for (let at = from; nextKey(buf, at, keys_end); served++) {
    const key_off = key_cursor.off;
    const key_len = key_cursor.len;
    if (served > 0 && long_key < 0 && out.overBacklog()) return key_off;
    const n = getOne(ctx, buf, key_off, key_len, mode, cmd.exptime);
    if (long_key >= 0) out.len -= n;
    at = key_off + key_len;
  }
  if (long_key >= 0) {
    ctx.counters.get_keys_too_long++;
    out.put(client_error_replies[0]!);
    return GetDone.LONG_KEY;
  }
  if (last) out.put(Reply.END);
  return GetDone.ANSWERED;
}

/** One key of a get: its VALUE block into the output (flushing first if it does not fit); returns its length (0: a miss). */
function getOne(ctx: Context, buf: Uint8Array, key_off: number, key_len: number, mode: number, exptime: number): number {
  const out = ctx.out;
  const touching = (mode & GetMode.TOUCH) !== 0;
  if (touching) ctx.counters.cmd_touch++;
  else ctx.counters.cmd_get++;
  for (;;) {
    const n = ctx.store.get(buf, key_off, key_len, out.buf, out.len, out.buf.length - out.len, mode, exptime);
    if (n >= 0) {
      out.len += n;
      ctx.detail.recordGet(buf, key_off, key_len, true);
      if (touching && ctx.mutations !== null) ctx.mutations.stored(buf, key_off, key_len);
      return n;
    }
    if (n !== Status.BUFFER_SMALL || out.len === 0) {
      ctx.detail.recordGet(buf, key_off, key_len, false);
      return 0;
    }
    out.flushNow();
  }
}

const digits_room_bytes = 24;

export function executeDelta(ctx: Context, cmd: Command, buf: Uint8Array): void {
  const out = ctx.out;
  out.ensure(digits_room_bytes);
  ctx.store.setDelta(cmd.num_lo, cmd.num_hi);
  const n = ctx.store.delta(buf, cmd.key_off, cmd.key_len, cmd.kind === Cmd.INCR, out.buf, out.len, out.room());
  if (n >= 0) {
    if (ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.key_len);
    if (cmd.noreply) return;
    out.len += n;
    out.put(Reply.CRLF);
    return;
  }
  if (n === Status.NOT_FOUND) return reply(out, Reply.NOT_FOUND, cmd.noreply);
  if (n === Status.NON_NUMERIC) return reply(out, Reply.NON_NUMERIC, cmd.noreply);
  reply(out, Reply.DELTA_NO_MEMORY, cmd.noreply);
}

export function executeDelete(ctx: Context, cmd: Command, buf: Uint8Array): void {
  ctx.detail.recordDelete(buf, cmd.key_off, cmd.key_len);
  const status = ctx.store.delete(buf, cmd.key_off, cmd.key_len);
  if (status === Status.OK) {
    if (ctx.mutations !== null) ctx.mutations.deleted(buf, cmd.key_off, cmd.key_len);
    return reply(ctx.out, Reply.DELETED, cmd.noreply);
  }
  reply(ctx.out, Reply.NOT_FOUND, cmd.noreply);
}

/** memcached's boundary between relative and absolute times (30 days). */
const relative_time_s_max = 2_592_000;

/**
 * memcached 1.2.8's deferred delete, as a classic repcached peer sends it: `delete <key> <time>`
 * (an absolute unix time; up to 30 days, seconds from now). The key goes now and stays delete-locked
 * until then (delete_locks.ts). As in 1.2.8, a key that is not here is not locked.
 */
export function executeDeferredDelete(ctx: Context, buf: Uint8Array, key_off: number, key_len: number, time_s: number): void {
  ctx.detail.recordDelete(buf, key_off, key_len);
  if (ctx.store.delete(buf, key_off, key_len) !== Status.OK) return ctx.out.put(Reply.NOT_FOUND);
  if (ctx.mutations !== null) ctx.mutations.deleted(buf, key_off, key_len);
  const locks = ctx.delete_locks;
  locks.lock(buf, key_off, key_len, time_s > relative_time_s_max ? time_s : locks.now_s + time_s);
  ctx.out.put(Reply.DELETED);
}

export function executeTouch(ctx: Context, cmd: Command, buf: Uint8Array): void {
  ctx.counters.cmd_touch++;
  const status = ctx.store.touch(buf, cmd.key_off, cmd.key_len, cmd.exptime);
  if (status === Status.OK) {
    if (ctx.mutations !== null) ctx.mutations.stored(buf, cmd.key_off, cmd.key_len);
    return reply(ctx.out, Reply.TOUCHED, cmd.noreply);
  }
  reply(ctx.out, Reply.NOT_FOUND, cmd.noreply);
}

/**
 * The commands every transport executes the same way: incr/decr, delete, touch, flush_all and
 * the line's own errors. Returns false for anything else (the transport's to handle).
 */
export function executeKeyCommand(ctx: Context, cmd: Command, buf: Uint8Array): boolean {
  switch (cmd.kind) {
    case Cmd.INCR:
    case Cmd.DECR:
      executeDelta(ctx, cmd, buf);
      return true;
    case Cmd.DELETE:
      executeDelete(ctx, cmd, buf);
      return true;
    case Cmd.TOUCH:
      executeTouch(ctx, cmd, buf);
      return true;
    case Cmd.FLUSH_ALL:
      executeFlush(ctx, cmd);
      return true;
    case Cmd.ERROR:
    case Cmd.CLIENT_ERROR:
      if (isFlushAllLine(buf, cmd)) executeFlushBadLine(ctx, cmd);
      else replyCommandError(ctx.out, cmd);
      return true;
  }
  return false;
}

/** A client's flush_all: counted, then refused with -F. */
export function executeFlush(ctx: Context, cmd: Command): void {
  ctx.counters.cmd_flush++;
  if (!ctx.flush_enabled) return reply(ctx.out, flush_disabled_reply, cmd.noreply);
  flushApply(ctx, cmd);
}

/** A flush_all whose exptime is bad: memcached counts it, then -F refuses it before the exptime is read. */
function executeFlushBadLine(ctx: Context, cmd: Command): void {
  ctx.counters.cmd_flush++;
  if (!ctx.flush_enabled) return reply(ctx.out, flush_disabled_reply, cmd.noreply);
  replyCommandError(ctx.out, cmd);
}

/** Flushes (now, or at cmd.exptime) and tells replication; a peer's flush comes here directly. */
export function flushApply(ctx: Context, cmd: Command): void {
  const exptime = cmd.exptime > 0 ? cmd.exptime : 0;
  flushStore(ctx, exptime);
  reply(ctx.out, Reply.OK, cmd.noreply);
}
