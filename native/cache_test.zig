//! cache_test: behaviour tests of the store (cache.zig) through its public operations, the same
//! calls lib.zig's shims make. Each test creates its own small store.
const std = @import("std");
const testing = std.testing;
const cache = @import("cache.zig");
const stats = @import("stats.zig");
const items = @import("items.zig");
const Store = cache.Store;
const Status = cache.Status;

const unix_start: u64 = 1_700_000_000;
const op_set = 1;
const op_add = 2;
const op_replace = 3;
const op_append = 4;
const op_prepend = 5;
const op_cas = 6;
const op_rep = 7;
const op_rep_if_newer = 8;

const Options = struct {
    memory_bytes_max: u64 = 4 << 20,
    item_size_max: u32 = 1 << 20,
    chunk_size_min: u32 = 48,
    growth_factor: f64 = 1.25,
    evictions_disabled: bool = false,
    pending_max: u32 = 4,
    eviction_log_max: u32 = 0,
};

const Harness = struct {
    /// The store's default session: every operation is one of its methods.
    store: *cache.Session,
    now_s: u64 = unix_start,
    out: [4096]u8 = undefined,

    fn init(o: Options) !Harness {
        const params = cache.Params{
            .memory_bytes_max = o.memory_bytes_max,
            .growth_factor = o.growth_factor,
            .unix_now_s = unix_start,
            .item_size_max = o.item_size_max,
            .chunk_size_min = o.chunk_size_min,
            .evictions_disabled = @intFromBool(o.evictions_disabled),
            .pending_max = o.pending_max,
            .eviction_log_max = o.eviction_log_max,
            .reserved = 0,
        };
        const store = Store.create(&params) orelse return error.CreateFailed;
        return .{ .store = &store.session_default };
    }

    fn deinit(self: *Harness) void {
        self.store.shared.destroy();
    }

    fn advance(self: *Harness, seconds: u64) void {
        self.now_s += seconds;
        self.store.advanceClock(@intCast(self.now_s));
    }

    fn set(self: *Harness, key: []const u8, value: []const u8) i32 {
        return self.store.store(op_set, key, value, 0, 0);
    }

    fn op(self: *Harness, which: u32, key: []const u8, value: []const u8, flags: u32, exptime: i32) i32 {
        return self.store.store(which, key, value, flags, exptime);
    }

    /// The raw value, or null on NOT_FOUND.
    fn get(self: *Harness, key: []const u8) ?[]const u8 {
        const n = self.store.get(key, &self.out, 0, 0);
        if (n == Status.not_found) return null;
        std.debug.assert(n >= 0);
        return self.out[0..@intCast(n)];
    }

    fn cas(self: *Harness) u64 {
        return self.store.io.cas();
    }

    fn stat(self: *Harness, which: stats.Global) u64 {
        var out: [stats.global_count]u64 = undefined;
        self.store.statsGlobal(&out);
        return out[@intFromEnum(which)];
    }

    fn classStat(self: *Harness, class_id: u32, which: stats.Class) u64 {
        var out: [stats.class_count]u64 = undefined;
        std.debug.assert(self.store.statsClass(class_id, &out) == Status.ok);
        return out[@intFromEnum(which)];
    }

    fn delta(self: *Harness, key: []const u8, incr: bool, amount: u64) i32 {
        self.store.io.setNum(amount);
        return self.store.delta(key, incr, &self.out);
    }
};

test "cache: create rejects invalid params" {
    var params = cache.Params{
        .memory_bytes_max = 1 << 20,
        .growth_factor = 1.25,
        .unix_now_s = unix_start,
        .item_size_max = 1 << 20,
        .chunk_size_min = 48,
        .evictions_disabled = 0,
        .pending_max = 1,
        .eviction_log_max = 0,
        .reserved = 0,
    };
    const ok = Store.create(&params).?;
    ok.destroy();
    params.growth_factor = 1.0;
    try testing.expectEqual(@as(?*Store, null), Store.create(&params));
    params.growth_factor = std.math.nan(f64);
    try testing.expectEqual(@as(?*Store, null), Store.create(&params));
    params.growth_factor = 1.25;
    params.item_size_max = 1000;
    try testing.expectEqual(@as(?*Store, null), Store.create(&params));
    params.item_size_max = 1 << 20;
    params.pending_max = 0;
    try testing.expectEqual(@as(?*Store, null), Store.create(&params));
    params.pending_max = 1;
    params.memory_bytes_max = 40 << 30; // arena past 32 GiB of refs
    try testing.expectEqual(@as(?*Store, null), Store.create(&params));
}

test "cache: set, get, text replies, buffer too small" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "foo", "hello", 42, 0));
    const cas = h.cas();
    try testing.expectEqualStrings("hello", h.get("foo").?);
    try testing.expectEqual(@as(u32, 42), h.store.io.flags);
    try testing.expectEqual(@as(u32, 5), h.store.io.value_len);
    try testing.expectEqual(@as(u32, 0), h.store.io.exptime_abs);
    try testing.expectEqual(cas, h.cas());
    var n = h.store.get("foo", &h.out, cache.get_mode_text, 0);
    try testing.expectEqualStrings("VALUE foo 42 5\r\nhello\r\n", h.out[0..@intCast(n)]);
    n = h.store.get("foo", &h.out, cache.get_mode_text | cache.get_mode_cas, 0);
    var expected: [64]u8 = undefined;
    const line = try std.fmt.bufPrint(&expected, "VALUE foo 42 5 {d}\r\nhello\r\n", .{cas});
    try testing.expectEqualStrings(line, h.out[0..@intCast(n)]);
    try testing.expectEqual(Status.buffer_small, h.store.get("foo", h.out[0..10], cache.get_mode_text, 0));
    try testing.expectEqual(@as(u32, 23), h.store.io.need);
    try testing.expectEqual(Status.buffer_small, h.store.get("foo", h.out[0..4], 0, 0));
    try testing.expectEqual(@as(u32, 5), h.store.io.need);
    try testing.expectEqual(Status.not_found, h.store.get("bar", &h.out, 0, 0));
    try testing.expectEqual(Status.bad_key, h.store.get("", &h.out, 0, 0));
    try testing.expectEqual(Status.bad_key, h.set("k" ** 251, "v"));
    try testing.expectEqual(Status.ok, h.set("k" ** 250, "v"));
    try testing.expectEqual(Status.invalid, h.store.get("foo", &h.out, 16, 0));
    try testing.expectEqual(Status.invalid, h.op(12, "foo", "x", 0, 0));
    try testing.expectEqual(@as(u64, 3), h.stat(.get_hits)); // BUFFER_SMALL counts nothing
    try testing.expectEqual(@as(u64, 1), h.stat(.get_misses));
    try testing.expectEqual(@as(u64, 2), h.stat(.curr_items));
    try testing.expectEqual(items.totalBytes(3, 5, 42) + items.totalBytes(250, 1, 0), h.stat(.bytes));
}

test "cache: get_mode_cas_hidden prints cas 0 and the item keeps its cas (-C)" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "foo", "hello", 42, 0));
    const cas = h.cas();
    try testing.expect(cas != 0);
    const mode = cache.get_mode_text | cache.get_mode_cas | cache.get_mode_cas_hidden;
    const n = h.store.get("foo", &h.out, mode, 0);
    try testing.expectEqualStrings("VALUE foo 42 5 0\r\nhello\r\n", h.out[0..@intCast(n)]);
    try testing.expectEqual(cas, h.store.io.cas());
    try testing.expectEqual(Status.buffer_small, h.store.get("foo", h.out[0..10], mode, 0));
    try testing.expectEqual(@as(u32, 25), h.store.io.need);
}

test "cache: add, replace, append, prepend, delete" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.not_stored, h.op(op_replace, "k", "v", 0, 0));
    try testing.expectEqual(Status.not_stored, h.op(op_append, "k", "v", 0, 0));
    try testing.expectEqual(Status.not_stored, h.op(op_prepend, "k", "v", 0, 0));
    try testing.expectEqual(Status.ok, h.op(op_add, "k", "mid", 7, 0));
    try testing.expectEqual(Status.not_stored, h.op(op_add, "k", "other", 0, 0));
    try testing.expectEqual(Status.ok, h.op(op_append, "k", ">>", 99, 0));
    try testing.expectEqual(Status.ok, h.op(op_prepend, "k", "<<", 98, 0));
    try testing.expectEqualStrings("<<mid>>", h.get("k").?);
    try testing.expectEqual(@as(u32, 7), h.store.io.flags); // append keeps the old flags
    try testing.expectEqual(Status.ok, h.op(op_replace, "k", "new", 1, 0));
    try testing.expectEqualStrings("new", h.get("k").?);
    try testing.expectEqual(Status.ok, h.store.delete("k"));
    try testing.expectEqual(Status.not_found, h.store.delete("k"));
    try testing.expectEqual(@as(?[]const u8, null), h.get("k"));
    try testing.expectEqual(@as(u64, 1), h.stat(.delete_hits));
    try testing.expectEqual(@as(u64, 1), h.stat(.delete_misses));
    try testing.expectEqual(@as(u64, 0), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 0), h.stat(.bytes));
}

test "cache: append grows into a bigger class and keeps exptime" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "grow", "a" ** 40, 5, 1000));
    const exptime_abs = blk: {
        _ = h.get("grow").?;
        break :blk h.store.io.exptime_abs;
    };
    try testing.expectEqual(@as(u32, unix_start + 1000), exptime_abs);
    try testing.expectEqual(@as(u64, 1), h.classStat(1, .number));
    try testing.expectEqual(Status.ok, h.op(op_append, "grow", "b" ** 100, 0, 0));
    try testing.expectEqual(@as(u64, 0), h.classStat(1, .number));
    try testing.expectEqual(@as(u64, 1), h.classStat(4, .number)); // 36+4+4+140+2 = 186 -> 192
    try testing.expectEqual(@as(u64, 192), h.classStat(4, .chunk_size));
    const value = h.get("grow").?;
    try testing.expectEqual(@as(usize, 140), value.len);
    try testing.expectEqualStrings("a" ** 40 ++ "b" ** 100, value);
    try testing.expectEqual(exptime_abs, h.store.io.exptime_abs);
    try testing.expectEqual(@as(u32, 5), h.store.io.flags);
    // The data chunk and the old chunk went back to their free lists.
    try testing.expectEqual(@as(u64, 0), h.classStat(1, .used_chunks));
    try testing.expectEqual(@as(u64, 0), h.classStat(3, .used_chunks)); // the 142-byte data item
    try testing.expectEqual(@as(u64, 1), h.classStat(4, .used_chunks));
}

