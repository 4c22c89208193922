//! Latency histogram: fixed log-linear buckets of microseconds, HDR-like, no allocation.
//!
//! Below linear_us (1024 µs) every microsecond has its own bucket. Above it, each octave
//! [2^e, 2^(e+1)) is cut into sub_bucket_count (512) equal buckets, so a reported percentile is
//! within 1/512 (0.2 %) of the true value. Octaves run up to the one holding value_us_max (10 s);
//! larger values land in the last bucket, and the exact maximum is kept beside the buckets.
//! A percentile reports the highest value its bucket can hold, clamped to the maximum seen.
const std = @import("std");
const assert = std.debug.assert;

const linear_bits = 10;
const linear_us: u64 = 1 << linear_bits;
const sub_bucket_bits = linear_bits - 1;
const sub_bucket_count: u64 = 1 << sub_bucket_bits;
pub const value_us_max: u64 = 10 * std.time.us_per_s;
const octave_last = std.math.log2_int(u64, value_us_max);
/// 1024 linear buckets + (23 - 10 + 1) octaves × 512 = 8192 buckets (64 KiB of counts).
pub const bucket_count: usize = linear_us + (octave_last - linear_bits + 1) * sub_bucket_count;

const bucket_overflow = bucketOf(value_us_max);

comptime {
    assert(bucket_count == 8192);
    assert(bucketOf(value_us_max) < bucket_count);
}

pub const Histogram = struct {
    counts: [bucket_count]u64 = [_]u64{0} ** bucket_count,
    samples: u64 = 0,
    max_us: u64 = 0,
    sum_us: u64 = 0,

    pub fn record(histogram: *Histogram, value_us: u64) void {
        histogram.counts[bucketOf(value_us)] += 1;
        histogram.samples += 1;
        histogram.max_us = @max(histogram.max_us, value_us);
        histogram.sum_us +|= value_us;
    }

    /// The value at or below which `percent` of samples fall; 0 with no samples.
    pub fn percentile(histogram: *const Histogram, percent: f64) u64 {
        assert(percent > 0);
        assert(percent <= 100);
        if (histogram.samples == 0) return 0;
        const samples: f64 = @floatFromInt(histogram.samples);
        const rank: u64 = @max(1, @as(u64, @intFromFloat(@ceil(samples * percent / 100.0))));
        var seen: u64 = 0;
        for (histogram.counts, 0..) |count, bucket| {
            seen += count;
            if (seen < rank) continue;
            // The last used bucket also holds every value above value_us_max.
            if (bucket == bucket_overflow) return histogram.max_us;
            return @min(bucketHighest(bucket), histogram.max_us);
        }
        unreachable;
    }

    pub fn meanUs(histogram: *const Histogram) f64 {
        if (histogram.samples == 0) return 0;
        const sum: f64 = @floatFromInt(histogram.sum_us);
        const samples: f64 = @floatFromInt(histogram.samples);
        return sum / samples;
    }
};

fn bucketOf(value_us: u64) usize {
    const value: u64 = @min(value_us, value_us_max);
    if (value < linear_us) return @intCast(value);
    const octave: u64 = std.math.log2_int(u64, value);
    assert(octave >= linear_bits);
    const shift: u6 = @intCast(octave - sub_bucket_bits);
    const sub_bucket = (value >> shift) - sub_bucket_count;
    assert(sub_bucket < sub_bucket_count);
    return @intCast(linear_us + (octave - linear_bits) * sub_bucket_count + sub_bucket);
}

fn bucketHighest(bucket: usize) u64 {
    assert(bucket < bucket_count);
    if (bucket < linear_us) return bucket;
    const offset = bucket - linear_us;
    const octave = linear_bits + offset / sub_bucket_count;
    const sub_bucket = sub_bucket_count + offset % sub_bucket_count;
    const shift: u6 = @intCast(octave - sub_bucket_bits);
    return ((sub_bucket + 1) << shift) - 1;
}

test "buckets: 1 µs up to 1 ms, then 1/512 of the octave" {
    try std.testing.expectEqual(@as(usize, 0), bucketOf(0));
    try std.testing.expectEqual(@as(usize, 1023), bucketOf(1023));
    try std.testing.expectEqual(@as(usize, 1024), bucketOf(1024));
    try std.testing.expectEqual(@as(usize, 1024), bucketOf(1025));
    try std.testing.expectEqual(@as(usize, 1025), bucketOf(1026));
    try std.testing.expectEqual(@as(u64, 1025), bucketHighest(1024));
    // Every value lies within its bucket, and the bucket is at most 0.2 % wide.
    var value: u64 = 0;
    while (value < value_us_max) : (value = value * 9 / 8 + 1) {
        const bucket = bucketOf(value);
        try std.testing.expect(bucketHighest(bucket) >= value);
        if (bucket > 0) try std.testing.expect(bucketHighest(bucket - 1) < value);
        try std.testing.expect(bucketHighest(bucket) - value <= @max(1, value / 256));
    }
}

test "percentiles" {
    var histogram: Histogram = .{};
    try std.testing.expectEqual(@as(u64, 0), histogram.percentile(50));
    for (1..1001) |value| histogram.record(value);
    try std.testing.expectEqual(@as(u64, 500), histogram.percentile(50));
    try std.testing.expectEqual(@as(u64, 990), histogram.percentile(99));
    try std.testing.expectEqual(@as(u64, 1000), histogram.percentile(100));
    histogram.record(20 * std.time.us_per_s);
    try std.testing.expectEqual(@as(u64, 20 * std.time.us_per_s), histogram.max_us);
    try std.testing.expectEqual(@as(u64, 20 * std.time.us_per_s), histogram.percentile(100));
}
