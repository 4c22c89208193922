//! session: a caller's handle on the store, and the store's locking (issue 14, `-t N`).
//!
//! A Session (defined in cache.zig, where every store operation is one of its methods) is one
//! caller's view of one Store: its own `Io` block (the words JS reads cas, flags, value_len...
//! from), its own event counters, its pending slots and the locks it holds during a call. The
//! store embeds a default session (`Store.session_default`); `rc_create` returns it, so today's
//! single-threaded JS keeps passing that one handle to every call, unchanged.
//! `rc_session_open(handle)` gives a worker another session on the same store (at most
//! `sessions_max` open at once); `rc_session_close` gives it back (aborting the reservations it
//! still holds). A session is used by one thread at a time; any number of sessions run at once.
//!
//! ## Locking: what is implemented (stage 2, no store-wide lock on any operation)
//!
//! Locks (cache.zig `Store` unless said otherwise):
//!   - `stripes`: `stripe_count` (1024 = table.buckets_min) mutexes, each on its own cache line.
//!     A key's stripe is its table hash & (stripe_count - 1). A bucket is the hash modulo a power
//!     of two >= stripe_count, so all items of a bucket share one stripe, and a linear-hashing
//!     split of bucket b moves items only to b + low_count: the same stripe. A stripe guards its
//!     buckets' chain links (chain_next) and every field of their items but the LRU links: flags,
//!     cas, exptime, walk mark, key and value bytes. `time_s` is written holding the stripe and
//!     the class lock, so either one suffices to read it. Beside each stripe's mutex, on its
//!     line, a `writer` word: 1 while the holder may write.
//!   - Reader slots (`Store.reader_slots`, one cache line per session): plain gets read a stripe
//!     without its mutex (below). A session announces the stripe it reads in its slot, then
//!     reads only when the stripe's `writer` is 0; whoever takes a stripe's mutex (an operation,
//!     an eviction or reclaim walk's tryLock, a split) sets `writer` and waits until no slot
//!     names that stripe before it changes anything. All four accesses are seq_cst (Dekker's
//!     pattern): either the writer sees the reader and waits, or the reader sees the writer
//!     and takes the mutex instead. This is what lets gets on different cores scale: a get that
//!     takes a mutex writes the mutex's line, which the other core then has to fetch back.
//!   - `class_states[c].mutex`: one per slab class: the class's free list and page carving (slabs.zig),
//!     its LRU list and count (lru.zig), its mem_requested, and its items' lru_prev/lru_next.
//!   - `slabs.page_mutex`: the global page grant (pages_used, page_classes).
//!   - `eviction_log_mutex`: the eviction log ring.
//!   - `growth_mutex`: one table split at a time (tryLock: a caller that loses skips its split).
//!   - `flush_mutex`: the clock's writer (rc_clock), flush_all and the delayed flush.
//!   - `walk_mutex`: the cursor's position (rc_cursor_start / rc_cursor_next).
//!   - `sweep_mutex`: the sweep position (tryLock: a second sweeper returns 0 at once).
//!   - `pending_mutex`: the pending slots table.
//!   - `sessions_mutex`: the session registry, rc_stats' sums, stats reset, rc_destroy's check.
//! Atomics instead of locks: the table's shape (low_count, split) as one u64 published after a
//! split; the clock's current second; the flush state (time, epoch, active) as one u64; the cas
//! counter (fetch-add; in the replication cas clock mode a compare-and-swap loop that retries
//! only when another thread minted in between), the flush floor and given cas values (atomic
//! max); the cas-clock and tombstone modes; linked and tombstone counts; the walk position and
//! generation (read by linkers); evicted_time; an item's flags byte (stored atomically by its
//! stripe's holder, loaded atomically by an LRU walk that must find the key of an item whose
//! stripe it does not hold yet). The cas counter and item counts sit on their own cache lines.
//!
//! Stripe and class locks are taken by trying for up to 256 spins before sleeping on the futex
//! (cache.zig `lockSpinning`): their holds are far shorter than a sleep and wake-up.
//!
//! Lock order (a session holds at most one stripe and one class lock, re-entrantly: md calls
//! delete and ma calls incr on the same key under the same stripe):
//!   growth_mutex | flush_mutex | walk_mutex | sweep_mutex  ->  stripe  ->  class lock  ->
//!   page_mutex | eviction_log_mutex.
//! pending_mutex and sessions_mutex are leaves: nothing is taken inside them and they are never
//! taken with a stripe or class lock held. The reverse direction, class lock -> stripe, only
//! ever tryLocks (the eviction walk in allocChunk/pullTail and rc_reclaim_tails, as memcached's
//! lru_pull_tail): a busy stripe means that item is skipped, so no cycle can wait. A table split
//! takes growth_mutex (tryLock), then the stripe of the bucket it splits, after the operation
//! that wanted it released its own stripe.
//!
//! How each operation runs:
//!   - get/gets (no touch, peek or rep line): first without the mutex, through the reader slot;
//!     it answers a hit that changes nothing (the item live, not a tombstone, already fetched
//!     twice, within its bump interval: counters are the session's own). Anything else (a miss,
//!     a first or second fetch, a bump due, a dead item to reclaim, a writer present) falls back
//!     to the locked path below, from the start.
//!   - get/gets/gat/touch/delete/incr/decr/mg/md/ma/tomb/meta mark: the key's stripe for the
//!     whole operation; the bucket is computed under it (a split of that bucket needs the same
//!     stripe, so it is stable). A value is copied into the caller's buffer under the stripe, so
//!     no other thread can free or reuse the chunk during the copy (and for a get without the
//!     mutex, no writer touches the stripe until the reader left it): no reference count is
//!     needed (a refinement of the first design). A hit bumps the LRU at most once per
//!     lru.bump_interval_s, and that is checked under the stripe, so most gets take no class lock.
//!   - set/add/replace/append/prepend/cas/rep (rc_store): the chunk is allocated (class lock,
//!     maybe an eviction walk) and the value copied before the key's stripe is taken; the stripe
//!     is then held for the chain walk, the link (class lock once when old and new share a class)
//!     and, for append/prepend, the copy into a bigger chunk. rc_reserve allocates the same way;
//!     rc_fill copies outside every lock (a slot is its session's alone: another session's slot
//!     number is INVALID); rc_commit links under the stripe.
//!   - Table growth: after an operation that linked an item and released its stripe, one split
//!     under the split bucket's stripe; the new shape is published atomically.
//!   - flush_all, rc_remove_below_cas, and cursor start when the walk generation wraps: one pass
//!     over the table in per-stripe steps (no lock held across the pass).
//!   - Cursor: walk_mutex, then each bucket looked at under its stripe; the walk moves past a
//!     bucket while holding its stripe, so a linker in that bucket sees whether it was passed
//!     (a new key behind the cursor is marked walked: no key is returned twice).
//!   - rc_sweep: sweep_mutex, one stripe per bucket. rc_reclaim_tails: per item, its class lock
//!     and the item's stripe by tryLock.
//!   - rc_stats / rc_class_stats: every session's counters summed under sessions_mutex (each
//!     session adds only to its own, with atomic loads/stores; stats reset snapshots them as a
//!     base), then each class's gauges under its class lock in turn: with threads running, the
//!     numbers are of nearby moments, not one.
//!   - rc_clock, rc_cas_clock, rc_tombstones, rc_cas_mint, rc_flush_floor: atomics (rc_clock
//!     and flush also flush_mutex). Store-wide operations never take every stripe at once.
//!   - rc_destroy: only with no other session open; the caller must not call the default
//!     session concurrently with it.
//!
//! Where one thread can still block another, and for how long:
//!   - Two operations on keys of one stripe: the later waits for the earlier's hold: one chain
//!     walk (the table grows at 1.5 items a bucket on average), one split or eviction walk, and
//!     a value copy of at most `item_size_max` bytes (1 MiB by default: tens of microseconds).
//!   - A writer taking a stripe waits (spinning, then yielding) for the gets reading it without
//!     the mutex: each one chain walk and one value copy; a get that finds a writer never waits
//!     for it (it takes the mutex like any operation). Each mutex taker also reads every used
//!     reader slot (one line per open session).
//!   - A class lock: O(1) list work (alloc, free, link, unlink, bump), or one eviction walk of
//!     at most `lru.tail_search_depth` (5) items that only tryLocks stripes, plus a page grant
//!     or one eviction log push (O(1) under their mutexes). rc_reclaim_tails holds it per item.
//!   - A table split: one stripe for one bucket's chain.
//!   - flush_all's epoch wrap (once in 256 immediate flushes), rc_remove_below_cas, cursor start
//!     on a generation wrap (once in 255 walks): one stripe at a time, for that stripe's
//!     buckets (count / 1024 chains). flush_all and rc_clock also wait for each other (O(1),
//!     except that wrap).
//!   - rc_cursor_next: other cursor callers wait (walk_mutex) for up to
//!     `cursor_buckets_per_call_max` buckets plus one item copy; other operations wait at most
//!     for one bucket of their stripe and that copy.
//!   - rc_sweep: one bucket of a stripe at a time, up to the caller's budget in all.
//!   - rc_stats, stats reset, session open/close: sessions_mutex, for a sum over the open
//!     sessions' counters (at most sessions_max + 1 blocks of stats.Counters).
//!   - The pending table: O(1) under pending_mutex.
//!   - An allocation whose five tail items all have busy or pinned stripes fails (NO_MEMORY,
//!     outofmemory counted) rather than wait, as memcached's does.
//! Not yet done (measured with bench-store and variants on the shared 2-core test machine):
//! gets alone scale (x1.8 wall on two threads) but stores do not: each store writes its
//! class's lock, LRU head, free list, mem_requested and the cas counter, lines the other core
//! then fetches back (sets alone: 384 -> 651 ns of CPU a store on two threads, x1.17 wall), and
//! the first two gets after a store of a key take the locked path (they write its fetched
//! flags). A 90% get / 10% set mix on two threads still costs each operation two to three times
//! the CPU of one thread, so its wall throughput stays below one thread's (stage 1: a tenth).
//! Done since: a class's LRU list and mem_requested share its lock's line (cache.zig
//! ClassState) and each class's slab state has lines of its own — sets by two threads in
//! different classes went from ~1,000 to ~750 ns of CPU each (bench-store's last part). The
//! next step: per-session chunk caches and LRU link buffers (memcached's per-thread caches and
//! bump buffers) for threads storing in one class; cas values handed out in per-session blocks
//! only where cas order allows it (not with replication: its cas orders versions by time).
//!
//! With -t 1 the one caller takes every lock uncontended: one stripe lock a call (none for a
//! repeated get), a class lock per allocation and link, none for a get within the bump interval.
const cache = @import("cache.zig");

/// A caller's handle on a store: its Io block, its counters and every operation (cache.zig).
pub const Session = cache.Session;

/// Sessions a store may have open beside its default one (one per worker thread; -t is far
/// below this).
pub const sessions_max: u32 = 256;