test "cache: cas is unique and compare-and-swap works" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var last: u64 = 0;
    for (0..100) |i| {
        var key: [8]u8 = undefined;
        const k = try std.fmt.bufPrint(&key, "k{d}", .{i % 10});
        try testing.expectEqual(Status.ok, h.set(k, "v"));
        try testing.expect(h.cas() > last);
        last = h.cas();
    }
    _ = h.get("k3").?;
    const current = h.cas();
    h.store.io.setCas(current + 1);
    try testing.expectEqual(Status.exists, h.op(op_cas, "k3", "x", 0, 0));
    h.store.io.setCas(0);
    try testing.expectEqual(Status.exists, h.op(op_cas, "k3", "x", 0, 0));
    h.store.io.setCas(current);
    try testing.expectEqual(Status.ok, h.op(op_cas, "k3", "swapped", 0, 0));
    try testing.expect(h.cas() > last);
    try testing.expectEqualStrings("swapped", h.get("k3").?);
    h.store.io.setCas(current);
    try testing.expectEqual(Status.exists, h.op(op_cas, "k3", "again", 0, 0));
    try testing.expectEqual(Status.not_found, h.op(op_cas, "missing", "x", 0, 0));
    try testing.expectEqual(@as(u64, 1), h.stat(.cas_hits));
    try testing.expectEqual(@as(u64, 3), h.stat(.cas_badval));
    try testing.expectEqual(@as(u64, 1), h.stat(.cas_misses));
}

test "cache: replication stores keep the given cas" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.io.setCas(1_000_000);
    try testing.expectEqual(Status.ok, h.op(op_rep, "r", "one", 0, 0));
    try testing.expectEqual(@as(u64, 1_000_000), h.cas());
    try testing.expectEqual(Status.ok, h.set("s", "x"));
    try testing.expectEqual(@as(u64, 1_000_001), h.cas()); // the counter moved past the given cas
    h.store.io.setCas(500);
    try testing.expectEqual(Status.not_stored, h.op(op_rep_if_newer, "r", "older", 0, 0));
    h.store.io.setCas(1_000_000); // the same cas: the greater bytes win the tie ("one" > "eq")
    try testing.expectEqual(Status.not_stored, h.op(op_rep_if_newer, "r", "eq", 0, 0));
    h.store.io.setCas(2_000_000);
    try testing.expectEqual(Status.ok, h.op(op_rep_if_newer, "r", "newer", 0, 0));
    try testing.expectEqualStrings("newer", h.get("r").?);
    try testing.expectEqual(@as(u64, 2_000_000), h.cas());
    h.store.io.setCas(7);
    try testing.expectEqual(Status.ok, h.op(op_rep_if_newer, "fresh", "v", 0, 0));
    try testing.expectEqual(@as(u64, 7), h.cas());
    try testing.expectEqual(Status.ok, h.set("t", "x"));
    try testing.expectEqual(@as(u64, 2_000_001), h.cas());
}

test "cache: expiry edges" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "rel", "v", 0, 2592000)); // 30 days: relative
    try testing.expectEqualStrings("v", h.get("rel").?);
    try testing.expectEqual(@as(u32, unix_start + 2592000), h.store.io.exptime_abs);
    try testing.expectEqual(Status.ok, h.op(op_set, "abs", "v", 0, 2592001)); // absolute, 1970
    try testing.expectEqual(@as(?[]const u8, null), h.get("abs"));
    try testing.expectEqual(Status.ok, h.op(op_set, "neg", "v", 0, -1));
    try testing.expectEqual(@as(?[]const u8, null), h.get("neg"));
    const later: i32 = @intCast(unix_start + 10);
    try testing.expectEqual(Status.ok, h.op(op_set, "future", "v", 0, later));
    try testing.expectEqual(Status.ok, h.op(op_set, "short", "v", 0, 3));
    try testing.expectEqual(@as(u32, unix_start + 10), blk: {
        _ = h.get("future").?;
        break :blk h.store.io.exptime_abs;
    });
    h.advance(2);
    try testing.expectEqualStrings("v", h.get("short").?);
    h.advance(1); // exptime <= now: gone
    try testing.expectEqual(@as(?[]const u8, null), h.get("short"));
    try testing.expectEqualStrings("v", h.get("future").?);
    h.advance(7);
    try testing.expectEqual(@as(?[]const u8, null), h.get("future"));
    try testing.expectEqual(@as(u64, 4), h.stat(.get_expired));
    try testing.expectEqual(@as(u64, 1), h.stat(.curr_items));
    // A replace on an expired key is NOT_STORED; an add succeeds.
    try testing.expectEqual(Status.ok, h.op(op_set, "gone", "v", 0, -1));
    try testing.expectEqual(Status.not_stored, h.op(op_replace, "gone", "v", 0, 0));
    try testing.expectEqual(Status.ok, h.op(op_add, "gone", "w", 0, 0));
}

test "cache: touch and get-and-touch" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "t", "v", 0, 5));
    try testing.expectEqual(Status.ok, h.store.touch("t", 100));
    try testing.expectEqual(@as(u32, unix_start + 100), h.store.io.exptime_abs);
    h.advance(50);
    try testing.expectEqualStrings("v", h.get("t").?);
    const n = h.store.get("t", &h.out, cache.get_mode_text | cache.get_mode_touch, 0);
    try testing.expectEqualStrings("VALUE t 0 1\r\nv\r\n", h.out[0..@intCast(n)]);
    try testing.expectEqual(@as(u32, 0), h.store.io.exptime_abs);
    h.advance(1000);
    try testing.expectEqualStrings("v", h.get("t").?);
    try testing.expectEqual(Status.ok, h.store.touch("t", -1));
    try testing.expectEqual(@as(?[]const u8, null), h.get("t"));
    try testing.expectEqual(Status.not_found, h.store.touch("t", 0));
    try testing.expectEqual(Status.not_found, h.store.get("t", &h.out, cache.get_mode_touch, 10));
    try testing.expectEqual(@as(u64, 3), h.stat(.touch_hits));
    try testing.expectEqual(@as(u64, 2), h.stat(.touch_misses));
    try testing.expectEqual(@as(u64, 5), h.stat(.cmd_touch));
}

test "cache: flush_all now hides what exists, not what comes after" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.set("old1", "v"));
    h.advance(5);
    try testing.expectEqual(Status.ok, h.set("old2", "v"));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expectEqual(Status.ok, h.set("new", "v")); // same second, after the flush
    try testing.expectEqual(@as(?[]const u8, null), h.get("old1"));
    try testing.expectEqual(@as(?[]const u8, null), h.get("old2"));
    try testing.expectEqualStrings("v", h.get("new").?);
    try testing.expectEqual(Status.not_stored, h.op(op_replace, "old2", "x", 0, 0));
    try testing.expectEqual(@as(u64, 2), h.stat(.get_flushed));
    h.advance(1);
    try testing.expectEqualStrings("v", h.get("new").?);
    try testing.expectEqual(Status.ok, h.set("newer", "v"));
    try testing.expectEqualStrings("v", h.get("newer").?);
}

test "cache: delayed flush_all" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.set("a", "v"));
    try testing.expectEqual(Status.ok, h.store.flush(10)); // takes effect at now + 10 - 1
    h.advance(5);
    try testing.expectEqual(Status.ok, h.set("b", "v"));
    try testing.expectEqualStrings("v", h.get("a").?);
    h.advance(3); // now = start + 8: not yet
    try testing.expectEqualStrings("v", h.get("b").?);
    h.advance(1); // start + 9: items accessed at or before then are gone
    try testing.expectEqual(@as(?[]const u8, null), h.get("a"));
    try testing.expectEqual(@as(?[]const u8, null), h.get("b"));
    h.advance(1);
    try testing.expectEqual(Status.ok, h.set("c", "v"));
    try testing.expectEqualStrings("v", h.get("c").?);
    // An absolute time works the same way; an immediate flush still hides everything at once.
    const at: i32 = @intCast(h.now_s + 3);
    try testing.expectEqual(Status.ok, h.store.flush(at));
    h.advance(1);
    try testing.expectEqualStrings("v", h.get("c").?);
    h.advance(1);
    try testing.expectEqual(@as(?[]const u8, null), h.get("c"));
}

