// The only importer of bun:ffi in the project: loads librepcache.so (found by library.ts; never
// built here) and declares its whole symbol table. Everything else sees src/native/store.ts.
//
// Contract: pointer arguments are `FFIType.ptr`, so callers pass Uint8Arrays (or other typed
// arrays) directly plus u32 offsets and lengths — no subarray, no garbage per call. Every
// function returns an i32 status or byte count (see native/lib.zig); none calls back into JS.
// Loading throws NativeLibraryError (one line, with the fix) when the library is missing, stale,
// does not load, or its layout differs from what the TS mirrors expect (store.ts, rc_abi).
import { dlopen, FFIType, toArrayBuffer, type Pointer } from "bun:ffi";
import { libraryFix, librarySource, NativeLibraryError } from "./library.ts";

const { ptr, u32, i32 } = FFIType;
const none = FFIType.void;

// Every `store` argument is a session handle (native/session.zig): rc_create returns the store's
// default session; rc_session_open another on the same store with its own io block (one per
// worker thread), which rc_session_close gives back before rc_destroy of the default one.
const symbols = {
  rc_abi: { args: [u32], returns: i32 },
  rc_create: { args: [ptr], returns: ptr },
  rc_destroy: { args: [ptr], returns: none },
  rc_session_open: { args: [ptr], returns: ptr },
  rc_session_close: { args: [ptr], returns: i32 },
  rc_io: { args: [ptr], returns: ptr },
  rc_clock: { args: [ptr, u32], returns: none },
  // store, enabled (0/1), parity (0/1), clock offset in ms (test-only skew)
  rc_cas_clock: { args: [ptr, u32, u32, i32], returns: i32 },
  rc_cas_mint: { args: [ptr], returns: i32 },
  // store, enabled (0/1), keep (0/1)
  rc_tombstones: { args: [ptr, u32, u32], returns: i32 },
  // store, key_buf, key_off, key_len (the cas in io)
  rc_tomb: { args: [ptr, ptr, u32, u32], returns: i32 },
  rc_flush_floor: { args: [ptr], returns: i32 },
  // store, key_buf, key_off, key_len, out, out_off, out_cap, mode, exptime
  rc_get: { args: [ptr, ptr, u32, u32, ptr, u32, u32, u32, i32], returns: i32 },
  // store, op, key_buf, key_off, key_len, val_buf, val_off, val_len, flags, exptime
  rc_store: { args: [ptr, u32, ptr, u32, u32, ptr, u32, u32, u32, i32], returns: i32 },
  // store, op, key_buf, key_off, key_len, flags, exptime, value_len
  rc_reserve: { args: [ptr, u32, ptr, u32, u32, u32, i32, u32], returns: i32 },
  rc_fill: { args: [ptr, i32, ptr, u32, u32], returns: i32 },
  rc_commit: { args: [ptr, i32], returns: i32 },
  rc_abort: { args: [ptr, i32], returns: i32 },
  // store, key_buf, key_off, key_len, incr, out, out_off, out_cap
  rc_delta: { args: [ptr, ptr, u32, u32, u32, ptr, u32, u32], returns: i32 },
  rc_delete: { args: [ptr, ptr, u32, u32], returns: i32 },
  // store, key_buf, key_off, key_len, out, out_off, out_cap, opts, exptime, vivify_exptime, recache_exptime
  rc_meta_get: { args: [ptr, ptr, u32, u32, ptr, u32, u32, u32, i32, i32, i32], returns: i32 },
  // store, key_buf, key_off, key_len, opts, exptime (the compare cas in io)
  rc_meta_delete: { args: [ptr, ptr, u32, u32, u32, i32], returns: i32 },
  // store, key_buf, key_off, key_len, opts, exptime, out, out_off, out_cap (delta and cas in io)
  rc_meta_delta: { args: [ptr, ptr, u32, u32, u32, i32, ptr, u32, u32], returns: i32 },
  // store, key_buf, key_off, key_len, bits (the cas in io)
  rc_meta_mark: { args: [ptr, ptr, u32, u32, u32], returns: i32 },
  rc_touch: { args: [ptr, ptr, u32, u32, i32], returns: i32 },
  rc_flush: { args: [ptr, i32], returns: i32 },
  rc_remove_below_cas: { args: [ptr], returns: i32 },
  rc_sweep: { args: [ptr, u32], returns: i32 },
  rc_reclaim_tails: { args: [ptr, u32], returns: i32 },
  rc_cursor_start: { args: [ptr], returns: i32 },
  // store, out, out_off, out_cap, mode (0 = key then value; GetMode.REP bits = a rep line)
  rc_cursor_next: { args: [ptr, ptr, u32, u32, u32], returns: i32 },
  rc_evictions_take: { args: [ptr, ptr, u32, u32], returns: i32 },
  rc_stats: { args: [ptr, ptr], returns: i32 },
  rc_class_stats: { args: [ptr, u32, ptr], returns: i32 },
  rc_stats_reset: { args: [ptr], returns: i32 },
  rc_class_count: { args: [ptr], returns: i32 },
} as const;

function libraryOpen() {
  const source = librarySource();
  try {
    return dlopen(source.path, symbols);
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    throw new NativeLibraryError(`the native library does not load (${reason}): ${libraryFix()}`);
  } finally {
    source.release();
  }
}

const library = libraryOpen();

export const native = library.symbols;
export type StoreHandle = Pointer;

/** A Uint32Array over `byte_length` bytes of native memory at `pointer` (not owned by JS). */
export function nativeU32(pointer: Pointer, byte_length: number): Uint32Array {
  return new Uint32Array(toArrayBuffer(pointer, 0, byte_length));
}

/** A BigUint64Array over the same memory (tests and diagnostics only: BigInt is slow). */
export function nativeU64(pointer: Pointer, byte_length: number): BigUint64Array {
  return new BigUint64Array(toArrayBuffer(pointer, 0, byte_length));
}
export type { Pointer };
