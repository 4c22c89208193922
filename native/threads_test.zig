//! threads_test: 2, 4 and 8 threads, each with its own session, hammer overlapping keys with
//! set/add/replace/append/incr/delete/touch/get (tombstones on) while another thread walks the
//! cursor and sweeps, and the table grows (the store is prefilled to just below the first
//! growth). Checked during the run: every value read is whole (a key's value is only ever its
//! own letter), no walk returns a key twice. Checked after: the table, LRUs, slabs and byte
//! accounting agree item by item, no key is linked twice, every incr was counted exactly once,
//! and every cas handed out by a store was unique. Run clean under `zig build test-tsan` too.
//! The clock stands still (nothing expires), so a removed key cannot come back behind the
//! cursor; expiry under threads is the striped stage's to test.
const std = @import("std");
const testing = std.testing;
const assert = std.debug.assert;
const cache = @import("cache.zig");
const items = @import("items.zig");
const stats = @import("stats.zig");
const table_zig = @import("table.zig");
const slabs_zig = @import("slabs.zig");
const Session = @import("session.zig").Session;
const Store = cache.Store;
const Status = cache.Status;

const unix_start: u64 = 1_700_000_000;
/// Store operations all workers of one test make together (moderate: TSan runs them too).
const ops_total: u32 = 24_000;
/// Keys the workers draw from; the first `prefill_count` exist before they start.
const keys_count: u32 = 140_000;
/// Just below the first growth of a table that starts at table.buckets_start_max buckets.
const prefill_count: u32 = table_zig.buckets_start_max * table_zig.load_max_num / table_zig.load_max_den - 300;
/// Half of the draws go to these keys, so threads collide on them.
const hot_keys_count: u32 = 1024;
const counters_count: u32 = 16;
const threads_max = 8;
/// Cursor walks the walker thread makes at most, and steps one walk may take.
const walks_max: u32 = 64;
const walk_steps_max: u32 = 4 * keys_count;
const key_bytes_max = 16;
const out_bytes = 64 * 1024;

fn createStore() !*Store {
    const params = cache.Params{
        .memory_bytes_max = 64 << 20,
        .growth_factor = 1.25,
        .unix_now_s = unix_start,
        .item_size_max = 1 << 20,
        .chunk_size_min = 48,
        .evictions_disabled = 0,
        .pending_max = 16,
        .eviction_log_max = 64,
        .reserved = 0,
    };
    const store = Store.create(&params) orelse return error.CreateFailed;
    store.session_default.setTombstones(true, false);
    return store;
}

fn keyOf(index: u32, buf: *[key_bytes_max]u8) []const u8 {
    return std.fmt.bufPrint(buf, "k{d}", .{index}) catch unreachable;
}

fn counterKeyOf(index: u32, buf: *[key_bytes_max]u8) []const u8 {
    return std.fmt.bufPrint(buf, "c{d}", .{index}) catch unreachable;
}

/// The only byte a key's value ever holds (set, add, replace and append all write it).
fn letterOf(key: []const u8) u8 {
    return 'a' + @as(u8, @intCast(std.hash.Wyhash.hash(0, key) % 26));
}

fn valueWhole(key: []const u8, value: []const u8) bool {
    const letter = letterOf(key);
    for (value) |byte| if (byte != letter) return false;
    return true;
}

const Shared = struct {
    store: *Store,
    failures: std.atomic.Value(u32) = std.atomic.Value(u32).init(0),
    workers_left: std.atomic.Value(u32),
    walks_done: std.atomic.Value(u32) = std.atomic.Value(u32).init(0),

    fn fail(self: *Shared, comptime what: []const u8, args: anytype) void {
        if (self.failures.fetchAdd(1, .monotonic) == 0) std.debug.print("threads_test: " ++ what ++ "\n", args);
    }
};