test "cache: incr and decr" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.not_found, h.delta("n", true, 1));
    try testing.expectEqual(Status.ok, h.set("n", "10"));
    const cas0 = h.cas();
    try testing.expectEqual(@as(i32, 2), h.delta("n", true, 5));
    try testing.expectEqualStrings("15", h.out[0..2]);
    try testing.expectEqual(@as(u64, 15), h.store.io.num());
    try testing.expect(h.cas() > cas0);
    try testing.expectEqual(@as(i32, 1), h.delta("n", false, 6)); // 9, in place, padded
    try testing.expectEqualStrings("9 ", h.get("n").?);
    try testing.expectEqual(@as(i32, 1), h.delta("n", false, 100)); // floors at 0
    try testing.expectEqualStrings("0 ", h.get("n").?);
    try testing.expectEqual(@as(i32, 3), h.delta("n", true, 100)); // 100 does not fit: new item
    try testing.expectEqualStrings("100", h.get("n").?);
    try testing.expectEqual(Status.ok, h.set("max", "18446744073709551615"));
    try testing.expectEqual(@as(i32, 1), h.delta("max", true, 2)); // wraps to 1
    try testing.expectEqualStrings("1" ++ " " ** 19, h.get("max").?);
    try testing.expectEqual(@as(i32, 1), h.delta("max", true, 0));
    h.store.io.setNum(std.math.maxInt(u64) - 1);
    try testing.expectEqual(@as(i32, 20), h.store.delta("max", true, &h.out));
    try testing.expectEqualStrings("18446744073709551615", h.out[0..20]);
    try testing.expectEqual(Status.ok, h.set("text", "12a"));
    try testing.expectEqual(Status.non_numeric, h.delta("text", true, 1));
    try testing.expectEqual(Status.ok, h.set("long", "1" ** 21));
    try testing.expectEqual(Status.non_numeric, h.delta("long", true, 1));
    try testing.expectEqual(Status.ok, h.set("empty", ""));
    try testing.expectEqual(Status.non_numeric, h.delta("empty", true, 1));
    try testing.expectEqual(Status.ok, h.set("crlf", "41\r\n"));
    try testing.expectEqual(@as(i32, 2), h.delta("crlf", true, 1));
    try testing.expectEqualStrings("42  ", h.get("crlf").?); // padded with spaces like memcached
    h.store.io.setNum(1);
    try testing.expectEqual(Status.buffer_small, h.store.delta("n", true, h.out[0..2]));
    try testing.expectEqual(@as(u32, 3), h.store.io.need);
    try testing.expectEqualStrings("100", h.get("n").?); // unchanged by BUFFER_SMALL
    try testing.expectEqual(@as(u64, 6), h.stat(.incr_hits));
    try testing.expectEqual(@as(u64, 1), h.stat(.incr_misses));
    try testing.expectEqual(@as(u64, 2), h.stat(.decr_hits));
}

/// A store with 1 KiB pages, one page of memory, classes 96, 192, 384, 1024 (-f 2).
fn tinyOptions(evictions_disabled: bool) Options {
    return .{
        .memory_bytes_max = 1024,
        .item_size_max = 1024,
        .growth_factor = 2.0,
        .evictions_disabled = evictions_disabled,
        .eviction_log_max = 16,
    };
}

fn keyOf(buffer: *[16]u8, i: usize) []const u8 {
    return std.fmt.bufPrint(buffer, "key{d:0>4}", .{i}) catch unreachable;
}

test "cache: eviction takes the LRU tail, a bumped item survives" {
    var h = try Harness.init(tinyOptions(false));
    defer h.deinit();
    try testing.expectEqual(@as(u64, 10), h.classStat(1, .chunks_per_page));
    var key: [16]u8 = undefined;
    for (0..10) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "value"));
    try testing.expectEqual(@as(u64, 1), h.classStat(1, .total_pages));
    // key0000 is hit after more than 60 s, so it moves to the head.
    h.advance(61);
    try testing.expectEqualStrings("value", h.get(keyOf(&key, 0)).?);
    for (10..13) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "value"));
    try testing.expectEqual(@as(u64, 3), h.stat(.evictions));
    try testing.expectEqual(@as(u64, 3), h.stat(.evicted_unfetched));
    try testing.expectEqual(@as(u64, 61), h.classStat(1, .evicted_time));
    try testing.expectEqualStrings("value", h.get(keyOf(&key, 0)).?);
    for (1..4) |i| try testing.expectEqual(@as(?[]const u8, null), h.get(keyOf(&key, i)));
    for (4..13) |i| try testing.expect(h.get(keyOf(&key, i)) != null);
    try testing.expectEqual(@as(u64, 1), h.classStat(1, .total_pages)); // past the limit: no page
    var log: [64]u8 = undefined;
    const n = h.store.evictionsTake(&log);
    // [len][key][cas u64 LE] per entry: the evicted versions' cas (keyN was the (N+1)th set).
    try testing.expectEqual(@as(i32, 3 * (1 + 7 + 8)), n);
    for (0..3) |i| {
        const entry = log[i * 16 ..][0..16];
        try testing.expectEqual(@as(u8, 7), entry[0]);
        try testing.expectEqualStrings(keyOf(&key, i + 1), entry[1..8]);
        try testing.expectEqual(@as(u64, i + 2), std.mem.readInt(u64, entry[8..16], .little));
    }
    try testing.expectEqual(@as(i32, 0), h.store.evictionsTake(&log));
}

test "cache: the tail walk reclaims an expired item within 5 of the tail, else evicts the tail" {
    var h = try Harness.init(tinyOptions(false));
    defer h.deinit();
    var key: [16]u8 = undefined;
    for (0..10) |i| {
        const exptime: i32 = if (i == 5) 5 else 0; // 6th from the tail: out of reach at first
        try testing.expectEqual(Status.ok, h.op(op_set, keyOf(&key, i), "value", 0, exptime));
    }
    h.advance(10);
    try testing.expectEqual(Status.ok, h.set("fresh", "value"));
    try testing.expectEqual(@as(u64, 1), h.stat(.evictions));
    try testing.expectEqual(@as(u64, 0), h.stat(.reclaimed));
    try testing.expectEqual(@as(?[]const u8, null), h.get(keyOf(&key, 0)));
    // Now key0005 is 5th from the tail: it is reclaimed instead of evicting key0001.
    try testing.expectEqual(Status.ok, h.set("fresh2", "value"));
    try testing.expectEqual(@as(u64, 1), h.stat(.evictions));
    try testing.expectEqual(@as(u64, 1), h.stat(.reclaimed));
    try testing.expectEqual(@as(u64, 1), h.stat(.expired_unfetched));
    try testing.expect(h.get(keyOf(&key, 1)) != null);
    try testing.expectEqual(@as(?[]const u8, null), h.get(keyOf(&key, 5)));
}

test "cache: the tail walk reclaims a dead item of the stripe it holds for its victim" {
    var h = try Harness.init(tinyOptions(false));
    defer h.deinit();
    var key: [16]u8 = undefined;
    const table = &h.store.shared.table;
    const tail_stripe = table.hashOf(keyOf(&key, 0)) & cache.stripe_mask;
    // A key of the tail's stripe (1 in 1,024 keys is; the table's seed is random).
    var twin: usize = 1_000;
    while (table.hashOf(keyOf(&key, twin)) & cache.stripe_mask != tail_stripe) twin += 1;
    // The tail (live, the walk's victim) first; the twin, expiring, 4th from the tail.
    const order = [_]usize{ 0, 1, 2, twin, 4, 5, 6, 7, 8, 9 };
    for (order) |i| {
        const exptime: i32 = if (i == twin) 5 else 0;
        try testing.expectEqual(Status.ok, h.op(op_set, keyOf(&key, i), "value", 0, exptime));
    }
    h.advance(10);
    try testing.expectEqual(Status.ok, h.set("fresh", "value"));
    try testing.expectEqual(@as(u64, 1), h.stat(.reclaimed));
    try testing.expectEqual(@as(u64, 0), h.stat(.evictions));
    try testing.expect(h.get(keyOf(&key, 0)) != null);
}

test "cache: -M returns NO_MEMORY, still reclaims expired, and a failed SET drops the old value" {
    var h = try Harness.init(tinyOptions(true));
    defer h.deinit();
    var key: [16]u8 = undefined;
    for (0..10) |i| {
        const exptime: i32 = if (i == 0) 5 else 0;
        try testing.expectEqual(Status.ok, h.op(op_set, keyOf(&key, i), "value", 0, exptime));
    }
    try testing.expectEqual(Status.no_memory, h.set("more", "value"));
    try testing.expectEqual(@as(u64, 1), h.stat(.outofmemory));
    try testing.expectEqual(@as(u64, 0), h.stat(.evictions));
    h.advance(10); // key0000 expires: -M still reclaims it
    try testing.expectEqual(Status.ok, h.set("more", "value"));
    try testing.expectEqual(@as(u64, 1), h.stat(.reclaimed));
    // A SET of an existing key that cannot get memory removes the old item (memcached 1.6).
    try testing.expectEqual(Status.no_memory, h.set(keyOf(&key, 9), "value"));
    try testing.expectEqual(@as(?[]const u8, null), h.get(keyOf(&key, 9)));
    try testing.expectEqual(@as(u64, 2), h.stat(.outofmemory));
    // ... which freed a chunk.
    try testing.expectEqual(Status.ok, h.set("again", "value"));
    try testing.expectEqual(@as(u64, 0), h.stat(.evictions));
    // TOO_LARGE also removes the old value on SET, not on REPLACE.
    try testing.expectEqual(Status.too_large, h.set(keyOf(&key, 1), "x" ** 1000));
    try testing.expectEqual(@as(?[]const u8, null), h.get(keyOf(&key, 1)));
    try testing.expectEqual(Status.too_large, h.op(op_replace, keyOf(&key, 2), "x" ** 1000, 0, 0));
    try testing.expect(h.get(keyOf(&key, 2)) != null);
}

test "cache: item size limit is the page size" {
    var h = try Harness.init(.{ .item_size_max = 1024, .memory_bytes_max = 1 << 20 });
    defer h.deinit();
    const value = "v" ** (1024 - items.header_bytes - 1 - 2);
    try testing.expectEqual(Status.ok, h.set("k", value));
    try testing.expectEqual(Status.too_large, h.set("k2", value ++ "v"));
    try testing.expectEqual(Status.ok, h.set("a", "v" ** 900));
    try testing.expectEqual(Status.too_large, h.op(op_append, "a", "v" ** 100, 0, 0));
    try testing.expectEqual(@as(usize, 900), h.get("a").?.len);
}

