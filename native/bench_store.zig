//! bench_store: the store's hot path with 1, 2 and 4 threads, each through its own session
//! (`zig build bench-store -Doptimize=ReleaseFast`). 90% gets and 10% sets of 64-byte values
//! over `keys_count` prefilled keys; `ops_total` operations split evenly over the threads.
//! Prints wall-clock ns per operation (all threads' operations together) and the speed-up over
//! one thread. A first line runs one thread calling the store directly, without a session (the
//! path before sessions and the store lock), to show what the lock costs one caller. Keys are
//! formatted before the clock starts; each line is the best of `repeats` runs (after a warm-up).
const std = @import("std");
const cache = @import("cache.zig");
const Session = @import("session.zig").Session;
const Store = cache.Store;
const Status = cache.Status;

const keys_count: u32 = 65_536;
const ops_total: u32 = 4_000_000;
const value_bytes = 64;
const key_bytes = 16;
const get_percent = 90;
const thread_counts = [_]u32{ 1, 2, 4 };
const threads_max = 4;
const repeats = 3;

/// Every key, formatted once: key i at [i * key_bytes, (i + 1) * key_bytes).
var keys: [keys_count * key_bytes]u8 = undefined;

fn keyAt(index: u32) []const u8 {
    return keys[@as(usize, index) * key_bytes ..][0..key_bytes];
}

fn keyOf(index: u32, buf: *[key_bytes]u8) []const u8 {
    return std.fmt.bufPrint(buf, "key:{d:0>12}", .{index}) catch unreachable;
}

const Runner = struct {
    store: *Store,
    session: ?*Session,
    ops: u32,
    seed: u64,
    out: [1024]u8 = undefined,
    hits: u64 = 0,

    fn run(self: *Runner) void {
        var prng = std.Random.DefaultPrng.init(self.seed);
        const random = prng.random();
        const value = [_]u8{'v'} ** value_bytes;
        var i: u32 = 0;
        while (i < self.ops) : (i += 1) {
            const key = keyAt(random.uintLessThan(u32, keys_count));
            const get = random.uintLessThan(u32, 100) < get_percent;
            const s = self.session orelse &self.store.session_default;
            const n = if (get) s.get(key, &self.out, 0, 0) else s.store(1, key, &value, 0, 0);
            if (n >= 0) self.hits += 1;
        }
    }
};

/// The best ns/op of `repeats` runs.
fn measureBest(store: *Store, threads_count: u32, direct: bool) !u64 {
    var best: u64 = std.math.maxInt(u64);
    for (0..repeats) |_| best = @min(best, try measure(store, threads_count, direct));
    return best;
}

fn measure(store: *Store, threads_count: u32, direct: bool) !u64 {
    std.debug.assert(threads_count >= 1 and threads_count <= threads_max);
    std.debug.assert(!direct or threads_count == 1);
    var runners: [threads_max]Runner = undefined;
    var threads: [threads_max]std.Thread = undefined;
    for (runners[0..threads_count], 0..) |*runner, i| {
        const session = if (direct) null else Session.open(store) orelse return error.SessionOpen;
        runner.* = .{ .store = store, .session = session, .ops = ops_total / threads_count, .seed = i + 1 };
    }
    var timer = try std.time.Timer.start();
    for (runners[0..threads_count], 0..) |*runner, i| threads[i] = try std.Thread.spawn(.{}, Runner.run, .{runner});
    for (threads[0..threads_count]) |thread| thread.join();
    const elapsed_ns = timer.read();
    for (runners[0..threads_count]) |*runner| {
        if (runner.hits != runner.ops) return error.Misses;
        if (runner.session) |session| session.close();
    }
    return elapsed_ns / (ops_total / threads_count * threads_count);
}

pub fn main() !void {
    const params = cache.Params{
        .memory_bytes_max = 256 << 20,
        .growth_factor = 1.25,
        .unix_now_s = @intCast(std.time.timestamp()),
        .item_size_max = 1 << 20,
        .chunk_size_min = 48,
        .evictions_disabled = 0,
        .pending_max = 16,
        .eviction_log_max = 0,
        .reserved = 0,
    };
    const store = Store.create(&params) orelse return error.CreateFailed;
    defer store.destroy();
    const value = [_]u8{'v'} ** value_bytes;
    for (0..keys_count) |i| {
        var key_buf: [key_bytes]u8 = undefined;
        @memcpy(keys[i * key_bytes ..][0..key_bytes], keyOf(@intCast(i), &key_buf));
        if (store.session_default.store(1, keyAt(@intCast(i)), &value, 0, 0) != Status.ok) return error.Prefill;
    }
    _ = try measure(store, 1, true); // warm-up
    const stdout = std.io.getStdOut().writer();
    try stdout.print("store: {d} keys, {d}% get / {d}% set of {d} B, {d} ops per run\n", .{ keys_count, get_percent, 100 - get_percent, value_bytes, ops_total });
    const direct_ns = try measureBest(store, 1, true);
    try stdout.print("1 thread, direct (no session, no lock): {d} ns/op\n", .{direct_ns});
    var one_ns: u64 = 0;
    for (thread_counts) |threads_count| {
        const ns = try measureBest(store, threads_count, false);
        if (threads_count == 1) one_ns = ns;
        const speedup = @as(f64, @floatFromInt(one_ns)) / @as(f64, @floatFromInt(@max(ns, 1)));
        try stdout.print("{d} thread(s), sessions: {d} ns/op (wall, all threads), x{d:.2} of 1 thread\n", .{ threads_count, ns, speedup });
    }
}