const Worker = struct {
    shared: *Shared,
    session: *Session,
    seed: u64,
    ops: u32,
    cas_seen: []u64,
    cas_count: u32 = 0,
    incr_done: [counters_count]u64 = [_]u64{0} ** counters_count,
    out: [out_bytes]u8 = undefined,

    fn run(self: *Worker) void {
        var prng = std.Random.DefaultPrng.init(self.seed);
        const random = prng.random();
        var op_index: u32 = 0;
        while (op_index < self.ops) : (op_index += 1) self.step(random);
        _ = self.shared.workers_left.fetchSub(1, .release);
    }

    fn step(self: *Worker, random: std.Random) void {
        const roll = random.uintLessThan(u32, 100);
        if (roll >= 88) return self.incr(random.uintLessThan(u32, counters_count));
        var key_buf: [key_bytes_max]u8 = undefined;
        const hot = random.boolean();
        const index = if (hot) random.uintLessThan(u32, hot_keys_count) else random.uintLessThan(u32, keys_count);
        const key = keyOf(index, &key_buf);
        if (roll < 24) return self.get(key);
        if (roll < 64) return self.write(key, roll, random.uintLessThan(u32, 24) + 1);
        if (roll < 76) return self.delete(key);
        self.touch(key);
    }

    fn get(self: *Worker, key: []const u8) void {
        const s = self.session;
        const n = s.get(key, &self.out, 0, 0);
        if (n == Status.not_found) return;
        if (n < 0) return self.shared.fail("get {s}: {d}", .{ key, n });
        if (self.session.io.value_len != n) return self.shared.fail("get {s}: io says {d} bytes", .{ key, self.session.io.value_len });
        if (!valueWhole(key, self.out[0..@intCast(n)])) self.shared.fail("get {s}: torn value", .{key});
    }

    fn write(self: *Worker, key: []const u8, roll: u32, len: u32) void {
        var value: [32]u8 = undefined;
        @memset(value[0..len], letterOf(key));
        const op: u32 = if (roll < 40) 1 else if (roll < 48) 2 else if (roll < 56) 3 else 4;
        const s = self.session;
        const status = s.store(op, key, value[0..len], 0, 0);
        if (status == Status.ok) return self.sawCas(self.session.io.cas());
        if (status != Status.not_stored) self.shared.fail("store {d} {s}: {d}", .{ op, key, status });
    }

    fn delete(self: *Worker, key: []const u8) void {
        const s = self.session;
        const status = s.delete(key);
        if (status != Status.ok and status != Status.not_found) self.shared.fail("delete {s}: {d}", .{ key, status });
    }

    fn touch(self: *Worker, key: []const u8) void {
        const s = self.session;
        const status = s.touch(key, 3600);
        if (status != Status.ok and status != Status.not_found) self.shared.fail("touch {s}: {d}", .{ key, status });
    }

    fn incr(self: *Worker, index: u32) void {
        var key_buf: [key_bytes_max]u8 = undefined;
        const key = counterKeyOf(index, &key_buf);
        const s = self.session;
        self.session.io.setNum(1);
        const status = s.delta(key, true, &self.out);
        if (status < 0) return self.shared.fail("incr {s}: {d}", .{ key, status });
        self.incr_done[index] += 1;
    }

    fn sawCas(self: *Worker, cas: u64) void {
        assert(self.cas_count < self.cas_seen.len);
        self.cas_seen[self.cas_count] = cas;
        self.cas_count += 1;
    }
};

const Walker = struct {
    shared: *Shared,
    session: *Session,
    out: [out_bytes]u8 = undefined,

    /// Walks until every worker is done and one walk has finished after that, at most walks_max.
    fn run(self: *Walker) void {
        var arena = std.heap.ArenaAllocator.init(std.heap.page_allocator);
        defer arena.deinit();
        var walk: u32 = 0;
        while (walk < walks_max) : (walk += 1) {
            const workers_done = self.shared.workers_left.load(.acquire) == 0;
            _ = arena.reset(.retain_capacity);
            self.walkOnce(arena.allocator()) catch return self.shared.fail("walk: out of memory", .{});
            _ = self.shared.walks_done.fetchAdd(1, .monotonic);
            if (workers_done) return;
        }
    }

    fn walkOnce(self: *Walker, allocator: std.mem.Allocator) !void {
        var seen = std.StringHashMap(void).init(allocator);
        self.session.cursorStart();
        var steps: u32 = 0;
        while (steps < walk_steps_max) : (steps += 1) {
            const s = self.session;
            const n = s.cursorNext(&self.out, 0);
            const key_len = s.io.key_len;
            if (steps % 64 == 0) _ = s.sweep(32);
            if (n == Status.cursor_done) return;
            if (n == Status.cursor_again) continue;
            if (n < 0) return self.shared.fail("cursor: {d}", .{n});
            const key = self.out[0..key_len];
            if (key[0] == 'k' and !valueWhole(key, self.out[key_len..@intCast(n)])) self.shared.fail("cursor {s}: torn value", .{key});
            const entry = try seen.getOrPut(try allocator.dupe(u8, key));
            if (entry.found_existing) self.shared.fail("cursor: {s} twice in one walk", .{key});
        }
        self.shared.fail("cursor: walk not done in {d} steps", .{walk_steps_max});
    }
};