test "cache: reserve, fill, commit, abort" {
    var h = try Harness.init(.{ .pending_max = 2 });
    defer h.deinit();
    const slot = h.store.reserve(op_set, "big", 3, 0, 10);
    try testing.expect(slot >= 0);
    try testing.expectEqual(@as(?[]const u8, null), h.get("big")); // not linked yet
    try testing.expectEqual(Status.ok, h.store.fill(slot, "01234"));
    try testing.expectEqual(Status.invalid, h.store.fill(slot, "567890")); // past the end
    try testing.expectEqual(Status.ok, h.store.fill(slot, "56789"));
    try testing.expectEqual(@as(u64, 1), h.stat(.pending_items));
    try testing.expectEqual(Status.ok, h.store.commit(slot));
    try testing.expectEqualStrings("0123456789", h.get("big").?);
    try testing.expectEqual(@as(u32, 3), h.store.io.flags);
    try testing.expectEqual(Status.invalid, h.store.commit(slot)); // already used
    try testing.expectEqual(Status.invalid, h.store.fill(slot, "x"));
    // Abort frees the chunk.
    const used = h.classStat(1, .used_chunks);
    const a = h.store.reserve(op_set, "k", 0, 0, 5);
    const b = h.store.reserve(op_set, "k2", 0, 0, 5);
    try testing.expectEqual(Status.no_memory, h.store.reserve(op_set, "k3", 0, 0, 5)); // table full
    try testing.expectEqual(used + 2, h.classStat(1, .used_chunks));
    try testing.expectEqual(Status.ok, h.store.abort(a));
    try testing.expectEqual(Status.invalid, h.store.abort(a));
    try testing.expectEqual(Status.ok, h.store.fill(b, "12"));
    try testing.expectEqual(Status.invalid, h.store.commit(b)); // incomplete: aborted
    try testing.expectEqual(used, h.classStat(1, .used_chunks));
    try testing.expectEqual(@as(?[]const u8, null), h.get("k2"));
    try testing.expectEqual(Status.invalid, h.store.fill(-1, "x"));
    try testing.expectEqual(Status.invalid, h.store.commit(99));
    // CAS compares io.cas at commit time; APPEND joins at commit time.
    _ = h.get("big").?;
    const cas = h.cas();
    const c = h.store.reserve(op_cas, "big", 0, 0, 1);
    h.store.io.setCas(cas + 100);
    try testing.expectEqual(Status.ok, h.store.fill(c, "X"));
    h.store.io.setCas(cas);
    try testing.expectEqual(Status.ok, h.store.commit(c));
    const d = h.store.reserve(op_append, "big", 0, 0, 2);
    try testing.expectEqual(Status.ok, h.store.fill(d, "YZ"));
    try testing.expectEqual(Status.ok, h.store.commit(d));
    try testing.expectEqualStrings("XYZ", h.get("big").?);
    // A reserve that cannot fit removes the old item on SET.
    try testing.expectEqual(Status.too_large, h.store.reserve(op_set, "big", 0, 0, 1 << 20));
    try testing.expectEqual(@as(?[]const u8, null), h.get("big"));
    try testing.expectEqual(Status.invalid, h.store.reserve(0, "big", 0, 0, 1));
    try testing.expectEqual(@as(u64, 0), h.stat(.pending_items));
}

test "cache: a reserved item is never evicted" {
    var h = try Harness.init(tinyOptions(false));
    defer h.deinit();
    const slot = h.store.reserve(op_set, "pending", 0, 0, 5);
    try testing.expect(slot >= 0);
    var key: [16]u8 = undefined;
    for (0..40) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "value"));
    try testing.expectEqual(Status.ok, h.store.fill(slot, "abcde"));
    try testing.expectEqual(Status.ok, h.store.commit(slot));
    try testing.expectEqualStrings("abcde", h.get("pending").?);
    // With evictions disabled and every chunk reserved, reserve reports NO_MEMORY.
    var m = try Harness.init(.{ .memory_bytes_max = 1024, .item_size_max = 1024, .growth_factor = 2.0, .evictions_disabled = false, .pending_max = 16 });
    defer m.deinit();
    var slots: [10]i32 = undefined;
    for (&slots, 0..) |*s, i| {
        s.* = m.store.reserve(op_set, keyOf(&key, i), 0, 0, 5);
        try testing.expect(s.* >= 0);
    }
    try testing.expectEqual(Status.no_memory, m.store.reserve(op_set, "one more", 0, 0, 5));
    for (slots) |s| try testing.expectEqual(Status.ok, m.store.abort(s));
}

test "cache: sweep reclaims expired items within its budget" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var key: [16]u8 = undefined;
    for (0..100) |i| {
        const exptime: i32 = if (i % 2 == 0) 5 else 0;
        try testing.expectEqual(Status.ok, h.op(op_set, keyOf(&key, i), "v", 0, exptime));
    }
    h.advance(10);
    try testing.expectEqual(@as(u64, 100), h.stat(.curr_items));
    try testing.expectEqual(@as(i32, 0), h.store.sweep(0));
    var reclaimed: i32 = 0;
    const buckets = @as(u32, 1) << @intCast(h.stat(.hash_power_level));
    reclaimed += h.store.sweep(buckets + 200);
    try testing.expectEqual(@as(i32, 50), reclaimed);
    try testing.expectEqual(@as(u64, 50), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 50), h.stat(.crawler_reclaimed));
    try testing.expectEqual(@as(u64, 50), h.stat(.expired_unfetched));
}

test "cache: reclaimTails takes dead items from the LRU tails up to the first live one" {
    var h = try Harness.init(.{});
    defer h.deinit();
    // memcached 1.6: three items set with exptime 1 die; one set later stays; curr_items 1.
    for ([_][]const u8{ "a", "b", "c" }) |key| try testing.expectEqual(Status.ok, h.op(op_set, key, "v", 0, 1));
    h.advance(2);
    try testing.expectEqual(Status.ok, h.set("d", "v"));
    try testing.expectEqual(@as(u64, 4), h.stat(.curr_items));
    try testing.expectEqual(@as(i32, 2), h.store.reclaimTails(2)); // the budget bounds the walk
    try testing.expectEqual(@as(i32, 1), h.store.reclaimTails(100));
    try testing.expectEqual(@as(i32, 0), h.store.reclaimTails(100)); // "d" is live: the walk stops
    try testing.expectEqual(@as(u64, 1), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 1), h.classStat(1, .number));
    try testing.expectEqual(@as(u64, 3), h.stat(.reclaimed));
    try testing.expectEqual(@as(u64, 3), h.stat(.expired_unfetched));
    // A dead item behind a live one is the sweep's (memcached's crawler's), not the tail walk's.
    try testing.expectEqual(Status.ok, h.op(op_set, "e", "v", 0, 1));
    try testing.expectEqual(Status.ok, h.set("f", "v"));
    h.advance(2);
    try testing.expectEqual(@as(i32, 0), h.store.reclaimTails(100));
    try testing.expectEqual(@as(u64, 3), h.stat(.curr_items));
}

test "cache: reclaimTails empties every class after flush_all and skips tombstones' counters" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, false);
    var key: [16]u8 = undefined;
    var value: [2000]u8 = undefined;
    @memset(&value, 'x');
    for (0..40) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), value[0 .. i * 50]));
    try testing.expectEqual(Status.ok, h.store.delete(keyOf(&key, 0))); // a tombstone
    try testing.expectEqual(@as(u64, 39), h.stat(.curr_items));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expectEqual(Status.ok, h.set("after", "v")); // stored after the flush: kept
    try testing.expectEqual(@as(i32, 40), h.store.reclaimTails(1000));
    try testing.expectEqual(@as(u64, 1), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 0), h.stat(.tombstones));
    try testing.expectEqual(@as(u64, 39), h.stat(.reclaimed));
    for (2..h.store.classCount() + 1) |id| try testing.expectEqual(@as(u64, 0), h.classStat(@intCast(id), .number));
}

/// The cursor's view of the store: each key returned and how often.
const Seen = std.StringHashMap(u32);

fn walkStep(h: *Harness, seen: *Seen, out: []u8) !bool {
    while (true) {
        const n = h.store.cursorNext(out, 0);
        if (n == Status.cursor_done) return false;
        if (n == Status.cursor_again) continue;
        try testing.expect(n >= 0);
        const key_len = h.store.io.key_len;
        try testing.expectEqual(@as(u32, @intCast(n)), key_len + h.store.io.value_len);
        const key = try testing.allocator.dupe(u8, out[0..key_len]);
        const entry = try seen.getOrPut(key);
        if (entry.found_existing) {
            testing.allocator.free(key);
            entry.value_ptr.* += 1;
        } else {
            entry.value_ptr.* = 1;
        }
        return true;
    }
}

fn deinitSeen(seen: *Seen) void {
    var it = seen.keyIterator();
    while (it.next()) |k| testing.allocator.free(k.*);
    seen.deinit();
}

/// Keys 0..stable_count were returned, and no key was returned twice.
fn expectEachOnce(seen: *const Seen, stable_count: usize) !void {
    var key: [16]u8 = undefined;
    for (0..stable_count) |i| try testing.expectEqual(@as(?u32, 1), seen.get(keyOf(&key, i)));
    var it = seen.iterator();
    while (it.next()) |entry| try testing.expectEqual(@as(u32, 1), entry.value_ptr.*);
}

