//! items: the layout of one item in the arena.
//!
//! An item is a 36-byte header, then the client flags (4 bytes, only when they are not 0, as
//! memcached 1.6 does), then the key bytes, then the value bytes followed by "\r\n" (stored, so a
//! text-protocol reply is one memcpy). Items live in slab chunks; a chunk's class is its page's
//! (slabs.zig), not a header field. Items refer to each other with `Ref`s (see arena.zig): u32
//! offsets in 8-byte units, 0 meaning "none".
//!
//! Why 36 bytes: a 14-byte key with a 100-byte value then needs 152 bytes, memcached's third
//! class, where memcached's 56-byte header (48 + cas) needs its fourth (192). The walk mark and
//! the flush epoch are one byte each; cache.zig renumbers them before they could wrap.
//!
//! Contract: `totalBytes` returns the bytes an item needs (header + flags + key + value + CRLF)
//! as u64 so it cannot overflow; the caller compares it against the page size (TOO_LARGE).
//! Nothing here fails: the functions assert their preconditions.
const std = @import("std");
const assert = std.debug.assert;

/// A reference to an item: (byte offset in the arena / 8) + 1. 0 is "no item".
pub const Ref = u32;
pub const ref_none: Ref = 0;

pub const key_bytes_max = 250;
pub const header_bytes = 36;
pub const client_flags_bytes = 4;
/// memcached's sizeof(item) on 64-bit: slab class sizes start from it (class 1 = 48 + -n), so
/// our classes are memcached's whatever our own header size.
pub const memcached_item_bytes = 48;
pub const crlf = "\r\n";

/// Item flags (Header.item_flags).
pub const flag_fetched: u8 = 1 << 0; // read at least once since stored (for *_unfetched counters)
pub const flag_linked: u8 = 1 << 1; // in the hash table and its class's LRU
pub const flag_pending: u8 = 1 << 2; // reserved by rc_reserve, not linked, never evicted
/// Linked but must not be evicted right now (append, incr). The same bit as flag_pending: a
/// pending item is never linked and a pinned one always is, so the two never meet.
pub const flag_pinned: u8 = flag_pending;
/// Meta protocol: invalidated (`md I`, `ms I` below the item's cas); mg answers X, and W to the
/// first client after the invalidation.
pub const flag_stale: u8 = 1 << 3;
pub const flag_active: u8 = 1 << 4; // fetched at least twice (for evicted_active)
pub const flag_client_flags: u8 = 1 << 5; // client flags stored after the header (not 0)
/// A replication tombstone: the key was deleted at this item's cas (no value). Invisible to
/// clients; it lets a replicated store order a delete against the peer's writes (cache.zig).
pub const flag_tombstone: u8 = 1 << 6;
/// Meta protocol: a win token (W) was handed out for this item; later mg answer Z.
pub const flag_win_token: u8 = 1 << 7;
/// The meta state a replication peer of our kind receives (`rcb1_meta`).
pub const meta_state_flags: u8 = flag_stale | flag_win_token;

pub const Header = extern struct {
    lru_prev: Ref, // towards the head (more recently used)
    lru_next: Ref, // towards the tail; also the free-list link of a free chunk
    chain_next: Ref, // next item in the same hash bucket
    time_s: u32, // last access, relative seconds (clock.zig)
    exptime_s: u32, // relative seconds; 0 = never
    value_len: u32, // value bytes, without the stored CRLF
    cas: u64 align(4), // at offset 24: 8-aligned in a chunk, but the header packs to 36 bytes
    key_len: u8,
    item_flags: u8,
    /// The cursor walk that last returned this item (cache.zig; 0 = none).
    walk_mark: u8,
    /// The store's flush epoch when the item was linked: an immediate flush_all hides the items
    /// linked before it in its own second, whatever their cas (a replicated item keeps the cas
    /// its peer minted, which may be older than the flush it arrives after).
    flush_epoch: u8,
};

comptime {
    assert(@sizeOf(Header) == header_bytes);
    assert(@offsetOf(Header, "cas") % 8 == 0);
    assert(header_bytes % client_flags_bytes == 0);
}

fn flagsBytes(flags: u32) usize {
    return if (flags == 0) 0 else client_flags_bytes;
}

pub fn totalBytes(key_len: usize, value_len: usize, flags: u32) u64 {
    return @as(u64, header_bytes) + flagsBytes(flags) + key_len + value_len + crlf.len;
}

