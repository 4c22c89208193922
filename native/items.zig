//! items: the layout of one item in the arena.
//!
//! An item is a 48-byte header, then the key bytes, then the value bytes followed by "\r\n"
//! (stored, so a text-protocol reply is one memcpy). Items live in slab chunks; the chunk's
//! class is in the header. Items refer to each other with `Ref`s (see arena.zig): u32 offsets
//! in 8-byte units, 0 meaning "none".
//!
//! Contract: `totalBytes` returns the bytes an item needs (header + key + value + CRLF) as u64 so
//! it cannot overflow; the caller compares it against the page size (TOO_LARGE). Nothing here
//! fails: the functions assert their preconditions.
const std = @import("std");
const assert = std.debug.assert;

/// A reference to an item: (byte offset in the arena / 8) + 1. 0 is "no item".
pub const Ref = u32;
pub const ref_none: Ref = 0;

pub const key_bytes_max = 250;
pub const header_bytes = 48;
pub const crlf = "\r\n";

/// Item flags (Header.item_flags).
pub const flag_fetched: u8 = 1 << 0; // read at least once since stored (for *_unfetched counters)
pub const flag_linked: u8 = 1 << 1; // in the hash table and its class's LRU
pub const flag_pending: u8 = 1 << 2; // reserved by rc_reserve, not linked, never evicted
pub const flag_pinned: u8 = 1 << 3; // linked but must not be evicted right now (append, incr)
pub const flag_active: u8 = 1 << 4; // fetched at least twice (for evicted_active)

pub const Header = extern struct {
    lru_prev: Ref, // towards the head (more recently used)
    lru_next: Ref, // towards the tail; also the free-list link of a free chunk
    chain_next: Ref, // next item in the same hash bucket
    time_s: u32, // last access, relative seconds (clock.zig)
    exptime_s: u32, // relative seconds; 0 = never
    value_len: u32, // value bytes, without the stored CRLF
    flags: u32, // the client's opaque flags
    walk_generation: u32, // the cursor walk that last returned this item (cache.zig)
    cas: u64,
    /// The store's flush epoch when the item was linked: an immediate flush_all hides the items
    /// linked before it in its own second, whatever their cas (a replicated item keeps the cas
    /// its peer minted, which may be older than the flush it arrives after).
    flush_epoch: u32,
    key_len: u8,
    class_id: u8,
    item_flags: u8,
    spare: [1]u8,
};

comptime {
    assert(@sizeOf(Header) == header_bytes);
    assert(@offsetOf(Header, "cas") % 8 == 0);
    assert(header_bytes % 8 == 0);
}

pub fn totalBytes(key_len: usize, value_len: usize) u64 {
    return @as(u64, header_bytes) + key_len + value_len + crlf.len;
}

pub fn init(h: *Header, class_id: u8, key: []const u8, value_len: u32, flags: u32, exptime_s: u32) void {
    assert(key.len > 0);
    assert(key.len <= key_bytes_max);
    h.* = .{
        .lru_prev = ref_none,
        .lru_next = ref_none,
        .chain_next = ref_none,
        .time_s = 0,
        .exptime_s = exptime_s,
        .value_len = value_len,
        .flags = flags,
        .walk_generation = 0,
        .cas = 0,
        .key_len = @intCast(key.len),
        .class_id = class_id,
        .item_flags = 0,
        .flush_epoch = 0,
        .spare = .{0},
    };
    @memcpy(keyOf(h), key);
    @memcpy(dataOf(h)[value_len..][0..crlf.len], crlf);
}

pub fn bytes(h: *Header) [*]u8 {
    return @ptrCast(h);
}

pub fn keyOf(h: *Header) []u8 {
    return bytes(h)[header_bytes..][0..h.key_len];
}

/// The value bytes (without CRLF).
pub fn valueOf(h: *Header) []u8 {
    return dataOf(h)[0..h.value_len];
}

/// The value bytes followed by the stored CRLF.
pub fn valueCrlfOf(h: *Header) []u8 {
    return dataOf(h)[0 .. h.value_len + crlf.len];
}

fn dataOf(h: *Header) [*]u8 {
    return bytes(h) + header_bytes + h.key_len;
}

pub fn sizeOf(h: *const Header) u64 {
    return totalBytes(h.key_len, h.value_len);
}

pub fn keyEql(h: *Header, key: []const u8) bool {
    if (h.key_len != key.len) return false;
    return std.mem.eql(u8, keyOf(h), key);
}

test "items: header layout and value bytes" {
    var chunk: [128]u8 align(8) = undefined;
    const h: *Header = @ptrCast(&chunk);
    init(h, 3, "key", 5, 42, 0);
    @memcpy(valueOf(h), "hello");
    try std.testing.expectEqualStrings("key", keyOf(h));
    try std.testing.expectEqualStrings("hello\r\n", valueCrlfOf(h));
    try std.testing.expectEqual(@as(u64, 48 + 3 + 5 + 2), sizeOf(h));
    try std.testing.expect(keyEql(h, "key"));
    try std.testing.expect(!keyEql(h, "kez"));
    try std.testing.expect(!keyEql(h, "ke"));
    try std.testing.expectEqual(@as(u8, 0), h.spare[0]);
}
