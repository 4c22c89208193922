//! cache: the item store. Owns the arena, slabs, hash table, LRUs, pending table and eviction
//! log, all sized and allocated by `create`; nothing is allocated after it. Callers on several
//! threads go through sessions: every operation is a method of the calling `Session`, fills
//! that session's Io and counters, and takes the locks session.zig lists (the key's stripe,
//! class locks inside it, ...).
//!
//! Operations mirror memcached 1.6 (do_item_get, do_store_item, do_add_delta, flush_all):
//! expired and flushed items are invisible to every operation and reclaimed lazily when met
//! (lookup, LRU tail walk, cursor), from the LRU tails by the bounded `reclaimTails` (memcached's
//! LRU maintainer: what died at a tail leaves curr_items within a tick) and by the bounded `sweep`
//! (its LRU crawler: what died behind a live item). Every stored or modified item gets
//! a new cas from `nextCas`; a replication store (REP, REP_IF_NEWER) keeps the cas it is given
//! and raises the counter to it.
//!
//! Replication tombstones (enabled once a repcached-bun peer pairs): a delete leaves the key as
//! a tombstone item (flag_tombstone, no value) carrying the delete's cas, and `tomb` applies a
//! peer's delete the same way. Every key then holds one version ordered by cas — a value or a
//! tombstone — so a REP_IF_NEWER of an older value never brings a deleted key back, whatever
//! order the two nodes' messages arrive in. Tombstones are invisible to clients (a miss for
//! get/touch/incr/delete/replace/cas; add and set store over them), not in curr_items, sent to
//! the peer by the cursor and by REP-mode get as `rcb1_tomb <key> <cas>` lines, evicted like
//! items (counted in tombstones_dropped), and expire `tombstone_grace_s` after the delete unless
//! `tombstones_keep` is set (the node is not in sync with its peer). An immediate flush is
//! ordered the same way by the flush floor: no REP_IF_NEWER or tomb below it is stored.
//!
//! Contract: public operations return an i32 status (`Status`: 0 or a byte count on success, a
//! negative code otherwise) and fill the calling session's `Io` words; they never fail in another way.
//! `create` returns null for invalid params or when a mapping fails.
const std = @import("std");
const assert = std.debug.assert;
const items = @import("items.zig");
const arena_zig = @import("arena.zig");
const slabs_zig = @import("slabs.zig");
const lru_zig = @import("lru.zig");
const table_zig = @import("table.zig");
const clock_zig = @import("clock.zig");
const pending_zig = @import("pending.zig");
const eviction_log_zig = @import("eviction_log.zig");
const number = @import("number.zig");
const stats = @import("stats.zig");
const session_zig = @import("session.zig");
const Ref = items.Ref;
const Header = items.Header;
const ref_none = items.ref_none;

pub const Status = struct {
    pub const ok: i32 = 0;
    pub const not_found: i32 = -1;
    pub const not_stored: i32 = -2;
    pub const exists: i32 = -3;
    pub const too_large: i32 = -4;
    pub const no_memory: i32 = -5;
    pub const non_numeric: i32 = -6;
    pub const bad_key: i32 = -7;
    pub const buffer_small: i32 = -8;
    pub const invalid: i32 = -9;
    pub const cursor_done: i32 = -10;
    pub const cursor_again: i32 = -11;
};

const Error = error{ NotFound, NotStored, Exists, TooLarge, NoMemory, NonNumeric, BufferSmall };

fn statusOf(err: Error) i32 {
    return switch (err) {
        error.NotFound => Status.not_found,
        error.NotStored => Status.not_stored,
        error.Exists => Status.exists,
        error.TooLarge => Status.too_large,
        error.NoMemory => Status.no_memory,
        error.NonNumeric => Status.non_numeric,
        error.BufferSmall => Status.buffer_small,
    };
}

/// Meta protocol ops: cas_stale is `ms I C<cas>` (a cas below the item's stores the value as
/// stale, keeping its exptime and win token); append_cas/prepend_cas compare io's cas when it is
/// not 0 (`ms MA C<cas>`).
pub const Op = enum(u8) { set = 1, add = 2, replace = 3, append = 4, prepend = 5, cas = 6, rep = 7, rep_if_newer = 8, cas_stale = 9, append_cas = 10, prepend_cas = 11 };

/// rc_meta_get options (memcached 1.6's mg flags that change what the store does).
pub const meta_get_value: u32 = 1; // v: copy the value
pub const meta_get_touch: u32 = 2; // T: set the exptime
pub const meta_get_vivify: u32 = 4; // N: create an empty item on a miss (and win its token)
pub const meta_get_recache: u32 = 8; // R: win the token when the ttl left is below the given one
pub const meta_get_no_bump: u32 = 16; // u: no LRU bump, not marked fetched
pub const meta_get_touch_first: u32 = 32; // T came before R on the line (R then sees T's exptime)
pub const meta_get_peek: u32 = 64; // me: read only (no counters, bump or state change)
const meta_get_all: u32 = 127;
/// io.meta bits after a meta op: the item's state before the call, and what the call did.
pub const meta_fetched: u32 = 1; // h: fetched before
pub const meta_stale: u32 = 2; // X
pub const meta_token_sent: u32 = 4; // Z: a win token had been handed out before
pub const meta_won: u32 = 8; // W: this call handed out the win token
pub const meta_created: u32 = 16; // N created the item
/// rc_meta_delete options (md flags).
pub const meta_delete_cas: u32 = 1; // C: compare io's cas
pub const meta_delete_stale: u32 = 2; // I: mark stale instead of removing
pub const meta_delete_touch: u32 = 4; // T (with I): set the exptime
/// rc_meta_delta options (ma flags).
pub const meta_delta_incr: u32 = 1;
pub const meta_delta_cas: u32 = 2; // C: compare io's cas
pub const meta_delta_touch: u32 = 4; // T: set the exptime
/// memcached's item header bytes with a cas (`me` reports memcached's size and class).
const memcached_item_with_cas_bytes = items.memcached_item_bytes + 8;

pub const get_mode_text: u32 = 1; // write "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"
pub const get_mode_cas: u32 = 2; // include the cas in that line (gets)
pub const get_mode_touch: u32 = 4; // set a new exptime (gat/gats)
pub const get_mode_peek: u32 = 8; // replication reads state: no counters, no LRU bump, no touch
/// With peek: write repcached's `rep <key> <flags> <exptime> <bytes> <cas>\r\n<data>\r\n` line,
/// the exptime as an absolute unix time (0 = never), or with `rep_relative` as seconds left when
/// that is at most 30 days (-1 once due), and with `rep_signed_flags` flags as a signed int (a
/// classic repcached prints them with %d).
pub const get_mode_rep: u32 = 16;
pub const get_mode_rep_relative: u32 = 32;
pub const get_mode_rep_signed_flags: u32 = 64;
/// With cas: print 0 for the cas (memcached -C: clients see no cas; the item keeps its own, which
/// replication orders versions by).
pub const get_mode_cas_hidden: u32 = 128;
const get_modes_all = get_mode_text | get_mode_cas | get_mode_touch | get_mode_peek | get_mode_rep |
    get_mode_rep_relative | get_mode_rep_signed_flags | get_mode_cas_hidden;

/// Buckets one rc_cursor_next call may scan before answering CURSOR_AGAIN.
pub const cursor_buckets_per_call_max = 4096;

/// The words JS and the store exchange beside the arguments (64-bit values as lo/hi pairs).
/// Indices are u32 words; src/native/store.ts mirrors them (IoIndex).
pub const Io = extern struct {
    cas_lo: u32, // 0 in: compare / given cas; out: the item's cas
    cas_hi: u32, // 1
    num_lo: u32, // 2 in: incr/decr delta; out: the new value
    num_hi: u32, // 3
    flags: u32, // 4 out
    value_len: u32, // 5 out
    exptime_abs: u32, // 6 out: absolute unix expiry seconds, 0 = never
    key_len: u32, // 7 out (cursor)
    need: u32, // 8 out: bytes needed after BUFFER_SMALL
    meta: u32, // 9 out (meta ops): meta_* bits, the item's state before the call
    last_access_s: u32, // 10 out (meta ops): seconds since the item's last access, before the call
    touch_abs: u32, // 11 out (meta ops): the exptime a T token set (absolute unix s, 0 = never)
    vivify_abs: u32, // 12 out (meta get): the exptime an N token set on a created item
    class_id: u32, // 13 out (meta get): the slab class of memcached's size for the item (`me`)
    reserved: [2]u32, // pads to 64 bytes so cas and num are 8-byte aligned u64 lanes 0 and 1

    pub fn setCas(self: *Io, value: u64) void {
        self.cas_lo = @truncate(value);
        self.cas_hi = @truncate(value >> 32);
    }

    pub fn cas(self: *const Io) u64 {
        return @as(u64, self.cas_hi) << 32 | self.cas_lo;
    }

    pub fn setNum(self: *Io, value: u64) void {
        self.num_lo = @truncate(value);
        self.num_hi = @truncate(value >> 32);
    }

    pub fn num(self: *const Io) u64 {
        return @as(u64, self.num_hi) << 32 | self.num_lo;
    }
};

/// What rc_create reads; JS fills it with a DataView (little-endian, offsets in comments).
pub const Params = extern struct {
    memory_bytes_max: u64, // 0  -m in bytes
    growth_factor: f64, // 8  -f
    unix_now_s: u64, // 16 wall clock at create
    item_size_max: u32, // 24 -I: page size and largest item
    chunk_size_min: u32, // 28 -n
    evictions_disabled: u32, // 32 -M (0 or 1)
    pending_max: u32, // 36 reserve slots
    eviction_log_max: u32, // 40 evicted keys kept for replication; 0 = off
    reserved: u32, // 44 must be 0
};

pub const item_size_max_min: u32 = 1024; // memcached ITEM_SIZE_MAX_LOWER_LIMIT
pub const item_size_max_max: u32 = 1 << 30; // memcached ITEM_SIZE_MAX_UPPER_LIMIT
/// A wall clock before this (30 days after the epoch) cannot be right; it also keeps
/// process_started positive.
/// ms << 10 stays below 2^53 until the year 2248, so cas values remain exact in a JS double too.
pub const cas_clock_shift = 10;

/// How long a tombstone outlives its delete while the node is in sync with its peer: far beyond
/// the time a delete and a crossing write take to reach the other node.
pub const tombstone_grace_s: u32 = 60;

pub const unix_now_min_s: u64 = @intCast(clock_zig.realtime_delta_max_s);

pub fn paramsValid(p: *const Params) bool {
    if (p.memory_bytes_max == 0) return false;
    if (p.item_size_max < item_size_max_min) return false;
    if (p.item_size_max > item_size_max_max) return false;
    if (p.item_size_max % slabs_zig.chunk_align_bytes != 0) return false;
    if (p.chunk_size_min == 0) return false;
    if (p.chunk_size_min > p.item_size_max) return false;
    if (!std.math.isFinite(p.growth_factor)) return false;
    if (!(p.growth_factor > 1.0)) return false;
    if (p.evictions_disabled > 1) return false;
    if (p.pending_max == 0 or p.pending_max > pending_zig.pending_max_limit) return false;
    if (p.eviction_log_max > eviction_log_zig.entries_limit) return false;
    if (p.unix_now_s < unix_now_min_s or p.unix_now_s > std.math.maxInt(u32)) return false;
    if (p.reserved != 0) return false;
    return true;
}

/// The flush state every lookup reads: published as one atomic word (`Store.flush_word`) by
/// flush and advanceClock, which the store's flush mutex serialises.
const Flush = struct {
    /// Items last accessed at or before this relative second are flushed (0: none).
    time_s: u32 = 0,
    /// Items accessed in the second after `time_s` and linked before the latest immediate flush
    /// (another flush epoch) are flushed too: what existed at the flush in its own second. This
    /// plays memcached's oldest_cas, but by link order, not cas (replicated items carry the
    /// peer's cas). `epoch_active` is false once a delayed flush took over `time_s`.
    epoch: u8 = 0,
    epoch_active: bool = false,

    fn pack(self: Flush) u64 {
        return @as(u64, self.time_s) | @as(u64, self.epoch) << 32 | @as(u64, @intFromBool(self.epoch_active)) << 40;
    }

    fn unpack(word: u64) Flush {
        return .{ .time_s = @truncate(word), .epoch = @truncate(word >> 32), .epoch_active = word >> 40 & 1 != 0 };
    }
};

/// The cursor walk. Written under `Store.walk_mutex`; linkers read the fields atomically.
const Walk = struct {
    /// Items this walk returned carry it in walk_mark (a byte; 0 = none). When it would wrap,
    /// cursorStart clears every mark first.
    generation: u8 = 0,
    bucket: u32 = 0,
    active: bool = false,
};

