//! pending: the bounded table of items being received in pieces (rc_reserve/fill/commit/abort).
//!
//! A 1 MiB value arrives over many socket reads. `rc_reserve` allocates the item's chunk at once
//! (header and key written, not linked: no lookup sees it and the LRU never evicts it) and takes
//! a slot here; `rc_fill` appends value bytes; `rc_commit` links it; `rc_abort` frees it. The
//! table has `slots_max` slots (params.pending_max, at most `pending_max_limit`), allocated at
//! create, and a stack of free slot indices.
//!
//! Contract: `acquire` returns null when every slot is in use; `get` returns null for an index
//! out of range or not in use (a stale or forged slot number).
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");
const Ref = items.Ref;

pub const pending_max_limit: u32 = 1 << 16;

pub const Slot = struct {
    /// The session that reserved the slot (its address): only it may fill, commit or abort.
    owner: usize,
    ref: Ref,
    filled_bytes: u32, // value bytes received so far
    op: u8,
    in_use: bool,
};

pub const Pending = struct {
    memory: []align(std.mem.page_size) u8,
    slots: []Slot,
    free_stack: []u32,
    free_count: u32,

    pub fn init(slots_max: u32) error{OutOfMemory}!Pending {
        assert(slots_max >= 1);
        assert(slots_max <= pending_max_limit);
        const slot_bytes = @as(usize, slots_max) * @sizeOf(Slot);
        const memory = try arena_zig.mapZeroed(slot_bytes + @as(usize, slots_max) * @sizeOf(u32));
        const slots: [*]Slot = @ptrCast(memory.ptr);
        const stack: [*]u32 = @ptrCast(@alignCast(memory.ptr + slot_bytes));
        const self = Pending{
            .memory = memory,
            .slots = slots[0..slots_max],
            .free_stack = stack[0..slots_max],
            .free_count = slots_max,
        };
        for (self.slots) |*slot| slot.* = .{ .owner = 0, .ref = items.ref_none, .filled_bytes = 0, .op = 0, .in_use = false };
        // Pop order: slot 0 first.
        for (self.free_stack, 0..) |*entry, i| entry.* = slots_max - 1 - @as(u32, @intCast(i));
        return self;
    }

    pub fn deinit(self: *Pending) void {
        arena_zig.unmapZeroed(self.memory);
        self.* = undefined;
    }

    pub fn usedCount(self: *const Pending) u32 {
        return @as(u32, @intCast(self.slots.len)) - self.free_count;
    }

    pub fn acquire(self: *Pending, owner: usize, ref: Ref, op: u8) ?u32 {
        assert(ref != items.ref_none);
        assert(owner != 0);
        if (self.free_count == 0) return null;
        self.free_count -= 1;
        const index = self.free_stack[self.free_count];
        const slot = &self.slots[index];
        assert(!slot.in_use);
        slot.* = .{ .owner = owner, .ref = ref, .filled_bytes = 0, .op = op, .in_use = true };
        return index;
    }

    /// The slot `owner` reserved at `index`, or null (another owner's slot is not found either).
    pub fn get(self: *Pending, owner: usize, index: i32) ?*Slot {
        if (index < 0 or index >= self.slots.len) return null;
        const slot = &self.slots[@intCast(index)];
        if (!slot.in_use or slot.owner != owner) return null;
        return slot;
    }

    pub fn release(self: *Pending, slot: *Slot) void {
        assert(slot.in_use);
        assert(self.free_count < self.slots.len);
        const index: u32 = @intCast((@intFromPtr(slot) - @intFromPtr(self.slots.ptr)) / @sizeOf(Slot));
        slot.* = .{ .owner = 0, .ref = items.ref_none, .filled_bytes = 0, .op = 0, .in_use = false };
        self.free_stack[self.free_count] = index;
        self.free_count += 1;
    }
};

const testing = std.testing;

test "pending: acquire until full, release, stale index" {
    var pending = try Pending.init(2);
    defer pending.deinit();
    const a = pending.acquire(1, 11, 1).?;
    const b = pending.acquire(1, 12, 1).?;
    try testing.expectEqual(@as(u32, 0), a);
    try testing.expectEqual(@as(u32, 1), b);
    try testing.expectEqual(@as(?u32, null), pending.acquire(1, 13, 1));
    try testing.expectEqual(@as(u32, 2), pending.usedCount());
    pending.release(pending.get(1, @intCast(a)).?);
    try testing.expectEqual(@as(?*Slot, null), pending.get(1, @intCast(a)));
    try testing.expectEqual(@as(?*Slot, null), pending.get(1, -1));
    try testing.expectEqual(@as(?*Slot, null), pending.get(1, 2));
    try testing.expectEqual(@as(?*Slot, null), pending.get(2, @intCast(b))); // another owner's
    try testing.expectEqual(@as(Ref, 12), pending.get(1, @intCast(b)).?.ref);
    try testing.expectEqual(a, pending.acquire(1, 14, 2).?);
}
