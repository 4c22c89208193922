//! slabs: slab classes, page grants and per-class free lists, as in memcached.
//!
//! Class sizes follow memcached's rule: size = memcached's item header (48, whatever ours is) +
//! chunk_size_min (-n); round up to
//! 8; next = size * factor (-f); go on while size <= page_size / factor; the last class is exactly
//! page_size (-I). Unlike memcached 1.6, which caps classes at page_size / 2 and chains larger
//! items over several chunks, we finish with one class of a whole page: an item is always one
//! chunk. Classes are numbered from 1; at most `class_id_max` (63, memcached's
//! MAX_NUMBER_OF_SLAB_CLASSES 64 with class 0 unused). A size that would not grow (factor very
//! close to 1) grows by 8 bytes instead, so no two classes share a size.
//!
//! Pages: `pages_limit` = memory_bytes_max / page_size pages may be granted, and like memcached a
//! class always gets its first page even past the limit, so the arena holds
//! pages_limit + class_count pages. A page goes to the class that first needs it and stays there;
//! it is carved lazily (free_chunks_end counts the untouched chunks left in a class's newest page).
//! `page_classes` records each granted page's class (one byte a page, mapped at init), so an item
//! needs no class field: `classOf` finds it from the item's address.
//!
//! Contract: `alloc` returns ref_none when the class has no free chunk and no page can be
//! granted (the caller then evicts, lru.zig); `classFor` returns 0 when no class is large enough;
//! `init` returns error.OutOfMemory when the page map cannot be mapped.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");
const Arena = arena_zig.Arena;
const Ref = items.Ref;

pub const class_id_max = 63;
pub const chunk_align_bytes = 8;

pub const Config = struct {
    page_size: u32,
    chunk_size_min: u32,
    growth_factor: f64,
};

/// Alone on its cache line(s): classes are allocated from by different threads at once.
pub const Class = struct {
    chunk_size: u32 align(std.atomic.cache_line) = 0,
    chunks_per_page: u32 = 0,
    pages: u32 = 0,
    free_head: Ref = items.ref_none,
    free_count: u32 = 0,
    end_offset: u64 = 0, // byte offset of the next never-used chunk of the newest page
    end_count: u32 = 0, // never-used chunks left in the newest page
    used_count: u32 = 0, // chunks holding an item (linked or pending)
};

/// Fills sizes[1..] and returns the largest class id. sizes[0] is unused (0).
pub fn classSizes(config: Config, sizes: *[class_id_max + 1]u32) u8 {
    assert(config.growth_factor > 1.0);
    assert(config.page_size % chunk_align_bytes == 0);
    @memset(sizes, 0);
    const size_limit = @as(f64, @floatFromInt(config.page_size)) / config.growth_factor;
    // memcached keeps `size` an unsigned int: `size *= factor` truncates. Kept as f64 here so a
    // huge factor cannot overflow the conversion; it is converted only once below the limit.
    var size_next: f64 = @floatFromInt(items.memcached_item_bytes + @as(u64, config.chunk_size_min));
    var id: u8 = 1;
    while (id < class_id_max) : (id += 1) {
        if (size_next > size_limit) break;
        var size = std.mem.alignForward(u64, @intFromFloat(size_next), chunk_align_bytes);
        if (id > 1 and size <= sizes[id - 1]) size = sizes[id - 1] + chunk_align_bytes;
        if (size >= config.page_size) break;
        sizes[id] = @intCast(size);
        size_next = @floor(@as(f64, @floatFromInt(size)) * config.growth_factor);
    }
    sizes[id] = config.page_size;
    return id;
}

