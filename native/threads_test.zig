//! threads_test: 2, 4 and 8 threads, each with its own session, hammer overlapping keys with
//! set/add/replace/append/incr/delete/touch/get (tombstones on) while another thread walks the
//! cursor and sweeps, and the table grows under them (the store is prefilled to just below the
//! first growth, so the splits run while gets and sets go on). Checked during the run: every
//! value read is whole (a key's value is only ever its own letter), no walk returns a key twice.
//! Checked after: the table, LRUs, slabs and byte accounting agree item by item, no key is
//! linked twice, every incr was counted exactly once, and every cas handed out by a store was
//! unique. The clock stands still there (nothing expires), so a removed key cannot come back
//! behind the cursor.
//!
//! The pressure tests (2 and 4 threads) run a 2 MiB store far past full: sets of several
//! classes with short TTLs evict and expire from every thread, values arrive through pending
//! slots (reserve/fill/commit/abort), while a maintainer thread advances the clock, reclaims LRU
//! tails, sweeps, walks the cursor, drains the eviction log, reads stats and flushes now and
//! then. Checked: values whole, every session's get and delete counted once in rc_stats,
//! evictions happened, no reservation left, the same item-by-item accounting. A last test
//! checks that a pending slot is its session's alone. All run clean under `zig build test-tsan`.
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

/// The table, LRUs, slabs and byte counts agree item by item; no key is linked twice; nothing
/// was evicted (the hammer's store is large enough).
fn checkStore(store: *Store) !void {
    const linked = try checkLinks(store);
    try testing.expect(linked > prefill_count);
    var global: [stats.global_count]u64 = undefined;
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.evictions)]);
}

/// The table, LRUs, slabs and byte counts agree item by item; no key is linked twice. Returns
/// the items linked.
fn checkLinks(store: *Store) !u64 {
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
    for (1..@as(usize, store.slabs.class_count) + 1) |class_id| {
        try testing.expectEqual(per_class[class_id], store.class_states[class_id].lru.count);
        try testing.expectEqual(per_class[class_id], lruLength(store, @intCast(class_id)));
        try testing.expectEqual(per_class[class_id], store.slabs.classes[class_id].used_count);
        try testing.expectEqual(bytes_per_class[class_id], store.class_states[class_id].mem_requested);
    }
    var global: [stats.global_count]u64 = undefined;
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(linked - tombstones, global[@intFromEnum(stats.Global.curr_items)]);
    return linked;
}

