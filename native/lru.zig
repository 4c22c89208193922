//! lru: a slab class's doubly linked recency list, threaded through the item headers.
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
const Arena = @import("arena.zig").Arena;
const Ref = items.Ref;

pub const bump_interval_s = 60;
pub const tail_search_depth = 5;

/// Whether a hit at `now_s` moves the item (`bump`): callers check it before taking the class's
/// lock, so a hit within the interval costs no lock (session.zig).
pub fn wantsBump(h: *const items.Header, now_s: u32) bool {
    return h.time_s +| bump_interval_s < now_s;
}

/// One slab class's recency list. The store keeps each class's list beside that class's lock, on
/// the lock's cache line (cache.zig ClassState), so taking the lock brings the list with it.
pub const List = struct {
    head: Ref = items.ref_none,
    tail: Ref = items.ref_none,
    count: u32 = 0,

    /// Puts `ref` at the head.
    pub fn link(self: *List, arena: *const Arena, ref: Ref) void {
        const h = arena.header(ref);
        h.lru_prev = items.ref_none;
        h.lru_next = self.head;
        if (self.head != items.ref_none) arena.header(self.head).lru_prev = ref;
        self.head = ref;
        if (self.tail == items.ref_none) self.tail = ref;
        self.count += 1;
    }

    pub fn unlink(self: *List, arena: *const Arena, ref: Ref) void {
        const h = arena.header(ref);
        assert(self.count > 0);
        if (h.lru_prev != items.ref_none) {
            arena.header(h.lru_prev).lru_next = h.lru_next;
        } else {
            assert(self.head == ref);
            self.head = h.lru_next;
        }
        if (h.lru_next != items.ref_none) {
            arena.header(h.lru_next).lru_prev = h.lru_prev;
        } else {
            assert(self.tail == ref);
            self.tail = h.lru_prev;
        }
        h.lru_prev = items.ref_none;
        h.lru_next = items.ref_none;
        self.count -= 1;
    }

    /// Records a hit at `now_s`: moves the item to the head unless it moved within the interval
    /// (memcached: bump only when it->time < current_time - ITEM_UPDATE_INTERVAL).
    pub fn bump(self: *List, arena: *const Arena, ref: Ref, now_s: u32) void {
        const h = arena.header(ref);
        if (!wantsBump(h, now_s)) return;
        self.unlink(arena, ref);
        self.link(arena, ref);
        h.time_s = now_s;
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
    var list = List{};
    var refs: [3]Ref = undefined;
    for (&refs, 0..) |*r, i| {
        r.* = arena.refAt(i * 128);
        arena.header(r.*).time_s = 2;
        list.link(&arena, r.*);
    }
    // Tail is the first linked.
    try testing.expectEqual(refs[0], list.tail);
    try testing.expectEqual(refs[1], List.towardsHead(&arena, refs[0]));
    // A hit within 60 s does not move; after more than 60 s it does.
    list.bump(&arena, refs[0], 62);
    try testing.expectEqual(refs[0], list.tail);
    list.bump(&arena, refs[0], 63);
    try testing.expectEqual(refs[1], list.tail);
    try testing.expectEqual(refs[0], list.head);
    try testing.expectEqual(@as(u32, 63), arena.header(refs[0]).time_s);
    list.unlink(&arena, refs[2]);
    list.unlink(&arena, refs[1]);
    try testing.expectEqual(refs[0], list.tail);
    try testing.expectEqual(refs[0], list.head);
    list.unlink(&arena, refs[0]);
    try testing.expectEqual(items.ref_none, list.tail);
    try testing.expectEqual(@as(u32, 0), list.count);
}
