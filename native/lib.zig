//! lib: the C ABI of librepcache.so, the only `export fn`s. Each is a thin shim: it validates
//! its arguments (null handle, null buffers, modes, slot numbers) and calls the session's
//! operation (cache.zig), which takes the locks it needs (session.zig: stripes by key hash, no
//! store-wide lock) and fills that session's Io. The
//! handle every call takes is a session: rc_create returns the store's default one, and
//! rc_session_open another for a worker thread, each with its own Io block. Nothing
//! panics across the boundary; bad input returns a status. Bounds of caller buffers are checked
//! by src/native/store.ts (a pointer carries no length), which is the only caller.
//!
//! Status codes (i32; mirrored by `Status` in src/native/store.ts):
//!   >= 0 OK or a byte count / slot number    -1 NOT_FOUND    -2 NOT_STORED    -3 EXISTS
//!   -4 TOO_LARGE    -5 NO_MEMORY    -6 NON_NUMERIC    -7 BAD_KEY (length 0 or > 250)
//!   -8 BUFFER_SMALL (io.need = bytes needed)    -9 INVALID    -10 CURSOR_DONE
//!   -11 CURSOR_AGAIN (scanned its bucket budget without finding an item; call again)
//!
//! Io words (u32 indices into rc_io's 64-byte block; store.ts IoIndex):
//!   0 CAS_LO  1 CAS_HI  (in: compare / given cas; out: item cas)
//!   2 NUM_LO  3 NUM_HI  (in: incr/decr delta; out: new value)
//!   4 FLAGS  5 VALUE_LEN  6 EXPTIME_ABS (unix s, 0 = never)  7 KEY_LEN  8 NEED
//!   9 META (meta ops: cache.meta_* bits)  10 LAST_ACCESS_S  11 TOUCH_ABS  12 VIVIFY_ABS
//!   13 CLASS_ID  14..15 reserved
//!
//! Store ops (rc_store, rc_reserve): 1 SET 2 ADD 3 REPLACE 4 APPEND 5 PREPEND 6 CAS 7 REP
//! 8 REP_IF_NEWER 9 CAS_STALE 10 APPEND_CAS 11 PREPEND_CAS (meta protocol, cache.zig `Op`). rc_get mode bits: 1 text reply, 2 with cas, 4 touch.
//!
//! rc_stats indices (u64; store.ts GlobalStat), from stats.zig `Global`:
//!   0 curr_items 1 bytes 2 total_malloced 3 limit_maxbytes 4 hash_power_level 5 hash_bytes
//!   6 active_slabs 7 pending_items 8 evicted_log_pending 9 curr_time_rel 10 tombstones (gauges)
//!   11 total_items 12 evictions 13 evicted_unfetched 14 evicted_active 15 evicted_log_dropped
//!   16 reclaimed 17 expired_unfetched 18 crawler_reclaimed 19 outofmemory 20 get_hits
//!   21 get_misses 22 get_expired 23 get_flushed 24 delete_hits 25 delete_misses 26 incr_hits
//!   27 incr_misses 28 decr_hits 29 decr_misses 30 cas_hits 31 cas_misses 32 cas_badval
//!   33 touch_hits 34 touch_misses 35 cmd_get 36 cmd_set 37 cmd_touch 38 cmd_flush
//!   39 tombstones_dropped
//! rc_class_stats indices (u64; store.ts ClassStat), from stats.zig `Class`:
//!   0 chunk_size 1 chunks_per_page 2 total_pages 3 total_chunks 4 used_chunks 5 free_chunks
//!   6 free_chunks_end 7 mem_requested 8 number 9 age    (gauges)
//!   10 evicted 11 evicted_nonzero 12 evicted_time 13 evicted_unfetched 14 evicted_active
//!   15 outofmemory 16 reclaimed 17 expired_unfetched 18 crawler_reclaimed 19 get_hits
//!   20 cmd_set 21 delete_hits 22 incr_hits 23 decr_hits 24 cas_hits 25 cas_badval 26 touch_hits
const std = @import("std");
const cache = @import("cache.zig");
const items = @import("items.zig");
const stats = @import("stats.zig");
const Store = cache.Store;
const Session = @import("session.zig").Session;
const Status = cache.Status;