const Miss = enum { none, expired, flushed };
const Found = struct { ref: Ref, miss: Miss };

/// A counter every thread writes (the cas counter, the item counts), alone on its cache line so
/// its writes do not evict the read-mostly fields next to it from other cores' caches.
pub const HotWord = struct {
    value: u64 align(std.atomic.cache_line) = 0,
};

/// A mutex alone on its cache line (stripes and class locks are taken by different threads at
/// once).
pub const PaddedMutex = struct {
    mutex: std.Thread.Mutex align(std.atomic.cache_line) = .{},
    /// Stripes only: 1 while the mutex's holder may write (session.zig: readers without the
    /// mutex check it after announcing themselves in their reader slot).
    writer: u32 = 0,
};

/// One slab class's lock with what it guards that the store keeps: the class's LRU list and
/// mem_requested share the lock's cache line, so a thread that takes the lock finds them there
/// (one line moves between cores, not four), and each class has lines of its own (before, the
/// lists' heads, tails and counts and mem_requested were arrays, classes side by side on a line).
pub const ClassState = struct {
    mutex: std.Thread.Mutex align(std.atomic.cache_line) = .{},
    lru: lru_zig.List = .{},
    mem_requested: u64 = 0,

    comptime {
        assert(@sizeOf(ClassState) == std.atomic.cache_line);
    }
};

/// Tries `mutex` for a short while before sleeping on it: stripe and class locks are held for
/// a chain walk or a few list links, far less than a futex sleep and wake-up, which would make
/// two threads take turns instead of running side by side.
fn lockSpinning(mutex: *std.Thread.Mutex) void {
    var tries: u32 = 0;
    while (tries < lock_spins_max) : (tries += 1) {
        if (mutex.tryLock()) return;
        std.atomic.spinLoopHint();
    }
    mutex.lock();
}

const lock_spins_max = 256;

/// A session's reader slot (session.zig): the stripe it reads without the mutex, or
/// stripe_none. Alone on its line: only its session writes it, writers read it.
pub const ReaderSlot = struct {
    stripe: u32 align(std.atomic.cache_line) = stripe_none,
};

/// Item stripes (session.zig): a key's stripe is its hash modulo this. At most the table's
/// smallest low_count, so a bucket's items all share one stripe across growth.
pub const stripe_count: u32 = table_zig.buckets_min;
pub const stripe_mask: u32 = stripe_count - 1;
const stripe_none: u32 = std.math.maxInt(u32);

comptime {
    assert(std.math.isPowerOfTwo(stripe_count));
    assert(stripe_count <= table_zig.buckets_min);
}

const cas_clock_enabled_bit: u64 = 1;
const cas_clock_parity_bit: u64 = 2;
const tombstones_enabled_bit: u8 = 1;
const tombstones_keep_bit: u8 = 2;

pub const Store = struct {
    /// The handle rc_create returns: today's single-threaded caller uses only this one.
    session_default: Session,
    /// The session registry (`sessions`, `sessions_open`, `counters_closed`, the counters'
    /// reset snapshots): open, close, rc_stats' sums, stats reset, rc_destroy.
    sessions_mutex: std.Thread.Mutex,
    /// Sessions open beside the default one, at most session_zig.sessions_max.
    sessions_open: u32,
    /// The item stripes: a stripe guards its buckets' chains and every field of their items but
    /// the LRU links (session.zig).
    stripes: [stripe_count]PaddedMutex,
    /// Per slab class: its lock, which guards its free list and page carving (slabs), its LRU
    /// list (lru) and mem_requested kept beside the lock, and its items' LRU links. Taken inside
    /// a stripe, never two at once.
    class_states: [slabs_zig.class_id_max + 1]ClassState,
    /// One per session that can be open (slot 0: the default session's); writers look at
    /// slots [0, reader_slots_high).
    reader_slots: [session_zig.sessions_max + 1]ReaderSlot,
    /// Slots handed out so far (atomic; under sessions_mutex when raised).
    reader_slots_high: u32,
    /// Which slots open sessions hold (under sessions_mutex).
    reader_slots_taken: [session_zig.sessions_max + 1]bool,
    /// One table split at a time (tryLock: a caller that loses skips its split).
    growth_mutex: std.Thread.Mutex,
    /// The clock's writer, flush, and `flush_pending_s`.
    flush_mutex: std.Thread.Mutex,
    /// The cursor walk's position (cursorStart, cursorNext).
    walk_mutex: std.Thread.Mutex,
    /// The sweep position (tryLock: a second sweeper returns at once).
    sweep_mutex: std.Thread.Mutex,
    /// The pending slots.
    pending_mutex: std.Thread.Mutex,
    /// The eviction log.
    eviction_log_mutex: std.Thread.Mutex,
    arena: arena_zig.Arena,
    slabs: slabs_zig.Slabs,
    table: table_zig.Table,
    clock: clock_zig.Clock,
    pending: pending_zig.Pending,
    eviction_log: eviction_log_zig.EvictionLog,
    memory_bytes_max: u64,
    evictions_disabled: bool,
    /// The last cas minted or given (atomic).
    cas_counter: HotWord,
    /// Replication (atomic word: cas_clock_enabled_bit, cas_clock_parity_bit, and in the high 32
    /// bits a test-only skew in ms added to the wall clock): cas values follow the wall clock
    /// (ms << cas_clock_shift) and carry the node's parity in bit 0, so two paired nodes never
    /// mint the same cas and both order versions alike.
    cas_clock_word: u64,
    /// tombstones_enabled_bit: deletes leave tombstones (see the top of this file);
    /// tombstones_keep_bit: no tombstone expires (the node is not in sync with its peer). Atomic.
    tombstone_mode: u8,
    /// Tombstones linked (atomic).
    tombstone_count: HotWord,
    /// No replicated version (REP_IF_NEWER, tomb) below this cas is stored: an immediate flush's
    /// (atomic, only raised).
    flush_floor_cas: u64,
    /// `Flush.pack` of the flush state (atomic).
    flush_word: u64,
    /// A delayed flush's `time_s`, applied when the clock reaches it (0: none). Under flush_mutex.
    flush_pending_s: u32,
    walk: Walk,
    sweep_bucket: u32,
    /// The class (0-based turn) `reclaimTails` starts with next (atomic).
    reclaim_class_next: u8,
    /// Items in the table (the sum of the LRU counts), for the table's growth (atomic).
    linked_count: HotWord,
    /// Every open session but the default one, linked through `Session.next`.
    sessions: ?*Session,
    /// The counters of sessions closed since the last `stats reset`.
    counters_closed: stats.Counters,
    /// Seconds since the last evicted item of each class was last accessed (a value, not a sum;
    /// atomic).
    evicted_time: [slabs_zig.class_id_max + 1]u64,

    pub fn create(params: *const Params) ?*Store {
        if (!paramsValid(params)) return null;
        const self = std.heap.page_allocator.create(Store) catch return null;
        self.init(params) catch {
            std.heap.page_allocator.destroy(self);
            return null;
        };
        return self;
    }

    fn init(self: *Store, p: *const Params) !void {
        const config = slabs_zig.Config{
            .page_size = p.item_size_max,
            .chunk_size_min = p.chunk_size_min,
            .growth_factor = p.growth_factor,
        };
        var slabs = try slabs_zig.Slabs.init(config, p.memory_bytes_max);
        errdefer slabs.deinit();
        var arena = try arena_zig.Arena.map(slabs.arenaBytes());
        errdefer arena.unmap();
        const buckets = table_zig.bucketsFor(p.memory_bytes_max, slabs.classes[1].chunk_size);
        var table = try table_zig.Table.init(buckets, std.crypto.random.int(u64));
        errdefer table.deinit();
        assert(table.shape().low_count >= stripe_count);
        var pending = try pending_zig.Pending.init(p.pending_max);
        errdefer pending.deinit();
        const eviction_log = try eviction_log_zig.EvictionLog.init(p.eviction_log_max);
        self.* = .{
            .session_default = Session.init(self),
            .sessions_mutex = .{},
            .sessions_open = 0,
            .stripes = [_]PaddedMutex{.{}} ** stripe_count,
            .class_states = [_]ClassState{.{}} ** (slabs_zig.class_id_max + 1),
            .reader_slots = [_]ReaderSlot{.{}} ** (session_zig.sessions_max + 1),
            .reader_slots_high = 1,
            .reader_slots_taken = [_]bool{true} ++ [_]bool{false} ** session_zig.sessions_max,
            .growth_mutex = .{},
            .flush_mutex = .{},
            .walk_mutex = .{},
            .sweep_mutex = .{},
            .pending_mutex = .{},
            .eviction_log_mutex = .{},
            .arena = arena,
            .slabs = slabs,
            .table = table,
            .clock = clock_zig.Clock.init(@intCast(p.unix_now_s)),
            .pending = pending,
            .eviction_log = eviction_log,
            .memory_bytes_max = p.memory_bytes_max,
            .evictions_disabled = p.evictions_disabled != 0,
            .cas_counter = .{},
            .cas_clock_word = 0,
            .tombstone_mode = 0,
            .tombstone_count = .{},
            .flush_floor_cas = 0,
            .flush_word = (Flush{}).pack(),
            .flush_pending_s = 0,
            .walk = .{},
            .sweep_bucket = 0,
            .reclaim_class_next = 0,
            .linked_count = .{},
            .sessions = null,
            .counters_closed = .{},
            .evicted_time = [_]u64{0} ** (slabs_zig.class_id_max + 1),
        };
    }

    pub fn destroy(self: *Store) void {
        assert(self.sessions_open == 0);
        assert(self.sessions == null);
        assert(self.session_default.stripe_depth == 0);
        self.eviction_log.deinit();
        self.pending.deinit();
        self.table.deinit();
        self.arena.unmap();
        self.slabs.deinit();
        std.heap.page_allocator.destroy(self);
    }

    pub fn flushState(self: *const Store) Flush {
        return Flush.unpack(@atomicLoad(u64, &self.flush_word, .acquire));
    }

    fn tombstonesEnabled(self: *const Store) bool {
        return @atomicLoad(u8, &self.tombstone_mode, .monotonic) & tombstones_enabled_bit != 0;
    }

    fn tombstonesKeep(self: *const Store) bool {
        return @atomicLoad(u8, &self.tombstone_mode, .monotonic) & tombstones_keep_bit != 0;
    }

    fn flushFloor(self: *const Store) u64 {
        return @atomicLoad(u64, &self.flush_floor_cas, .monotonic);
    }

    /// Raises the cas counter to at least `cas` (a given or floor cas).
    fn casAtLeast(self: *Store, cas: u64) void {
        _ = @atomicRmw(u64, &self.cas_counter.value, .Max, cas, .monotonic);
    }

    pub fn linkedCount(self: *const Store) u64 {
        return @atomicLoad(u64, &self.linked_count.value, .monotonic);
    }

    pub fn tombstoneCount(self: *const Store) u64 {
        return @atomicLoad(u64, &self.tombstone_count.value, .monotonic);
    }

    /// Called right after taking stripe `stripe`'s mutex: marks it written and waits for the
    /// sessions reading it without the mutex to leave (a chain walk and one value copy each).
    /// Dekker's pattern with the readers (`Session.getUnlocked`), all seq_cst: either the
    /// writer sees a reader's slot and waits, or the reader sees `writer` and takes the mutex.
    fn excludeReaders(self: *Store, stripe: u32) void {
        @atomicStore(u32, &self.stripes[stripe].writer, 1, .seq_cst);
        const high = @atomicLoad(u32, &self.reader_slots_high, .seq_cst);
        for (self.reader_slots[0..high]) |*slot| {
            var spins: u32 = 0;
            while (@atomicLoad(u32, &slot.stripe, .seq_cst) == stripe) : (spins += 1) {
                if (spins < 128) std.atomic.spinLoopHint() else std.Thread.yield() catch {};
            }
        }
    }

    /// Called right before releasing stripe `stripe`'s mutex.
    fn admitReaders(self: *Store, stripe: u32) void {
        @atomicStore(u32, &self.stripes[stripe].writer, 0, .release);
    }

    /// One linear-hashing split when the table wants one (session.zig): by one caller at a time,
    /// holding no other lock than the stripe of the bucket it splits.
    fn growStep(self: *Store) void {
        if (!self.table.wantsGrow(self.linkedCount())) return;
        if (!self.growth_mutex.tryLock()) return;
        defer self.growth_mutex.unlock();
        if (!self.table.wantsGrow(self.linkedCount())) return;
        const stripe = self.table.shape().split & stripe_mask;
        lockSpinning(&self.stripes[stripe].mutex);
        defer self.stripes[stripe].mutex.unlock();
        self.excludeReaders(stripe);
        defer self.admitReaders(stripe);
        self.table.grow(&self.arena);
    }
};