test "cache: cursor returns every stable item once while others change" {
    var h = try Harness.init(.{ .memory_bytes_max = 1 << 20 }); // 16384 buckets: some chains
    defer h.deinit();
    const count = 2000;
    var key: [16]u8 = undefined;
    for (0..count) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "stable"));
    var seen = Seen.init(testing.allocator);
    defer deinitSeen(&seen);
    var out: [512]u8 = undefined;
    h.store.cursorStart();
    var step: usize = 0;
    var prng = std.Random.DefaultPrng.init(42);
    const random = prng.random();
    while (try walkStep(&h, &seen, &out)) : (step += 1) {
        // Between steps: replace a "replaced" key, add a new key, delete and re-add a "churn"
        // key, delete a "doomed" key (never returned if deleted before its bucket is reached).
        const r = random.uintLessThan(usize, 500);
        var other: [24]u8 = undefined;
        const replaced = try std.fmt.bufPrint(&other, "replaced{d}", .{r});
        try testing.expectEqual(Status.ok, h.set(replaced, "v2"));
        const added = try std.fmt.bufPrint(&other, "added{d}", .{step});
        try testing.expectEqual(Status.ok, h.set(added, "new"));
        const churn = try std.fmt.bufPrint(&other, "churn{d}", .{r % 50});
        _ = h.store.delete(churn);
        try testing.expectEqual(Status.ok, h.set(churn, "again"));
        if (step == 0) for (0..500) |i| {
            const doomed = try std.fmt.bufPrint(&other, "doomed{d}", .{i});
            _ = h.set(doomed, "x");
        };
        if (step == 1) for (0..500) |i| {
            const doomed = try std.fmt.bufPrint(&other, "doomed{d}", .{i});
            _ = h.store.delete(doomed);
        };
    }
    try expectEachOnce(&seen, count);
    try testing.expect(step >= count);
    try testing.expectEqual(Status.cursor_done, h.store.cursorNext(&out, 0));
    // BUFFER_SMALL leaves the item for the next call.
    h.store.cursorStart();
    var small: [4]u8 = undefined;
    var status = h.store.cursorNext(&small, 0);
    while (status == Status.cursor_again) status = h.store.cursorNext(&small, 0);
    try testing.expectEqual(Status.buffer_small, status);
    const need = h.store.io.need;
    status = h.store.cursorNext(&out, 0);
    try testing.expectEqual(@as(i32, @intCast(need)), status);
}

fn bucketOf(h: *Harness, key: []const u8) u32 {
    return h.store.shared.table.bucketOf(key);
}

test "cache: cursor marks inside the bucket being walked" {
    var h = try Harness.init(.{ .memory_bytes_max = 1 << 20 });
    defer h.deinit();
    // Four keys in one bucket.
    var names: [4][16]u8 = undefined;
    var keys: [4][]const u8 = undefined;
    var found: usize = 0;
    var key: [16]u8 = undefined;
    const target = bucketOf(&h, keyOf(&key, 0));
    var i: usize = 0;
    while (found < 4) : (i += 1) {
        const k = keyOf(&names[found], i);
        if (bucketOf(&h, k) != target) continue;
        keys[found] = k;
        found += 1;
    }
    for (keys) |k| try testing.expectEqual(Status.ok, h.set(k, "one"));
    var seen = Seen.init(testing.allocator);
    defer deinitSeen(&seen);
    var out: [64]u8 = undefined;
    h.store.cursorStart();
    try testing.expect(try walkStep(&h, &seen, &out));
    const first = out[0..h.store.io.key_len];
    var first_index: usize = 0;
    for (keys, 0..) |k, index| {
        if (std.mem.eql(u8, k, first)) first_index = index;
    }
    const a = keys[first_index];
    const b = keys[(first_index + 1) % 4];
    const c = keys[(first_index + 2) % 4];
    // `a` has been returned; `b`, `c` and the fourth not yet.
    try testing.expectEqual(Status.ok, h.set(a, "two")); // inherits "returned"
    try testing.expectEqual(Status.ok, h.set(b, "two")); // inherits "not yet returned"
    try testing.expectEqual(Status.ok, h.store.delete(c));
    try testing.expectEqual(Status.ok, h.set(c, "new")); // new key in a walked bucket: skipped
    while (try walkStep(&h, &seen, &out)) {}
    try testing.expectEqual(@as(?u32, 1), seen.get(a));
    try testing.expectEqual(@as(?u32, 1), seen.get(b));
    try testing.expectEqual(@as(?u32, 1), seen.get(keys[(first_index + 3) % 4]));
    try testing.expectEqual(@as(?u32, null), seen.get(c));
}

test "cache: cursor skips expired and flushed items" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "dead", "v", 0, -1));
    try testing.expectEqual(Status.ok, h.set("flushed", "v"));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expectEqual(Status.ok, h.set("live", "v"));
    var seen = Seen.init(testing.allocator);
    defer deinitSeen(&seen);
    var out: [64]u8 = undefined;
    h.store.cursorStart();
    while (try walkStep(&h, &seen, &out)) {}
    try testing.expectEqual(@as(u32, 1), seen.count());
    try testing.expect(seen.contains("live"));
}

test "cache: stats reset zeroes counters, not gauges" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.set("a", "v"));
    _ = h.get("a");
    _ = h.get("b");
    try testing.expectEqual(@as(u64, 1), h.stat(.total_items));
    try testing.expectEqual(@as(u64, 1), h.stat(.cmd_set));
    try testing.expectEqual(@as(u64, 1 << 20), h.stat(.total_malloced));
    try testing.expectEqual(@as(u64, 4 << 20), h.stat(.limit_maxbytes));
    try testing.expectEqual(@as(u64, 15), h.stat(.hash_power_level)); // 4 MiB / 96 / 1.5 -> 2^15
    try testing.expectEqual(@as(u64, 1), h.stat(.active_slabs));
    h.store.statsReset();
    try testing.expectEqual(@as(u64, 0), h.stat(.total_items));
    try testing.expectEqual(@as(u64, 0), h.stat(.get_hits));
    try testing.expectEqual(@as(u64, 0), h.stat(.get_misses));
    try testing.expectEqual(@as(u64, 0), h.classStat(1, .cmd_set));
    try testing.expectEqual(@as(u64, 1), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 1), h.classStat(1, .used_chunks));
    try testing.expectEqual(@as(u64, 10922 - 1), h.classStat(1, .free_chunks_end));
    try testing.expectEqual(@as(u32, 42), h.store.classCount());
}

test "cas clock: wall-clock cas with the node's parity, still unique and increasing" {
    var h = try Harness.init(.{});
    defer h.deinit();
    const store = h.store;
    store.setCasClock(true, 1, 0);
    var last: u64 = 0;
    var i: u32 = 0;
    while (i < 1000) : (i += 1) {
        const cas = store.nextCas();
        try std.testing.expect(cas > last);
        try std.testing.expectEqual(@as(u64, 1), cas & 1);
        last = cas;
    }
    const now_ms: u64 = @intCast(std.time.milliTimestamp());
    try std.testing.expect(last >= (now_ms - 1000) << cache.cas_clock_shift);
    store.setCasClock(true, 0, 0);
    try std.testing.expectEqual(@as(u64, 0), store.nextCas() & 1);
    // A test-only skew moves the clock the cas follows; the counter still never goes back.
    store.setCasClock(true, 0, 60_000);
    const ahead = store.nextCas();
    try std.testing.expect(ahead >= (now_ms + 59_000) << cache.cas_clock_shift);
    store.setCasClock(true, 0, -60_000);
    try std.testing.expect(store.nextCas() > ahead);
    store.mintCas();
    try std.testing.expect(store.io.cas() > ahead + 1);
}

test "get peek: reads state without counting or touching" {
    var h = try Harness.init(.{});
    defer h.deinit();
    const store = h.store;
    try std.testing.expectEqual(cache.Status.ok, h.set("pk", "vv"));
    const before = store.counters.global.values;
    var out: [64]u8 = undefined;
    try std.testing.expectEqual(@as(i32, 2), store.get("pk", &out, cache.get_mode_peek, 0));
    try std.testing.expectEqualStrings("vv", out[0..2]);
    try std.testing.expectEqual(cache.Status.not_found, store.get("nope", &out, cache.get_mode_peek, 0));
    try std.testing.expectEqualSlices(u64, &before, &store.counters.global.values);
    try std.testing.expectEqual(cache.Status.invalid, store.get("pk", &out, cache.get_mode_peek | cache.get_mode_touch, 0));
}

test "flush_all now hides what was linked before it, even in its own second; a replicated item with an older cas linked after it stays" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.advance(5);
    try std.testing.expectEqual(cache.Status.ok, h.set("before", "1"));
    const old_cas = h.cas();
    try std.testing.expectEqual(cache.Status.ok, h.store.flush(0));
    try std.testing.expect(h.get("before") == null);
    // The peer's item minted before our flush but arriving after it: visible.
    h.store.io.setCas(old_cas);
    try std.testing.expectEqual(cache.Status.ok, h.op(op_rep, "late_rep", "2", 0, 0));
    try std.testing.expectEqualStrings("2", h.get("late_rep").?);
    try std.testing.expectEqual(cache.Status.ok, h.set("after", "3"));
    try std.testing.expectEqualStrings("3", h.get("after").?);
    // A second flush in the same second hides both.
    try std.testing.expectEqual(cache.Status.ok, h.store.flush(0));
    try std.testing.expect(h.get("late_rep") == null);
    try std.testing.expect(h.get("after") == null);
}

test "get rep mode: repcached's rep line straight from the item (absolute/relative exptime, signed flags)" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try std.testing.expectEqual(cache.Status.ok, h.op(op_set, "rk", "val", 4294967295, 100));
    const cas = h.cas();
    var out: [128]u8 = undefined;
    var expected_buf: [128]u8 = undefined;
    const rep = cache.get_mode_peek | cache.get_mode_rep;
    const unix_expiry = h.now_s + 100;
    var n = h.store.get("rk", &out, rep | cache.get_mode_rep_signed_flags, 0);
    var expected = try std.fmt.bufPrint(&expected_buf, "rep rk -1 {d} 3 {d}\r\nval\r\n", .{ unix_expiry, cas });
    try std.testing.expectEqualStrings(expected, out[0..@intCast(n)]);
    n = h.store.get("rk", &out, rep | cache.get_mode_rep_relative, 0);
    expected = try std.fmt.bufPrint(&expected_buf, "rep rk 4294967295 100 3 {d}\r\nval\r\n", .{cas});
    try std.testing.expectEqualStrings(expected, out[0..@intCast(n)]);
    try std.testing.expectEqual(cache.Status.buffer_small, h.store.get("rk", out[0..10], rep, 0));
    try std.testing.expectEqual(cache.Status.invalid, h.store.get("rk", &out, cache.get_mode_rep, 0));
    try std.testing.expectEqual(cache.Status.ok, h.set("never", "x"));
    n = h.store.get("never", &out, rep | cache.get_mode_rep_relative, 0);
    try std.testing.expect(std.mem.startsWith(u8, out[0..@intCast(n)], "rep never 0 0 1 "));
}