fn prefill(store: *Store) !void {
    var key_buf: [key_bytes_max]u8 = undefined;
    var index: u32 = 0;
    while (index < prefill_count) : (index += 1) {
        const key = keyOf(index, &key_buf);
        var value: [8]u8 = undefined;
        @memset(&value, letterOf(key));
        try testing.expectEqual(Status.ok, store.session_default.store(1, key, &value, 0, 0));
    }
    index = 0;
    while (index < counters_count) : (index += 1) {
        try testing.expectEqual(Status.ok, store.session_default.store(1, counterKeyOf(index, &key_buf), "0", 0, 0));
    }
    try testing.expectEqual(table_zig.buckets_start_max, store.table.count());
}

fn hammer(comptime threads_count: u32) !void {
    comptime assert(threads_count >= 1 and threads_count <= threads_max);
    const store = try createStore();
    defer store.destroy();
    try prefill(store);
    var shared = Shared{ .store = store, .workers_left = std.atomic.Value(u32).init(threads_count) };
    const cas_seen = try testing.allocator.alloc(u64, ops_total);
    defer testing.allocator.free(cas_seen);
    const workers = try testing.allocator.alloc(Worker, threads_count);
    defer testing.allocator.free(workers);
    const ops_each = ops_total / threads_count;
    for (workers, 0..) |*worker, i| {
        worker.* = .{
            .shared = &shared,
            .session = Session.open(store) orelse return error.SessionOpen,
            .seed = 0x5eed + i,
            .ops = ops_each,
            .cas_seen = cas_seen[i * ops_each ..][0..ops_each],
        };
    }
    defer for (workers) |*worker| worker.session.close();
    const walker = try testing.allocator.create(Walker);
    defer testing.allocator.destroy(walker);
    walker.* = .{ .shared = &shared, .session = Session.open(store) orelse return error.SessionOpen };
    defer walker.session.close();

    var threads: [threads_max + 1]std.Thread = undefined;
    for (workers, 0..) |*worker, i| threads[i] = try std.Thread.spawn(.{}, Worker.run, .{worker});
    threads[threads_count] = try std.Thread.spawn(.{}, Walker.run, .{walker});
    for (threads[0 .. threads_count + 1]) |thread| thread.join();

    try testing.expectEqual(@as(u32, 0), shared.failures.load(.monotonic));
    try testing.expect(shared.walks_done.load(.monotonic) >= 1);
    try testing.expect(store.table.count() > table_zig.buckets_start_max);
    try checkCounters(store, workers);
    try checkCasUnique(workers);
    try checkStore(store);
}

/// Every incr any thread saw succeed is in its counter: none lost, none doubled.
fn checkCounters(store: *Store, workers: []const Worker) !void {
    var out: [64]u8 = undefined;
    var key_buf: [key_bytes_max]u8 = undefined;
    for (0..counters_count) |index| {
        var expected: u64 = 0;
        for (workers) |*worker| expected += worker.incr_done[index];
        const n = store.session_default.get(counterKeyOf(@intCast(index), &key_buf), &out, 0, 0);
        try testing.expect(n > 0);
        try testing.expectEqual(expected, try std.fmt.parseInt(u64, out[0..@intCast(n)], 10));
    }
}