/// One caller's handle on a store (session.zig): its own Io block and event counters. Every
/// operation of the store is a method of the session that makes it.
pub const Session = struct {
    io: Io align(16),
    shared: *Store,
    /// This session's event counters (stats.zig): only this session adds to them; rc_stats sums
    /// every session's.
    counters: stats.Counters,
    /// `counters` at the last `stats reset` (under the store's sessions_mutex).
    counters_base: stats.Counters,
    /// The next open session of the store (Store.sessions).
    next: ?*Session,
    /// The stripe this session holds (stripe_none) and how many nested operations took it: an
    /// operation may call another on the same key (md -> delete, ma -> incr).
    held_stripe: u32,
    stripe_depth: u32,
    /// The class lock this session holds (0: none) and its nesting (a removal inside an
    /// eviction walk takes the walk's class again).
    held_class: u8,
    class_depth: u32,
    /// Something was linked since the stripe was taken: check the table's growth after it.
    linked: bool,
    /// This session's index in Store.reader_slots.
    reader_slot: u32,

    fn init(owner: *Store) Session {
        return .{
            .io = std.mem.zeroes(Io),
            .shared = owner,
            .counters = .{},
            .counters_base = .{},
            .next = null,
            .held_stripe = stripe_none,
            .stripe_depth = 0,
            .held_class = 0,
            .class_depth = 0,
            .linked = false,
            .reader_slot = 0,
        };
    }

    /// A new session on `owner`, or null when `sessions_max` are open or memory is short.
    pub fn open(owner: *Store) ?*Session {
        owner.sessions_mutex.lock();
        defer owner.sessions_mutex.unlock();
        if (owner.sessions_open == session_zig.sessions_max) return null;
        const self = std.heap.page_allocator.create(Session) catch return null;
        self.* = Session.init(owner);
        const slot = std.mem.indexOfScalar(bool, &owner.reader_slots_taken, false).?;
        owner.reader_slots_taken[slot] = true;
        self.reader_slot = @intCast(slot);
        if (slot >= owner.reader_slots_high) @atomicStore(u32, &owner.reader_slots_high, @intCast(slot + 1), .seq_cst);
        self.next = owner.sessions;
        owner.sessions = self;
        owner.sessions_open += 1;
        return self;
    }

    /// Gives the session back; its counters stay in the store's. The default session cannot be
    /// closed (rc_destroy frees it). Pending slots it still holds are aborted.
    pub fn close(self: *Session) void {
        const owner = self.shared;
        assert(self != &owner.session_default);
        assert(self.stripe_depth == 0 and self.class_depth == 0);
        self.abortAll();
        owner.sessions_mutex.lock();
        defer owner.sessions_mutex.unlock();
        assert(owner.sessions_open > 0);
        var link = &owner.sessions;
        while (link.* != self) link = &link.*.?.next;
        link.* = self.next;
        owner.sessions_open -= 1;
        assert(owner.reader_slots[self.reader_slot].stripe == stripe_none);
        owner.reader_slots_taken[self.reader_slot] = false;
        owner.counters_closed.accumulate(&self.counters, &self.counters_base);
        self.* = undefined;
        std.heap.page_allocator.destroy(self);
    }

    pub fn isDefault(self: *const Session) bool {
        return self == &self.shared.session_default;
    }

    /// Every session's counters since the last reset (with the closed ones') summed into `out`.
    fn countersSum(self: *const Session, out: *stats.Counters) void {
        const owner = self.shared;
        owner.sessions_mutex.lock();
        defer owner.sessions_mutex.unlock();
        out.* = owner.counters_closed;
        out.accumulate(&owner.session_default.counters, &owner.session_default.counters_base);
        var next = owner.sessions;
        while (next) |session| : (next = session.next) out.accumulate(&session.counters, &session.counters_base);
    }

    // ---- locks (session.zig) ----

    /// Takes the stripe of `key` and returns its bucket, stable until `unlockStripe`.
    fn lockKey(self: *Session, key: []const u8) u32 {
        const hash = self.shared.table.hashOf(key);
        self.lockStripe(hash & stripe_mask);
        return self.shared.table.bucketOfHash(hash);
    }

    fn lockStripe(self: *Session, stripe: u32) void {
        assert(stripe < stripe_count);
        if (self.stripe_depth > 0) {
            assert(self.held_stripe == stripe);
            self.stripe_depth += 1;
            return;
        }
        assert(self.class_depth == 0);
        lockSpinning(&self.shared.stripes[stripe].mutex);
        self.shared.excludeReaders(stripe);
        self.held_stripe = stripe;
        self.stripe_depth = 1;
    }

    /// Releases the stripe; the outermost release then grows the table by one split if a link
    /// made it want one.
    fn unlockStripe(self: *Session) void {
        assert(self.stripe_depth > 0);
        self.stripe_depth -= 1;
        if (self.stripe_depth > 0) return;
        assert(self.class_depth == 0);
        self.shared.admitReaders(self.held_stripe);
        self.shared.stripes[self.held_stripe].mutex.unlock();
        self.held_stripe = stripe_none;
        if (self.linked) {
            self.linked = false;
            self.shared.growStep();
        }
    }

    fn lockClass(self: *Session, class_id: u8) void {
        assert(class_id >= 1);
        if (self.class_depth > 0) {
            assert(self.held_class == class_id);
            self.class_depth += 1;
            return;
        }
        lockSpinning(&self.shared.class_states[class_id].mutex);
        self.held_class = class_id;
        self.class_depth = 1;
    }

    fn unlockClass(self: *Session) void {
        assert(self.class_depth > 0);
        self.class_depth -= 1;
        if (self.class_depth > 0) return;
        self.shared.class_states[self.held_class].mutex.unlock();
        self.held_class = 0;
    }

    /// How a walk under a class lock holds the stripe of an item it met.
    const Victim = struct { lock: enum { busy, own, taken }, stripe: u32 };

    /// The stripe of a linked item met on an LRU (the class lock held): this session's own
    /// stripe, or one it could take without waiting (the reverse of the lock order, so it never
    /// waits: a busy stripe means skipping the item, as memcached's lru_pull_tail).
    fn lockVictim(self: *Session, h: *Header) Victim {
        const stripe = self.shared.table.hashOf(items.keyOfShared(h)) & stripe_mask;
        if (self.stripe_depth > 0 and self.held_stripe == stripe) return .{ .lock = .own, .stripe = stripe };
        if (self.shared.stripes[stripe].mutex.tryLock()) {
            self.shared.excludeReaders(stripe);
            return .{ .lock = .taken, .stripe = stripe };
        }
        return .{ .lock = .busy, .stripe = stripe };
    }

    /// lockVictim for an item a tail walk meets after choosing `victim`: an item of the stripe
    /// the walk already holds for its victim is looked at under that hold (before, it was
    /// skipped: a dead item sharing the victim's stripe, 1 in 1,024, let a live one be evicted).
    fn lockWalked(self: *Session, h: *Header, victim: Ref, victim_lock: Victim) Victim {
        if (victim != ref_none and victim_lock.lock == .taken) {
            const stripe = self.shared.table.hashOf(items.keyOfShared(h)) & stripe_mask;
            if (stripe == victim_lock.stripe) return .{ .lock = .own, .stripe = stripe };
        }
        return self.lockVictim(h);
    }

    fn unlockVictim(self: *Session, victim: Victim) void {
        if (victim.lock != .taken) return;
        self.shared.admitReaders(victim.stripe);
        self.shared.stripes[victim.stripe].mutex.unlock();
    }

    // ---- time, cas, flush ----

    /// rc_clock: one writer at a time (flush_mutex); lookups read the clock atomically.
    pub fn advanceClock(self: *Session, unix_now_s: i64) void {
        const owner = self.shared;
        owner.flush_mutex.lock();
        defer owner.flush_mutex.unlock();
        owner.clock.advance(unix_now_s);
        const due = owner.flush_pending_s;
        if (due != 0 and due <= owner.clock.now()) {
            var state = owner.flushState();
            if (due > state.time_s) {
                state.time_s = due;
                state.epoch_active = false;
                @atomicStore(u64, &owner.flush_word, state.pack(), .release);
            }
            owner.flush_pending_s = 0;
        }
    }

    /// A new cas: an atomic add, or with the cas clock a compare-and-swap loop (retried only
    /// when another thread minted in between).
    pub fn nextCas(self: *Session) u64 {
        const owner = self.shared;
        const mode = @atomicLoad(u64, &owner.cas_clock_word, .monotonic);
        if (mode & cas_clock_enabled_bit == 0) return @atomicRmw(u64, &owner.cas_counter.value, .Add, 1, .monotonic) + 1;
        const offset_ms: i32 = @bitCast(@as(u32, @truncate(mode >> 32)));
        const parity: u1 = @intFromBool(mode & cas_clock_parity_bit != 0);
        const now_ms: u64 = @intCast(@max(0, std.time.milliTimestamp() + offset_ms));
        var current = @atomicLoad(u64, &owner.cas_counter.value, .monotonic);
        while (true) {
            var next = @max(current + 1, now_ms << cas_clock_shift);
            if (@as(u1, @truncate(next)) != parity) next += 1;
            current = @cmpxchgWeak(u64, &owner.cas_counter.value, current, next, .monotonic, .monotonic) orelse return next;
        }
    }

    /// Switches cas minting to the replication clock (see `cas_clock_word`).
    pub fn setCasClock(self: *Session, enabled: bool, parity: u1, offset_ms: i32) void {
        var mode: u64 = @as(u64, @as(u32, @bitCast(offset_ms))) << 32;
        if (enabled) mode |= cas_clock_enabled_bit;
        if (parity == 1) mode |= cas_clock_parity_bit;
        @atomicStore(u64, &self.shared.cas_clock_word, mode, .monotonic);
    }

    /// A cas above every cas this store has minted or been given (a replication tombstone's
    /// version: "deleted after everything this node has seen"); left in io.
    pub fn mintCas(self: *Session) void {
        self.io.setCas(self.nextCas());
    }

    pub fn setTombstones(self: *Session, enabled: bool, keep: bool) void {
        var mode: u8 = 0;
        if (enabled) mode |= tombstones_enabled_bit;
        if (keep) mode |= tombstones_keep_bit;
        @atomicStore(u8, &self.shared.tombstone_mode, mode, .monotonic);
    }

    /// Raises the flush floor to io's cas (and the cas counter with it); io's cas is then the
    /// floor (0: there is none). With io's cas 0 it just reads the floor.
    pub fn raiseFlushFloor(self: *Session) void {
        const given = self.io.cas();
        const floor = @max(@atomicRmw(u64, &self.shared.flush_floor_cas, .Max, given, .monotonic), given);
        self.shared.casAtLeast(floor);
        self.io.setCas(floor);
    }

    /// The cas a replication store keeps: the one given in io (or a new one when 0).
    fn givenCas(self: *Session) u64 {
        const given = self.io.cas();
        if (given == 0) return self.nextCas();
        self.shared.casAtLeast(given);
        return given;
    }

    /// flush_all [exptime]: like memcached 1.6 with cas, a flush takes effect at
    /// realtime(exptime) - 1 (now - 1 when exptime <= 0) and hides items last accessed at or
    /// before that second, plus, for a flush effective now, every item that exists now (a cas
    /// watermark), so items stored later in the same second stay visible. Unlike memcached a
    /// delayed flush does not undo an earlier one while it waits. Under flush_mutex; the new
    /// state is published as one word.
    pub fn flush(self: *Session, exptime: i32) i32 {
        const owner = self.shared;
        self.counters.global.add(.cmd_flush, 1);
        owner.flush_mutex.lock();
        defer owner.flush_mutex.unlock();
        const now = owner.clock.now();
        const moment = if (exptime > 0) owner.clock.realtime(exptime) - 1 else now - 1;
        if (moment > now) {
            owner.flush_pending_s = moment;
            return Status.ok;
        }
        // Replicating: the flush is also a version, above every version this node has seen.
        if (owner.tombstonesEnabled()) _ = @atomicRmw(u64, &owner.flush_floor_cas, .Max, self.nextCas(), .monotonic);
        var state = owner.flushState();
        state.time_s = @max(state.time_s, @max(moment, now - 1));
        state.epoch +%= 1;
        state.epoch_active = true;
        // The epoch is a byte: before it comes back to a value items may still carry, remove
        // every linked item (this flush hides them all anyway). Once in 256 immediate flushes,
        // one stripe at a time.
        if (state.epoch == 0) self.removeAll();
        @atomicStore(u64, &owner.flush_word, state.pack(), .release);
        owner.flush_pending_s = 0;
        return Status.ok;
    }

    fn isFlushed(self: *const Session, h: *const Header) bool {
        const f = self.shared.flushState();
        if (h.time_s <= f.time_s) return true;
        return f.epoch_active and h.time_s == f.time_s + 1 and h.flush_epoch != f.epoch;
    }

    /// The caller holds the item's stripe.
    fn isDead(self: *const Session, h: *const Header) ?Miss {
        if (self.isFlushed(h)) return .flushed;
        if (self.shared.clock.isExpired(h.exptime_s)) return .expired;
        if (h.item_flags & items.flag_tombstone != 0 and !self.shared.tombstonesKeep()) {
            if (self.shared.clock.now() -| h.time_s >= tombstone_grace_s) return .expired;
        }
        return null;
    }

    // ---- linking (the key's stripe held) ----

    fn bucketOfKey(self: *const Session, key: []const u8) u32 {
        return self.shared.table.bucketOf(key);
    }

    /// Finds the live item with `key` (a tombstone is a miss), reclaiming a dead one met.
    fn lookup(self: *Session, bucket: u32, key: []const u8) Found {
        const found = self.lookupAny(bucket, key);
        if (found.ref != ref_none and isTombstone(self.shared.arena.header(found.ref))) return .{ .ref = ref_none, .miss = .none };
        return found;
    }

    /// Finds the live item or tombstone with `key`, reclaiming a dead one met on the way.
    fn lookupAny(self: *Session, bucket: u32, key: []const u8) Found {
        const ref = self.shared.table.find(&self.shared.arena, bucket, key);
        if (ref == ref_none) return .{ .ref = ref_none, .miss = .none };
        const h = self.shared.arena.header(ref);
        if (self.isDead(h)) |miss| {
            self.removeItem(bucket, ref);
            return .{ .ref = ref_none, .miss = miss };
        }
        return .{ .ref = ref, .miss = .none };
    }

    /// `counted`: the item adds to linked_count (false when it replaces one that was not
    /// subtracted, saving two writes of a shared word per replacement).
    fn linkItem(self: *Session, bucket: u32, ref: Ref, counted: bool) void {
        const owner = self.shared;
        const h = owner.arena.header(ref);
        assert(h.item_flags & (items.flag_linked | items.flag_pending) == 0);
        h.time_s = owner.clock.now();
        h.flush_epoch = owner.flushState().epoch;
        items.setFlags(h, h.item_flags | items.flag_linked);
        const class_id = owner.slabs.classOf(ref);
        owner.table.insert(&owner.arena, bucket, ref);
        self.lockClass(class_id);
        const class = &owner.class_states[class_id];
        class.lru.link(&owner.arena, ref);
        class.mem_requested += items.sizeOf(h);
        self.unlockClass();
        if (isTombstone(h)) _ = @atomicRmw(u64, &owner.tombstone_count.value, .Add, 1, .monotonic) else self.counters.global.add(.total_items, 1);
        if (!counted) return;
        const linked = @atomicRmw(u64, &owner.linked_count.value, .Add, 1, .monotonic) + 1;
        if (owner.table.wantsGrow(linked)) self.linked = true;
    }

    fn unlinkItem(self: *Session, bucket: u32, ref: Ref, counted: bool) void {
        const owner = self.shared;
        const h = owner.arena.header(ref);
        assert(h.item_flags & items.flag_linked != 0);
        assert(h.item_flags & items.flag_pinned == 0);
        const class_id = owner.slabs.classOf(ref);
        owner.table.remove(&owner.arena, bucket, ref);
        self.lockClass(class_id);
        const class = &owner.class_states[class_id];
        class.lru.unlink(&owner.arena, ref);
        class.mem_requested -= items.sizeOf(h);
        self.unlockClass();
        items.setFlags(h, h.item_flags & ~items.flag_linked);
        if (counted) {
            const linked_before = @atomicRmw(u64, &owner.linked_count.value, .Sub, 1, .monotonic);
            assert(linked_before > 0);
        }
        if (isTombstone(h)) {
            const before = @atomicRmw(u64, &owner.tombstone_count.value, .Sub, 1, .monotonic);
            assert(before > 0);
        }
    }

    /// Unlinks and frees `ref` under one hold of its class lock.
    fn removeItem(self: *Session, bucket: u32, ref: Ref) void {
        self.lockClass(self.shared.slabs.classOf(ref));
        defer self.unlockClass();
        self.unlinkItem(bucket, ref, true);
        self.shared.slabs.free(&self.shared.arena, ref);
    }

    /// Links `new` with `cas` in place of `old` (if any). A replacement inherits the old item's
    /// walk mark; a new key is marked as already walked when the cursor has passed its bucket,
    /// so a walk never returns a key twice (the cursor moves past a bucket holding its stripe).
    /// Old and new of one class take the class lock once.
    fn linkOrReplace(self: *Session, bucket: u32, old: Ref, new: Ref, cas: u64) void {
        const owner = self.shared;
        const h = owner.arena.header(new);
        h.cas = cas;
        const class_id = owner.slabs.classOf(new);
        const one_class = old != ref_none and owner.slabs.classOf(old) == class_id;
        if (one_class) self.lockClass(class_id);
        defer if (one_class) self.unlockClass();
        if (old != ref_none) {
            h.walk_mark = owner.arena.header(old).walk_mark;
            self.lockClass(owner.slabs.classOf(old));
            defer self.unlockClass();
            self.unlinkItem(bucket, old, false);
            owner.slabs.free(&owner.arena, old);
        } else {
            const passed = @atomicLoad(bool, &owner.walk.active, .acquire) and bucket <= @atomicLoad(u32, &owner.walk.bucket, .acquire);
            h.walk_mark = if (passed) @atomicLoad(u8, &owner.walk.generation, .acquire) else 0;
        }
        self.linkItem(bucket, new, old == ref_none);
    }

    fn markFetched(self: *Session, ref: Ref) void {
        const h = self.shared.arena.header(ref);
        var flags = h.item_flags | items.flag_fetched;
        if (h.item_flags & items.flag_fetched != 0) flags |= items.flag_active;
        if (flags != h.item_flags) items.setFlags(h, flags);
        self.bump(ref);
    }

    /// lru.zig's rule (at most one move per bump_interval_s): checked under the stripe, so most
    /// hits take no class lock.
    fn bump(self: *Session, ref: Ref) void {
        const owner = self.shared;
        const now = owner.clock.now();
        if (!lru_zig.wantsBump(owner.arena.header(ref), now)) return;
        const class_id = owner.slabs.classOf(ref);
        self.lockClass(class_id);
        defer self.unlockClass();
        owner.class_states[class_id].lru.bump(&owner.arena, ref, now);
    }

    // ---- allocation, eviction ----

    /// A chunk of `class_id`, evicting or reclaiming from the class's LRU tail when needed.
    fn allocChunk(self: *Session, class_id: u8) Ref {
        const owner = self.shared;
        self.lockClass(class_id);
        defer self.unlockClass();
        const ref = owner.slabs.alloc(&owner.arena, class_id);
        if (ref != ref_none) return ref;
        if (!self.pullTail(class_id)) {
            self.counters.class[class_id].add(.outofmemory, 1);
            return ref_none;
        }
        const again = owner.slabs.alloc(&owner.arena, class_id);
        assert(again != ref_none);
        return again;
    }

    /// Frees one chunk of the class (its lock held): the first dead item among the
    /// `tail_search_depth` tail items, else (evictions enabled) the tail-most one that is not
    /// pinned. An item whose stripe another thread holds is skipped (`lockVictim`).
    fn pullTail(self: *Session, class_id: u8) bool {
        const owner = self.shared;
        var ref = owner.class_states[class_id].lru.tail;
        var victim: Ref = ref_none;
        var victim_lock: Victim = undefined;
        defer if (victim != ref_none) self.unlockVictim(victim_lock);
        var tries: u32 = 0;
        while (ref != ref_none and tries < lru_zig.tail_search_depth) : (tries += 1) {
            const h = owner.arena.header(ref);
            const next = lru_zig.List.towardsHead(&owner.arena, ref);
            defer ref = next;
            const lock = self.lockWalked(h, victim, victim_lock);
            if (lock.lock == .busy) continue;
            if (h.item_flags & items.flag_pinned != 0) {
                self.unlockVictim(lock);
                continue;
            }
            // Without evictions (-M) a tombstone still gives way: it is no client's data.
            if (owner.evictions_disabled and isTombstone(h)) {
                self.counters.global.add(.tombstones_dropped, 1);
                self.removeItem(self.bucketOfKey(items.keyOf(h)), ref);
                self.unlockVictim(lock);
                return true;
            }
            if (self.isDead(h) != null) {
                const counters = &self.counters.class[class_id];
                counters.add(.reclaimed, 1);
                if (h.item_flags & items.flag_fetched == 0) counters.add(.expired_unfetched, 1);
                self.removeItem(self.bucketOfKey(items.keyOf(h)), ref);
                self.unlockVictim(lock);
                return true;
            }
            if (victim == ref_none) {
                victim = ref;
                victim_lock = lock;
            } else {
                self.unlockVictim(lock);
            }
        }
        if (victim == ref_none or owner.evictions_disabled) return false;
        self.evict(victim);
        return true;
    }

    /// Evicts a linked item whose stripe the caller holds (with its class lock).
    fn evict(self: *Session, ref: Ref) void {
        const owner = self.shared;
        const h = owner.arena.header(ref);
        if (isTombstone(h)) {
            self.counters.global.add(.tombstones_dropped, 1);
            return self.removeItem(self.bucketOfKey(items.keyOf(h)), ref);
        }
        const class_id = owner.slabs.classOf(ref);
        const counters = &self.counters.class[class_id];
        counters.add(.evicted, 1);
        if (h.exptime_s != 0) counters.add(.evicted_nonzero, 1);
        @atomicStore(u64, &owner.evicted_time[class_id], owner.clock.now() -| h.time_s, .monotonic);
        if (h.item_flags & items.flag_fetched == 0) counters.add(.evicted_unfetched, 1);
        if (h.item_flags & items.flag_active != 0) counters.add(.evicted_active, 1);
        const key = items.keyOf(h);
        if (owner.eviction_log.enabled()) {
            owner.eviction_log_mutex.lock();
            defer owner.eviction_log_mutex.unlock();
            _ = owner.eviction_log.push(key, h.cas);
        }
        self.removeItem(self.bucketOfKey(key), ref);
    }

    /// A new item (not linked) for `key` with room for `value_len` value bytes. Like memcached
    /// 1.6, a SET (or REP) that cannot get one removes the old item with the key. The caller
    /// may or may not hold the key's stripe.
    fn allocItem(self: *Session, op: Op, key: []const u8, value_len: u32, flags: u32, exptime: i32) Error!Ref {
        const owner = self.shared;
        const class_id = owner.slabs.classFor(items.totalBytes(key.len, value_len, flags));
        if (class_id == 0) {
            self.removeOnFailedSet(op, key);
            return error.TooLarge;
        }
        const ref = self.allocChunk(class_id);
        if (ref == ref_none) {
            self.removeOnFailedSet(op, key);
            return error.NoMemory;
        }
        items.init(owner.arena.header(ref), key, value_len, flags, owner.clock.realtime(exptime));
        self.counters.class[class_id].add(.cmd_set, 1);
        return ref;
    }

    fn removeOnFailedSet(self: *Session, op: Op, key: []const u8) void {
        if (op != .set and op != .rep) return;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref != ref_none) self.removeItem(bucket, found.ref);
    }

    /// A chunk for `total` bytes while `keep` (linked, its stripe held) must survive the
    /// eviction walk.
    fn allocBeside(self: *Session, keep: Ref, total: u64) Error!Ref {
        const class_id = self.shared.slabs.classFor(total);
        if (class_id == 0) return error.TooLarge;
        const h = self.shared.arena.header(keep);
        items.setFlags(h, h.item_flags | items.flag_pinned);
        const ref = self.allocChunk(class_id);
        items.setFlags(h, h.item_flags & ~items.flag_pinned);
        if (ref == ref_none) return error.NoMemory;
        return ref;
    }

    // ---- get / touch / delete ----

    pub fn get(self: *Session, key: []const u8, out: []u8, mode: u32, exptime: i32) i32 {
        if (!keyValid(key)) return Status.bad_key;
        if (mode & ~get_modes_all != 0) return Status.invalid;
        const peek = mode & get_mode_peek != 0;
        if (peek and mode & get_mode_touch != 0) return Status.invalid;
        const touching = mode & get_mode_touch != 0;
        const rep = mode & get_mode_rep != 0;
        if (rep and !peek) return Status.invalid;
        if (mode & (get_mode_peek | get_mode_touch | get_mode_rep) == 0) {
            if (self.getUnlocked(key, out, mode)) |result| return result;
        }
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = if (rep) self.lookupAny(bucket, key) else self.lookup(bucket, key);
        if (found.ref == ref_none) {
            if (!peek) self.countGetMiss(found.miss, touching);
            return Status.not_found;
        }
        const h = self.shared.arena.header(found.ref);
        self.fillIo(h);
        if (rep) return writeRepLine(self, h, out, mode);
        const need = replyBytes(h, mode);
        if (need > out.len) {
            self.io.need = @intCast(need);
            return Status.buffer_small;
        }
        if (peek) return @intCast(writeReply(h, out, mode));
        self.counters.global.add(.cmd_get, 1);
        if (touching) {
            self.counters.global.add(.cmd_touch, 1);
            self.counters.class[self.shared.slabs.classOf(found.ref)].add(.touch_hits, 1);
            h.exptime_s = self.shared.clock.realtime(exptime);
            self.io.exptime_abs = self.shared.clock.absolute(h.exptime_s);
        } else {
            self.counters.class[self.shared.slabs.classOf(found.ref)].add(.get_hits, 1);
        }
        self.markFetched(found.ref);
        const written = writeReply(h, out, mode);
        assert(written == need);
        return @intCast(written);
    }

    /// A plain get (get/gets) without the stripe's mutex, so a get writes no line another
    /// core's gets write too (session.zig): the session announces the stripe in its reader slot,
    /// then reads only if no writer holds the stripe; a writer waits for the slot to clear before
    /// it changes anything in the stripe. Only a hit that changes nothing is answered here (the
    /// item live, already fetched twice, within its LRU bump interval); anything else returns
    /// null and the caller takes the mutex and does it all again.
    fn getUnlocked(self: *Session, key: []const u8, out: []u8, mode: u32) ?i32 {
        const owner = self.shared;
        const hash = owner.table.hashOf(key);
        const stripe = hash & stripe_mask;
        const slot = &owner.reader_slots[self.reader_slot].stripe;
        assert(self.stripe_depth == 0);
        @atomicStore(u32, slot, stripe, .seq_cst);
        defer @atomicStore(u32, slot, stripe_none, .release);
        if (@atomicLoad(u32, &owner.stripes[stripe].writer, .seq_cst) != 0) return null;
        const ref = owner.table.find(&owner.arena, owner.table.bucketOfHash(hash), key);
        if (ref == ref_none) return null;
        const h = owner.arena.header(ref);
        const seen = items.flag_fetched | items.flag_active;
        if (h.item_flags & (seen | items.flag_tombstone) != seen) return null;
        if (self.isDead(h) != null) return null;
        if (lru_zig.wantsBump(h, owner.clock.now())) return null;
        self.fillIo(h);
        const need = replyBytes(h, mode);
        if (need > out.len) {
            self.io.need = @intCast(need);
            return Status.buffer_small;
        }
        self.counters.global.add(.cmd_get, 1);
        self.counters.class[owner.slabs.classOf(ref)].add(.get_hits, 1);
        const written = writeReply(h, out, mode);
        assert(written == need);
        return @intCast(written);
    }

    fn countGetMiss(self: *Session, miss: Miss, touching: bool) void {
        self.counters.global.add(.cmd_get, 1);
        switch (miss) {
            .none => {},
            .expired => self.counters.global.add(.get_expired, 1),
            .flushed => self.counters.global.add(.get_flushed, 1),
        }
        if (touching) {
            self.counters.global.add(.cmd_touch, 1);
            self.counters.global.add(.touch_misses, 1);
        } else {
            self.counters.global.add(.get_misses, 1);
        }
    }

    fn fillIo(self: *Session, h: *const Header) void {
        self.io.flags = items.flagsOf(h);
        self.io.value_len = h.value_len;
        self.io.key_len = h.key_len;
        self.io.setCas(h.cas);
        self.io.exptime_abs = self.shared.clock.absolute(h.exptime_s);
    }

    pub fn touch(self: *Session, key: []const u8, exptime: i32) i32 {
        if (!keyValid(key)) return Status.bad_key;
        self.counters.global.add(.cmd_touch, 1);
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref == ref_none) {
            self.counters.global.add(.touch_misses, 1);
            return Status.not_found;
        }
        const h = self.shared.arena.header(found.ref);
        self.counters.class[self.shared.slabs.classOf(found.ref)].add(.touch_hits, 1);
        self.markFetched(found.ref);
        h.exptime_s = self.shared.clock.realtime(exptime);
        self.fillIo(h);
        return Status.ok;
    }

    // ---- meta protocol (memcached 1.6 mg / md / ma / me) ----

    /// mg (and `me` with meta_get_peek): the item's state before the call into io (meta bits,
    /// last access, flags, cas, exptime, value_len, memcached-size class), then what the flags
    /// do, in memcached's order: T sets the exptime, N creates an empty item on a miss and wins
    /// its token, R wins it when the ttl left is below R's, a stale item without a token wins it;
    /// a win marks the item (later calls see Z). The value bytes go to `out` with meta_get_value.
    /// BUFFER_SMALL (io.need) changes nothing. Returns the value bytes written or NOT_FOUND.
    pub fn metaGet(self: *Session, key: []const u8, out: []u8, opts: u32, exptime: i32, vivify_exptime: i32, recache_exptime: i32) i32 {
        if (!keyValid(key)) return Status.bad_key;
        if (opts & ~meta_get_all != 0) return Status.invalid;
        const peek = opts & meta_get_peek != 0;
        if (peek and opts & (meta_get_touch | meta_get_vivify) != 0) return Status.invalid;
        const touching = opts & meta_get_touch != 0;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        var found = self.lookup(bucket, key);
        self.io.meta = 0;
        self.io.touch_abs = 0;
        self.io.vivify_abs = 0;
        if (found.ref == ref_none) {
            if (opts & meta_get_vivify == 0) {
                if (!peek) self.countGetMiss(found.miss, touching);
                return Status.not_found;
            }
            const ref = self.allocItem(.add, key, 0, 0, 0) catch |err| return statusOf(err);
            self.linkOrReplace(bucket, self.lookupAny(bucket, key).ref, ref, self.nextCas());
            found = .{ .ref = ref, .miss = .none };
            self.io.meta = meta_created;
        }
        const ref = found.ref;
        const h = self.shared.arena.header(ref);
        if (opts & meta_get_value != 0 and h.value_len > out.len) {
            self.io.need = h.value_len;
            return Status.buffer_small;
        }
        self.fillIo(h);
        self.io.meta |= metaBitsOf(h);
        self.io.last_access_s = self.shared.clock.now() -| h.time_s;
        self.io.class_id = self.shared.slabs.classFor(memcachedSizeOf(h));
        if (opts & meta_get_value != 0) @memcpy(out[0..h.value_len], items.valueOf(h));
        if (peek) return @intCast(if (opts & meta_get_value != 0) h.value_len else 0);
        self.metaGetApply(ref, opts, exptime, vivify_exptime, recache_exptime);
        return @intCast(if (opts & meta_get_value != 0) h.value_len else 0);
    }

    fn metaGetApply(self: *Session, ref: Ref, opts: u32, exptime: i32, vivify_exptime: i32, recache_exptime: i32) void {
        const h = self.shared.arena.header(ref);
        const created = self.io.meta & meta_created != 0;
        var won = false;
        const exptime_before = h.exptime_s;
        if (opts & meta_get_touch != 0) {
            h.exptime_s = self.shared.clock.realtime(exptime);
            self.io.touch_abs = self.shared.clock.absolute(h.exptime_s);
        }
        if (created and opts & meta_get_vivify != 0) {
            h.exptime_s = self.shared.clock.realtime(vivify_exptime);
            self.io.vivify_abs = self.shared.clock.absolute(h.exptime_s);
            won = true;
        }
        if (opts & meta_get_recache != 0 and !created and h.item_flags & items.flag_win_token == 0) {
            const seen = if (opts & meta_get_touch_first != 0) h.exptime_s else exptime_before;
            if (seen != 0 and seen < self.shared.clock.realtime(recache_exptime)) won = true;
        }
        if (h.item_flags & (items.flag_stale | items.flag_win_token) == items.flag_stale) won = true;
        if (won) {
            items.setFlags(h, h.item_flags | items.flag_win_token);
            self.io.meta |= meta_won;
        }
        const class_counters = &self.counters.class[self.shared.slabs.classOf(ref)];
        self.counters.global.add(.cmd_get, 1);
        if (opts & meta_get_touch != 0) {
            self.counters.global.add(.cmd_touch, 1);
            class_counters.add(.touch_hits, 1);
        } else {
            class_counters.add(.get_hits, 1);
        }
        if (opts & meta_get_no_bump == 0) self.markFetched(ref);
    }

    /// md: removes the key (a tombstone when replicating), or with meta_delete_stale marks it
    /// stale at a new cas (its win token cleared, with meta_delete_touch a new exptime). With
    /// meta_delete_cas io's cas must match the item's (EXISTS). io's cas = the new cas.
    pub fn metaDelete(self: *Session, key: []const u8, opts: u32, exptime: i32) i32 {
        if (!keyValid(key)) return Status.bad_key;
        if (opts & ~@as(u32, 7) != 0) return Status.invalid;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref == ref_none) {
            self.counters.global.add(.delete_misses, 1);
            return Status.not_found;
        }
        const h = self.shared.arena.header(found.ref);
        if (opts & meta_delete_cas != 0 and self.io.cas() != h.cas) {
            self.counters.global.add(.delete_misses, 1);
            return Status.exists;
        }
        if (opts & meta_delete_stale == 0) return self.delete(key);
        if (opts & meta_delete_touch != 0) h.exptime_s = self.shared.clock.realtime(exptime);
        items.setFlags(h, h.item_flags | items.flag_stale);
        items.setFlags(h, h.item_flags & ~items.flag_win_token);
        h.cas = self.nextCas();
        self.io.setCas(h.cas);
        return Status.ok;
    }

    /// ma: incr/decr (see `delta`) with meta_delta_cas comparing io's cas first (EXISTS) and
    /// meta_delta_touch setting the exptime after; io.exptime_abs = the exptime before the call,
    /// io.touch_abs after it.
    pub fn metaDelta(self: *Session, key: []const u8, opts: u32, exptime: i32, out: []u8) i32 {
        if (!keyValid(key)) return Status.bad_key;
        if (opts & ~@as(u32, 7) != 0) return Status.invalid;
        const incr = opts & meta_delta_incr != 0;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        if (opts & meta_delta_cas != 0) {
            const expected = self.io.cas();
            const found = self.lookup(bucket, key);
            if (found.ref != ref_none and expected != 0 and expected != self.shared.arena.header(found.ref).cas) return Status.exists;
        }
        const n = self.delta(key, incr, out);
        if (n < 0) return n;
        const found = self.lookup(bucket, key);
        assert(found.ref != ref_none);
        const h = self.shared.arena.header(found.ref);
        self.io.exptime_abs = self.shared.clock.absolute(h.exptime_s);
        if (opts & meta_delta_touch != 0) h.exptime_s = self.shared.clock.realtime(exptime);
        self.io.touch_abs = self.shared.clock.absolute(h.exptime_s);
        return n;
    }

    /// A replication peer's meta state (`rcb1_meta <key> <cas> <bits>`): sets the stale / win
    /// token bits of the key's item when its cas is io's (the version the state belongs to).
    /// OK, or NOT_FOUND when the key holds another version (or none).
    pub fn metaMark(self: *Session, key: []const u8, bits: u32) i32 {
        if (!keyValid(key)) return Status.bad_key;
        if (bits & ~@as(u32, items.meta_state_flags) != 0) return Status.invalid;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref == ref_none) return Status.not_found;
        const h = self.shared.arena.header(found.ref);
        if (h.cas != self.io.cas()) return Status.not_found;
        items.setFlags(h, h.item_flags | @as(u8, @intCast(bits)));
        return Status.ok;
    }

    /// Removes the key, or (tombstones enabled) makes it a tombstone at a new cas, left in io.
    pub fn delete(self: *Session, key: []const u8) i32 {
        if (!keyValid(key)) return Status.bad_key;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref == ref_none) {
            self.counters.global.add(.delete_misses, 1);
            return Status.not_found;
        }
        self.counters.class[self.shared.slabs.classOf(found.ref)].add(.delete_hits, 1);
        if (!self.shared.tombstonesEnabled()) {
            self.removeItem(bucket, found.ref);
            return Status.ok;
        }
        const cas = self.nextCas();
        self.entomb(bucket, found.ref, key, cas);
        self.io.setCas(cas);
        return Status.ok;
    }

    /// A peer's delete at io's cas: the key (live, a tombstone or absent) becomes a tombstone
    /// with that cas, unless its version is as new or the cas is below the flush floor.
    pub fn tomb(self: *Session, key: []const u8) i32 {
        if (!keyValid(key)) return Status.bad_key;
        const cas = self.io.cas();
        if (cas == 0) return Status.invalid;
        if (cas < self.shared.flushFloor()) return Status.not_stored;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const old = self.lookupAny(bucket, key).ref;
        if (old != ref_none) {
            const h = self.shared.arena.header(old);
            // The higher cas wins; on a tie the tombstone (see newerVersion).
            if (h.cas > cas or (h.cas == cas and isTombstone(h))) return Status.not_stored;
        }
        self.shared.casAtLeast(cas);
        self.entomb(bucket, old, key, cas);
        return Status.ok;
    }

    /// Links a tombstone for `key` with `cas` in place of `old` (if any). Without memory for
    /// one (-M, or every tail item pinned) the old item is just removed: tombstones_dropped.
    fn entomb(self: *Session, bucket: u32, old: Ref, key: []const u8, cas: u64) void {
        const total = items.totalBytes(key.len, 0, 0);
        const ref = if (old != ref_none) self.allocBeside(old, total) catch ref_none else blk: {
            const class_id = self.shared.slabs.classFor(total);
            assert(class_id != 0);
            break :blk self.allocChunk(class_id);
        };
        if (ref == ref_none) {
            self.counters.global.add(.tombstones_dropped, 1);
            if (old != ref_none) self.removeItem(bucket, old);
            return;
        }
        const h = self.shared.arena.header(ref);
        items.init(h, key, 0, 0, 0);
        items.setFlags(h, h.item_flags | items.flag_tombstone);
        self.linkOrReplace(bucket, old, ref, cas);
    }

    // ---- store ----

    /// The new item is allocated and its value copied before the key's stripe is taken: the
    /// stripe is held for the chain walk and the link only.
    pub fn store(self: *Session, op_raw: u32, key: []const u8, value: []const u8, flags: u32, exptime: i32) i32 {
        const op = opOf(op_raw) orelse return Status.invalid;
        if (!keyValid(key)) return Status.bad_key;
        if (value.len > std.math.maxInt(u32)) return Status.too_large;
        const ref = self.allocItem(op, key, @intCast(value.len), flags, exptime) catch |err| return statusOf(err);
        @memcpy(items.valueOf(self.shared.arena.header(ref)), value);
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        return self.commitItem(op, ref, bucket);
    }

    /// Frees an unlinked chunk (under its class lock).
    fn freeChunk(self: *Session, ref: Ref) void {
        self.lockClass(self.shared.slabs.classOf(ref));
        defer self.unlockClass();
        self.shared.slabs.free(&self.shared.arena, ref);
    }

    /// Links the complete, unlinked item `ref` (its key in `bucket`) with `op`'s semantics
    /// (memcached's do_store_item). Frees `ref` unless it ends up linked. On success io.cas = the
    /// new cas.
    fn commitItem(self: *Session, op: Op, ref: Ref, bucket: u32) i32 {
        const h = self.shared.arena.header(ref);
        assert(h.item_flags & ~items.flag_client_flags == 0);
        const key = items.keyOf(h);
        assert(bucket == self.bucketOfKey(key));
        const old = self.lookupAny(bucket, key).ref;
        const linked = self.commitOp(op, bucket, old, ref);
        if (h.item_flags & items.flag_linked == 0) self.freeChunk(ref);
        const result = linked catch |err| return statusOf(err);
        self.io.setCas(self.shared.arena.header(result).cas);
        return Status.ok;
    }

    /// `old` is the key's item or tombstone (ref_none: neither). Clients' ops see a tombstone
    /// as a miss and store over it; REP_IF_NEWER orders against it by cas.
    fn commitOp(self: *Session, op: Op, bucket: u32, old: Ref, new: Ref) Error!Ref {
        const live = if (old != ref_none and !isTombstone(self.shared.arena.header(old))) old else ref_none;
        switch (op) {
            .set => self.linkOrReplace(bucket, old, new, self.nextCas()),
            .add => {
                if (live != ref_none) {
                    self.bump(live);
                    return error.NotStored;
                }
                self.linkOrReplace(bucket, old, new, self.nextCas());
            },
            .replace => {
                if (live == ref_none) return error.NotStored;
                self.linkOrReplace(bucket, live, new, self.nextCas());
            },
            .append, .prepend => return self.commitConcat(op, bucket, live, new),
            .append_cas, .prepend_cas => {
                const expected = self.io.cas();
                if (live != ref_none and expected != 0 and expected != self.shared.arena.header(live).cas) return error.Exists;
                return self.commitConcat(if (op == .append_cas) .append else .prepend, bucket, live, new);
            },
            .cas => try self.commitCas(bucket, live, new),
            .cas_stale => try self.commitCasStale(bucket, live, new),
            .rep => self.linkOrReplace(bucket, old, new, self.givenCas()),
            .rep_if_newer => {
                const given = self.io.cas();
                if (old != ref_none and !newerVersion(self.shared.arena.header(new), given, self.shared.arena.header(old))) return error.NotStored;
                if (given != 0 and given < self.shared.flushFloor()) return error.NotStored;
                self.linkOrReplace(bucket, old, new, self.givenCas());
            },
        }
        return new;
    }

    fn commitCas(self: *Session, bucket: u32, old: Ref, new: Ref) Error!void {
        if (old == ref_none) {
            self.counters.global.add(.cas_misses, 1);
            return error.NotFound;
        }
        const expected = self.io.cas();
        const old_h = self.shared.arena.header(old);
        if (expected == 0 or expected != old_h.cas) {
            self.counters.class[self.shared.slabs.classOf(old)].add(.cas_badval, 1);
            return error.Exists;
        }
        self.counters.class[self.shared.slabs.classOf(old)].add(.cas_hits, 1);
        self.linkOrReplace(bucket, old, new, self.nextCas());
    }

    /// `ms I C<cas>`: the cas matches (a plain cas store) or is below the item's: the value is
    /// stored as stale, keeping the old exptime and win token (memcached's set_stale).
    fn commitCasStale(self: *Session, bucket: u32, old: Ref, new: Ref) Error!void {
        const expected = self.io.cas();
        if (old == ref_none or expected == 0 or expected >= self.shared.arena.header(old).cas) return self.commitCas(bucket, old, new);
        const old_h = self.shared.arena.header(old);
        const h = self.shared.arena.header(new);
        self.counters.class[self.shared.slabs.classOf(old)].add(.cas_hits, 1);
        h.exptime_s = old_h.exptime_s;
        const token = old_h.item_flags & items.flag_win_token;
        self.linkOrReplace(bucket, old, new, self.nextCas());
        items.setFlags(h, h.item_flags | items.flag_stale | token);
    }

    /// append/prepend: a new item holding old + data (or data + old) with the old flags and
    /// exptime, possibly of a bigger class. `data` stays unlinked (the caller frees it).
    fn commitConcat(self: *Session, op: Op, bucket: u32, old: Ref, data: Ref) Error!Ref {
        if (old == ref_none) return error.NotStored;
        const old_h = self.shared.arena.header(old);
        const data_h = self.shared.arena.header(data);
        const value_len = @as(u64, old_h.value_len) + data_h.value_len;
        const flags = items.flagsOf(old_h);
        const total = items.totalBytes(old_h.key_len, value_len, flags);
        const ref = try self.allocBeside(old, total);
        const h = self.shared.arena.header(ref);
        items.init(h, items.keyOf(old_h), @intCast(value_len), flags, old_h.exptime_s);
        const first = if (op == .append) old_h else data_h;
        const second = if (op == .append) data_h else old_h;
        @memcpy(items.valueOf(h)[0..first.value_len], items.valueOf(first));
        @memcpy(items.valueOf(h)[first.value_len..], items.valueOf(second));
        self.linkOrReplace(bucket, old, ref, self.nextCas());
        return ref;
    }

    // ---- reserve / fill / commit / abort ----

    /// Pending slots belong to the session that reserved them: another session's slot number is
    /// INVALID to fill, commit or abort. The slots' table is under pending_mutex; the value bytes
    /// are copied outside it (only the owner writes its reservation).
    pub fn reserve(self: *Session, op_raw: u32, key: []const u8, flags: u32, exptime: i32, value_len: u32) i32 {
        const owner = self.shared;
        const op = opOf(op_raw) orelse return Status.invalid;
        if (!keyValid(key)) return Status.bad_key;
        if (self.pendingFree() == 0) return Status.no_memory;
        const ref = self.allocItem(op, key, value_len, flags, exptime) catch |err| return statusOf(err);
        const h = owner.arena.header(ref);
        items.setFlags(h, h.item_flags | items.flag_pending);
        const slot = blk: {
            owner.pending_mutex.lock();
            defer owner.pending_mutex.unlock();
            break :blk owner.pending.acquire(@intFromPtr(self), ref, @intFromEnum(op));
        } orelse {
            // Another session took the last slot since the check.
            items.setFlags(h, h.item_flags & ~items.flag_pending);
            self.freeChunk(ref);
            return Status.no_memory;
        };
        return @intCast(slot);
    }

    fn pendingFree(self: *Session) u32 {
        self.shared.pending_mutex.lock();
        defer self.shared.pending_mutex.unlock();
        return self.shared.pending.free_count;
    }

    /// This session's slot `slot_index` as (ref, op, filled_bytes), releasing it when `release`.
    fn pendingSlot(self: *Session, slot_index: i32, release: bool) ?pending_zig.Slot {
        const owner = self.shared;
        owner.pending_mutex.lock();
        defer owner.pending_mutex.unlock();
        const slot = owner.pending.get(@intFromPtr(self), slot_index) orelse return null;
        const copy = slot.*;
        if (release) owner.pending.release(slot);
        return copy;
    }

    pub fn fill(self: *Session, slot_index: i32, bytes: []const u8) i32 {
        const slot = self.pendingSlot(slot_index, false) orelse return Status.invalid;
        const h = self.shared.arena.header(slot.ref);
        if (bytes.len > h.value_len - slot.filled_bytes) return Status.invalid;
        @memcpy(items.valueOf(h)[slot.filled_bytes..][0..bytes.len], bytes);
        self.shared.pending_mutex.lock();
        defer self.shared.pending_mutex.unlock();
        self.shared.pending.get(@intFromPtr(self), slot_index).?.filled_bytes += @intCast(bytes.len);
        return Status.ok;
    }

    /// Links a filled reservation with its op's semantics; an incomplete one is aborted (INVALID).
    pub fn commit(self: *Session, slot_index: i32) i32 {
        const slot = self.pendingSlot(slot_index, true) orelse return Status.invalid;
        const ref = slot.ref;
        const op: Op = @enumFromInt(slot.op);
        const h = self.shared.arena.header(ref);
        const complete = slot.filled_bytes == h.value_len;
        items.setFlags(h, h.item_flags & ~items.flag_pending);
        if (!complete) {
            self.freeChunk(ref);
            return Status.invalid;
        }
        const bucket = self.lockKey(items.keyOf(h));
        defer self.unlockStripe();
        return self.commitItem(op, ref, bucket);
    }

    pub fn abort(self: *Session, slot_index: i32) i32 {
        const slot = self.pendingSlot(slot_index, true) orelse return Status.invalid;
        const h = self.shared.arena.header(slot.ref);
        items.setFlags(h, h.item_flags & ~items.flag_pending);
        self.freeChunk(slot.ref);
        return Status.ok;
    }

    /// Aborts every reservation this session still holds (it is closing).
    fn abortAll(self: *Session) void {
        for (0..self.shared.pending.slots.len) |index| _ = self.abort(@intCast(index));
    }

    // ---- incr / decr ----

    /// incr/decr by io.num (u64): incr wraps, decr floors at 0. Writes the new digits to `out`.
    pub fn delta(self: *Session, key: []const u8, incr: bool, out: []u8) i32 {
        if (!keyValid(key)) return Status.bad_key;
        const bucket = self.lockKey(key);
        defer self.unlockStripe();
        const found = self.lookup(bucket, key);
        if (found.ref == ref_none) {
            if (incr) self.counters.global.add(.incr_misses, 1) else self.counters.global.add(.decr_misses, 1);
            return Status.not_found;
        }
        const h = self.shared.arena.header(found.ref);
        const value = number.parseU64(items.valueOf(h)) orelse return Status.non_numeric;
        const amount = self.io.num();
        const result = if (incr) value +% amount else value -| amount;
        var digits_buffer: [number.digits_max]u8 = undefined;
        const digits = number.format(result, &digits_buffer);
        if (digits.len > out.len) {
            self.io.need = @intCast(digits.len);
            return Status.buffer_small;
        }
        const counters = &self.counters.class[self.shared.slabs.classOf(found.ref)];
        if (incr) counters.add(.incr_hits, 1) else counters.add(.decr_hits, 1);
        const ref = self.deltaStore(bucket, found.ref, digits) catch |err| return statusOf(err);
        @memcpy(out[0..digits.len], digits);
        self.io.setNum(result);
        self.io.setCas(self.shared.arena.header(ref).cas);
        return @intCast(digits.len);
    }

    /// In place, padded with spaces, when the digits fit the old value (memcached 1.6);
    /// otherwise a new item with the old flags and exptime.
    fn deltaStore(self: *Session, bucket: u32, old: Ref, digits: []const u8) Error!Ref {
        const old_h = self.shared.arena.header(old);
        if (digits.len <= old_h.value_len) {
            const value = items.valueOf(old_h);
            @memcpy(value[0..digits.len], digits);
            @memset(value[digits.len..], ' ');
            old_h.cas = self.nextCas();
            self.bump(old);
            return old;
        }
        const flags = items.flagsOf(old_h);
        const ref = try self.allocBeside(old, items.totalBytes(old_h.key_len, digits.len, flags));
        const h = self.shared.arena.header(ref);
        items.init(h, items.keyOf(old_h), @intCast(digits.len), flags, old_h.exptime_s);
        @memcpy(items.valueOf(h), digits);
        self.linkOrReplace(bucket, old, ref, self.nextCas());
        return ref;
    }

    // ---- cursor walk ----

    /// Starts a walk (under walk_mutex). Linkers read the walk's fields atomically; the
    /// generation is written before `active`.
    pub fn cursorStart(self: *Session) void {
        const owner = self.shared;
        owner.walk_mutex.lock();
        defer owner.walk_mutex.unlock();
        @atomicStore(bool, &owner.walk.active, false, .release);
        var generation = owner.walk.generation +% 1;
        if (generation == 0) {
            self.clearWalkMarks();
            generation = 1;
        }
        @atomicStore(u32, &owner.walk.bucket, 0, .release);
        @atomicStore(u8, &owner.walk.generation, generation, .release);
        @atomicStore(bool, &owner.walk.active, true, .release);
    }

    /// Sets every linked item's walk mark to 0 (none): once in 255 walks, before the
    /// generation byte wraps. One pass over the table, one stripe at a time.
    fn clearWalkMarks(self: *Session) void {
        for (0..stripe_count) |stripe| {
            self.lockStripe(@intCast(stripe));
            defer self.unlockStripe();
            var bucket: u32 = @intCast(stripe);
            while (bucket < self.shared.table.count()) : (bucket += stripe_count) {
                var ref = self.shared.table.buckets[bucket];
                while (ref != ref_none) {
                    const h = self.shared.arena.header(ref);
                    h.walk_mark = 0;
                    ref = h.chain_next;
                }
            }
        }
    }

    /// Removes every linked item (and tombstone) whose cas is below io's cas, and raises the
    /// flush floor to it: a replication peer's immediate flush_all, at the cas of that moment.
    /// One pass over the table, one stripe at a time; returns how many items it removed.
    pub fn removeBelowCas(self: *Session) i32 {
        const floor = self.io.cas();
        self.raiseFlushFloor();
        assert(self.io.cas() >= floor);
        var removed: i32 = 0;
        for (0..stripe_count) |stripe| {
            self.lockStripe(@intCast(stripe));
            defer self.unlockStripe();
            var bucket: u32 = @intCast(stripe);
            while (bucket < self.shared.table.count()) : (bucket += stripe_count) {
                var ref = self.shared.table.buckets[bucket];
                while (ref != ref_none) {
                    const h = self.shared.arena.header(ref);
                    const next = h.chain_next;
                    if (h.cas < floor) {
                        self.removeItem(bucket, ref);
                        removed += 1;
                    }
                    ref = next;
                }
            }
        }
        return removed;
    }

    /// Removes every linked item (see `flush`). One pass over the table, one stripe at a time.
    fn removeAll(self: *Session) void {
        for (0..stripe_count) |stripe| {
            self.lockStripe(@intCast(stripe));
            defer self.unlockStripe();
            var bucket: u32 = @intCast(stripe);
            while (bucket < self.shared.table.count()) : (bucket += stripe_count) {
                while (self.shared.table.buckets[bucket] != ref_none) {
                    self.removeItem(bucket, self.shared.table.buckets[bucket]);
                }
            }
        }
    }

    /// The next live item not yet returned by this walk: key bytes then value bytes into `out`.
    /// `mode`: 0 writes key bytes then value bytes; get_mode_rep (+ rep_relative/rep_signed_flags)
    /// writes the item's `rep` line instead (the full copy to a replication peer). Under
    /// walk_mutex; each bucket is looked at (and passed) holding its stripe.
    pub fn cursorNext(self: *Session, out: []u8, mode: u32) i32 {
        if (mode & ~(get_mode_rep | get_mode_rep_relative | get_mode_rep_signed_flags) != 0) return Status.invalid;
        const owner = self.shared;
        owner.walk_mutex.lock();
        defer owner.walk_mutex.unlock();
        const walk = &owner.walk;
        if (!walk.active) return Status.cursor_done;
        var budget: u32 = cursor_buckets_per_call_max;
        while (budget > 0 and walk.bucket < owner.table.count()) : (budget -= 1) {
            const bucket = walk.bucket;
            self.lockStripe(bucket & stripe_mask);
            defer self.unlockStripe();
            const ref = self.unwalkedIn(bucket);
            if (ref != ref_none) return self.emitWalked(ref, out, mode);
            @atomicStore(u32, &walk.bucket, bucket + 1, .release);
        }
        if (walk.bucket < owner.table.count()) return Status.cursor_again;
        @atomicStore(bool, &walk.active, false, .release);
        return Status.cursor_done;
    }

    fn unwalkedIn(self: *Session, bucket: u32) Ref {
        var ref = self.shared.table.buckets[bucket];
        while (ref != ref_none) {
            const h = self.shared.arena.header(ref);
            const next = h.chain_next;
            if (self.isDead(h) != null) {
                self.removeItem(bucket, ref);
            } else if (h.walk_mark != self.shared.walk.generation) {
                return ref;
            }
            ref = next;
        }
        return ref_none;
    }

    /// A tombstone goes only to a repcached-bun peer (rep_relative mode); otherwise it is passed
    /// over (CURSOR_AGAIN: call again).
    fn emitWalked(self: *Session, ref: Ref, out: []u8, mode: u32) i32 {
        const h = self.shared.arena.header(ref);
        if (isTombstone(h) and mode & get_mode_rep_relative == 0) {
            h.walk_mark = self.shared.walk.generation;
            return Status.cursor_again;
        }
        const need = @as(usize, h.key_len) + h.value_len;
        self.fillIo(h);
        if (mode & get_mode_rep != 0) {
            const written = writeRepLine(self, h, out, mode);
            if (written >= 0) h.walk_mark = self.shared.walk.generation;
            return written;
        }
        if (need > out.len) {
            self.io.need = @intCast(need);
            return Status.buffer_small;
        }
        @memcpy(out[0..h.key_len], items.keyOf(h));
        @memcpy(out[h.key_len..need], items.valueOf(h));
        h.walk_mark = self.shared.walk.generation;
        return @intCast(need);
    }

    // ---- sweep, eviction log ----

    /// Reclaims dead items, walking buckets round-robin, each under its stripe; each bucket and
    /// each item looked at costs one unit of `budget`. Returns how many items it reclaimed (0 at
    /// once when another session is sweeping).
    pub fn sweep(self: *Session, budget: u32) i32 {
        const owner = self.shared;
        if (!owner.sweep_mutex.tryLock()) return 0;
        defer owner.sweep_mutex.unlock();
        var spent: u32 = 0;
        var reclaimed: i32 = 0;
        while (spent < budget) : (spent += 1) {
            const bucket = @min(owner.sweep_bucket, owner.table.count() - 1);
            owner.sweep_bucket = if (bucket + 1 < owner.table.count()) bucket + 1 else 0;
            self.lockStripe(bucket & stripe_mask);
            defer self.unlockStripe();
            var ref = owner.table.buckets[bucket];
            while (ref != ref_none) : (spent +|= 1) {
                const h = owner.arena.header(ref);
                const next = h.chain_next;
                if (self.isDead(h)) |miss| {
                    const counters = &self.counters.class[owner.slabs.classOf(ref)];
                    counters.add(.crawler_reclaimed, 1);
                    if (miss == .expired and h.item_flags & items.flag_fetched == 0) counters.add(.expired_unfetched, 1);
                    self.removeItem(bucket, ref);
                    reclaimed += 1;
                }
                ref = next;
            }
        }
        return reclaimed;
    }

    /// memcached 1.6's LRU maintainer, in bounded steps: from each class's LRU tail, reclaims
    /// dead items (expired, flushed, tombstones past their grace) until it meets a live one, so
    /// items that died at the tail — after an expiry or a flush_all — leave curr_items and
    /// `stats items` soon, as in memcached, without waiting for the bucket sweep. Classes take
    /// turns at going first (`reclaim_class_next`) so one class's backlog cannot starve the others.
    /// Each item looked at costs one unit of `budget`; returns how many items it reclaimed.
    pub fn reclaimTails(self: *Session, budget: u32) i32 {
        const class_count = self.shared.slabs.class_count;
        const first = @atomicLoad(u8, &self.shared.reclaim_class_next, .monotonic);
        var left = budget;
        var reclaimed: i32 = 0;
        var turn: u8 = 0;
        while (turn < class_count and left > 0) : (turn += 1) {
            const class_id: u8 = @intCast((first + turn) % class_count + 1);
            reclaimed += self.reclaimTail(class_id, &left);
        }
        @atomicStore(u8, &self.shared.reclaim_class_next, (first + 1) % class_count, .monotonic);
        return reclaimed;
    }

    /// Reclaims dead items from `class_id`'s tail while `left` allows; stops at the first live
    /// one, or one whose stripe another thread holds. Each item is one hold of the class lock
    /// with the item's stripe taken without waiting (the eviction walk's order).
    fn reclaimTail(self: *Session, class_id: u8, left: *u32) i32 {
        assert(self.stripe_depth == 0);
        var reclaimed: i32 = 0;
        while (left.* > 0) : (left.* -= 1) {
            if (!self.reclaimTailItem(class_id)) break;
            reclaimed += 1;
        }
        return reclaimed;
    }

    fn reclaimTailItem(self: *Session, class_id: u8) bool {
        self.lockClass(class_id);
        defer self.unlockClass();
        const ref = self.shared.class_states[class_id].lru.tail;
        if (ref == ref_none) return false;
        const h = self.shared.arena.header(ref);
        const lock = self.lockVictim(h);
        if (lock.lock == .busy) return false;
        defer self.unlockVictim(lock);
        assert(h.item_flags & items.flag_pinned == 0);
        if (self.isDead(h) == null) return false;
        if (!isTombstone(h)) {
            // memcached's lru_pull_tail counts a flushed item like an expired one.
            const counters = &self.counters.class[class_id];
            counters.add(.reclaimed, 1);
            if (h.item_flags & items.flag_fetched == 0) counters.add(.expired_unfetched, 1);
        }
        self.removeItem(self.bucketOfKey(items.keyOf(h)), ref);
        return true;
    }

    pub fn evictionsTake(self: *Session, out: []u8) i32 {
        const owner = self.shared;
        if (!owner.eviction_log.enabled()) return 0;
        owner.eviction_log_mutex.lock();
        defer owner.eviction_log_mutex.unlock();
        return @intCast(owner.eviction_log.take(out));
    }

    // ---- stats ----

    pub fn classCount(self: *const Session) u32 {
        return self.shared.slabs.class_count;
    }

    /// The counters summed under sessions_mutex, then the class's gauges under its class lock.
    pub fn statsClass(self: *Session, class_id: u32, out: *[stats.class_count]u64) i32 {
        const owner = self.shared;
        if (class_id < 1 or class_id > owner.slabs.class_count) return Status.invalid;
        const id: u8 = @intCast(class_id);
        const class = &owner.slabs.classes[id];
        var sum: stats.Counters = undefined;
        self.countersSum(&sum);
        out.* = sum.class[id].values;
        out[@intFromEnum(stats.Class.evicted_time)] = @atomicLoad(u64, &owner.evicted_time[id], .monotonic);
        self.lockClass(id);
        defer self.unlockClass();
        const gauges = [_]struct { stats.Class, u64 }{
            .{ .chunk_size, class.chunk_size },
            .{ .chunks_per_page, class.chunks_per_page },
            .{ .total_pages, class.pages },
            .{ .total_chunks, @as(u64, class.pages) * class.chunks_per_page },
            .{ .used_chunks, class.used_count },
            .{ .free_chunks, class.free_count },
            .{ .free_chunks_end, class.end_count },
            .{ .mem_requested, owner.class_states[id].mem_requested },
            .{ .number, owner.class_states[id].lru.count },
            .{ .age, self.tailAge(id) },
        };
        comptime assert(gauges.len == @intFromEnum(stats.class_first_counter));
        for (gauges) |gauge| out[@intFromEnum(gauge[0])] = gauge[1];
        return Status.ok;
    }

    /// The class's lock held (an item's time_s is written under its stripe and class locks).
    fn tailAge(self: *const Session, class_id: u8) u64 {
        const tail = self.shared.class_states[class_id].lru.tail;
        if (tail == ref_none) return 0;
        return self.shared.clock.now() -| self.shared.arena.header(tail).time_s;
    }

    /// Counters summed under sessions_mutex; each class's gauges under its class lock in turn,
    /// so with other threads running the sums are of nearby moments, not one.
    pub fn statsGlobal(self: *Session, out: *[stats.global_count]u64) void {
        const owner = self.shared;
        var sum: stats.Counters = undefined;
        self.countersSum(&sum);
        out.* = sum.global.values;
        var bytes: u64 = 0;
        var active_slabs: u64 = 0;
        for (1..@as(usize, owner.slabs.class_count) + 1) |id| {
            {
                self.lockClass(@intCast(id));
                defer self.unlockClass();
                bytes += owner.class_states[id].mem_requested;
                if (owner.slabs.classes[id].pages > 0) active_slabs += 1;
            }
            inline for (stats.summed) |pair| out[@intFromEnum(pair[0])] += sum.class[id].get(pair[1]);
        }
        const linked = owner.linkedCount();
        const tombstones = @min(owner.tombstoneCount(), linked);
        const pending_used = blk: {
            owner.pending_mutex.lock();
            defer owner.pending_mutex.unlock();
            break :blk owner.pending.usedCount();
        };
        owner.eviction_log_mutex.lock();
        defer owner.eviction_log_mutex.unlock();
        const gauges = [_]struct { stats.Global, u64 }{
            .{ .curr_items, linked - tombstones },
            .{ .bytes, bytes },
            .{ .total_malloced, @as(u64, owner.slabs.pagesUsed()) * owner.slabs.page_size },
            .{ .limit_maxbytes, owner.memory_bytes_max },
            .{ .hash_power_level, owner.table.powerLevel() },
            .{ .hash_bytes, @as(u64, owner.table.count()) * @sizeOf(Ref) },
            .{ .active_slabs, active_slabs },
            .{ .pending_items, pending_used },
            .{ .evicted_log_pending, owner.eviction_log.count },
            .{ .curr_time_rel, owner.clock.now() },
            .{ .tombstones, tombstones },
        };
        comptime assert(gauges.len == @intFromEnum(stats.global_first_counter));
        for (gauges) |gauge| out[@intFromEnum(gauge[0])] = gauge[1];
        out[@intFromEnum(stats.Global.evicted_log_dropped)] = owner.eviction_log.dropped;
    }

    /// memcached's `stats reset`: every event counter, no gauge. Under sessions_mutex each
    /// session's counters are snapshotted as its new base (a session only ever adds to its own).
    pub fn statsReset(self: *Session) void {
        const owner = self.shared;
        {
            owner.sessions_mutex.lock();
            defer owner.sessions_mutex.unlock();
            owner.counters_closed.reset();
            owner.session_default.counters_base.snapshot(&owner.session_default.counters);
            var next = owner.sessions;
            while (next) |session| : (next = session.next) session.counters_base.snapshot(&session.counters);
        }
        for (&owner.evicted_time) |*value| @atomicStore(u64, value, 0, .monotonic);
        owner.eviction_log_mutex.lock();
        defer owner.eviction_log_mutex.unlock();
        owner.eviction_log.dropped = 0;
    }
};

