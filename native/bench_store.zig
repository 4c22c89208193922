//! bench_store: the store's hot path with 1, 2 and 4 threads, each through its own session
//! (`zig build bench-store -Doptimize=ReleaseFast`). 90% gets and 10% sets of 64-byte values
//! over `keys_count` prefilled keys; `ops_total` operations split evenly over the threads.
//! Prints wall-clock ns per operation (all threads' operations together), the speed-up over
//! one thread, and the threads' CPU time per operation with cpu/wall (how many threads ran at
//! once: on a shared machine the wall clock also counts other processes' turns, the CPU time
//! does not). A first line runs one thread on the store's default session (what rc_create
//! gives a single-threaded server) beside the opened-session lines. Keys are formatted before
//! the clock starts; each line is the best wall time of `repeats` runs (after a warm-up).
//! Last, sets only with each thread on its own keys and its own slab class (thread i stores
//! values of 64 + 100·i bytes): nothing is shared but the store's own structures, so what the
//! threads cost each other is false sharing and the cas counter, not a common lock.
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
/// Sets only, separate classes: thread i stores values of value_bytes + class_step_bytes * i.
const class_step_bytes = 100;
const value_bytes_max = value_bytes + class_step_bytes * (threads_max - 1);

/// What the runners do: the shared 90/10 mix, or sets only, each on its own keys and class.
const Mix = enum { shared, separate_classes };
const repeats = 5;

/// Every key, formatted once: key i at [i * key_bytes, (i + 1) * key_bytes).
var keys: [keys_count * key_bytes]u8 = undefined;

fn keyAt(index: u32) []const u8 {
    return keys[@as(usize, index) * key_bytes ..][0..key_bytes];
}

fn keyOf(index: u32, buf: *[key_bytes]u8) []const u8 {
    return std.fmt.bufPrint(buf, "key:{d:0>12}", .{index}) catch unreachable;
}

/// One thread's state, on cache lines of its own (aligned, and its counters written once at the
/// end): a runner's writes must not evict the fields another runner reads on every operation.
const Runner = struct {
    store: *Store align(std.atomic.cache_line),
    session: ?*Session,
    ops: u32,
    seed: u64,
    get_percent: u32 = get_percent,
    value_len: usize = value_bytes,
    /// This runner's keys: those whose index modulo key_parts is key_part.
    key_part: u32 = 0,
    key_parts: u32 = 1,
    out: [1024]u8 = undefined,
    hits: u64 = 0,
    cpu_ns: u64 = 0,

    fn run(self: *Runner) void {
        const cpu_start = threadCpuNs();
        defer self.cpu_ns = threadCpuNs() - cpu_start;
        var prng = std.Random.DefaultPrng.init(self.seed);
        const random = prng.random();
        const value_all = [_]u8{'v'} ** value_bytes_max;
        const value = value_all[0..self.value_len];
        var hits: u64 = 0;
        defer self.hits = hits;
        var i: u32 = 0;
        while (i < self.ops) : (i += 1) {
            const index = random.uintLessThan(u32, keys_count);
            const key = keyAt(index - index % self.key_parts + self.key_part);
            const get = random.uintLessThan(u32, 100) < self.get_percent;
            const s = self.session orelse &self.store.session_default;
            const n = if (get) s.get(key, &self.out, 0, 0) else s.store(1, key, value, 0, 0);
            if (n >= 0) hits += 1;
        }
    }
};

fn threadCpuNs() u64 {
    var ts: std.posix.timespec = undefined;
    std.posix.clock_gettime(.THREAD_CPUTIME_ID, &ts) catch return 0;
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

const Result = struct { wall_ns: u64, cpu_ns: u64 };

/// The run with the best wall ns/op of `repeats` runs.
fn measureBest(store: *Store, threads_count: u32, direct: bool, mix: Mix) !Result {
    var best = Result{ .wall_ns = std.math.maxInt(u64), .cpu_ns = 0 };
    for (0..repeats) |_| {
        const result = try measure(store, threads_count, direct, mix);
        if (result.wall_ns < best.wall_ns) best = result;
    }
    return best;
}

fn measure(store: *Store, threads_count: u32, direct: bool, mix: Mix) !Result {
    std.debug.assert(threads_count >= 1 and threads_count <= threads_max);
    std.debug.assert(!direct or threads_count == 1);
    var runners: [threads_max]Runner = undefined;
    var threads: [threads_max]std.Thread = undefined;
    for (runners[0..threads_count], 0..) |*runner, i| {
        const session = if (direct) null else Session.open(store) orelse return error.SessionOpen;
        runner.* = .{ .store = store, .session = session, .ops = ops_total / threads_count, .seed = i + 1 };
        if (mix == .separate_classes) {
            runner.get_percent = 0;
            runner.value_len = value_bytes + class_step_bytes * i;
            runner.key_part = @intCast(i);
            runner.key_parts = threads_count;
        }
    }
    var timer = try std.time.Timer.start();
    for (runners[0..threads_count], 0..) |*runner, i| threads[i] = try std.Thread.spawn(.{}, Runner.run, .{runner});
    for (threads[0..threads_count]) |thread| thread.join();
    const elapsed_ns = timer.read();
    var cpu_ns: u64 = 0;
    for (runners[0..threads_count]) |*runner| {
        if (runner.hits != runner.ops) return error.Misses;
        if (runner.session) |session| session.close();
        cpu_ns += runner.cpu_ns;
    }
    const ops = ops_total / threads_count * threads_count;
    return .{ .wall_ns = elapsed_ns / ops, .cpu_ns = cpu_ns / ops };
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
    _ = try measure(store, 1, true, .shared); // warm-up
    const stdout = std.io.getStdOut().writer();
    try stdout.print("store: {d} keys, {d}% get / {d}% set of {d} B, {d} ops per run\n", .{ keys_count, get_percent, 100 - get_percent, value_bytes, ops_total });
    const direct = try measureBest(store, 1, true, .shared);
    try stdout.print("1 thread, default session: {d} ns/op (wall), {d} ns/op cpu\n", .{ direct.wall_ns, direct.cpu_ns });
    try printScaling(stdout, store, .shared, "sessions");
    try stdout.print("sets only, each thread its own keys and slab class ({d} B + {d} B per thread):\n", .{ value_bytes, class_step_bytes });
    try printScaling(stdout, store, .separate_classes, "sets, own class");
}

fn printScaling(stdout: anytype, store: *Store, mix: Mix, label: []const u8) !void {
    var one_ns: u64 = 0;
    for (thread_counts) |threads_count| {
        const result = try measureBest(store, threads_count, false, mix);
        if (threads_count == 1) one_ns = result.wall_ns;
        const speedup = @as(f64, @floatFromInt(one_ns)) / @as(f64, @floatFromInt(@max(result.wall_ns, 1)));
        const parallel = @as(f64, @floatFromInt(result.cpu_ns)) / @as(f64, @floatFromInt(@max(result.wall_ns, 1)));
        try stdout.print("{d} thread(s), {s}: {d} ns/op (wall, all threads), x{d:.2} of 1 thread; {d} ns/op cpu, cpu/wall {d:.2}\n", .{ threads_count, label, result.wall_ns, speedup, result.cpu_ns, parallel });
    }
}
