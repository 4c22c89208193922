//! table: the hash table, an array of bucket heads chained through the item headers.
//!
//! Its largest size is fixed at create: the power of two at or above memory_bytes_max / smallest
//! chunk size / `load_max` (what a store full of the smallest items needs), between
//! `buckets_min` and `buckets_max`. That array is one mmap of zero pages (ref_none = 0) reserved
//! then, but the table starts at `buckets_start` and grows as items come, like memcached's
//! (which doubles at 1.5 items per bucket), so RSS follows the item count, not -m: `grow` splits
//! one bucket at a time (linear hashing), moving the items whose hash has the next bit set to
//! the bucket `low_count` further on. Buckets below `split` already use one more hash bit.
//! Items only ever move to a higher bucket, so a walk in bucket order (cache.zig) still meets
//! every item it has not passed. Keys hash with Wyhash and a seed the store draws at random when
//! it is created, so nobody can pick keys that all land in one bucket.
//!
//! Contract: `find` returns ref_none when no item in the bucket has the key; `remove` asserts
//! that the item is in its bucket; `grow` asserts `canGrow`. `init` returns
//! error.OutOfMemory when the mmap fails.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");
const Arena = arena_zig.Arena;
const Ref = items.Ref;

pub const buckets_min: u32 = 1 << 10;
/// 2^26 buckets = 256 MiB of table at most: 100 Mi items at memcached's load.
pub const buckets_max: u32 = 1 << 26;
/// memcached's first table: hashpower 16.
pub const buckets_start_max: u32 = 1 << 16;
/// The table grows while it holds more than `load_max_num / load_max_den` items per bucket
/// (memcached: 1.5).
pub const load_max_num = 3;
pub const load_max_den = 2;

pub fn bucketsFor(memory_bytes_max: u64, chunk_bytes_min: u32) u32 {
    assert(chunk_bytes_min > 0);
    const items_max = memory_bytes_max / chunk_bytes_min;
    const wanted = @max(items_max * load_max_den / load_max_num, buckets_min);
    if (wanted >= buckets_max) return buckets_max;
    return std.math.ceilPowerOfTwo(u32, @intCast(wanted)) catch unreachable;
}

pub const Table = struct {
    memory: []align(std.mem.page_size) u8,
    /// Every bucket the table may grow to; those at or past `count()` are empty.
    buckets: []Ref,
    /// The table's `Shape`, published as one atomic word so a reader never sees a low_count of
    /// one split and the split of another (session.zig: readers hold their key's stripe).
    shape_word: u64,
    seed: u64,

    pub const Shape = struct {
        /// The power of two the bucket index is taken modulo (below `split`: twice that).
        low_count: u32,
        /// Buckets below this one are split: they and their images at + low_count use one more bit.
        split: u32,
    };

    pub fn init(capacity: u32, seed: u64) error{OutOfMemory}!Table {
        assert(std.math.isPowerOfTwo(capacity));
        assert(capacity <= buckets_max);
        const memory = try arena_zig.mapZeroed(@as(usize, capacity) * @sizeOf(Ref));
        const buckets: [*]Ref = @ptrCast(memory.ptr);
        return .{
            .memory = memory,
            .buckets = buckets[0..capacity],
            .shape_word = packShape(.{ .low_count = @min(capacity, buckets_start_max), .split = 0 }),
            .seed = seed,
        };
    }

    pub fn deinit(self: *Table) void {
        arena_zig.unmapZeroed(self.memory);
        self.* = undefined;
    }

    fn packShape(new: Shape) u64 {
        return @as(u64, new.split) << 32 | new.low_count;
    }

    pub fn shape(self: *const Table) Shape {
        const word = @atomicLoad(u64, &self.shape_word, .acquire);
        return .{ .low_count = @truncate(word), .split = @intCast(word >> 32) };
    }

    /// Sets the shape (tests start a table small with it; `grow` publishes its splits with it).
    pub fn publish(self: *Table, new: Shape) void {
        assert(std.math.isPowerOfTwo(new.low_count));
        assert(new.split < new.low_count);
        assert(new.low_count + new.split <= self.buckets.len);
        @atomicStore(u64, &self.shape_word, packShape(new), .release);
    }

    /// Buckets in use: a walk over [0, count()) meets every item.
    pub fn count(self: *const Table) u32 {
        const now = self.shape();
        return now.low_count + now.split;
    }

    pub fn hashOf(self: *const Table, key: []const u8) u32 {
        return @truncate(std.hash.Wyhash.hash(self.seed, key));
    }

    pub fn bucketOf(self: *const Table, key: []const u8) u32 {
        return self.bucketOfHash(self.hashOf(key));
    }

    /// The bucket of a key hash. It only changes when the key's own bucket is split, so it is
    /// stable while the caller holds the key's stripe (session.zig).
    pub fn bucketOfHash(self: *const Table, key_hash: u32) u32 {
        const now = self.shape();
        const low = key_hash & (now.low_count - 1);
        if (low >= now.split) return low;
        return key_hash & (2 * now.low_count - 1);
    }

    /// memcached's hash_power_level: log2 of the table size it has grown to.
    pub fn powerLevel(self: *const Table) u32 {
        return std.math.log2_int(u32, self.shape().low_count);
    }

    /// True when `item_count` items need another bucket and there is room for one.
    pub fn wantsGrow(self: *const Table, item_count: u64) bool {
        if (self.count() >= self.buckets.len) return false;
        return item_count * load_max_den > @as(u64, self.count()) * load_max_num;
    }

    /// Splits bucket `split` into itself and bucket `split + low_count`, then publishes the new
    /// shape. One grower at a time, holding the stripe of bucket `split` (session.zig).
    pub fn grow(self: *Table, arena: *const Arena) void {
        const before = self.shape();
        assert(before.low_count + before.split < self.buckets.len);
        const from = before.split;
        const to = from + before.low_count;
        assert(self.buckets[to] == items.ref_none);
        var link: *Ref = &self.buckets[from];
        while (link.* != items.ref_none) {
            const ref = link.*;
            const h = arena.header(ref);
            const key_hash: u32 = @truncate(std.hash.Wyhash.hash(self.seed, items.keyOf(h)));
            if (key_hash & before.low_count != 0) {
                link.* = h.chain_next;
                h.chain_next = self.buckets[to];
                self.buckets[to] = ref;
            } else {
                link = &h.chain_next;
            }
        }
        var after = Shape{ .low_count = before.low_count, .split = before.split + 1 };
        if (after.split == after.low_count) after = .{ .low_count = 2 * before.low_count, .split = 0 };
        @atomicStore(u64, &self.shape_word, packShape(after), .release);
    }

    pub fn find(self: *const Table, arena: *const Arena, bucket: u32, key: []const u8) Ref {
        var ref = self.buckets[bucket];
        while (ref != items.ref_none) {
            const h = arena.header(ref);
            if (items.keyEql(h, key)) return ref;
            ref = h.chain_next;
        }
        return items.ref_none;
    }

    pub fn insert(self: *Table, arena: *const Arena, bucket: u32, ref: Ref) void {
        assert(bucket < self.count());
        arena.header(ref).chain_next = self.buckets[bucket];
        self.buckets[bucket] = ref;
    }

    pub fn remove(self: *Table, arena: *const Arena, bucket: u32, ref: Ref) void {
        const h = arena.header(ref);
        var link: *Ref = &self.buckets[bucket];
        while (link.* != ref) {
            assert(link.* != items.ref_none);
            link = &arena.header(link.*).chain_next;
        }
        link.* = h.chain_next;
        h.chain_next = items.ref_none;
    }
};