/// Writes the header, flags and key of a new item (not linked, not fetched, cas 0) and the CRLF
/// after its value; the caller writes the value bytes.
pub fn init(h: *Header, key: []const u8, value_len: u32, flags: u32, exptime_s: u32) void {
    assert(key.len > 0);
    assert(key.len <= key_bytes_max);
    h.* = .{
        .lru_prev = ref_none,
        .lru_next = ref_none,
        .chain_next = ref_none,
        .time_s = 0,
        .exptime_s = exptime_s,
        .value_len = value_len,
        .cas = 0,
        .key_len = @intCast(key.len),
        .item_flags = if (flags == 0) 0 else flag_client_flags,
        .walk_mark = 0,
        .flush_epoch = 0,
    };
    if (flags != 0) std.mem.writeInt(u32, bytes(h)[header_bytes..][0..client_flags_bytes], flags, .little);
    @memcpy(keyOf(h), key);
    @memcpy(dataOf(h)[value_len..][0..crlf.len], crlf);
}

/// Writes the item flags of an item other threads may look at: one atomic byte store (the
/// writer holds the item's stripe; an eviction walk reads them under a class lock only, to find
/// the key, see `keyOfShared`).
pub fn setFlags(h: *Header, flags: u8) void {
    @atomicStore(u8, &h.item_flags, flags, .monotonic);
}

/// The key of a linked item whose stripe the caller does not hold (an eviction or reclaim walk
/// under a class lock): the key bytes never change while it is linked; the flags are read
/// atomically.
pub fn keyOfShared(h: *Header) []u8 {
    const flags = @atomicLoad(u8, &h.item_flags, .monotonic);
    const offset: usize = if (flags & flag_client_flags != 0) header_bytes + client_flags_bytes else header_bytes;
    return bytes(h)[offset..][0..h.key_len];
}

pub fn bytes(h: *Header) [*]u8 {
    return @ptrCast(h);
}

fn keyOffset(h: *const Header) usize {
    return if (h.item_flags & flag_client_flags != 0) header_bytes + client_flags_bytes else header_bytes;
}

/// The client's opaque flags (0 when none are stored).
pub fn flagsOf(h: *const Header) u32 {
    if (h.item_flags & flag_client_flags == 0) return 0;
    const at: [*]const u8 = @ptrCast(h);
    return std.mem.readInt(u32, at[header_bytes..][0..client_flags_bytes], .little);
}

pub fn keyOf(h: *Header) []u8 {
    return bytes(h)[keyOffset(h)..][0..h.key_len];
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
    return bytes(h) + keyOffset(h) + h.key_len;
}

pub fn sizeOf(h: *const Header) u64 {
    return totalBytes(h.key_len, h.value_len, flagsOf(h));
}

pub fn keyEql(h: *Header, key: []const u8) bool {
    if (h.key_len != key.len) return false;
    return std.mem.eql(u8, keyOf(h), key);
}

test "items: header layout, flags only when not 0, value bytes" {
    var chunk: [128]u8 align(8) = undefined;
    const h: *Header = @ptrCast(&chunk);
    init(h, "key", 5, 42, 0);
    @memcpy(valueOf(h), "hello");
    try std.testing.expectEqualStrings("key", keyOf(h));
    try std.testing.expectEqual(@as(u32, 42), flagsOf(h));
    try std.testing.expectEqualStrings("hello\r\n", valueCrlfOf(h));
    try std.testing.expectEqual(@as(u64, 36 + 4 + 3 + 5 + 2), sizeOf(h));
    try std.testing.expectEqualStrings("key", chunk[40..43]);
    try std.testing.expect(keyEql(h, "key"));
    try std.testing.expect(!keyEql(h, "kez"));
    try std.testing.expect(!keyEql(h, "ke"));

    init(h, "key", 5, 0, 0);
    @memcpy(valueOf(h), "world");
    try std.testing.expectEqual(@as(u32, 0), flagsOf(h));
    try std.testing.expectEqualStrings("key", chunk[36..39]);
    try std.testing.expectEqualStrings("world\r\n", valueCrlfOf(h));
    try std.testing.expectEqual(@as(u64, 36 + 3 + 5 + 2), sizeOf(h));
    // A 14-byte key and a 100-byte value fit memcached's 152-byte class.
    try std.testing.expectEqual(@as(u64, 152), totalBytes(14, 100, 0));
}