test "flush epoch is a byte: 256 immediate flushes in one second still hide what came before" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.advance(5);
    try testing.expectEqual(Status.ok, h.set("first", "1"));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expect(h.get("first") == null);
    // Linked at epoch 1, never read again: 255 more flushes bring the epoch byte back to 1
    // (through 0, where every linked item is removed).
    try testing.expectEqual(Status.ok, h.set("second", "2"));
    for (0..255) |_| try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expectEqual(@as(u8, 0), h.store.shared.flushState().epoch);
    try testing.expectEqual(@as(u64, 0), h.stat(.curr_items));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    try testing.expectEqual(@as(u8, 1), h.store.shared.flushState().epoch);
    try testing.expect(h.get("second") == null);
    try testing.expectEqual(Status.ok, h.set("third", "3"));
    try testing.expectEqualStrings("3", h.get("third").?);
}

test "walk mark is a byte: every complete walk returns every item once, across wraps" {
    var h = try Harness.init(.{ .memory_bytes_max = 1 << 20 });
    defer h.deinit();
    var key: [16]u8 = undefined;
    const count = 40;
    for (0..count) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "v"));
    var out: [512]u8 = undefined;
    // Complete walks 255 apart, abandoned ones (one item each) between: the items the abandoned
    // walks never reach keep the mark of the last complete walk, which the generation byte
    // comes back to after 255 walks.
    for (0..600) |walk| {
        const complete = walk % 255 == 0;
        h.store.cursorStart();
        var returned: usize = 0;
        while (true) {
            const n = h.store.cursorNext(&out, 0);
            if (n == Status.cursor_done) break;
            if (n == Status.cursor_again) continue;
            try testing.expect(n >= 0);
            returned += 1;
            if (!complete) break;
        }
        if (complete) try testing.expectEqual(@as(usize, count), returned);
    }
}

test "client flags take 4 bytes only when not 0, and survive append, incr and replace" {
    var h = try Harness.init(.{});
    defer h.deinit();
    // 36 + 14 + 100 + 2 = 152: class 3; with flags 156: class 4.
    const value = "v" ** 100;
    try testing.expectEqual(Status.ok, h.op(op_set, "mcl:0000000001", value, 0, 0));
    try testing.expectEqual(@as(u64, 1), h.classStat(3, .number));
    try testing.expectEqual(Status.ok, h.op(op_set, "mcl:0000000002", value, 7, 0));
    try testing.expectEqual(@as(u64, 1), h.classStat(4, .number));
    _ = h.get("mcl:0000000002").?;
    try testing.expectEqual(@as(u32, 7), h.store.io.flags);
    _ = h.get("mcl:0000000001").?;
    try testing.expectEqual(@as(u32, 0), h.store.io.flags);
    try testing.expectEqual(Status.ok, h.op(op_set, "n", "9", 0xffff_ffff, 0));
    try testing.expect(h.delta("n", true, 1) >= 0);
    try testing.expectEqualStrings("10", h.get("n").?);
    try testing.expectEqual(@as(u32, 0xffff_ffff), h.store.io.flags);
    try testing.expectEqual(Status.ok, h.op(op_append, "n", "0", 0, 0));
    try testing.expectEqualStrings("100", h.get("n").?);
    try testing.expectEqual(@as(u32, 0xffff_ffff), h.store.io.flags);
    try testing.expectEqual(Status.ok, h.op(op_replace, "n", "x", 0, 0));
    _ = h.get("n").?;
    try testing.expectEqual(@as(u32, 0), h.store.io.flags);
    const n = h.store.get("mcl:0000000002", &h.out, cache.get_mode_text, 0);
    try testing.expectEqualStrings("VALUE mcl:0000000002 7 100\r\n" ++ value ++ "\r\n", h.out[0..@intCast(n)]);
}

test "each store draws its own hash seed" {
    var a = try Harness.init(.{});
    defer a.deinit();
    var b = try Harness.init(.{});
    defer b.deinit();
    try testing.expect(a.store.shared.table.seed != b.store.shared.table.seed);
    // Same keys, same table size, different buckets for most of them.
    var key: [16]u8 = undefined;
    var same: usize = 0;
    for (0..64) |i| {
        if (a.store.shared.table.bucketOf(keyOf(&key, i)) == b.store.shared.table.bucketOf(keyOf(&key, i))) same += 1;
    }
    try testing.expect(same < 16);
}

test "the table grows with the items (not with -m), and a walk across the growth returns every stable item once" {
    var h = try Harness.init(.{ .memory_bytes_max = 64 << 20 }); // room for 2^20 buckets
    defer h.deinit();
    try testing.expectEqual(@as(u64, 16), h.stat(.hash_power_level)); // memcached's start
    try testing.expectEqual(@as(u64, 4 << 16), h.stat(.hash_bytes));
    var key: [16]u8 = undefined;
    const stable = 90_000;
    for (0..stable) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "s"));
    try testing.expectEqual(@as(u64, 16), h.stat(.hash_power_level)); // 90k < 1.5 * 2^16
    var seen = Seen.init(testing.allocator);
    defer deinitSeen(&seen);
    var out: [512]u8 = undefined;
    h.store.cursorStart();
    var added: usize = 0;
    const added_max = 120_000;
    while (try walkStep(&h, &seen, &out)) {
        // 2 new keys per step: the table splits buckets ahead of and behind the cursor.
        for (0..2) |_| {
            if (added == added_max) break;
            try testing.expectEqual(Status.ok, h.set(keyOf(&key, stable + added), "n"));
            added += 1;
        }
    }
    try testing.expectEqual(added_max, added);
    try testing.expect(h.stat(.hash_power_level) >= 17);
    const items_now = h.stat(.curr_items);
    try testing.expectEqual(@as(u64, stable + added), items_now);
    // Load at most 1.5 items per bucket in use.
    try testing.expect(items_now * 2 <= h.stat(.hash_bytes) / 4 * 3 + 2);
    try expectEachOnce(&seen, stable);
    for (0..stable + added) |i| try testing.expect(h.get(keyOf(&key, i)) != null);
}

test "removeBelowCas removes exactly the items older than the given cas" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var key: [16]u8 = undefined;
    for (0..100) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "v"));
    const first_new_cas = h.cas() + 1; // the next set's
    for (60..100) |i| try testing.expectEqual(Status.ok, h.set(keyOf(&key, i), "w"));
    h.store.io.setCas(first_new_cas);
    try testing.expectEqual(@as(i32, 60), h.store.removeBelowCas());
    try testing.expectEqual(@as(u64, 40), h.stat(.curr_items));
    try testing.expect(h.get(keyOf(&key, 59)) == null);
    try testing.expectEqualStrings("w", h.get(keyOf(&key, 60)).?);
    h.store.io.setCas(first_new_cas);
    try testing.expectEqual(@as(i32, 0), h.store.removeBelowCas());
}

const get_rep_ours: u32 = cache.get_mode_peek | cache.get_mode_rep | cache.get_mode_rep_relative;
const get_rep_classic: u32 = cache.get_mode_peek | cache.get_mode_rep | cache.get_mode_rep_signed_flags;

fn repIfNewer(h: *Harness, key: []const u8, value: []const u8, cas: u64) i32 {
    h.store.io.setCas(cas);
    return h.op(op_rep_if_newer, key, value, 0, 0);
}

fn tomb(h: *Harness, key: []const u8, cas: u64) i32 {
    h.store.io.setCas(cas);
    return h.store.tomb(key);
}

test "tombstones: a delete leaves a version clients never see; an older replicated value does not bring the key back" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, repIfNewer(&h, "k", "old", 100));
    try testing.expectEqual(Status.ok, h.store.delete("k"));
    const deleted_at = h.cas();
    try testing.expect(deleted_at > 100);
    // Clients: a miss everywhere, not counted as an item.
    try testing.expectEqual(@as(?[]const u8, null), h.get("k"));
    try testing.expectEqual(Status.not_found, h.store.delete("k"));
    try testing.expectEqual(Status.not_found, h.store.touch("k", 0));
    try testing.expectEqual(Status.not_found, h.delta("k", true, 1));
    try testing.expectEqual(Status.not_stored, h.op(op_replace, "k", "r", 0, 0));
    try testing.expectEqual(Status.not_stored, h.op(op_append, "k", "r", 0, 0));
    h.store.io.setCas(deleted_at);
    try testing.expectEqual(Status.not_found, h.op(op_cas, "k", "r", 0, 0));
    try testing.expectEqual(@as(u64, 0), h.stat(.curr_items));
    try testing.expectEqual(@as(u64, 1), h.stat(.tombstones));
    // The peer's copy of the old value arrives after the delete: refused.
    try testing.expectEqual(Status.not_stored, repIfNewer(&h, "k", "old", 100));
    try testing.expectEqual(@as(?[]const u8, null), h.get("k"));
    // A value written after the delete wins.
    try testing.expectEqual(Status.ok, repIfNewer(&h, "k", "new", deleted_at + 1));
    try testing.expectEqualStrings("new", h.get("k").?);
    try testing.expectEqual(@as(u64, 0), h.stat(.tombstones));
    try testing.expectEqual(@as(u64, 1), h.stat(.curr_items));
    // add and set store over a tombstone.
    try testing.expectEqual(Status.ok, h.store.delete("k"));
    try testing.expectEqual(Status.ok, h.op(op_add, "k", "added", 0, 0));
    try testing.expectEqualStrings("added", h.get("k").?);
}