/// Items on a class's LRU, head to tail (bounded by one more than its count).
fn lruLength(store: *Store, class_id: u8) u64 {
    var length: u64 = 0;
    var ref = store.class_states[class_id].lru.head;
    while (ref != items.ref_none and length <= store.class_states[class_id].lru.count) : (length += 1) {
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

// ---- memory pressure: evictions, expiry, flush and reservations from several threads ----

/// Keys the pressure workers draw from, far more than the store holds.
const pressure_keys_count: u32 = 20_000;
const pressure_hot_keys_count: u32 = 512;
const pressure_ops_total: u32 = 16_000;
const pressure_value_bytes_max = 2000;

fn createPressureStore() !*Store {
    const params = cache.Params{
        .memory_bytes_max = 2 << 20,
        .growth_factor = 1.25,
        .unix_now_s = unix_start,
        .item_size_max = 64 << 10,
        .chunk_size_min = 48,
        .evictions_disabled = 0,
        .pending_max = 8,
        .eviction_log_max = 256,
        .reserved = 0,
    };
    const store = Store.create(&params) orelse return error.CreateFailed;
    store.session_default.setTombstones(true, false);
    return store;
}

fn pressureKeyOf(index: u32, buf: *[key_bytes_max]u8) []const u8 {
    return std.fmt.bufPrint(buf, "p{d}", .{index}) catch unreachable;
}

const PressureWorker = struct {
    shared: *Shared,
    session: *Session,
    seed: u64,
    ops: u32,
    gets: u64 = 0,
    deletes: u64 = 0,
    out: [out_bytes]u8 = undefined,

    fn run(self: *PressureWorker) void {
        var prng = std.Random.DefaultPrng.init(self.seed);
        const random = prng.random();
        var op_index: u32 = 0;
        while (op_index < self.ops) : (op_index += 1) self.step(random);
        _ = self.shared.workers_left.fetchSub(1, .release);
    }

    fn step(self: *PressureWorker, random: std.Random) void {
        var key_buf: [key_bytes_max]u8 = undefined;
        const hot = random.boolean();
        const index = if (hot) random.uintLessThan(u32, pressure_hot_keys_count) else random.uintLessThan(u32, pressure_keys_count);
        const key = pressureKeyOf(index, &key_buf);
        const len = random.uintLessThan(u32, pressure_value_bytes_max) + 1;
        const exptime: i32 = if (random.boolean()) 0 else @intCast(random.uintLessThan(u32, 3) + 1);
        const roll = random.uintLessThan(u32, 100);
        const s = self.session;
        if (roll < 30) {
            self.gets += 1;
            const n = s.get(key, &self.out, 0, 0);
            if (n == Status.not_found) return;
            if (n < 0) return self.shared.fail("pressure get {s}: {d}", .{ key, n });
            if (!valueWhole(key, self.out[0..@intCast(n)])) self.shared.fail("pressure get {s}: torn value", .{key});
            return;
        }
        var value: [pressure_value_bytes_max]u8 = undefined;
        @memset(value[0..len], letterOf(key));
        if (roll < 73) {
            const op: u32 = if (roll < 65) 1 else if (roll < 69) 2 else 4; // set, add, append
            const status = s.store(op, key, value[0..len], 0, exptime);
            if (status != Status.ok and status != Status.not_stored and status != Status.no_memory) {
                self.shared.fail("pressure store {d} {s}: {d}", .{ op, key, status });
            }
            return;
        }
        if (roll < 80) {
            self.deletes += 1;
            const status = s.delete(key);
            if (status != Status.ok and status != Status.not_found) self.shared.fail("pressure delete {s}: {d}", .{ key, status });
            return;
        }
        if (roll < 85) {
            const status = s.touch(key, exptime);
            if (status != Status.ok and status != Status.not_found) self.shared.fail("pressure touch {s}: {d}", .{ key, status });
            return;
        }
        // A value received in two pieces; one in eight is aborted.
        const slot = s.reserve(1, key, 0, exptime, len);
        if (slot == Status.no_memory) return;
        if (slot < 0) return self.shared.fail("pressure reserve {s}: {d}", .{ key, slot });
        const half = len / 2;
        if (s.fill(slot, value[0..half]) != Status.ok) return self.shared.fail("pressure fill {s}", .{key});
        if (random.uintLessThan(u32, 8) == 0) {
            if (s.abort(slot) != Status.ok) self.shared.fail("pressure abort {s}", .{key});
            return;
        }
        if (s.fill(slot, value[half..len]) != Status.ok) return self.shared.fail("pressure fill {s}", .{key});
        const status = s.commit(slot);
        if (status != Status.ok and status != Status.no_memory) self.shared.fail("pressure commit {s}: {d}", .{ key, status });
    }
};

/// Advances the clock (items expire), reclaims tails, sweeps, walks the cursor, drains the
/// eviction log, reads stats and now and then flushes, while the workers run.
const Maintainer = struct {
    shared: *Shared,
    session: *Session,
    now_s: u64 = unix_start,
    log_bytes: u64 = 0,
    flushes: u32 = 0,
    out: [out_bytes]u8 = undefined,

    fn run(self: *Maintainer) void {
        const s = self.session;
        var round: u32 = 0;
        s.cursorStart();
        while (self.shared.workers_left.load(.acquire) != 0) : (round += 1) {
            if (round % 16 == 0) {
                self.now_s += 1;
                s.advanceClock(@intCast(self.now_s));
            }
            _ = s.reclaimTails(64);
            _ = s.sweep(64);
            const taken = s.evictionsTake(&self.out);
            if (taken < 0) return self.shared.fail("evictions take: {d}", .{taken});
            self.log_bytes += @intCast(taken);
            var global: [stats.global_count]u64 = undefined;
            s.statsGlobal(&global);
            var class: [stats.class_count]u64 = undefined;
            _ = s.statsClass(1 + round % s.classCount(), &class);
            for (0..8) |_| {
                const n = s.cursorNext(&self.out, 0);
                if (n == Status.cursor_done) {
                    s.cursorStart();
                    break;
                }
                if (n < 0) continue;
                const key_len = s.io.key_len;
                const key = self.out[0..key_len];
                if (!valueWhole(key, self.out[key_len..@intCast(n)])) self.shared.fail("pressure cursor {s}: torn value", .{key});
            }
            if (round % 200 == 199) {
                _ = s.flush(0);
                self.flushes += 1;
            }
            std.Thread.yield() catch {};
        }
    }
};

fn pressure(comptime threads_count: u32) !void {
    const store = try createPressureStore();
    defer store.destroy();
    var shared = Shared{ .store = store, .workers_left = std.atomic.Value(u32).init(threads_count) };
    var workers: [threads_count]PressureWorker = undefined;
    for (&workers, 0..) |*worker, i| {
        worker.* = .{
            .shared = &shared,
            .session = Session.open(store) orelse return error.SessionOpen,
            .seed = 0xfee1 + i,
            .ops = pressure_ops_total / threads_count,
        };
    }
    const maintainer = try testing.allocator.create(Maintainer);
    defer testing.allocator.destroy(maintainer);
    maintainer.* = .{ .shared = &shared, .session = Session.open(store) orelse return error.SessionOpen };

    var threads: [threads_count + 1]std.Thread = undefined;
    for (&workers, 0..) |*worker, i| threads[i] = try std.Thread.spawn(.{}, PressureWorker.run, .{worker});
    threads[threads_count] = try std.Thread.spawn(.{}, Maintainer.run, .{maintainer});
    for (threads) |thread| thread.join();
    try testing.expectEqual(@as(u32, 0), shared.failures.load(.monotonic));

    // Every session's counters are in the sums, those of closed sessions too.
    var gets: u64 = 0;
    var deletes: u64 = 0;
    for (&workers) |*worker| {
        gets += worker.gets;
        deletes += worker.deletes;
        worker.session.close();
    }
    maintainer.session.close();
    var global: [stats.global_count]u64 = undefined;
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(gets, global[@intFromEnum(stats.Global.cmd_get)]);
    // A miss of an expired or flushed item counts in get_misses too, as memcached's.
    try testing.expectEqual(gets, global[@intFromEnum(stats.Global.get_hits)] + global[@intFromEnum(stats.Global.get_misses)]);
    try testing.expectEqual(deletes, global[@intFromEnum(stats.Global.delete_hits)] + global[@intFromEnum(stats.Global.delete_misses)]);
    try testing.expect(global[@intFromEnum(stats.Global.evictions)] > 0);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.pending_items)]);
    try testing.expect(maintainer.log_bytes > 0 or global[@intFromEnum(stats.Global.evicted_log_dropped)] > 0);
    _ = try checkLinks(store);
    // stats reset zeroes every session's counters at once.
    store.session_default.statsReset();
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.cmd_get)]);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.evictions)]);
}

