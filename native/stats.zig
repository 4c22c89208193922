//! stats: the counters a store keeps, named as memcached 1.6 prints them.
//!
//! `Global` indexes the u64 array rc_stats fills and `Class` the array rc_class_stats fills (the
//! FFI order; src/native/store.ts mirrors both lists, lib.zig documents them). The store keeps
//! most counters per class (`ClassCounters`) and sums them for `Global`, as memcached sums its
//! per-thread slab_stats and per-class itemstats. `resettable` says what `stats reset` zeroes:
//! every event counter, never a gauge (curr_items, bytes, pages, chunk shapes, hash size).
//!
//! Contract: plain data; no errors.
const std = @import("std");

/// rc_stats indices. Gauges first, then counters.
pub const Global = enum(u32) {
    curr_items,
    bytes,
    total_malloced, // page bytes granted to classes
    limit_maxbytes,
    hash_power_level,
    hash_bytes,
    active_slabs, // classes holding at least one page
    pending_items, // reserved, not yet committed
    evicted_log_pending, // keys in the eviction log
    curr_time_rel, // the store's relative clock (seconds since process_started)
    tombstones, // replication tombstones linked (not in curr_items)
    total_items,
    evictions,
    evicted_unfetched,
    evicted_active,
    evicted_log_dropped,
    reclaimed,
    expired_unfetched,
    crawler_reclaimed, // reclaimed by rc_sweep
    outofmemory,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_hits,
    delete_misses,
    incr_hits,
    incr_misses,
    decr_hits,
    decr_misses,
    cas_hits,
    cas_misses,
    cas_badval,
    touch_hits,
    touch_misses,
    cmd_get,
    cmd_set,
    cmd_touch,
    cmd_flush,
    tombstones_dropped, // tombstones evicted, or not made for want of memory
};
pub const global_count = @typeInfo(Global).@"enum".fields.len;
/// Global indices below this one are gauges (never reset).
pub const global_first_counter = Global.total_items;

/// rc_class_stats indices: `stats slabs` then `stats items` fields of one class.
pub const Class = enum(u32) {
    chunk_size,
    chunks_per_page,
    total_pages,
    total_chunks,
    used_chunks,
    free_chunks,
    free_chunks_end,
    mem_requested,
    number,
    age, // seconds since the LRU tail item was last accessed
    evicted,
    evicted_nonzero,
    evicted_time, // seconds since the last evicted item was last accessed
    evicted_unfetched, // evicted without a fetch since stored
    evicted_active, // evicted after two or more fetches (memcached's ITEM_ACTIVE)
    outofmemory, // allocations that failed: nothing to evict (-M, or all pinned)
    reclaimed,
    expired_unfetched,
    crawler_reclaimed, // reclaimed by rc_sweep (the LRU-tail walk counts `reclaimed`)
    get_hits,
    cmd_set,
    delete_hits,
    incr_hits,
    decr_hits,
    cas_hits,
    cas_badval,
    touch_hits,
};
pub const class_count = @typeInfo(Class).@"enum".fields.len;
/// Class indices below this one are gauges computed from the slabs and LRU.
pub const class_first_counter = Class.evicted;

fn bumpValue(value: *u64, amount: u64) void {
    @atomicStore(u64, value, @atomicLoad(u64, value, .monotonic) +% amount, .monotonic);
}

/// The per-class event counters the store keeps (the `Class` entries from `evicted` on).
pub const ClassCounters = struct {
    values: [class_count]u64 = [_]u64{0} ** class_count,

    /// Only the session owning the counters adds (an atomic load and store: a plain add that
    /// rc_stats may read from another thread).
    pub fn add(self: *ClassCounters, comptime which: Class, amount: u64) void {
        comptime std.debug.assert(@intFromEnum(which) >= @intFromEnum(class_first_counter));
        bumpValue(&self.values[@intFromEnum(which)], amount);
    }

    pub fn set(self: *ClassCounters, comptime which: Class, value: u64) void {
        comptime std.debug.assert(@intFromEnum(which) >= @intFromEnum(class_first_counter));
        self.values[@intFromEnum(which)] = value;
    }

    pub fn get(self: *const ClassCounters, which: Class) u64 {
        return self.values[@intFromEnum(which)];
    }

    pub fn reset(self: *ClassCounters) void {
        @memset(self.values[@intFromEnum(class_first_counter)..], 0);
    }
};

