//! table: the hash table, a fixed array of bucket heads chained through the item headers.
//!
//! Sized once at create: the power of two at or below memory_bytes_max / smallest chunk size /
//! `items_per_bucket_max` (a store full of the smallest items averages at most ~2.7 items per
//! bucket; real, larger items far fewer), at least
//! `buckets_min` and at most `buckets_max`. It never resizes. Keys hash with Wyhash and a seed
//! the store draws at random when it is created. The bucket array is an mmap of zero pages (ref_none = 0), touched as it fills.
//!
//! Contract: `find` returns ref_none when no item in the bucket has the key; `remove` asserts
//! that the item is in its bucket. `init` returns error.OutOfMemory when the mmap fails.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");
const Arena = arena_zig.Arena;
const Ref = items.Ref;

pub const buckets_min: u32 = 1 << 10;
/// 2^26 buckets = 256 MiB of table: plenty for 64 Mi items at load factor 1.
pub const buckets_max: u32 = 1 << 26;


/// Chains average at most this many items when the whole arena holds items of the smallest
/// class (real items are larger, so chains are shorter). memcached grows its table at 1.5 items
/// per bucket; a fixed table that must fit the worst case would cost RSS for every bucket it
/// touches (4 bytes each), so we accept chains up to 2 and round the bucket count down.
pub const items_per_bucket_max = 2;

pub fn bucketsFor(memory_bytes_max: u64, chunk_bytes_min: u32) u32 {
    assert(chunk_bytes_min > 0);
    const items_max = memory_bytes_max / chunk_bytes_min;
    const wanted = @max(items_max / items_per_bucket_max, buckets_min);
    if (wanted >= buckets_max) return buckets_max;
    return std.math.floorPowerOfTwo(u32, @intCast(wanted));
}

pub const Table = struct {
    memory: []align(std.mem.page_size) u8,
    buckets: []Ref,
    mask: u32,
    /// Wyhash seed, random per store (`init` takes it), so nobody can pick keys that all land
    /// in one bucket and turn lookups into list walks.
    seed: u64,

    pub fn init(bucket_count: u32, seed: u64) error{OutOfMemory}!Table {
        assert(std.math.isPowerOfTwo(bucket_count));
        assert(bucket_count <= buckets_max);
        const memory = try arena_zig.mapZeroed(@as(usize, bucket_count) * @sizeOf(Ref));
        const buckets: [*]Ref = @ptrCast(memory.ptr);
        return .{ .memory = memory, .buckets = buckets[0..bucket_count], .mask = bucket_count - 1, .seed = seed };
    }

    pub fn deinit(self: *Table) void {
        arena_zig.unmapZeroed(self.memory);
        self.* = undefined;
    }

    pub fn bucketOf(self: *const Table, key: []const u8) u32 {
        return @as(u32, @truncate(std.hash.Wyhash.hash(self.seed, key))) & self.mask;
    }

    pub fn powerLevel(self: *const Table) u32 {
        return std.math.log2_int(u32, self.mask + 1);
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
    try testing.expectEqual(@as(u32, 1 << 18), bucketsFor(64 << 20, 96)); // 699050 / 2 -> 2^18
    try testing.expectEqual(@as(u32, 1 << 22), bucketsFor(1024 << 20, 96)); // 11184810 / 2 -> 2^22
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
