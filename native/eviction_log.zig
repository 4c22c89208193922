//! eviction_log: a bounded ring of evicted keys, drained by the replication link.
//!
//! memcached/repcached propagate an eviction to the peer as a delete. When enabled
//! (params.eviction_log_max > 0 entries, at most `entries_limit`), each evicted key is appended
//! with the cas of the evicted version; `take` moves whole entries, oldest first, into a caller
//! buffer as [u8 len][key bytes][u64 cas, little-endian].
//! Each entry has a fixed `entry_bytes` slot, allocated at create.
//!
//! Contract: `push` returns false and counts `dropped` when the ring is full (the newest key is
//! the one dropped, so what remains stays in order); `take` returns the bytes written (0 when
//! empty or when the oldest entry does not fit).
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");

pub const entries_limit: u32 = 1 << 20;
pub const entry_bytes = 264; // 1 length byte + up to 250 key bytes + 8 cas bytes, padded
const cas_bytes = 8;
comptime {
    assert(1 + items.key_bytes_max + cas_bytes <= entry_bytes);
}

pub const EvictionLog = struct {
    memory: ?[]align(std.mem.page_size) u8,
    entries_max: u32,
    oldest: u32,
    count: u32,
    dropped: u64,

    pub fn init(entries_max: u32) error{OutOfMemory}!EvictionLog {
        assert(entries_max <= entries_limit);
        var self = EvictionLog{ .memory = null, .entries_max = entries_max, .oldest = 0, .count = 0, .dropped = 0 };
        if (entries_max > 0) self.memory = try arena_zig.mapZeroed(@as(usize, entries_max) * entry_bytes);
        return self;
    }

    pub fn deinit(self: *EvictionLog) void {
        if (self.memory) |memory| arena_zig.unmapZeroed(memory);
        self.* = undefined;
    }

    pub fn enabled(self: *const EvictionLog) bool {
        return self.entries_max > 0;
    }

    pub fn push(self: *EvictionLog, key: []const u8, cas: u64) bool {
        assert(self.enabled());
        assert(key.len > 0);
        assert(key.len <= items.key_bytes_max);
        if (self.count == self.entries_max) {
            self.dropped += 1;
            return false;
        }
        const slot = self.entryAt((self.oldest + self.count) % self.entries_max);
        slot[0] = @intCast(key.len);
        @memcpy(slot[1..][0..key.len], key);
        std.mem.writeInt(u64, slot[1 + key.len ..][0..cas_bytes], cas, .little);
        self.count += 1;
        return true;
    }

    pub fn take(self: *EvictionLog, out: []u8) usize {
        var written: usize = 0;
        while (self.count > 0) {
            const slot = self.entryAt(self.oldest);
            const len = 1 + @as(usize, slot[0]) + cas_bytes;
            if (written + len > out.len) break;
            @memcpy(out[written..][0..len], slot[0..len]);
            written += len;
            self.oldest = (self.oldest + 1) % self.entries_max;
            self.count -= 1;
        }
        return written;
    }

    fn entryAt(self: *EvictionLog, index: u32) *[entry_bytes]u8 {
        assert(index < self.entries_max);
        return self.memory.?[@as(usize, index) * entry_bytes ..][0..entry_bytes];
    }
};

const testing = std.testing;

test "eviction_log: order, wrap, overflow, partial take" {
    var log = try EvictionLog.init(3);
    defer log.deinit();
    try testing.expect(log.push("a", 1));
    try testing.expect(log.push("bb", 0x0102030405060708));
    try testing.expect(log.push("ccc", 3));
    try testing.expect(!log.push("dddd", 4));
    try testing.expectEqual(@as(u64, 1), log.dropped);
    var out: [48]u8 = undefined;
    // Room for "a" and "bb" only.
    try testing.expectEqual(@as(usize, 21), log.take(out[0..30]));
    try testing.expectEqualSlices(u8, "\x01a\x01\x00\x00\x00\x00\x00\x00\x00\x02bb\x08\x07\x06\x05\x04\x03\x02\x01", out[0..21]);
    try testing.expect(log.push("ee", 5)); // wraps around
    try testing.expectEqual(@as(usize, 23), log.take(&out));
    try testing.expectEqualSlices(u8, "\x03ccc\x03\x00\x00\x00\x00\x00\x00\x00\x02ee\x05\x00\x00\x00\x00\x00\x00\x00", out[0..23]);
    try testing.expectEqual(@as(usize, 0), log.take(&out));
    var disabled = try EvictionLog.init(0);
    defer disabled.deinit();
    try testing.expect(!disabled.enabled());
}