comptime {
    std.debug.assert(@sizeOf(cache.Io) == 64);
    std.debug.assert(@offsetOf(cache.Io, "cas_lo") == 0 * 4);
    std.debug.assert(@offsetOf(cache.Io, "cas_hi") == 1 * 4);
    std.debug.assert(@offsetOf(cache.Io, "num_lo") == 2 * 4);
    std.debug.assert(@offsetOf(cache.Io, "num_hi") == 3 * 4);
    std.debug.assert(@offsetOf(cache.Io, "flags") == 4 * 4);
    std.debug.assert(@offsetOf(cache.Io, "value_len") == 5 * 4);
    std.debug.assert(@offsetOf(cache.Io, "exptime_abs") == 6 * 4);
    std.debug.assert(@offsetOf(cache.Io, "key_len") == 7 * 4);
    std.debug.assert(@offsetOf(cache.Io, "need") == 8 * 4);
    std.debug.assert(@offsetOf(cache.Io, "meta") == 9 * 4);
    std.debug.assert(@offsetOf(cache.Io, "class_id") == 13 * 4);
    std.debug.assert(@sizeOf(cache.Params) == 48);
    std.debug.assert(@offsetOf(cache.Params, "growth_factor") == 8);
    std.debug.assert(@offsetOf(cache.Params, "unix_now_s") == 16);
    std.debug.assert(@offsetOf(cache.Params, "item_size_max") == 24);
    std.debug.assert(@offsetOf(cache.Params, "chunk_size_min") == 28);
    std.debug.assert(@offsetOf(cache.Params, "evictions_disabled") == 32);
    std.debug.assert(@offsetOf(cache.Params, "pending_max") == 36);
    std.debug.assert(@offsetOf(cache.Params, "eviction_log_max") == 40);
    std.debug.assert(@sizeOf(items.Header) == items.header_bytes);
    std.debug.assert(@intFromEnum(stats.Global.total_items) == 11);
    std.debug.assert(@intFromEnum(stats.Global.cmd_flush) == 38);
    std.debug.assert(stats.global_count == 40);
    std.debug.assert(@intFromEnum(stats.Class.evicted) == 10);
    std.debug.assert(@intFromEnum(stats.Class.touch_hits) == 26);
    std.debug.assert(stats.class_count == 27);
}

fn bytesIn(buf: ?[*]const u8, off: u32, len: u32) ?[]const u8 {
    if (len == 0) return &.{};
    const base = buf orelse return null;
    return base[off..][0..len];
}

fn bytesOut(buf: ?[*]u8, off: u32, cap: u32) ?[]u8 {
    if (cap == 0) return &.{};
    const base = buf orelse return null;
    return base[off..][0..@min(cap, std.math.maxInt(i32))];
}

const io_fields = [_][]const u8{ "cas_lo", "cas_hi", "num_lo", "num_hi", "flags", "value_len", "exptime_abs", "key_len", "need", "meta", "last_access_s", "touch_abs", "vivify_abs", "class_id" };

