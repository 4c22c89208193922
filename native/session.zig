//! session: a caller's handle on the store, and the store's locking design (issue 14, `-t N`).
//!
//! A Session is one caller's view of one Store: its own `Io` block (the words JS reads cas,
//! flags, value_len... from), so N Bun Workers can each hold one and never read another's
//! results. The store embeds a default session (`Store.session_default`); `rc_create` returns
//! it, so today's single-threaded JS keeps passing that one handle to every call, unchanged.
//! `rc_session_open(handle)` gives a worker another session on the same store (at most
//! `sessions_max` open at once); `rc_session_close` gives it back. Every export in lib.zig
//! takes a session and runs its operation between `enter` and `leave`.
//!
//! ## Locking: what this step implements (stage 1, a store lock)
//!
//! One mutex per store, `Store.mutex`, guards everything the store owns: the table and every
//! item in the arena (header, key, value), slabs and free lists, LRUs, pending slots, the
//! eviction log, the clock, the cas counter, flush state, the cursor, sweep/reclaim positions
//! and every stats counter. `enter` takes it and points `Store.io` at the session's Io; `leave`
//! points it back at the default session's Io and releases it. So:
//!   - lock order: there is one lock; nothing else is ever held with it (no callback, no
//!     allocation, no syscall but the cas clock's clock_gettime under it);
//!   - a value is copied into the caller's buffer under the lock, so no other caller can free
//!     or reuse the chunk during the copy;
//!   - table growth (one linear-hashing split per link, table.zig) runs under it;
//!   - `Store.io` is only read or written with the lock held, by the session that holds it;
//!   - pending slots (rc_reserve/fill/commit/abort) are still store-wide numbers: a session must
//!     use only the slots it reserved (the caller's duty until stage 2 makes them per session);
//!   - rc_destroy does nothing while a session other than the default one is open.
//! Hold times (what one caller can make another wait for), bounded by:
//!   - get/set/delete/touch/incr/meta ops: one chain walk (load <= 1.5 items a bucket on average),
//!     one bucket split, `lru.tail_search_depth` tail items when evicting, and a copy of at most
//!     `item_size_max` bytes (1 MiB by default: tens of microseconds);
//!   - rc_cursor_next: `cursor_buckets_per_call_max` buckets plus one item copy;
//!   - rc_sweep / rc_reclaim_tails: the caller's budget;
//!   - NOT bounded by a constant: rc_remove_below_cas (one pass over every item), rc_flush's
//!     removeAll (once in 256 immediate flushes) and rc_cursor_start's clearWalkMarks (once in
//!     255 walks): each one pass over the table, O(items) under the lock.
//! This is correct for any number of threads but serialises them: it is NOT yet the design
//! issue 14 asks for (no global lock on the hot path). It is the stage every later stage must
//! keep passing threads_test.zig with.
//!
//! ## Locking: the striped design (stage 2, not implemented yet)
//!
//!   1. Item stripes: `item_lock_count` (a power of two, <= table.buckets_min) mutexes; key hash
//!      h uses stripe h & (item_lock_count - 1). Because the bucket of h is h modulo a power of
//!      two >= buckets_min, a bucket's stripe is bucket & (item_lock_count - 1), and a linear-
//!      hashing split of bucket b moves items only to b + low_count: the same stripe. So growth
//!      needs no global expansion lock: the grower (one at a time: a growth mutex, tryLock, a
//!      loser just skips) takes stripe(b), splits b, then publishes (low_count, split) as ONE
//!      atomic u64; a reader that computed its bucket before the publish recomputes it under its
//!      stripe lock (the mapping of keys in other stripes does not change).
//!   2. Per-class locks (slabs free list + LRU links/counts + mem_requested) taken inside a
//!      stripe lock: order stripe -> class -> pages (the global page grant) -> eviction log.
//!      The eviction walk holds the class lock and only tryLocks a victim's stripe (a failure
//!      skips that item, as memcached's lru_pull_tail), so the reverse order cannot deadlock.
//!      A get bumps an item at most once per lru.bump_interval_s (lru.zig's rule), so most
//!      gets take no class lock at all.
//!   3. cas counter: an atomic fetch-add (the cas clock mode: a bounded compare-and-swap loop);
//!      the clock and flush state: atomics written by the one clock caller.
//!   4. Stats: event counters per session (summed by rc_stats), gauges atomic.
//!   5. Io explicit per call (a *Io argument) instead of `Store.io`; pending slots per session.
//!   6. Cursor and sweep: their own mutex for the position, then one stripe per bucket visited;
//!      the O(items) passes above become per-stripe steps so no lock is held for a whole pass.
const cache = @import("cache.zig");

/// A caller's handle on a store: its Io block, its counters and every operation (cache.zig).
pub const Session = cache.Session;

/// Sessions a store may have open beside its default one (one per worker thread; -t is far
/// below this).
pub const sessions_max: u32 = 256;
