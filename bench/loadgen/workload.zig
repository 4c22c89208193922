//! Workload: decides the next request. In the preload every key is set once, in key order; in the
//! mixed mode each request is a get (of --multiget uniformly random keys) with probability
//! --get-ratio, otherwise a set of one uniformly random key with a uniformly random size.
const std = @import("std");
const assert = std.debug.assert;
const Config = @import("config.zig").Config;

pub const Mode = enum { preload, mixed };

pub const Set = struct { key: u32, value_bytes: u32, noreply: bool };

pub const Op = union(enum) {
    /// The keys were written into the caller's slice; this many of them.
    get: u32,
    set: Set,
};

pub const Workload = struct {
    random: std.Random.DefaultPrng,
    mode: Mode = .mixed,
    keys: u32,
    /// A request is a get when the top 32 bits of a random u64 are below this (get_ratio × 2^32).
    get_threshold: u64,
    multiget: u32,
    value_min_bytes: u32,
    value_max_bytes: u32,
    noreply: bool,
    preload_next: u32 = 0,

    pub fn init(config: *const Config) Workload {
        assert(config.get_ratio >= 0);
        assert(config.get_ratio <= 1);
        assert(config.value_min_bytes <= config.value_max_bytes);
        const scale: f64 = @floatFromInt(@as(u64, 1) << 32);
        return .{
            .random = std.Random.DefaultPrng.init(config.seed),
            .keys = config.keys,
            .get_threshold = @intFromFloat(@round(config.get_ratio * scale)),
            .multiget = config.multiget,
            .value_min_bytes = config.value_min_bytes,
            .value_max_bytes = config.value_max_bytes,
            .noreply = config.noreply,
        };
    }

    /// The next request, or null when the preload has issued every key.
    pub fn next(workload: *Workload, keys_out: []u32) ?Op {
        assert(keys_out.len >= workload.multiget);
        switch (workload.mode) {
            .preload => {
                if (workload.preload_next == workload.keys) return null;
                const key = workload.preload_next;
                workload.preload_next += 1;
                return .{ .set = .{ .key = key, .value_bytes = workload.valueBytes(), .noreply = false } };
            },
            .mixed => {
                const random = workload.random.random();
                if ((random.int(u64) >> 32) < workload.get_threshold) {
                    for (keys_out[0..workload.multiget]) |*key| key.* = random.uintLessThan(u32, workload.keys);
                    return .{ .get = workload.multiget };
                }
                const key = random.uintLessThan(u32, workload.keys);
                return .{ .set = .{ .key = key, .value_bytes = workload.valueBytes(), .noreply = workload.noreply } };
            },
        }
    }

    pub fn preloadIssued(workload: *const Workload) bool {
        return workload.preload_next == workload.keys;
    }

    fn valueBytes(workload: *Workload) u32 {
        if (workload.value_min_bytes == workload.value_max_bytes) return workload.value_min_bytes;
        const spread = workload.value_max_bytes - workload.value_min_bytes;
        return workload.value_min_bytes + workload.random.random().uintAtMost(u32, spread);
    }
};

test "preload sets every key once, then stops" {
    var config: Config = .{ .server = undefined, .keys = 3 };
    var workload = Workload.init(&config);
    workload.mode = .preload;
    var keys: [1]u32 = undefined;
    for (0..3) |key| try std.testing.expectEqual(@as(u32, @intCast(key)), workload.next(&keys).?.set.key);
    try std.testing.expect(workload.next(&keys) == null);
    try std.testing.expect(workload.preloadIssued());
}

test "mixed mode follows the get ratio and the size range" {
    var config: Config = .{ .server = undefined, .get_ratio = 0.9, .multiget = 4, .value_min_bytes = 10, .value_max_bytes = 20 };
    var workload = Workload.init(&config);
    var keys: [4]u32 = undefined;
    var gets: u32 = 0;
    for (0..100_000) |_| switch (workload.next(&keys).?) {
        .get => |count| {
            gets += 1;
            try std.testing.expectEqual(@as(u32, 4), count);
            for (keys) |key| try std.testing.expect(key < config.keys);
        },
        .set => |set| {
            try std.testing.expect(set.value_bytes >= 10);
            try std.testing.expect(set.value_bytes <= 20);
        },
    };
    try std.testing.expect(gets > 89_000);
    try std.testing.expect(gets < 91_000);

    config.get_ratio = 1;
    workload = Workload.init(&config);
    for (0..1000) |_| try std.testing.expect(workload.next(&keys).? == .get);
    config.get_ratio = 0;
    workload = Workload.init(&config);
    for (0..1000) |_| try std.testing.expect(workload.next(&keys).? == .set);
}