test "threads: 2 threads evicting, expiring, reserving and flushing in a small store" {
    try pressure(2);
}

test "threads: 4 threads evicting, expiring, reserving and flushing in a small store" {
    try pressure(4);
}

test "threads: a pending slot belongs to the session that reserved it" {
    const store = try createStore();
    defer store.destroy();
    const a = Session.open(store).?;
    const b = Session.open(store).?;
    defer b.close();
    const slot = a.reserve(1, "owned", 0, 0, 4);
    try testing.expect(slot >= 0);
    try testing.expectEqual(Status.invalid, b.fill(slot, "ab"));
    try testing.expectEqual(Status.invalid, b.commit(slot));
    try testing.expectEqual(Status.invalid, b.abort(slot));
    try testing.expectEqual(Status.ok, a.fill(slot, "ab"));
    // A second reservation by each: distinct slots.
    const slot_b = b.reserve(1, "other", 0, 0, 2);
    try testing.expect(slot_b >= 0 and slot_b != slot);
    try testing.expectEqual(Status.invalid, a.commit(slot_b));
    try testing.expectEqual(Status.ok, b.fill(slot_b, "zz"));
    try testing.expectEqual(Status.ok, b.commit(slot_b));
    try testing.expectEqual(Status.ok, a.fill(slot, "cd"));
    const again = a.reserve(1, "left", 0, 0, 3);
    try testing.expect(again >= 0);
    try testing.expectEqual(Status.ok, a.commit(slot));
    var out: [8]u8 = undefined;
    try testing.expectEqual(@as(i32, 4), b.get("owned", &out, 0, 0));
    try testing.expectEqualStrings("abcd", out[0..4]);
    // Closing a session aborts what it still holds.
    a.close();
    var global: [stats.global_count]u64 = undefined;
    store.session_default.statsGlobal(&global);
    try testing.expectEqual(@as(u64, 0), global[@intFromEnum(stats.Global.pending_items)]);
    try testing.expectEqual(Status.not_found, b.get("left", &out, 0, 0));
}
