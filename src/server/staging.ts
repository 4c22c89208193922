// Staging: where a large value waits, outside the store, until its last byte has arrived.
//
// memcached 1.6 allocates a large (chunked) value's memory as its bytes arrive: a client that
// stops halfway holds only what it sent, and items completed meanwhile are linked, so they can be
// evicted to make room for the rest (70 clients each holding half of a 1 MB set under -m 64: 36 MB
// held, all 70 STORED, 7 evictions). A store item is one chunk, so a reservation would take the
// whole item at the command line and hold it, unevictable, for as long as the client pleases (the
// same 70 clients: every page taken, 6 refused). So a value too large to wait in the input stash is
// copied here as it arrives, and enters the store (reserve, fill, commit in one turn) only once
// complete; while it waits it holds no store memory.
//
// Bounds: a connection stages one value at a time (at most item_size_max bytes); all connections
// together at most `bytes_max`. The server passes -m: memcached may hold up to -m of partial values
// in flight, so a staging budget of -m lets as many values wait as memcached could, and keeps the
// process within twice -m even then. A value that does not fit the budget is reserved in the store
// at its command line (holding store memory while it arrives, as before).
//
// Contract: `take` returns false (and takes nothing) when n bytes would pass bytes_max; every
// successful take is given back exactly once.

/** memcached's REALTIME_MAXDELTA: a larger exptime is an absolute unix time. */
const exptime_relative_s_max = 60 * 60 * 24 * 30;
const exptime_s_max = 2 ** 31 - 1;

export class StagingBudget {
  readonly bytes_max: number;
  used_bytes = 0;

  constructor(bytes_max: number) {
    if (!Number.isSafeInteger(bytes_max) || bytes_max < 0) throw new Error(`bad staging bytes_max ${bytes_max}`);
    this.bytes_max = bytes_max;
  }

  take(n: number): boolean {
    if (n > this.bytes_max - this.used_bytes) return false;
    this.used_bytes += n;
    return true;
  }

  give(n: number): void {
    if (n > this.used_bytes) throw new Error(`staging: gave back ${n} of ${this.used_bytes} bytes`);
    this.used_bytes -= n;
  }
}

/**
 * The exptime to store a value with later that means what `exptime` meant at `now_s` (memcached
 * starts a relative exptime at the command line): relative seconds become the unix time they name;
 * 0 (never), negative (already expired) and absolute times stay as they are.
 */
export function exptimeFrom(exptime: number, now_s: number): number {
  if (exptime <= 0 || exptime > exptime_relative_s_max) return exptime;
  return Math.min(now_s + exptime, exptime_s_max);
}
