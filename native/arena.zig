//! arena: the one block of item memory, reserved at start-up.
//!
//! `map` reserves `bytes` with mmap(PRIVATE|ANONYMOUS|NORESERVE): nothing is committed until a
//! page is touched, so RSS grows with use. Items are addressed by `Ref` = byte offset / 8 + 1
//! (items.zig), so the arena may be at most `arena_bytes_max` (32 GiB less 8 bytes).
//!
//! Contract: `map` returns error.OutOfMemory when mmap fails and error.TooLarge past the limit.
//! `mapZeroed` is the same mmap for metadata (hash table, pending slots): zero-filled, lazily
//! committed. Nothing here is called after create.
//!
//! Both ask for transparent huge pages (MADV_HUGEPAGE; honoured when THP is `madvise` or
//! `always`): items and buckets are reached at random, and with 4 KiB pages nearly every lookup
//! and value copy also missed the TLB. RSS then grows in steps of up to 2 MiB instead of 4 KiB.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const Ref = items.Ref;

pub const ref_unit_bytes = 8;
/// Refs are u32 and 0 is "none": the last byte offset must fit in (maxInt(u32) - 1) units.
pub const arena_bytes_max: u64 = (@as(u64, std.math.maxInt(u32)) - 1) * ref_unit_bytes;

pub const Error = error{ OutOfMemory, TooLarge };

pub const Arena = struct {
    memory: []align(std.mem.page_size) u8,
    /// Address of ref 0, one unit before the arena, so `ref * 8 + base_address` is the item.
    base_address: usize,

    pub fn map(bytes: u64) Error!Arena {
        if (bytes == 0) return error.TooLarge;
        if (bytes > arena_bytes_max) return error.TooLarge;
        const memory = try mapZeroed(@intCast(bytes));
        return .{ .memory = memory, .base_address = @intFromPtr(memory.ptr) - ref_unit_bytes };
    }

    pub fn unmap(self: *Arena) void {
        std.posix.munmap(self.memory);
        self.* = undefined;
    }

    pub fn header(self: *const Arena, ref: Ref) *items.Header {
        assert(ref != items.ref_none);
        assert(@as(usize, ref - 1) * ref_unit_bytes < self.memory.len);
        return @ptrFromInt(self.base_address + @as(usize, ref) * ref_unit_bytes);
    }

    pub fn refOf(self: *const Arena, h: *const items.Header) Ref {
        const offset = @intFromPtr(h) - @intFromPtr(self.memory.ptr);
        assert(offset % ref_unit_bytes == 0);
        assert(offset < self.memory.len);
        return @intCast(offset / ref_unit_bytes + 1);
    }

    pub fn refAt(self: *const Arena, offset_bytes: u64) Ref {
        assert(offset_bytes % ref_unit_bytes == 0);
        assert(offset_bytes < self.memory.len);
        return @intCast(offset_bytes / ref_unit_bytes + 1);
    }
};

pub fn mapZeroed(bytes: usize) error{OutOfMemory}![]align(std.mem.page_size) u8 {
    assert(bytes > 0);
    const length = std.mem.alignForward(usize, bytes, std.mem.page_size);
    const memory = std.posix.mmap(
        null,
        length,
        std.posix.PROT.READ | std.posix.PROT.WRITE,
        .{ .TYPE = .PRIVATE, .ANONYMOUS = true, .NORESERVE = true },
        -1,
        0,
    ) catch return error.OutOfMemory;
    std.posix.madvise(memory.ptr, memory.len, std.posix.MADV.HUGEPAGE) catch {};
    return memory;
}

pub fn unmapZeroed(memory: []align(std.mem.page_size) u8) void {
    std.posix.munmap(memory);
}

test "arena: refs round-trip and 0 is none" {
    var arena = try Arena.map(1 << 20);
    defer arena.unmap();
    const first = arena.refAt(0);
    try std.testing.expectEqual(@as(Ref, 1), first);
    const h = arena.header(first);
    try std.testing.expectEqual(@intFromPtr(arena.memory.ptr), @intFromPtr(h));
    try std.testing.expectEqual(first, arena.refOf(h));
    const later = arena.refAt(4096);
    try std.testing.expectEqual(@intFromPtr(arena.memory.ptr) + 4096, @intFromPtr(arena.header(later)));
    try std.testing.expectError(error.TooLarge, Arena.map(arena_bytes_max + 8));
}