/// Global event counters not tied to a class (misses have no item, hence no class).
pub const GlobalCounters = struct {
    values: [global_count]u64 = [_]u64{0} ** global_count,

    pub fn add(self: *GlobalCounters, comptime which: Global, amount: u64) void {
        comptime std.debug.assert(@intFromEnum(which) >= @intFromEnum(global_first_counter));
        bumpValue(&self.values[@intFromEnum(which)], amount);
    }

    pub fn get(self: *const GlobalCounters, which: Global) u64 {
        return self.values[@intFromEnum(which)];
    }

    pub fn reset(self: *GlobalCounters) void {
        @memset(self.values[@intFromEnum(global_first_counter)..], 0);
    }
};

/// Class slots a `Counters` keeps (class ids 1..63; slot 0 unused), as slabs.zig numbers them.
pub const class_slots = 64;

/// One session's event counters (session.zig): only that session adds to them, so a hit costs
/// no shared write; rc_stats sums every session's (`accumulate`).
pub const Counters = struct {
    global: GlobalCounters = .{},
    class: [class_slots]ClassCounters = [_]ClassCounters{.{}} ** class_slots,

    /// Adds every counter of `from` (a live session's, read atomically) minus `base` (its values
    /// at the last `stats reset`) to this one's.
    pub fn accumulate(self: *Counters, from: *const Counters, base: *const Counters) void {
        for (&self.global.values, &from.global.values, base.global.values) |*to, *value, zero| {
            to.* +%= @atomicLoad(u64, value, .monotonic) -% zero;
        }
        for (&self.class, &from.class, &base.class) |*to, *class, *zero| {
            for (&to.values, &class.values, zero.values) |*slot, *value, zero_value| {
                slot.* +%= @atomicLoad(u64, value, .monotonic) -% zero_value;
            }
        }
    }

    /// This one's values become a copy of `from` (a live session's, read atomically).
    pub fn snapshot(self: *Counters, from: *const Counters) void {
        for (&self.global.values, &from.global.values) |*to, *value| to.* = @atomicLoad(u64, value, .monotonic);
        for (&self.class, &from.class) |*to, *class| {
            for (&to.values, &class.values) |*slot, *value| slot.* = @atomicLoad(u64, value, .monotonic);
        }
    }

    pub fn reset(self: *Counters) void {
        self.global.reset();
        for (&self.class) |*class| class.reset();
    }
};

/// Global counters that are sums of the class counter of the same meaning.
pub const summed = [_]struct { Global, Class }{
    .{ .evictions, .evicted },
    .{ .evicted_unfetched, .evicted_unfetched },
    .{ .evicted_active, .evicted_active },
    .{ .reclaimed, .reclaimed },
    .{ .expired_unfetched, .expired_unfetched },
    .{ .crawler_reclaimed, .crawler_reclaimed },
    .{ .outofmemory, .outofmemory },
    .{ .get_hits, .get_hits },
    .{ .delete_hits, .delete_hits },
    .{ .incr_hits, .incr_hits },
    .{ .decr_hits, .decr_hits },
    .{ .cas_hits, .cas_hits },
    .{ .cas_badval, .cas_badval },
    .{ .touch_hits, .touch_hits },
    .{ .cmd_set, .cmd_set },
};

test "stats: counter ranges" {
    var class = ClassCounters{};
    class.add(.evicted, 2);
    class.add(.get_hits, 3);
    class.reset();
    try std.testing.expectEqual(@as(u64, 0), class.get(.evicted));
    try std.testing.expectEqual(@as(u64, 0), class.get(.get_hits));
    var global = GlobalCounters{};
    global.add(.get_misses, 1);
    global.reset();
    try std.testing.expectEqual(@as(u64, 0), global.get(.get_misses));
}