/// Layout facts for store.ts to check against its mirrors at load:
/// 0 sizeof(Io) 1 sizeof(Params) 2 rc_stats count 3 rc_class_stats count 4 item header bytes
/// 5 largest class id allowed 6 pending_max limit 7 eviction_log_max limit;
/// 16 + i: the word index of Io field i in the order CAS_LO CAS_HI NUM_LO NUM_HI FLAGS
/// VALUE_LEN EXPTIME_ABS KEY_LEN NEED META LAST_ACCESS_S TOUCH_ABS VIVIFY_ABS CLASS_ID.
export fn rc_abi(which: u32) i32 {
    if (which >= 16 and which < 16 + io_fields.len) {
        inline for (io_fields, 0..) |name, i| {
            if (which == 16 + i) return @offsetOf(cache.Io, name) / 4;
        }
    }
    return switch (which) {
        0 => @sizeOf(cache.Io),
        1 => @sizeOf(cache.Params),
        2 => stats.global_count,
        3 => stats.class_count,
        4 => items.header_bytes,
        5 => @import("slabs.zig").class_id_max,
        6 => @import("pending.zig").pending_max_limit,
        7 => @import("eviction_log.zig").entries_limit,
        else => Status.invalid,
    };
}

/// The new store's default session (the handle for every other call), or null.
export fn rc_create(params: ?*const cache.Params) ?*Session {
    const p = params orelse return null;
    if (@intFromPtr(p) % @alignOf(cache.Params) != 0) return null;
    const store = Store.create(p) orelse return null;
    return &store.session_default;
}

/// Frees the store. Only the default session does it, and only once every other session is
/// closed; any other call does nothing.
export fn rc_destroy(session: ?*Session) void {
    const sess = session orelse return;
    if (!sess.isDefault()) return;
    const store = sess.shared;
    store.sessions_mutex.lock();
    const others = store.sessions_open;
    store.sessions_mutex.unlock();
    if (others == 0) store.destroy();
}

/// Another session on the same store (a worker thread's), or null when session.sessions_max
/// are open.
export fn rc_session_open(session: ?*Session) ?*Session {
    const sess = session orelse return null;
    return Session.open(sess.shared);
}

/// Closes a session rc_session_open gave (INVALID for the default one).
export fn rc_session_close(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    if (sess.isDefault()) return Status.invalid;
    sess.close();
    return Status.ok;
}

/// The session's own Io block (read and written only by that session's caller).
export fn rc_io(session: ?*Session) ?*cache.Io {
    const sess = session orelse return null;
    return &sess.io;
}

export fn rc_clock(session: ?*Session, unix_now_s: u32) void {
    const sess = session orelse return;
    sess.advanceClock(unix_now_s);
}

/// offset_ms: added to the wall clock the cas follows (test-only skew; 0 in production).
export fn rc_cas_clock(session: ?*Session, enabled: u32, parity: u32, offset_ms: i32) i32 {
    const sess = session orelse return Status.invalid;
    if (enabled > 1 or parity > 1) return Status.invalid;
    sess.setCasClock(enabled == 1, @intCast(parity), offset_ms);
    return Status.ok;
}

/// Mints a cas above every cas the store has minted or been given, into io's cas.
export fn rc_cas_mint(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    sess.mintCas();
    return Status.ok;
}

/// Replication tombstones: enabled (0/1: a delete leaves one), keep (0/1: none expires).
export fn rc_tombstones(session: ?*Session, enabled: u32, keep: u32) i32 {
    const sess = session orelse return Status.invalid;
    if (enabled > 1 or keep > 1) return Status.invalid;
    sess.setTombstones(enabled == 1, keep == 1);
    return Status.ok;
}

/// A peer's delete at io's cas: the key becomes a tombstone unless it holds a newer version.
/// OK, or NOT_STORED when the key's version is as new (or older than the flush floor).
export fn rc_tomb(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.tomb(key);
}

/// Raises the replication flush floor to io's cas (0: just read it): no replicated version
/// older than the floor is stored again, and the store mints no cas below it. io's cas = the floor.
export fn rc_flush_floor(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    sess.raiseFlushFloor();
    return Status.ok;
}

export fn rc_get(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, out: ?[*]u8, out_off: u32, out_cap: u32, mode: u32, exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.get(key, dest, mode, exptime);
}

