// The item store as a typed TS object over the native library (src/native/ffi.ts).
//
// Contract: protocol-agnostic. Keys and values are (Uint8Array, offset, length) triples; every
// method returns a number: a byte count / slot number (>= 0) or a negative `Status`. Values are
// copied into the caller's buffer during the call: JS never holds a view of item memory. 64-bit
// values (cas, incr/decr delta and result) cross through `io`, a Uint32Array over the store's
// native Io block, as lo/hi u32 words (IoIndex). Hot methods allocate nothing; a buffer range
// outside its array returns Status.INVALID. `stats()`/`classStats()` build plain objects named
// as memcached prints them (not hot). After `close()` every method returns INVALID; views of
// `io` taken before `close()` must not be used after it.
import type { Pointer } from "./ffi.ts";
import { native, nativeU32, nativeU64, type StoreHandle } from "./ffi.ts";
import { libraryFix, NativeLibraryError } from "./library.ts";

export const Status = {
  OK: 0,
  NOT_FOUND: -1,
  NOT_STORED: -2,
  EXISTS: -3,
  TOO_LARGE: -4,
  NO_MEMORY: -5,
  NON_NUMERIC: -6,
  BAD_KEY: -7,
  BUFFER_SMALL: -8,
  INVALID: -9,
  CURSOR_DONE: -10,
  CURSOR_AGAIN: -11,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

export const StoreOp = {
  SET: 1,
  ADD: 2,
  REPLACE: 3,
  APPEND: 4,
  PREPEND: 5,
  CAS: 6,
  REP: 7,
  REP_IF_NEWER: 8,
  /** Meta protocol: `ms I C<cas>` (a cas below the item's stores the value as stale). */
  CAS_STALE: 9,
  /** Meta protocol: append/prepend that compare io's cas when it is not 0. */
  APPEND_CAS: 10,
  PREPEND_CAS: 11,
} as const;

/** rc_meta_get options (native/cache.zig meta_get_*). */
export const MetaGet = {
  VALUE: 1,
  TOUCH: 2,
  VIVIFY: 4,
  RECACHE: 8,
  NO_BUMP: 16,
  TOUCH_FIRST: 32,
  PEEK: 64,
} as const;

/** io META bits after a meta call (native/cache.zig meta_*). */
export const MetaState = {
  FETCHED: 1,
  STALE: 2,
  TOKEN_SENT: 4,
  WON: 8,
  CREATED: 16,
} as const;

/** rc_meta_delete / rc_meta_delta options. */
export const MetaDelete = { CAS: 1, STALE: 2, TOUCH: 4 } as const;
export const MetaDelta = { INCR: 1, CAS: 2, TOUCH: 4 } as const;
export type StoreOpCode = (typeof StoreOp)[keyof typeof StoreOp];

/** rc_get mode bits. */
export const GetMode = {
  RAW: 0, // copy only the value bytes
  TEXT: 1, // write "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"
  CAS: 2, // include the cas in that line (gets / gats)
  TOUCH: 4, // set a new exptime (gat / gats)
  PEEK: 8, // replication reads current state: no counters, no LRU bump
  REP: 16, // with PEEK: write repcached's `rep <key> <flags> <exptime> <bytes> <cas>` line + data
  REP_RELATIVE: 32, // REP's exptime as seconds left (<= 30 days), else absolute
  REP_SIGNED_FLAGS: 64, // REP's flags as a signed int, as repcached 1.2.8 prints them
  CAS_HIDDEN: 128, // with CAS: print cas 0 (-C: clients see no cas; the item keeps its own)
} as const;

/** Word indices of `Store.io` (native/cache.zig `Io`, checked against native/lib.zig). */
export const IO_CAS_LO = 0; // in: compare / given cas; out: the item's cas
export const IO_CAS_HI = 1;
export const IO_NUM_LO = 2; // in: incr/decr delta; out: the new value
export const IO_NUM_HI = 3;
export const IO_FLAGS = 4; // out
export const IO_VALUE_LEN = 5; // out
export const IO_EXPTIME_ABS = 6; // out: absolute unix expiry seconds, 0 = never
export const IO_KEY_LEN = 7; // out (cursor)
export const IO_NEED = 8; // out: bytes needed after BUFFER_SMALL
export const IO_META = 9; // out (meta calls): MetaState bits
export const IO_LAST_ACCESS_S = 10; // out (meta calls): seconds since the last access, before the call
export const IO_TOUCH_ABS = 11; // out (meta calls): the exptime T set (absolute unix s, 0 = never)
export const IO_VIVIFY_ABS = 12; // out (meta get): the exptime N set on a created item
export const IO_CLASS_ID = 13; // out (meta get): the slab class of memcached's size for the item
export const IO_BYTES = 64;
export const IoIndex = {
  CAS_LO: IO_CAS_LO,
  CAS_HI: IO_CAS_HI,
  NUM_LO: IO_NUM_LO,
  NUM_HI: IO_NUM_HI,
  FLAGS: IO_FLAGS,
  VALUE_LEN: IO_VALUE_LEN,
  EXPTIME_ABS: IO_EXPTIME_ABS,
  KEY_LEN: IO_KEY_LEN,
  NEED: IO_NEED,
  META: IO_META,
  LAST_ACCESS_S: IO_LAST_ACCESS_S,
  TOUCH_ABS: IO_TOUCH_ABS,
  VIVIFY_ABS: IO_VIVIFY_ABS,
  CLASS_ID: IO_CLASS_ID,
} as const;

/** rc_stats order (native/stats.zig `Global`, listed in native/lib.zig). */
export const GLOBAL_STAT_NAMES = [
  "curr_items",
  "bytes",
  "total_malloced",
  "limit_maxbytes",
  "hash_power_level",
  "hash_bytes",
  "active_slabs",
  "pending_items",
  "evicted_log_pending",
  "curr_time_rel",
  "tombstones",
  "total_items",
  "evictions",
  "evicted_unfetched",
  "evicted_active",
  "evicted_log_dropped",
  "reclaimed",
  "expired_unfetched",
  "crawler_reclaimed",
  "outofmemory",
  "get_hits",
  "get_misses",
  "get_expired",
  "get_flushed",
  "delete_hits",
  "delete_misses",
  "incr_hits",
  "incr_misses",
  "decr_hits",
  "decr_misses",
  "cas_hits",
  "cas_misses",
  "cas_badval",
  "touch_hits",
  "touch_misses",
  "cmd_get",
  "cmd_set",
  "cmd_touch",
  "cmd_flush",
  "tombstones_dropped",
] as const;
export type GlobalStatName = (typeof GLOBAL_STAT_NAMES)[number];
export type GlobalStats = Record<GlobalStatName, number>;

/** rc_class_stats order (native/stats.zig `Class`). */
export const CLASS_STAT_NAMES = [
  "chunk_size",
  "chunks_per_page",
  "total_pages",
  "total_chunks",
  "used_chunks",
  "free_chunks",
  "free_chunks_end",
  "mem_requested",
  "number",
  "age",
  "evicted",
  "evicted_nonzero",
  "evicted_time",
  "evicted_unfetched",
  "evicted_active",
  "outofmemory",
  "reclaimed",
  "expired_unfetched",
  "crawler_reclaimed",
  "get_hits",
  "cmd_set",
  "delete_hits",
  "incr_hits",
  "decr_hits",
  "cas_hits",
  "cas_badval",
  "touch_hits",
] as const;
export type ClassStatName = (typeof CLASS_STAT_NAMES)[number];
export type ClassStats = Record<ClassStatName, number> & { class_id: number };

export interface StoreOptions {
  /** -m in bytes: page memory the classes may take (each class still gets its first page). */
  memory_bytes_max: number;
  /** -I: page size and largest item, bytes; a multiple of 8 in [1024, 1 GiB]. Default 1 MiB. */
  item_size_max?: number;
  /** -n: minimum value space of the smallest class, bytes. Default 48. */
  chunk_size_min?: number;
  /** -f: growth factor between classes, > 1. Default 1.25. */
  growth_factor?: number;
  /** -M: answer NO_MEMORY instead of evicting. Default false. */
  evictions_disabled?: boolean;
  /** Slots for values arriving in pieces (reserve/fill/commit). Default 1024. */
  pending_max?: number;
  /** Evicted keys kept for replication; 0 = off. Default 0. */
  eviction_log_max?: number;
  /** Wall clock at open, unix seconds. Default now. */
  unix_now_s?: number;
}

export const store_defaults = {
  item_size_max: 1024 * 1024,
  chunk_size_min: 48,
  growth_factor: 1.25,
  evictions_disabled: false,
  pending_max: 1024,
  eviction_log_max: 0,
} as const;

const item_size_max_min = 1024;
const item_size_max_max = 1024 * 1024 * 1024;
const params_bytes = 48;

// Native layout facts (native/lib.zig rc_abi) that the mirrors above must match.
const abi = {
  io_bytes: native.rc_abi(0),
  params_bytes: native.rc_abi(1),
  global_stats: native.rc_abi(2),
  class_stats: native.rc_abi(3),
  item_header_bytes: native.rc_abi(4),
  pending_max_limit: native.rc_abi(6),
  eviction_log_max_limit: native.rc_abi(7),
};
const io_order = [
  IO_CAS_LO, IO_CAS_HI, IO_NUM_LO, IO_NUM_HI, IO_FLAGS, IO_VALUE_LEN, IO_EXPTIME_ABS, IO_KEY_LEN, IO_NEED,
  IO_META, IO_LAST_ACCESS_S, IO_TOUCH_ABS, IO_VIVIFY_ABS, IO_CLASS_ID,
];
if (
  io_order.some((index, field) => native.rc_abi(16 + field) !== index) ||
  abi.io_bytes !== IO_BYTES ||
  abi.params_bytes !== params_bytes ||
  abi.global_stats !== GLOBAL_STAT_NAMES.length ||
  abi.class_stats !== CLASS_STAT_NAMES.length
) {
  throw new NativeLibraryError(`the native library's layout differs from src/native/store.ts (${JSON.stringify(abi)}): ${libraryFix()}`);
}

/** Bytes of an item's header in the store (items.zig); client flags other than 0 add 4. */
export const item_header_bytes = abi.item_header_bytes;

const no_bytes = new Uint8Array(0);

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function paramsOf(options: StoreOptions): Uint8Array {
  const o = { ...store_defaults, unix_now_s: Math.floor(Date.now() / 1000), ...options };
  checkInteger("memory_bytes_max", o.memory_bytes_max, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("item_size_max", o.item_size_max, item_size_max_min, item_size_max_max);
  if (o.item_size_max % 8 !== 0) throw new RangeError(`item_size_max must be a multiple of 8, got ${o.item_size_max}`);
  checkInteger("chunk_size_min", o.chunk_size_min, 1, o.item_size_max);
  if (!(o.growth_factor > 1) || !Number.isFinite(o.growth_factor)) {
    throw new RangeError(`growth_factor must be a number > 1, got ${o.growth_factor}`);
  }
  checkInteger("pending_max", o.pending_max, 1, abi.pending_max_limit);
  checkInteger("eviction_log_max", o.eviction_log_max, 0, abi.eviction_log_max_limit);
  checkInteger("unix_now_s", o.unix_now_s, 2592000, 0xffffffff);
  const bytes = new Uint8Array(params_bytes);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(o.memory_bytes_max), true);
  view.setFloat64(8, o.growth_factor, true);
  view.setBigUint64(16, BigInt(o.unix_now_s), true);
  view.setUint32(24, o.item_size_max, true);
  view.setUint32(28, o.chunk_size_min, true);
  view.setUint32(32, o.evictions_disabled ? 1 : 0, true);
  view.setUint32(36, o.pending_max, true);
  view.setUint32(40, o.eviction_log_max, true);
  view.setUint32(44, 0, true);
  return bytes;
}

/** True when [off, off + len) lies inside `buf` (and both are non-negative numbers). */
function inside(buf: Uint8Array, off: number, len: number): boolean {
  return off >= 0 && len >= 0 && off + len <= buf.length;
}

const {
  rc_get,
  rc_store,
  rc_reserve,
  rc_fill,
  rc_commit,
  rc_abort,
  rc_delta,
  rc_delete,
  rc_meta_get,
  rc_meta_delete,
  rc_meta_delta,
  rc_meta_mark,
  rc_touch,
  rc_flush,
  rc_remove_below_cas,
  rc_clock,
  rc_cas_clock,
  rc_cas_mint,
  rc_tombstones,
  rc_tomb,
  rc_flush_floor,
  rc_sweep,
  rc_reclaim_tails,
  rc_cursor_start,
  rc_cursor_next,
  rc_evictions_take,
} = native;

export class Store {
  /** The Io words (IO_* indices). Native memory: do not keep it past close(). */
  io: Uint32Array;
  /** The same block as u64 lanes: [0] cas, [1] num. Tests and diagnostics only. */
  io64: BigUint64Array;
  private handle: StoreHandle | null;
  private readonly stats_buffer = new BigUint64Array(GLOBAL_STAT_NAMES.length);
  private readonly class_buffer = new BigUint64Array(CLASS_STAT_NAMES.length);

  /** True for a session rc_session_open gave (a worker thread's); false for the store's own. */
  private readonly is_session: boolean;

  static open(options: StoreOptions): Store {
    return new Store(options);
  }

  /**
   * Another thread's handle on the store `owner` names (Store.owner of the store the main thread
   * opened): its own session, so its Io block is its own. Throws when the store has
   * sessions_max sessions open (native/session.zig).
   */
  static session(owner: number): Store {
    if (!Number.isSafeInteger(owner) || owner <= 0) throw new RangeError(`bad store handle ${owner}`);
    const handle = native.rc_session_open(owner as unknown as StoreHandle) as StoreHandle | null;
    if (handle === null) throw new Error("rc_session_open failed: too many sessions on the store");
    return new Store(null, handle);
  }

  constructor(options: StoreOptions | null, session: StoreHandle | null = null) {
    const handle = session ?? (native.rc_create(paramsOf(options!)) as StoreHandle | null);
    if (handle === null) {
      throw new Error(
        `rc_create failed for ${JSON.stringify(options)}: the arena could not be mapped or exceeds 32 GiB`,
      );
    }
    const io = native.rc_io(handle) as Pointer | null;
    if (io === null) throw new Error("rc_io returned null");
    this.handle = handle;
    this.is_session = session !== null;
    this.io = nativeU32(io, IO_BYTES);
    this.io64 = nativeU64(io, IO_BYTES);
  }

  /** The handle other threads pass to Store.session (a number: it crosses postMessage). */
  get owner(): number {
    if (this.handle === null || this.is_session) throw new Error("only the open store names itself to other threads");
    return this.handle as unknown as number;
  }

  /** Sets io's cas words (the compare cas of CAS, the given cas of REP / REP_IF_NEWER). */
  setCas(lo: number, hi: number): void {
    this.io[IO_CAS_LO] = lo;
    this.io[IO_CAS_HI] = hi;
  }

  /** Sets io's num words: the incr/decr delta. */
  setDelta(lo: number, hi: number): void {
    this.io[IO_NUM_LO] = lo;
    this.io[IO_NUM_HI] = hi;
  }

  /** One key: bytes written to out (text reply or raw value), NOT_FOUND or BUFFER_SMALL. */
  get(
    key: Uint8Array,
    key_off: number,
    key_len: number,
    out: Uint8Array,
    out_off: number,
    out_cap: number,
    mode: number,
    exptime: number,
  ): number {
    if (!inside(key, key_off, key_len) || !inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_get(this.handle, key, key_off, key_len, out, out_off, out_cap, mode, exptime);
  }

  /** SET/ADD/REPLACE/APPEND/PREPEND/CAS/REP/REP_IF_NEWER (StoreOp); on OK io cas = new cas. */
  store(
    op: number,
    key: Uint8Array,
    key_off: number,
    key_len: number,
    value: Uint8Array,
    value_off: number,
    value_len: number,
    flags: number,
    exptime: number,
  ): number {
    if (!inside(key, key_off, key_len) || !inside(value, value_off, value_len)) return Status.INVALID;
    return rc_store(this.handle, op, key, key_off, key_len, value, value_off, value_len, flags, exptime);
  }

  /** Allocates an item whose value arrives in pieces: a slot (>= 0) or a status. */
  reserve(
    op: number,
    key: Uint8Array,
    key_off: number,
    key_len: number,
    flags: number,
    exptime: number,
    value_len: number,
  ): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    return rc_reserve(this.handle, op, key, key_off, key_len, flags, exptime, value_len);
  }

  /** Appends the next value bytes to a reservation. */
  fill(slot: number, buf: Uint8Array, off: number, len: number): number {
    if (!inside(buf, off, len)) return Status.INVALID;
    return rc_fill(this.handle, slot, buf, off, len);
  }

  /** Links a filled reservation with its op's semantics (CAS compares io cas now). */
  commit(slot: number): number {
    return rc_commit(this.handle, slot);
  }

  abort(slot: number): number {
    return rc_abort(this.handle, slot);
  }

  /** incr/decr by io num: writes the new decimal digits to out and returns their count. */
  delta(
    key: Uint8Array,
    key_off: number,
    key_len: number,
    incr: boolean,
    out: Uint8Array,
    out_off: number,
    out_cap: number,
  ): number {
    if (!inside(key, key_off, key_len) || !inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_delta(this.handle, key, key_off, key_len, incr ? 1 : 0, out, out_off, out_cap);
  }

  /**
   * memcached 1.6's mg (and `me` with MetaGet.PEEK): `opts` are MetaGet bits. The item's state
   * before the call lands in io (META, LAST_ACCESS_S, FLAGS, CAS, EXPTIME_ABS, VALUE_LEN, CLASS_ID),
   * what T / N set in TOUCH_ABS / VIVIFY_ABS; with VALUE the value bytes go to out. Returns the
   * value bytes written (0 without VALUE), NOT_FOUND, or BUFFER_SMALL (nothing changed).
   */
  metaGet(
    key: Uint8Array,
    key_off: number,
    key_len: number,
    out: Uint8Array,
    out_off: number,
    out_cap: number,
    opts: number,
    exptime: number,
    vivify_exptime: number,
    recache_exptime: number,
  ): number {
    if (!inside(key, key_off, key_len) || !inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_meta_get(this.handle, key, key_off, key_len, out, out_off, out_cap, opts, exptime, vivify_exptime, recache_exptime);
  }

  /** md: `opts` are MetaDelete bits (the compare cas set with setCas). OK, NOT_FOUND or EXISTS; io cas = the new cas. */
  metaDelete(key: Uint8Array, key_off: number, key_len: number, opts: number, exptime: number): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    return rc_meta_delete(this.handle, key, key_off, key_len, opts, exptime);
  }

  /** ma: `opts` are MetaDelta bits (delta via setDelta, compare cas via setCas); the new digits into out. */
  metaDelta(
    key: Uint8Array,
    key_off: number,
    key_len: number,
    opts: number,
    exptime: number,
    out: Uint8Array,
    out_off: number,
    out_cap: number,
  ): number {
    if (!inside(key, key_off, key_len) || !inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_meta_delta(this.handle, key, key_off, key_len, opts, exptime, out, out_off, out_cap);
  }

  /** A peer's `rcb1_meta <key> <cas> <bits>`: OK when the key's item has that cas (bits set), else NOT_FOUND. */
  metaMark(key: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number, bits: number): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    this.setCas(cas_lo, cas_hi);
    return rc_meta_mark(this.handle, key, key_off, key_len, bits);
  }

  delete(key: Uint8Array, key_off: number, key_len: number): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    return rc_delete(this.handle, key, key_off, key_len);
  }

  /**
   * A replication peer's delete at cas (cas_hi, cas_lo): the key becomes a tombstone with that
   * cas unless its version (value or tombstone) is as new, or the cas is below the flush floor.
   * OK when it took effect, NOT_STORED when the key's version won.
   */
  tomb(key: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    this.setCas(cas_lo, cas_hi);
    return rc_tomb(this.handle, key, key_off, key_len);
  }

  /**
   * Replication tombstones (native/cache.zig): `enabled`, a delete leaves a tombstone carrying
   * its cas; `keep`, none expires (the node is not in sync with its peer).
   */
  setTombstones(enabled: boolean, keep: boolean): void {
    this.check(rc_tombstones(this.handle, enabled ? 1 : 0, keep ? 1 : 0), "rc_tombstones");
  }

  /** Reads the flush floor (the cas of the latest immediate flush while replicating; 0: none) into casLo/casHi. */
  readFlushFloor(): void {
    this.setCas(0, 0);
    this.check(rc_flush_floor(this.handle), "rc_flush_floor");
  }

  touch(key: Uint8Array, key_off: number, key_len: number, exptime: number): number {
    if (!inside(key, key_off, key_len)) return Status.INVALID;
    return rc_touch(this.handle, key, key_off, key_len, exptime);
  }

  /** flush_all [exptime]; 0 = now. */
  flush(exptime: number): number {
    return rc_flush(this.handle, exptime);
  }

  /**
   * Replication: removes every item whose cas is below (cas_hi, cas_lo) — a peer's flush_all made
   * while the two were not paired. One pass over the table; returns how many it removed.
   */
  removeBelowCas(cas_lo: number, cas_hi: number): number {
    this.setCas(cas_lo, cas_hi);
    return rc_remove_below_cas(this.handle);
  }

  /** Advances the store's clock (call every second). */
  clock(unix_now_s: number): void {
    rc_clock(this.handle, unix_now_s);
  }

  /**
   * Replication: mint cas values from the wall clock (ms << 10) with bit 0 = parity, so the two
   * nodes of a pair never mint the same cas and order versions the same way (last writer wins).
   */
  setCasClock(enabled: boolean, parity: 0 | 1, offset_ms = 0): number {
    return rc_cas_clock(this.handle, enabled ? 1 : 0, parity, offset_ms | 0);
  }

  /**
   * Mints a cas above every cas this store has minted or been given (a tombstone's version:
   * later than everything this node has seen); read it with casLo()/casHi().
   */
  mintCas(): void {
    this.check(rc_cas_mint(this.handle), "rc_cas_mint");
  }

  casLo(): number {
    return this.io[IO_CAS_LO]!;
  }

  casHi(): number {
    return this.io[IO_CAS_HI]!;
  }

  /** Reclaims expired/flushed items, looking at about `budget` buckets and items; returns the count. */
  sweep(budget: number): number {
    return rc_sweep(this.handle, budget);
  }

  /**
   * Reclaims dead items from every class's LRU tail up to its first live item, looking at no
   * more than `budget` items (memcached's LRU maintainer); returns the count.
   */
  reclaimTails(budget: number): number {
    return rc_reclaim_tails(this.handle, budget);
  }

  /** Starts a new walk over every item (abandoning any walk in progress). */
  cursorStart(): number {
    return rc_cursor_start(this.handle);
  }

  /**
   * Next item: key bytes then value bytes into out (io KEY_LEN, VALUE_LEN, FLAGS, CAS, EXPTIME_ABS),
   * or with `mode` = GetMode.REP (+ REP_RELATIVE / REP_SIGNED_FLAGS) its replication `rep` line.
   */
  cursorNext(out: Uint8Array, out_off: number, out_cap: number, mode = 0): number {
    if (!inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_cursor_next(this.handle, out, out_off, out_cap, mode);
  }

  /** Moves evicted keys into out as [u8 len][key][u64 cas, little-endian]...; returns the bytes written. */
  evictionsTake(out: Uint8Array, out_off: number, out_cap: number): number {
    if (!inside(out, out_off, out_cap)) return Status.INVALID;
    return rc_evictions_take(this.handle, out, out_off, out_cap);
  }

  classCount(): number {
    return native.rc_class_count(this.handle);
  }

  stats(): GlobalStats {
    this.check(native.rc_stats(this.handle, this.stats_buffer), "rc_stats");
    const result = {} as GlobalStats;
    GLOBAL_STAT_NAMES.forEach((name, index) => {
      result[name] = Number(this.stats_buffer[index]);
    });
    return result;
  }

  /** One object per slab class, class_id 1..classCount(). */
  classStats(): ClassStats[] {
    const classes: ClassStats[] = [];
    const count = this.classCount();
    for (let class_id = 1; class_id <= count; class_id++) {
      this.check(native.rc_class_stats(this.handle, class_id, this.class_buffer), "rc_class_stats");
      const entry = { class_id } as ClassStats;
      CLASS_STAT_NAMES.forEach((name, index) => {
        entry[name] = Number(this.class_buffer[index]);
      });
      classes.push(entry);
    }
    return classes;
  }

  /** memcached's `stats reset`: zeroes the event counters. */
  statsReset(): number {
    return native.rc_stats_reset(this.handle);
  }

  /** Frees the store (the thread that opened it, after every session closed) or gives a session back. */
  close(): void {
    if (this.handle === null) return;
    if (this.is_session) native.rc_session_close(this.handle);
    else native.rc_destroy(this.handle);
    this.handle = null;
    this.io = new Uint32Array(IO_BYTES / 4);
    this.io64 = new BigUint64Array(IO_BYTES / 8);
  }

  private check(status: number, what: string): void {
    if (status !== Status.OK) throw new Error(`${what} returned ${status}`);
  }
}