pub const Slabs = struct {
    classes: [class_id_max + 1]Class,
    class_count: u8, // the largest class id
    page_size: u32,
    pages_limit: u32, // pages within memory_bytes_max
    pages_capacity: u32, // pages the arena holds: pages_limit + class_count
    /// Pages granted; written under `page_mutex`, read atomically.
    pages_used: u32,
    /// The global page grant (session.zig: taken inside a class lock, nothing inside it).
    page_mutex: std.Thread.Mutex = .{},
    /// The class of each page, by page index (0: not granted yet).
    page_classes: []align(std.mem.page_size) u8,
    /// log2(page_size) when it is a power of two (the default 1 MiB), for `classOf` without a
    /// division.
    page_shift: ?u6,

    pub fn init(config: Config, memory_bytes_max: u64) error{OutOfMemory}!Slabs {
        var sizes: [class_id_max + 1]u32 = undefined;
        const count = classSizes(config, &sizes);
        var self = Slabs{
            .classes = [_]Class{.{}} ** (class_id_max + 1),
            .class_count = count,
            .page_size = config.page_size,
            .pages_limit = @intCast(@min(memory_bytes_max / config.page_size, std.math.maxInt(u32) / 2)),
            .pages_capacity = 0,
            .pages_used = 0,
            .page_classes = undefined,
            .page_shift = if (std.math.isPowerOfTwo(config.page_size)) @intCast(std.math.log2_int(u32, config.page_size)) else null,
        };
        self.pages_capacity = self.pages_limit + count;
        self.page_classes = try arena_zig.mapZeroed(self.pages_capacity);
        for (1..@as(usize, count) + 1) |id| {
            self.classes[id].chunk_size = sizes[id];
            self.classes[id].chunks_per_page = config.page_size / sizes[id];
        }
        return self;
    }

    pub fn deinit(self: *Slabs) void {
        arena_zig.unmapZeroed(self.page_classes);
        self.* = undefined;
    }

    /// The class of the chunk at `ref` (its page's).
    pub fn classOf(self: *const Slabs, ref: Ref) u8 {
        assert(ref != items.ref_none);
        const offset = @as(u64, ref - 1) * arena_zig.ref_unit_bytes;
        const page = if (self.page_shift) |shift| offset >> shift else offset / self.page_size;
        assert(page < self.pagesUsed());
        const id = self.page_classes[@intCast(page)];
        assert(id >= 1 and id <= self.class_count);
        return id;
    }

    pub fn pagesUsed(self: *const Slabs) u32 {
        return @atomicLoad(u32, &self.pages_used, .monotonic);
    }

    pub fn arenaBytes(self: *const Slabs) u64 {
        return @as(u64, self.pages_capacity) * self.page_size;
    }

    /// The smallest class whose chunks hold `bytes`, or 0 when none does (too large).
    pub fn classFor(self: *const Slabs, bytes: u64) u8 {
        if (bytes > self.page_size) return 0;
        var id: u8 = 1;
        while (self.classes[id].chunk_size < bytes) id += 1;
        assert(id <= self.class_count);
        return id;
    }

    pub fn alloc(self: *Slabs, arena: *const Arena, id: u8) Ref {
        assert(id >= 1);
        assert(id <= self.class_count);
        const class = &self.classes[id];
        if (class.free_head != items.ref_none) {
            const ref = class.free_head;
            class.free_head = arena.header(ref).lru_next;
            class.free_count -= 1;
            class.used_count += 1;
            return ref;
        }
        if (class.end_count == 0 and !self.grantPage(id)) return items.ref_none;
        const ref = arena.refAt(class.end_offset);
        class.end_offset += class.chunk_size;
        class.end_count -= 1;
        class.used_count += 1;
        return ref;
    }

    pub fn free(self: *Slabs, arena: *const Arena, ref: Ref) void {
        const h = arena.header(ref);
        assert(h.item_flags & (items.flag_linked | items.flag_pinned) == 0);
        const class = &self.classes[self.classOf(ref)];
        assert(class.used_count > 0);
        h.item_flags = 0;
        h.lru_next = class.free_head;
        class.free_head = ref;
        class.free_count += 1;
        class.used_count -= 1;
    }

    /// Called with class `id`'s lock held (session.zig); takes the page lock.
    fn grantPage(self: *Slabs, id: u8) bool {
        const class = &self.classes[id];
        assert(class.end_count == 0);
        self.page_mutex.lock();
        defer self.page_mutex.unlock();
        if (self.pages_used >= self.pages_limit and class.pages > 0) return false;
        assert(self.pages_used < self.pages_capacity);
        class.end_offset = @as(u64, self.pages_used) * self.page_size;
        self.page_classes[self.pages_used] = id;
        class.end_count = class.chunks_per_page;
        class.pages += 1;
        @atomicStore(u32, &self.pages_used, self.pages_used + 1, .monotonic);
        return true;
    }
};

const testing = std.testing;

fn expectSizes(config: Config, expected: []const u32) !void {
    var sizes: [class_id_max + 1]u32 = undefined;
    const count = classSizes(config, &sizes);
    try testing.expectEqualSlices(u32, expected, sizes[1 .. @as(usize, count) + 1]);
}