pub fn keyValid(key: []const u8) bool {
    return key.len > 0 and key.len <= items.key_bytes_max;
}

fn opOf(raw: u32) ?Op {
    if (raw < @intFromEnum(Op.set) or raw > @intFromEnum(Op.prepend_cas)) return null;
    return @enumFromInt(raw);
}

/// Bytes `get` writes for `mode`: the raw value, or the whole text reply.
fn replyBytes(h: *Header, mode: u32) usize {
    if (mode & get_mode_text == 0) return h.value_len;
    var need: usize = "VALUE ".len + h.key_len + 1 + number.digitCount(items.flagsOf(h)) + 1;
    need += number.digitCount(h.value_len);
    if (mode & get_mode_cas != 0) need += 1 + number.digitCount(shownCas(h, mode));
    return need + items.crlf.len + h.value_len + items.crlf.len;
}

/// The cas a text reply shows: the item's, or 0 with get_mode_cas_hidden.
fn shownCas(h: *const Header, mode: u32) u64 {
    return if (mode & get_mode_cas_hidden != 0) 0 else h.cas;
}

fn writeReply(h: *Header, out: []u8, mode: u32) usize {
    if (mode & get_mode_text == 0) {
        @memcpy(out[0..h.value_len], items.valueOf(h));
        return h.value_len;
    }
    var at: usize = 0;
    at += put(out[at..], "VALUE ");
    at += put(out[at..], items.keyOf(h));
    at += put(out[at..], " ");
    at += number.write(items.flagsOf(h), out[at..]);
    at += put(out[at..], " ");
    at += number.write(h.value_len, out[at..]);
    if (mode & get_mode_cas != 0) {
        at += put(out[at..], " ");
        at += number.write(shownCas(h, mode), out[at..]);
    }
    at += put(out[at..], items.crlf);
    at += put(out[at..], items.valueCrlfOf(h));
    return at;
}

