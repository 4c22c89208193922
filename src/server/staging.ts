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
// successful take is given back exactly once. With -t N every thread's budget is one shared cell,
// so the bound is for the whole process.

/** memcached's REALTIME_MAXDELTA: a larger exptime is an absolute unix time. */
const exptime_relative_s_max = 60 * 60 * 24 * 30;
const exptime_s_max = 2 ** 31 - 1;

export class StagingBudget {
  readonly bytes_max: number;
  /** Bytes held: one i64 cell, shared by every thread of a -t N server (shared_words.ts). */
  private readonly cell: BigInt64Array;

  constructor(bytes_max: number, cell: BigInt64Array = new BigInt64Array(1)) {
    if (!Number.isSafeInteger(bytes_max) || bytes_max < 0) throw new Error(`bad staging bytes_max ${bytes_max}`);
    if (cell.length !== 1) throw new RangeError("the staging cell is one i64");
    this.bytes_max = bytes_max;
    this.cell = cell;
  }

  get used_bytes(): number {
    return Number(Atomics.load(this.cell, 0));
  }

  /** Takes n bytes (one atomic add, undone when it passed the budget: threads cannot overshoot together). */
  take(n: number): boolean {
    const amount = BigInt(n);
    const before = Atomics.add(this.cell, 0, amount);
    if (Number(before) + n <= this.bytes_max) return true;
    Atomics.sub(this.cell, 0, amount);
    return false;
  }

  give(n: number): void {
    const before = Number(Atomics.sub(this.cell, 0, BigInt(n)));
    if (n > before) throw new Error(`staging: gave back ${n} of ${before} bytes`);
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