test "tombstones: a peer's tomb deletes only older versions, and is kept for a missing key" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, repIfNewer(&h, "a", "va", 500));
    try testing.expectEqual(Status.not_stored, tomb(&h, "a", 400)); // written after the delete
    try testing.expectEqualStrings("va", h.get("a").?);
    try testing.expectEqual(Status.ok, tomb(&h, "a", 600));
    try testing.expectEqual(@as(?[]const u8, null), h.get("a"));
    try testing.expectEqual(Status.ok, tomb(&h, "absent", 700)); // fences a copy still in flight
    try testing.expectEqual(Status.not_stored, repIfNewer(&h, "absent", "stale", 650));
    try testing.expectEqual(Status.not_stored, tomb(&h, "absent", 700));
    try testing.expectEqual(Status.ok, tomb(&h, "absent", 800));
    try testing.expectEqual(@as(u64, 2), h.stat(.tombstones));
}

test "tombstones: sent as rcb1_tomb lines to our own kind, never to a classic peer" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, repIfNewer(&h, "gone", "v", 7));
    try testing.expectEqual(Status.ok, tomb(&h, "gone", 1234));
    try testing.expectEqual(Status.ok, h.set("kept", "v"));
    const n = h.store.get("gone", &h.out, get_rep_ours, 0);
    try testing.expectEqualStrings("rcb1_tomb gone 1234\r\n", h.out[0..@intCast(n)]);
    try testing.expectEqual(Status.not_found, h.store.get("gone", &h.out, get_rep_classic, 0));
    try testing.expectEqual(Status.not_found, h.store.get("gone", &h.out, cache.get_mode_peek, 0));
    // The full copy: our kind gets both, a classic peer only the value.
    var lines: [2][]const u8 = undefined;
    var copies: [2][64]u8 = undefined;
    for ([_]u32{ get_rep_ours & ~cache.get_mode_peek, get_rep_classic & ~cache.get_mode_peek }, 0..) |mode, which| {
        h.store.cursorStart();
        var at: usize = 0;
        var guard: u32 = 0;
        while (guard < 100) : (guard += 1) {
            const r = h.store.cursorNext(copies[which][at..], mode);
            if (r == Status.cursor_done) break;
            if (r == Status.cursor_again) continue;
            try testing.expect(r > 0);
            at += @intCast(r);
        }
        lines[which] = copies[which][0..at];
    }
    try testing.expect(std.mem.indexOf(u8, lines[0], "rcb1_tomb gone 1234\r\n") != null);
    try testing.expect(std.mem.indexOf(u8, lines[0], "rep kept ") != null);
    try testing.expect(std.mem.indexOf(u8, lines[1], "gone") == null);
    try testing.expect(std.mem.indexOf(u8, lines[1], "rep kept ") != null);
}

test "tombstones: expire after the grace period only while not kept; evicted ones are counted" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, h.set("k", "v"));
    try testing.expectEqual(Status.ok, h.store.delete("k"));
    h.advance(cache.tombstone_grace_s + 5);
    try testing.expectEqual(@as(i32, 0), h.store.sweep(200_000));
    try testing.expectEqual(@as(u64, 1), h.stat(.tombstones));
    h.store.setTombstones(true, false);
    try testing.expectEqual(@as(i32, 1), h.store.sweep(200_000));
    try testing.expectEqual(@as(u64, 0), h.stat(.tombstones));
    // Without tombstones a delete removes the key outright.
    h.store.setTombstones(false, false);
    try testing.expectEqual(Status.ok, h.set("plain", "v"));
    try testing.expectEqual(Status.ok, h.store.delete("plain"));
    try testing.expectEqual(@as(u64, 0), h.stat(.tombstones));
    try testing.expectEqual(Status.ok, repIfNewer(&h, "plain", "v", 1));
}

test "tombstones: eviction of a tombstone is counted as dropped, never logged as an eviction" {
    var h = try Harness.init(.{ .memory_bytes_max = 1 << 20, .eviction_log_max = 64 });
    defer h.deinit();
    h.store.setTombstones(true, true);
    var key_buf: [16]u8 = undefined;
    var i: u32 = 0;
    // Fill the smallest class with tombstones and then values of the same class.
    while (i < 40_000) : (i += 1) {
        const key = std.fmt.bufPrint(&key_buf, "t{d}", .{i}) catch unreachable;
        try testing.expectEqual(Status.ok, tomb(&h, key, 1000 + i));
    }
    try testing.expect(h.stat(.tombstones_dropped) > 0);
    try testing.expectEqual(@as(u64, 0), h.stat(.evictions));
    var log: [256]u8 = undefined;
    try testing.expectEqual(@as(i32, 0), h.store.evictionsTake(&log));
}

test "flush floor: after an immediate flush on a replicating store, no older replicated version is stored" {
    var h = try Harness.init(.{});
    defer h.deinit();
    h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, repIfNewer(&h, "before", "v", 50));
    try testing.expectEqual(Status.ok, h.store.flush(0));
    h.store.io.setCas(0);
    h.store.raiseFlushFloor();
    const floor = h.cas();
    try testing.expect(floor > 50);
    try testing.expectEqual(@as(?[]const u8, null), h.get("before"));
    try testing.expectEqual(Status.not_stored, repIfNewer(&h, "crossing", "v", floor - 1));
    try testing.expectEqual(Status.not_stored, tomb(&h, "crossing", floor - 1));
    try testing.expectEqual(Status.ok, repIfNewer(&h, "after", "v", floor + 1));
    try testing.expectEqual(Status.ok, h.set("local", "v"));
    try testing.expect(h.cas() > floor);
    // A peer's flush_before raises it too.
    h.store.io.setCas(floor + 100);
    _ = h.store.removeBelowCas();
    try testing.expectEqual(@as(?[]const u8, null), h.get("after"));
    try testing.expectEqual(Status.not_stored, repIfNewer(&h, "late", "v", floor + 50));
}

test "tombstones: with -M (no evictions) a tombstone still gives way to a value" {
    var h = try Harness.init(.{ .memory_bytes_max = 1 << 20, .evictions_disabled = true });
    defer h.deinit();
    h.store.setTombstones(true, true);
    var key_buf: [16]u8 = undefined;
    var i: u32 = 0;
    var made: u32 = 0;
    while (i < 40_000) : (i += 1) {
        const key = std.fmt.bufPrint(&key_buf, "t{d}", .{i}) catch unreachable;
        if (tomb(&h, key, 1000 + i) == Status.ok) made += 1;
    }
    try testing.expect(h.stat(.tombstones_dropped) > 0);
    // The class is full of tombstones: a value of that class still gets a chunk.
    try testing.expectEqual(Status.ok, h.set("value", "v"));
    try testing.expectEqualStrings("v", h.get("value").?);
    try testing.expectEqual(@as(u64, 0), h.stat(.evictions));
    try testing.expect(made > 0);
}

test "replicated versions with the same cas: every node breaks the tie alike (tombstone, then bytes, then flags)" {
    // Two stores that each receive the other's write of k, minted with the same cas.
    var a = try Harness.init(.{});
    defer a.deinit();
    var b = try Harness.init(.{});
    defer b.deinit();
    for ([_]*Harness{ &a, &b }) |h| h.store.setTombstones(true, true);
    try testing.expectEqual(Status.ok, repIfNewer(&a, "k", "apple", 900));
    try testing.expectEqual(Status.ok, repIfNewer(&b, "k", "banana", 900));
    _ = repIfNewer(&a, "k", "banana", 900);
    _ = repIfNewer(&b, "k", "apple", 900);
    try testing.expectEqualStrings("banana", a.get("k").?);
    try testing.expectEqualStrings("banana", b.get("k").?);
    // The same bytes: the greater flags.
    a.store.io.setCas(901);
    try testing.expectEqual(Status.ok, a.op(op_rep_if_newer, "f", "v", 1, 0));
    a.store.io.setCas(901);
    try testing.expectEqual(Status.ok, a.op(op_rep_if_newer, "f", "v", 2, 0));
    a.store.io.setCas(901);
    try testing.expectEqual(Status.not_stored, a.op(op_rep_if_newer, "f", "v", 1, 0));
    // The same bytes and flags (a touched version): the later expiry, never expiring last.
    a.store.io.setCas(902);
    try testing.expectEqual(Status.ok, a.op(op_rep_if_newer, "t", "v", 0, 100));
    a.store.io.setCas(902);
    try testing.expectEqual(Status.ok, a.op(op_rep_if_newer, "t", "v", 0, 200));
    a.store.io.setCas(902);
    try testing.expectEqual(Status.not_stored, a.op(op_rep_if_newer, "t", "v", 0, 150));
    a.store.io.setCas(902);
    try testing.expectEqual(Status.ok, a.op(op_rep_if_newer, "t", "v", 0, 0));
    a.store.io.setCas(902);
    try testing.expectEqual(Status.not_stored, a.op(op_rep_if_newer, "t", "v", 0, 300));
    // A delete and a write with the same cas: the delete, on both sides, in either order.
    try testing.expectEqual(Status.ok, repIfNewer(&a, "d", "v", 950));
    try testing.expectEqual(Status.ok, tomb(&a, "d", 950));
    try testing.expectEqual(Status.ok, tomb(&b, "d", 950));
    try testing.expectEqual(Status.not_stored, repIfNewer(&b, "d", "v", 950));
    try testing.expectEqual(@as(?[]const u8, null), a.get("d"));
    try testing.expectEqual(@as(?[]const u8, null), b.get("d"));
    try testing.expectEqual(Status.not_stored, tomb(&a, "d", 950));
}