fn isTombstone(h: *const Header) bool {
    return h.item_flags & items.flag_tombstone != 0;
}

/// Whether the value `new` with cas `cas` replaces the version `old` in a replicated store: the
/// higher cas wins. Two nodes that have not paired yet may mint one cas for two different writes
/// (their parity bits are only settled at pairing), so a tie is broken the same way on every
/// node: a tombstone beats a value, then the greater value bytes, then the greater flags.
fn newerVersion(new: *Header, cas: u64, old: *Header) bool {
    if (cas != old.cas) return cas > old.cas;
    if (isTombstone(old)) return false;
    switch (std.mem.order(u8, items.valueOf(new), items.valueOf(old))) {
        .gt => return true,
        .lt => return false,
        .eq => {},
    }
    const new_flags = items.flagsOf(new);
    const old_flags = items.flagsOf(old);
    if (new_flags != old_flags) return new_flags > old_flags;
    // The same version, touched (touch and gat keep the cas, as memcached's): the later expiry
    // wins, so a touch reaches the peer and concurrent touches converge; one that shortens the
    // TTL stays local (README).
    return expiryOrder(new.exptime_s) > expiryOrder(old.exptime_s);
}

/// Expiry times in order, 0 (never) last.
fn expiryOrder(exptime_s: u32) u64 {
    return if (exptime_s == 0) std.math.maxInt(u64) else exptime_s;
}