export fn rc_store(session: ?*Session, op: u32, key_buf: ?[*]const u8, key_off: u32, key_len: u32, val_buf: ?[*]const u8, val_off: u32, val_len: u32, flags: u32, exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    const value = bytesIn(val_buf, val_off, val_len) orelse return Status.invalid;
    return sess.store(op, key, value, flags, exptime);
}

export fn rc_reserve(session: ?*Session, op: u32, key_buf: ?[*]const u8, key_off: u32, key_len: u32, flags: u32, exptime: i32, value_len: u32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.reserve(op, key, flags, exptime, value_len);
}

export fn rc_fill(session: ?*Session, slot: i32, buf: ?[*]const u8, off: u32, len: u32) i32 {
    const sess = session orelse return Status.invalid;
    const bytes = bytesIn(buf, off, len) orelse return Status.invalid;
    return sess.fill(slot, bytes);
}

export fn rc_commit(session: ?*Session, slot: i32) i32 {
    const sess = session orelse return Status.invalid;
    return sess.commit(slot);
}

export fn rc_abort(session: ?*Session, slot: i32) i32 {
    const sess = session orelse return Status.invalid;
    return sess.abort(slot);
}

export fn rc_delta(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, incr: u32, out: ?[*]u8, out_off: u32, out_cap: u32) i32 {
    const sess = session orelse return Status.invalid;
    if (incr > 1) return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.delta(key, incr == 1, dest);
}

export fn rc_delete(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.delete(key);
}

export fn rc_touch(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.touch(key, exptime);
}

/// mg / me: opts are cache.meta_get_* bits; see Store.metaGet.
export fn rc_meta_get(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, out: ?[*]u8, out_off: u32, out_cap: u32, opts: u32, exptime: i32, vivify_exptime: i32, recache_exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.metaGet(key, dest, opts, exptime, vivify_exptime, recache_exptime);
}

/// md: opts are cache.meta_delete_* bits (the compare cas in io); see Store.metaDelete.
export fn rc_meta_delete(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, opts: u32, exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.metaDelete(key, opts, exptime);
}

/// ma: opts are cache.meta_delta_* bits (delta in io num, compare cas in io cas); see Store.metaDelta.
export fn rc_meta_delta(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, opts: u32, exptime: i32, out: ?[*]u8, out_off: u32, out_cap: u32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.metaDelta(key, opts, exptime, dest);
}

/// A peer's `rcb1_meta`: the item at io's cas gets the stale / win token bits; see Store.metaMark.
export fn rc_meta_mark(session: ?*Session, key_buf: ?[*]const u8, key_off: u32, key_len: u32, bits: u32) i32 {
    const sess = session orelse return Status.invalid;
    const key = bytesIn(key_buf, key_off, key_len) orelse return Status.invalid;
    return sess.metaMark(key, bits);
}

/// Removes every item whose cas is below io's cas (a replication peer's flush_all made while
/// unpaired); returns how many.
export fn rc_remove_below_cas(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    return sess.removeBelowCas();
}

export fn rc_flush(session: ?*Session, exptime: i32) i32 {
    const sess = session orelse return Status.invalid;
    return sess.flush(exptime);
}

export fn rc_sweep(session: ?*Session, items_budget: u32) i32 {
    const sess = session orelse return Status.invalid;
    return sess.sweep(items_budget);
}

export fn rc_reclaim_tails(session: ?*Session, items_budget: u32) i32 {
    const sess = session orelse return Status.invalid;
    return sess.reclaimTails(items_budget);
}

export fn rc_cursor_start(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    sess.cursorStart();
    return Status.ok;
}

export fn rc_cursor_next(session: ?*Session, out: ?[*]u8, out_off: u32, out_cap: u32, mode: u32) i32 {
    const sess = session orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.cursorNext(dest, mode);
}

export fn rc_evictions_take(session: ?*Session, out: ?[*]u8, out_off: u32, out_cap: u32) i32 {
    const sess = session orelse return Status.invalid;
    const dest = bytesOut(out, out_off, out_cap) orelse return Status.invalid;
    return sess.evictionsTake(dest);
}

