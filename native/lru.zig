//! lru: one doubly linked recency list per slab class, threaded through the item headers.
//!
//! The head is the most recently used item, the tail the next one to go. A hit moves an item to
//! the head only when it was last moved more than `bump_interval_s` ago (memcached's
//! ITEM_UPDATE_INTERVAL, 60 s), so hot items cost no list writes. When a class is out of memory
//! the store looks at no more than `tail_search_depth` items from the tail (memcached's search
//! depth, 5): the store decides what to reclaim or evict; this file only keeps the lists.
//!
//! Contract: no errors; `link`/`unlink` assert the item's linked state.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const slabs = @import("slabs.zig");
const Arena = @import("arena.zig").Arena;
const Ref = items.Ref;

pub const bump_interval_s = 60;
pub const tail_search_depth = 5;

/// Whether a hit at `now_s` moves the item (`bump`): callers check it before taking the class's
/// lock, so a hit within the interval costs no lock (session.zig).
pub fn wantsBump(h: *const items.Header, now_s: u32) bool {
    return h.time_s +| bump_interval_s < now_s;
}

pub const Lru = struct {
    heads: [slabs.class_id_max + 1]Ref = [_]Ref{items.ref_none} ** (slabs.class_id_max + 1),
    tails: [slabs.class_id_max + 1]Ref = [_]Ref{items.ref_none} ** (slabs.class_id_max + 1),
    counts: [slabs.class_id_max + 1]u32 = [_]u32{0} ** (slabs.class_id_max + 1),

    /// Puts `ref` at the head of its class `id`'s list.
    pub fn link(self: *Lru, arena: *const Arena, ref: Ref, id: u8) void {
        const h = arena.header(ref);
        h.lru_prev = items.ref_none;
        h.lru_next = self.heads[id];
        if (self.heads[id] != items.ref_none) arena.header(self.heads[id]).lru_prev = ref;
        self.heads[id] = ref;
        if (self.tails[id] == items.ref_none) self.tails[id] = ref;
        self.counts[id] += 1;
    }

    pub fn unlink(self: *Lru, arena: *const Arena, ref: Ref, id: u8) void {
        const h = arena.header(ref);
        assert(self.counts[id] > 0);
        if (h.lru_prev != items.ref_none) {
            arena.header(h.lru_prev).lru_next = h.lru_next;
        } else {
            assert(self.heads[id] == ref);
            self.heads[id] = h.lru_next;
        }
        if (h.lru_next != items.ref_none) {
            arena.header(h.lru_next).lru_prev = h.lru_prev;
        } else {
            assert(self.tails[id] == ref);
            self.tails[id] = h.lru_prev;
        }
        h.lru_prev = items.ref_none;
        h.lru_next = items.ref_none;
        self.counts[id] -= 1;
    }

    /// Records a hit at `now_s`: moves the item to the head unless it moved within the interval
    /// (memcached: bump only when it->time < current_time - ITEM_UPDATE_INTERVAL).
    pub fn bump(self: *Lru, arena: *const Arena, ref: Ref, id: u8, now_s: u32) void {
        const h = arena.header(ref);
        if (!wantsBump(h, now_s)) return;
        self.unlink(arena, ref, id);
        self.link(arena, ref, id);
        h.time_s = now_s;
    }

    pub fn tail(self: *const Lru, id: u8) Ref {
        return self.tails[id];
    }

    /// The next item towards the head, for a bounded tail walk.
    pub fn towardsHead(arena: *const Arena, ref: Ref) Ref {
        return arena.header(ref).lru_prev;
    }
};

const testing = std.testing;

test "lru: link order, unlink, bump interval" {
    var arena = try Arena.map(1 << 16);
    defer arena.unmap();
    var lru = Lru{};
    var refs: [3]Ref = undefined;
    for (&refs, 0..) |*r, i| {
        r.* = arena.refAt(i * 128);
        arena.header(r.*).time_s = 2;
        lru.link(&arena, r.*, 1);
    }
    // Tail is the first linked.
    try testing.expectEqual(refs[0], lru.tail(1));
    try testing.expectEqual(refs[1], Lru.towardsHead(&arena, refs[0]));
    // A hit within 60 s does not move; after more than 60 s it does.
    lru.bump(&arena, refs[0], 1, 62);
    try testing.expectEqual(refs[0], lru.tail(1));
    lru.bump(&arena, refs[0], 1, 63);
    try testing.expectEqual(refs[1], lru.tail(1));
    try testing.expectEqual(refs[0], lru.heads[1]);
    try testing.expectEqual(@as(u32, 63), arena.header(refs[0]).time_s);
    lru.unlink(&arena, refs[2], 1);
    lru.unlink(&arena, refs[1], 1);
    try testing.expectEqual(refs[0], lru.tail(1));
    try testing.expectEqual(refs[0], lru.heads[1]);
    lru.unlink(&arena, refs[0], 1);
    try testing.expectEqual(items.ref_none, lru.tail(1));
    try testing.expectEqual(@as(u32, 0), lru.counts[1]);
}