/// A replication `rep` line for the item (see get_mode_rep), or BUFFER_SMALL with io.need. A
/// tombstone is `rcb1_tomb <key> <cas>` for a repcached-bun peer (rep_relative), NOT_FOUND else.
fn writeRepLine(self: *Session, h: *Header, out: []u8, mode: u32) i32 {
    if (isTombstone(h)) {
        if (mode & get_mode_rep_relative == 0) return Status.not_found;
        return writeTombLine(self, h, out);
    }
    const exptime = wireExptime(self, h, mode & get_mode_rep_relative != 0);
    const flags_raw = items.flagsOf(h);
    const flags: i64 = if (mode & get_mode_rep_signed_flags != 0) @as(i32, @bitCast(flags_raw)) else flags_raw;
    var need: usize = "rep ".len + h.key_len + 1 + signedDigits(flags) + 1 + signedDigits(exptime) + 1;
    need += number.digitCount(h.value_len) + 1 + number.digitCount(h.cas);
    need += items.crlf.len + h.value_len + items.crlf.len;
    const meta_bits = if (mode & get_mode_rep_relative != 0) h.item_flags & items.meta_state_flags else 0;
    if (meta_bits != 0) need += metaLineBytes(h, meta_bits);
    if (need > out.len) {
        self.io.need = @intCast(need);
        return Status.buffer_small;
    }
    var at: usize = 0;
    at += put(out[at..], "rep ");
    at += put(out[at..], items.keyOf(h));
    at += put(out[at..], " ");
    at += writeSigned(flags, out[at..]);
    at += put(out[at..], " ");
    at += writeSigned(exptime, out[at..]);
    at += put(out[at..], " ");
    at += number.write(h.value_len, out[at..]);
    at += put(out[at..], " ");
    at += number.write(h.cas, out[at..]);
    at += put(out[at..], items.crlf);
    at += put(out[at..], items.valueCrlfOf(h));
    if (meta_bits != 0) at += writeMetaLine(h, meta_bits, out[at..]);
    assert(at == need);
    return @intCast(at);
}