fn checkCasUnique(workers: []const Worker) !void {
    var all = std.ArrayList(u64).init(testing.allocator);
    defer all.deinit();
    for (workers) |*worker| {
        const mine = worker.cas_seen[0..worker.cas_count];
        // One thread's stores happen one after another: its cas values only go up.
        for (1..mine.len) |i| try testing.expect(mine[i] > mine[i - 1]);
        try all.appendSlice(mine);
    }
    try testing.expect(all.items.len > 0);
    std.mem.sort(u64, all.items, {}, std.sort.asc(u64));
    for (1..all.items.len) |i| try testing.expect(all.items[i] > all.items[i - 1]);
}

/// The table, LRUs, slabs and byte counts agree item by item; no key is linked twice.
fn checkStore(store: *Store) !void {
    var keys = std.StringHashMap(void).init(testing.allocator);
    defer keys.deinit();
    var per_class = [_]u64{0} ** (slabs_zig.class_id_max + 1);
    var bytes_per_class = [_]u64{0} ** (slabs_zig.class_id_max + 1);
    var linked: u64 = 0;
    var tombstones: u64 = 0;
    for (0..store.table.count()) |bucket| {
        var ref = store.table.buckets[bucket];
        while (ref != items.ref_none) : (ref = store.arena.header(ref).chain_next) {
            const h = store.arena.header(ref);
            const key = items.keyOf(h);
            try testing.expect(h.item_flags & items.flag_linked != 0);
            try testing.expectEqual(@as(u32, @intCast(bucket)), store.table.bucketOf(key));
            const entry = try keys.getOrPut(key);
            try testing.expect(!entry.found_existing);
            const class_id = store.slabs.classOf(ref);
            per_class[class_id] += 1;
            bytes_per_class[class_id] += items.sizeOf(h);
            linked += 1;
            if (h.item_flags & items.flag_tombstone != 0) tombstones += 1;
        }
    }
    try testing.expectEqual(store.linked_count.value, linked);
    try testing.expectEqual(store.tombstone_count.value, tombstones);
    try testing.expect(linked > prefill_count);
    for (1..@as(usize, store.slabs.class_count) + 1) |class_id| {
        try testing.expectEqual(per_class[class_id], store.lru.counts[class_id]);
        try testing.expectEqual(per_class[class_id], lruLength(store, @intCast(class_id)));
        try testing.expectEqual(per_class[class_id], store.slabs.classes[class_id].used_count);
        try testing.expectEqual(bytes_per_class[class_id], store.mem_requested[class_id]);
    }
    var global: [stats.global_count]u64 = undefined;
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(linked - tombstones, global[@intFromEnum(stats.Global.curr_items)]);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.evictions)]);
}

/// Items on a class's LRU, head to tail (bounded by one more than its count).
fn lruLength(store: *Store, class_id: u8) u64 {
    var length: u64 = 0;
    var ref = store.lru.heads[class_id];
    while (ref != items.ref_none and length <= store.lru.counts[class_id]) : (length += 1) {
        ref = store.arena.header(ref).lru_next;
    }
    return length;
}

test "threads: 2 threads and a cursor over one store" {
    try hammer(2);
}

test "threads: 4 threads and a cursor over one store" {
    try hammer(4);
}

test "threads: 8 threads and a cursor over one store" {
    try hammer(8);
}

test "threads: sessions have their own io and a bound" {
    const store = try createStore();
    defer store.destroy();
    const a = Session.open(store).?;
    defer a.close();
    const b = Session.open(store).?;
    defer b.close();
    {
        const s = a;
        try testing.expectEqual(Status.ok, s.store(1, "x", "1", 7, 0));
    }
    try testing.expectEqual(@as(u32, 0), b.io.flags);
    try testing.expect(a.io.cas() != 0);
    try testing.expectEqual(@as(u64, 0), store.session_default.io.cas());
    var extra: [@import("session.zig").sessions_max]*Session = undefined;
    var opened: u32 = 2;
    while (opened < @import("session.zig").sessions_max) : (opened += 1) extra[opened] = Session.open(store).?;
    try testing.expectEqual(@as(?*Session, null), Session.open(store));
    for (extra[2..opened]) |s| s.close();
}