test "meta get: state before the call (h, l), T, u, and the memcached-size class" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.op(op_set, "a", "hi", 0, 100));
    h.advance(3);
    var out: [64]u8 = undefined;
    try testing.expectEqual(@as(i32, 2), h.store.metaGet("a", &out, cache.meta_get_value, 0, 0, 0));
    try testing.expectEqualStrings("hi", out[0..2]);
    try testing.expectEqual(@as(u32, 0), h.store.io.meta & cache.meta_fetched);
    try testing.expectEqual(@as(u32, 3), h.store.io.last_access_s);
    try testing.expectEqual(@as(u32, 1), h.store.io.class_id); // memcached: 48 + 8 + 2 + 4 = 62 bytes
    try testing.expectEqual(@as(i32, 0), h.store.metaGet("a", &out, cache.meta_get_touch, 30, 0, 0));
    try testing.expectEqual(cache.meta_fetched, h.store.io.meta & cache.meta_fetched);
    try testing.expectEqual(@as(u32, @intCast(h.now_s + 30)), h.store.io.touch_abs);
    try testing.expectEqual(@as(u32, @intCast(h.now_s - 3 + 100)), h.store.io.exptime_abs); // before T
    try testing.expectEqual(cache.Status.buffer_small, h.store.metaGet("a", out[0..1], cache.meta_get_value, 0, 0, 0));
    try testing.expectEqual(@as(u32, 2), h.store.io.need);
    // u: not marked fetched (and peek neither)
    try testing.expectEqual(Status.ok, h.set("b", "x"));
    _ = h.store.metaGet("b", &out, cache.meta_get_no_bump, 0, 0, 0);
    _ = h.store.metaGet("b", &out, cache.meta_get_peek, 0, 0, 0);
    _ = h.store.metaGet("b", &out, 0, 0, 0, 0);
    try testing.expectEqual(@as(u32, 0), h.store.io.meta & cache.meta_fetched);
    try testing.expectEqual(Status.not_found, h.store.metaGet("none", &out, 0, 0, 0, 0));
    try testing.expectEqual(Status.invalid, h.store.metaGet("b", &out, cache.meta_get_peek | cache.meta_get_touch, 0, 0, 0));
}

test "meta get: N creates an empty item and wins its token once; R wins when the ttl left is short" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var out: [64]u8 = undefined;
    try testing.expectEqual(@as(i32, 0), h.store.metaGet("v", &out, cache.meta_get_vivify | cache.meta_get_value, 0, 30, 0));
    try testing.expectEqual(cache.meta_created | cache.meta_won, h.store.io.meta);
    try testing.expectEqual(@as(u32, @intCast(h.now_s + 30)), h.store.io.vivify_abs);
    _ = h.store.metaGet("v", &out, cache.meta_get_vivify, 0, 30, 0);
    try testing.expectEqual(cache.meta_token_sent, h.store.io.meta & (cache.meta_token_sent | cache.meta_won | cache.meta_created));
    try testing.expectEqual(Status.ok, h.op(op_set, "r", "x", 0, 100));
    _ = h.store.metaGet("r", &out, cache.meta_get_recache, 0, 0, 50);
    try testing.expectEqual(@as(u32, 0), h.store.io.meta & cache.meta_won); // 100 left, not below 50
    _ = h.store.metaGet("r", &out, cache.meta_get_recache, 0, 0, 200);
    try testing.expectEqual(cache.meta_won, h.store.io.meta & cache.meta_won);
    _ = h.store.metaGet("r", &out, cache.meta_get_recache, 0, 0, 200);
    try testing.expectEqual(cache.meta_token_sent, h.store.io.meta & (cache.meta_won | cache.meta_token_sent));
}

test "meta delete: C compares, I marks stale at a new cas and clears the token; the next get wins it" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var out: [64]u8 = undefined;
    try testing.expectEqual(Status.ok, h.op(op_set, "k", "v", 0, 100));
    const cas = h.cas();
    h.store.io.setCas(cas + 5);
    try testing.expectEqual(Status.exists, h.store.metaDelete("k", cache.meta_delete_cas, 0));
    h.store.io.setCas(cas);
    try testing.expectEqual(Status.ok, h.store.metaDelete("k", cache.meta_delete_cas | cache.meta_delete_stale | cache.meta_delete_touch, 30));
    try testing.expect(h.cas() > cas);
    _ = h.store.metaGet("k", &out, 0, 0, 0, 0);
    try testing.expectEqual(cache.meta_stale | cache.meta_won, h.store.io.meta & (cache.meta_stale | cache.meta_won | cache.meta_token_sent));
    try testing.expectEqual(@as(u32, @intCast(h.now_s + 30)), h.store.io.exptime_abs);
    _ = h.store.metaGet("k", &out, 0, 0, 0, 0);
    try testing.expectEqual(cache.meta_stale | cache.meta_token_sent, h.store.io.meta & (cache.meta_stale | cache.meta_won | cache.meta_token_sent));
    // a stale store below the item's cas keeps it stale, its token and its exptime
    h.store.io.setCas(1);
    try testing.expectEqual(Status.ok, h.op(9, "k", "new", 0, 0));
    try testing.expectEqual(@as(i32, 3), h.store.metaGet("k", &out, cache.meta_get_value, 0, 0, 0));
    try testing.expectEqualStrings("new", out[0..3]);
    try testing.expectEqual(cache.meta_stale | cache.meta_token_sent, h.store.io.meta & (cache.meta_stale | cache.meta_token_sent));
    try testing.expectEqual(@as(u32, @intCast(h.now_s + 30)), h.store.io.exptime_abs);
    // a plain set makes it fresh; md without I removes it
    try testing.expectEqual(Status.ok, h.set("k", "fresh"));
    _ = h.store.metaGet("k", &out, 0, 0, 0, 0);
    try testing.expectEqual(@as(u32, 0), h.store.io.meta & (cache.meta_stale | cache.meta_token_sent));
    try testing.expectEqual(Status.ok, h.store.metaDelete("k", 0, 0));
    try testing.expectEqual(Status.not_found, h.store.metaDelete("k", 0, 0));
}

test "meta store ops: append_cas compares a non-zero cas; cas_stale at the item's cas is a plain cas" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.set("k", "a"));
    const cas = h.cas();
    h.store.io.setCas(cas + 1);
    try testing.expectEqual(Status.exists, h.op(10, "k", "b", 0, 0));
    h.store.io.setCas(0);
    try testing.expectEqual(Status.ok, h.op(10, "k", "b", 0, 0));
    h.store.io.setCas(h.cas());
    try testing.expectEqual(Status.ok, h.op(11, "k", "c", 0, 0));
    try testing.expectEqualStrings("cab", h.get("k").?);
    h.store.io.setCas(h.cas());
    try testing.expectEqual(Status.ok, h.op(9, "k", "d", 0, 0));
    var out: [16]u8 = undefined;
    _ = h.store.metaGet("k", &out, 0, 0, 0, 0);
    try testing.expectEqual(@as(u32, 0), h.store.io.meta & cache.meta_stale);
    h.store.io.setCas(h.cas() + 10);
    try testing.expectEqual(Status.exists, h.op(9, "k", "e", 0, 0));
    h.store.io.setCas(5);
    try testing.expectEqual(Status.not_found, h.op(9, "gone", "e", 0, 0));
}

test "meta delta: C compares, T sets the exptime after" {
    var h = try Harness.init(.{});
    defer h.deinit();
    var out: [32]u8 = undefined;
    try testing.expectEqual(Status.ok, h.set("n", "5"));
    const cas = h.cas();
    h.store.io.setNum(2);
    h.store.io.setCas(cas + 1);
    try testing.expectEqual(Status.exists, h.store.metaDelta("n", cache.meta_delta_incr | cache.meta_delta_cas, 0, &out));
    h.store.io.setCas(cas);
    try testing.expectEqual(@as(i32, 1), h.store.metaDelta("n", cache.meta_delta_incr | cache.meta_delta_cas | cache.meta_delta_touch, 40, &out));
    try testing.expectEqualStrings("7", out[0..1]);
    try testing.expectEqual(@as(u32, 0), h.store.io.exptime_abs);
    try testing.expectEqual(@as(u32, @intCast(h.now_s + 40)), h.store.io.touch_abs);
    h.store.io.setNum(2);
    try testing.expectEqual(@as(i32, 1), h.store.metaDelta("n", 0, 0, &out));
    try testing.expectEqualStrings("5", out[0..1]);
    try testing.expectEqual(Status.not_found, h.store.metaDelta("none", 1, 0, &out));
}

test "meta state reaches our kind of peer: rcb1_meta after the rep line, and metaMark applies it at that cas only" {
    var h = try Harness.init(.{});
    defer h.deinit();
    try testing.expectEqual(Status.ok, h.set("s", "v"));
    try testing.expectEqual(Status.ok, h.store.metaDelete("s", cache.meta_delete_stale, 0));
    const cas = h.cas();
    var out: [128]u8 = undefined;
    var expected_buf: [128]u8 = undefined;
    const rep = cache.get_mode_peek | cache.get_mode_rep;
    var n = h.store.get("s", &out, rep | cache.get_mode_rep_relative, 0);
    const expected = try std.fmt.bufPrint(&expected_buf, "rep s 0 0 1 {d}\r\nv\r\nrcb1_meta s {d} 8\r\n", .{ cas, cas });
    try testing.expectEqualStrings(expected, out[0..@intCast(n)]);
    n = h.store.get("s", &out, rep | cache.get_mode_rep_signed_flags, 0);
    try testing.expect(std.mem.indexOf(u8, out[0..@intCast(n)], "rcb1_meta") == null);

    var peer = try Harness.init(.{});
    defer peer.deinit();
    peer.store.io.setCas(cas);
    try testing.expectEqual(Status.ok, peer.op(op_rep_if_newer, "s", "v", 0, 0));
    peer.store.io.setCas(cas + 1);
    try testing.expectEqual(Status.not_found, peer.store.metaMark("s", items.flag_stale));
    peer.store.io.setCas(cas);
    try testing.expectEqual(Status.ok, peer.store.metaMark("s", items.flag_stale));
    try testing.expectEqual(Status.invalid, peer.store.metaMark("s", 1));
    _ = peer.store.metaGet("s", &out, 0, 0, 0, 0);
    try testing.expectEqual(cache.meta_stale | cache.meta_won, peer.store.io.meta & (cache.meta_stale | cache.meta_won));
}
