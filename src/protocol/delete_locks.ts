// Delete locks: memcached 1.2.8's deferred delete (`delete <key> <time>`), which only a classic
// repcached peer still sends us (as `delete <key> <abs unix time>`; our own clients get memcached
// 1.6's CLIENT_ERROR for it). In 1.2.8 the key is hidden at once AND locked until that time:
// add/replace/append/prepend of it answer NOT_STORED; set (and a peer's rep) override the lock.
//
// Contract: protocol-layer state beside the store (the store never sees it). The key itself is
// deleted from the store by the caller; this only remembers "locked until unix second until_s".
// - `lock(key, until_s)` remembers a lock (a lock already held for the key is replaced and becomes the
//   newest). At most `delete_locks_max` locks are held: past it the oldest is dropped and counted in
//   `dropped` (that key can then be added again before its time).
// - `locked(key)` is true while now_s < until_s; an expired lock it meets is removed. Callers test
//   `size > 0` first, so the request path pays nothing while no lock is held (the usual case).
// - `release(key)` ends a key's lock (a successful set/rep of it). Missing keys are fine.
// - `tick(now_s)` advances the clock (the server's 1-second tick) and removes expired locks, one pass
//   over at most delete_locks_max entries, only when some are held.
// Keys are held as latin1 strings (bytes 1:1); they are at most 250 bytes (the protocol's limit).

/** Locks held at once: a classic peer deferring deletes of this many distinct keys within one
 *  window is far beyond what 1.2.8's own delete queue was used for. 16,384 × 250-byte keys ≈ 4 MiB. */
export const delete_locks_max = 16_384;

/**
 * -t N: every thread keeps a copy of the locks; a change made on one thread is told to the others
 * (through the main thread, threads.ts) and applied there with `applyLock` / `applyRelease`, which
 * do not tell again. Between a change and its arrival (one message hop) another thread can still
 * see the old state.
 */
export interface LockMirror {
  locked(key: string, until_s: number): void;
  released(key: string): void;
}

export class DeleteLocks {
  /** Told of every lock and release made here (-t N); null: one thread. */
  mirror: LockMirror | null = null;
  /** key -> unix second the lock ends; Map order is insertion order, so the first entry is the oldest. */
  private readonly until = new Map<string, number>();
  now_s: number;
  /** Locks dropped because delete_locks_max were held (since start). */
  dropped = 0;
  /** Locks taken (since start). */
  taken = 0;

  constructor(now_s: number) {
    this.now_s = now_s;
  }

  get size(): number {
    return this.until.size;
  }

  lock(buf: Uint8Array, key_off: number, key_len: number, until_s: number): void {
    if (until_s <= this.now_s) return;
    const key = keyText(buf, key_off, key_len);
    this.applyLock(key, until_s);
    this.mirror?.locked(key, until_s);
  }

  /** Another thread's lock (or this one's): remember it, telling no one. */
  applyLock(key: string, until_s: number): void {
    if (until_s <= this.now_s || key.length === 0 || key.length > 250) return;
    this.until.delete(key); // re-inserted as the newest
    if (this.until.size >= delete_locks_max) {
      const oldest = this.until.keys().next().value!;
      this.until.delete(oldest);
      this.dropped++;
    }
    this.until.set(key, until_s);
    this.taken++;
  }

  locked(buf: Uint8Array, key_off: number, key_len: number): boolean {
    const key = keyText(buf, key_off, key_len);
    const until_s = this.until.get(key);
    if (until_s === undefined) return false;
    if (this.now_s < until_s) return true;
    this.until.delete(key);
    return false;
  }

  release(buf: Uint8Array, key_off: number, key_len: number): void {
    const key = keyText(buf, key_off, key_len);
    if (this.until.delete(key)) this.mirror?.released(key);
  }

  /** Another thread's release: forget the lock, telling no one. */
  applyRelease(key: string): void {
    this.until.delete(key);
  }

  tick(now_s: number): void {
    this.now_s = now_s;
    if (this.until.size === 0) return;
    for (const [key, until_s] of this.until) if (until_s <= now_s) this.until.delete(key);
  }
}

function keyText(buf: Uint8Array, key_off: number, key_len: number): string {
  if (key_len <= 0 || key_len > 250) throw new RangeError(`delete lock key length ${key_len}`);
  return Buffer.from(buf.buffer, buf.byteOffset + key_off, key_len).toString("latin1");
}