/// `rcb1_meta <key> <cas> <bits>\r\n` after a rep line, to a repcached-bun peer: the item's meta
/// state (items.flag_stale | flag_win_token, as item flag bits), for the version at that cas.
fn metaLineBytes(h: *Header, bits: u8) usize {
    return "rcb1_meta ".len + h.key_len + 1 + number.digitCount(h.cas) + 1 + number.digitCount(bits) + items.crlf.len;
}

fn writeMetaLine(h: *Header, bits: u8, out: []u8) usize {
    var at: usize = 0;
    at += put(out[at..], "rcb1_meta ");
    at += put(out[at..], items.keyOf(h));
    at += put(out[at..], " ");
    at += number.write(h.cas, out[at..]);
    at += put(out[at..], " ");
    at += number.write(bits, out[at..]);
    at += put(out[at..], items.crlf);
    assert(at == metaLineBytes(h, bits));
    return at;
}

fn writeTombLine(self: *Session, h: *Header, out: []u8) i32 {
    const need = "rcb1_tomb ".len + h.key_len + 1 + number.digitCount(h.cas) + items.crlf.len;
    if (need > out.len) {
        self.io.need = @intCast(need);
        return Status.buffer_small;
    }
    var at: usize = 0;
    at += put(out[at..], "rcb1_tomb ");
    at += put(out[at..], items.keyOf(h));
    at += put(out[at..], " ");
    at += number.write(h.cas, out[at..]);
    at += put(out[at..], items.crlf);
    assert(at == need);
    return @intCast(at);
}

