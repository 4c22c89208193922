//! clock: the store's notion of time, exactly like memcached 1.6.
//!
//! `process_started` is the unix time at create minus 2 (so relative time starts at 2 and the
//! "already expired" time 1 is in the past); `current_time_s` is seconds since then, advanced by
//! `advance` (JS calls rc_clock every second) and never moved backwards.
//!
//! realtime(exptime): 0 -> 0 (never); negative -> 1 (already expired); above 30 days
//! (`realtime_delta_max_s`) -> an absolute unix time: at or before process_started -> 1, else
//! exptime - process_started; otherwise exptime + current_time_s. An item expires when
//! exptime != 0 and exptime <= current_time_s.
//!
//! Contract: no errors; relative times saturate at maxInt(u32).
const std = @import("std");
const assert = std.debug.assert;

pub const realtime_delta_max_s: i64 = 60 * 60 * 24 * 30; // memcached REALTIME_MAXDELTA
pub const started_offset_s = 2;
pub const time_expired_s: u32 = 1;

pub const Clock = struct {
    process_started: i64,
    current_time_s: u32,

    pub fn init(unix_now_s: i64) Clock {
        return .{ .process_started = unix_now_s - started_offset_s, .current_time_s = started_offset_s };
    }

    /// `current_time_s`, read atomically: one caller advances it while others read (session.zig).
    pub fn now(self: *const Clock) u32 {
        return @atomicLoad(u32, &self.current_time_s, .monotonic);
    }

    /// Callers advancing the clock are serialised by the store (its flush mutex).
    pub fn advance(self: *Clock, unix_now_s: i64) void {
        const relative = unix_now_s - self.process_started;
        if (relative <= self.now()) return;
        @atomicStore(u32, &self.current_time_s, @intCast(@min(relative, std.math.maxInt(u32))), .monotonic);
    }

    pub fn realtime(self: *const Clock, exptime: i32) u32 {
        if (exptime == 0) return 0;
        if (exptime < 0) return time_expired_s;
        if (exptime > realtime_delta_max_s) {
            if (exptime <= self.process_started) return time_expired_s;
            return saturate(exptime - self.process_started);
        }
        return saturate(@as(i64, exptime) + self.now());
    }

    pub fn isExpired(self: *const Clock, exptime_s: u32) bool {
        return exptime_s != 0 and exptime_s <= self.now();
    }

    /// Relative time -> absolute unix seconds (0 stays 0: never).
    pub fn absolute(self: *const Clock, time_s: u32) u32 {
        if (time_s == 0) return 0;
        const unix = self.process_started + time_s;
        assert(unix >= 0);
        return @intCast(@min(unix, std.math.maxInt(u32)));
    }
};

fn saturate(value: i64) u32 {
    assert(value > 0);
    return @intCast(@min(value, std.math.maxInt(u32)));
}

const testing = std.testing;

test "clock: realtime edges" {
    const now: i64 = 1_700_000_000;
    var clock = Clock.init(now);
    try testing.expectEqual(@as(u32, 2), clock.current_time_s);
    try testing.expectEqual(@as(u32, 0), clock.realtime(0));
    try testing.expectEqual(@as(u32, 1), clock.realtime(-1));
    try testing.expect(clock.isExpired(clock.realtime(-1)));
    try testing.expectEqual(@as(u32, 2 + 2592000), clock.realtime(2592000)); // relative
    try testing.expectEqual(@as(u32, 1), clock.realtime(2592001)); // absolute, long past
    const absolute: i32 = @intCast(now + 100);
    try testing.expectEqual(@as(u32, 102), clock.realtime(absolute));
    try testing.expectEqual(@as(u32, now + 100), clock.absolute(clock.realtime(absolute)));
    try testing.expectEqual(@as(u32, 1), clock.realtime(@intCast(now - 2))); // == process_started
    try testing.expectEqual(@as(u32, 1), clock.realtime(@intCast(now - 1)));
    try testing.expect(clock.isExpired(clock.realtime(@intCast(now)))); // absolute "now" is over
    // Expiry is inclusive: exptime <= current_time.
    try testing.expect(!clock.isExpired(3));
    clock.advance(now + 1);
    try testing.expect(clock.isExpired(3));
    // The clock never goes backwards.
    clock.advance(now - 10);
    try testing.expectEqual(@as(u32, 3), clock.current_time_s);
    try testing.expect(!clock.isExpired(0));
}