fn u64Out(out: ?*anyopaque, comptime count: usize) ?*[count]u64 {
    const p = out orelse return null;
    if (@intFromPtr(p) % @alignOf(u64) != 0) return null;
    return @ptrCast(@alignCast(p));
}

export fn rc_stats(session: ?*Session, out_u64: ?*anyopaque) i32 {
    const sess = session orelse return Status.invalid;
    const dest = u64Out(out_u64, stats.global_count) orelse return Status.invalid;
    sess.statsGlobal(dest);
    return Status.ok;
}

export fn rc_class_stats(session: ?*Session, class_id: u32, out_u64: ?*anyopaque) i32 {
    const sess = session orelse return Status.invalid;
    const dest = u64Out(out_u64, stats.class_count) orelse return Status.invalid;
    return sess.statsClass(class_id, dest);
}

export fn rc_stats_reset(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    sess.statsReset();
    return Status.ok;
}

export fn rc_class_count(session: ?*Session) i32 {
    const sess = session orelse return Status.invalid;
    return @intCast(sess.classCount());
}

test {
    _ = @import("items.zig");
    _ = @import("arena.zig");
    _ = @import("slabs.zig");
    _ = @import("lru.zig");
    _ = @import("table.zig");
    _ = @import("clock.zig");
    _ = @import("number.zig");
    _ = @import("pending.zig");
    _ = @import("eviction_log.zig");
    _ = @import("stats.zig");
    _ = @import("cache.zig");
    _ = @import("cache_test.zig");
    _ = @import("session.zig");
    _ = @import("threads_test.zig");
}

test "lib: shims reject null and bad arguments" {
    try std.testing.expectEqual(@as(?*Session, null), rc_create(null));
    try std.testing.expectEqual(Status.invalid, rc_get(null, null, 0, 0, null, 0, 0, 0, 0));
    try std.testing.expectEqual(Status.invalid, rc_delete(null, null, 0, 1));
    try std.testing.expectEqual(Status.invalid, rc_abi(99));
    try std.testing.expectEqual(@as(i32, 64), rc_abi(0));
    try std.testing.expectEqual(@as(i32, 8), rc_abi(16 + 8));
    try std.testing.expectEqual(@as(i32, 0), rc_abi(16));
}

test "lib: sessions through the C ABI have their own io; destroy waits for them to close" {
    const params = cache.Params{
        .memory_bytes_max = 1 << 20,
        .growth_factor = 1.25,
        .unix_now_s = 1_700_000_000,
        .item_size_max = 1 << 20,
        .chunk_size_min = 48,
        .evictions_disabled = 0,
        .pending_max = 1,
        .eviction_log_max = 0,
        .reserved = 0,
    };
    const default = rc_create(&params).?;
    const worker = rc_session_open(default).?;
    var out: [8]u8 = undefined;
    try std.testing.expect(rc_io(worker).? != rc_io(default).?);
    try std.testing.expectEqual(Status.ok, rc_store(worker, 1, "k", 0, 1, "v", 0, 1, 9, 0));
    try std.testing.expectEqual(@as(u32, 0), rc_io(default).?.flags);
    try std.testing.expectEqual(@as(i32, 1), rc_get(default, "k", 0, 1, &out, 0, out.len, 0, 0));
    try std.testing.expectEqual(@as(u32, 9), rc_io(default).?.flags);
    try std.testing.expect(rc_io(worker).?.cas() == rc_io(default).?.cas());
    rc_destroy(worker); // not the default session: does nothing
    rc_destroy(default); // a session is open: does nothing
    try std.testing.expectEqual(Status.invalid, rc_session_close(default));
    try std.testing.expectEqual(Status.ok, rc_session_close(worker));
    rc_destroy(default);
}