fn wireExptime(self: *const Session, h: *const Header, relative: bool) i64 {
    if (h.exptime_s == 0) return 0;
    const absolute: i64 = self.shared.clock.absolute(h.exptime_s);
    if (!relative) return absolute;
    const left = absolute - (self.shared.clock.process_started + self.shared.clock.now());
    if (left <= 0) return -1;
    return if (left <= clock_zig.realtime_delta_max_s) left else absolute;
}

fn signedDigits(value: i64) usize {
    return if (value < 0) 1 + number.digitCount(@intCast(-value)) else number.digitCount(@intCast(value));
}

fn writeSigned(value: i64, out: []u8) usize {
    if (value >= 0) return number.write(@intCast(value), out);
    out[0] = '-';
    return 1 + number.write(@intCast(-value), out[1..]);
}

fn put(out: []u8, bytes: []const u8) usize {
    @memcpy(out[0..bytes.len], bytes);
    return bytes.len;
}

fn metaBitsOf(h: *const Header) u32 {
    var bits: u32 = 0;
    if (h.item_flags & items.flag_fetched != 0) bits |= meta_fetched;
    if (h.item_flags & items.flag_stale != 0) bits |= meta_stale;
    if (h.item_flags & items.flag_win_token != 0) bits |= meta_token_sent;
    return bits;
}

/// memcached 1.6's ITEM_ntotal for the item (its header with a cas, key + NUL, value + CRLF,
/// client flags when not 0): what `me` reports as size, and the class it picks from.
fn memcachedSizeOf(h: *const Header) u64 {
    const flags_bytes: u64 = if (items.flagsOf(h) == 0) 0 else items.client_flags_bytes;
    return memcached_item_with_cas_bytes + @as(u64, h.key_len) + 1 + h.value_len + items.crlf.len + flags_bytes;
}