test "slabs: default class sizes (-n 48 -f 1.25 -I 1m)" {
    try expectSizes(.{ .page_size = 1 << 20, .chunk_size_min = 48, .growth_factor = 1.25 }, &.{
        96,     120,     152,    192,    240,    304,    384,    480,    600,    752,
        944,    1184,    1480,   1856,   2320,   2904,   3632,   4544,   5680,   7104,
        8880,   11104,   13880,  17352,  21696,  27120,  33904,  42384,  52984,  66232,
        82792,  103496,  129376, 161720, 202152, 252696, 315872, 394840, 493552, 616944,
        771184, 1048576,
    });
}

test "slabs: class sizes for other -f -n -I" {
    try expectSizes(.{ .page_size = 1 << 20, .chunk_size_min = 48, .growth_factor = 2.0 }, &.{
        96, 192, 384, 768, 1536, 3072, 6144, 12288, 24576, 49152, 98304, 196608, 393216, 1048576,
    });
    try expectSizes(.{ .page_size = 1024 * 1024, .chunk_size_min = 100, .growth_factor = 3.0 }, &.{
        152, 456, 1368, 4104, 12312, 36936, 110808, 332424, 1048576,
    });
    try expectSizes(.{ .page_size = 4096, .chunk_size_min = 48, .growth_factor = 1.5 }, &.{
        96, 144, 216, 328, 496, 744, 1120, 1680, 2520, 4096,
    });
    // A factor that truncates to no growth still yields strictly growing classes, capped at 63.
    var sizes: [class_id_max + 1]u32 = undefined;
    const count = classSizes(.{ .page_size = 1 << 20, .chunk_size_min = 48, .growth_factor = 1.001 }, &sizes);
    try testing.expectEqual(@as(u8, class_id_max), count);
    try testing.expectEqual(@as(u32, 96), sizes[1]);
    try testing.expectEqual(@as(u32, 104), sizes[2]);
    try testing.expectEqual(@as(u32, 1 << 20), sizes[class_id_max]);
    for (2..class_id_max + 1) |id| try testing.expect(sizes[id] > sizes[id - 1]);
    // A huge factor or -n leaves one class of a whole page.
    try testing.expectEqual(@as(u8, 1), classSizes(.{ .page_size = 1024, .chunk_size_min = 48, .growth_factor = 1e300 }, &sizes));
    try testing.expectEqual(@as(u32, 1024), sizes[1]);
    try testing.expectEqual(@as(u8, 1), classSizes(.{ .page_size = 1024, .chunk_size_min = 1024, .growth_factor = 1.25 }, &sizes));
    // Rounding up to the page ends the normal classes.
    try testing.expectEqual(@as(u8, 1), classSizes(.{ .page_size = 1024, .chunk_size_min = 1020 - 48, .growth_factor = 1.0001 }, &sizes));
}

test "slabs: first page per class past the limit, then no more" {
    const config = Config{ .page_size = 4096, .chunk_size_min = 48, .growth_factor = 1.5 };
    var slabs = try Slabs.init(config, 4096); // one page within the limit
    defer slabs.deinit();
    var arena = try Arena.map(slabs.arenaBytes());
    defer arena.unmap();
    try testing.expectEqual(@as(u32, 1), slabs.pages_limit);
    try testing.expectEqual(@as(u8, 1), slabs.classFor(1));
    try testing.expectEqual(@as(u8, 2), slabs.classFor(97));
    try testing.expectEqual(slabs.class_count, slabs.classFor(4096));
    try testing.expectEqual(@as(u8, 0), slabs.classFor(4097));
    // Class 1 takes the one page: 42 chunks of 96 bytes.
    var refs: [42]Ref = undefined;
    for (&refs) |*r| {
        r.* = slabs.alloc(&arena, 1);
        try testing.expect(r.* != items.ref_none);
    }
    try testing.expectEqual(items.ref_none, slabs.alloc(&arena, 1));
    // Class 2 still gets its first page although the limit is reached.
    try testing.expect(slabs.alloc(&arena, 2) != items.ref_none);
    try testing.expectEqual(@as(u32, 2), slabs.pages_used);
    // Freed chunks are reused, newest first.
    arena.header(refs[7]).item_flags = 0;
    slabs.free(&arena, refs[7]);
    try testing.expectEqual(@as(u32, 1), slabs.classes[1].free_count);
    try testing.expectEqual(refs[7], slabs.alloc(&arena, 1));
    try testing.expectEqual(@as(u8, 1), slabs.classOf(refs[41]));
    try testing.expectEqual(@as(u8, 2), slabs.classOf(arena.refAt(4096)));
    try testing.expectEqual(@as(u32, 42), slabs.classes[1].used_count);
}