const testing = std.testing;

test "table: sizing" {
    try testing.expectEqual(@as(u32, 1 << 19), bucketsFor(64 << 20, 96)); // 699050 / 1.5 -> 2^19
    try testing.expectEqual(@as(u32, 1 << 23), bucketsFor(1024 << 20, 96)); // 11184810 / 1.5 -> 2^23
    try testing.expectEqual(buckets_min, bucketsFor(1 << 16, 96));
    try testing.expectEqual(buckets_max, bucketsFor(32 << 30, 96));
}

test "table: insert, find, remove in one bucket" {
    var arena = try Arena.map(1 << 16);
    defer arena.unmap();
    var table = try Table.init(buckets_min, 1);
    defer table.deinit();
    try testing.expectEqual(@as(u32, 10), table.powerLevel());
    const keys = [_][]const u8{ "alpha", "beta", "gamma" };
    var refs: [3]Ref = undefined;
    for (keys, &refs, 0..) |key, *r, i| {
        r.* = arena.refAt(i * 256);
        items.init(arena.header(r.*), key, 0, 0, 0);
        table.insert(&arena, 7, r.*); // all in bucket 7 to exercise the chain
    }
    for (keys, refs) |key, r| try testing.expectEqual(r, table.find(&arena, 7, key));
    try testing.expectEqual(items.ref_none, table.find(&arena, 7, "delta"));
    table.remove(&arena, 7, refs[1]);
    try testing.expectEqual(items.ref_none, table.find(&arena, 7, "beta"));
    try testing.expectEqual(refs[0], table.find(&arena, 7, "alpha"));
    try testing.expectEqual(refs[2], table.find(&arena, 7, "gamma"));
    table.remove(&arena, 7, refs[2]);
    table.remove(&arena, 7, refs[0]);
    try testing.expectEqual(items.ref_none, table.buckets[7]);
}

test "table: grows one bucket at a time and every key stays findable" {
    var arena = try Arena.map(4 << 20);
    defer arena.unmap();
    var table = try Table.init(1 << 12, 99);
    defer table.deinit();
    try testing.expectEqual(@as(u32, 1 << 12), table.count()); // capacity below the start size
    table.publish(.{ .low_count = 16, .split = 0 }); // start small to exercise several doublings
    const n = 5000;
    var key_buffer: [16]u8 = undefined;
    for (0..n) |i| {
        const key = try std.fmt.bufPrint(&key_buffer, "key{d}", .{i});
        const ref = arena.refAt(i * 64);
        items.init(arena.header(ref), key, 0, 0, 0);
        table.insert(&arena, table.bucketOf(key), ref);
        while (table.wantsGrow(i + 1)) table.grow(&arena);
    }
    // 5000 items at 1.5 per bucket: 3334 buckets in use, between 2^11 and 2^12.
    try testing.expectEqual(@as(u32, 3334), table.count());
    try testing.expectEqual(@as(u32, 11), table.powerLevel());
    for (0..n) |i| {
        const key = try std.fmt.bufPrint(&key_buffer, "key{d}", .{i});
        try testing.expectEqual(arena.refAt(i * 64), table.find(&arena, table.bucketOf(key), key));
    }
    for (table.buckets[table.count()..]) |head| try testing.expectEqual(items.ref_none, head);
    // Full: no more growth.
    while (table.count() < table.buckets.len) table.grow(&arena);
    try testing.expect(!table.wantsGrow(1 << 30));
    try testing.expectEqual(@as(u32, 1 << 12), table.shape().low_count);
}
