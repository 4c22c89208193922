// The replication journal: what changed, in the order it changed, waiting to be sent to the peer.
//
// Contract: the request path calls `sync(key, cas)`, `deleted(key, cas)` or `flush(exptime)` once
// per successful mutation (O(1): a key copy into a preallocated ring), with the cas of the version
// the mutation made (0: unknown). The sender pops entries in FIFO order and looks the key's
// *current* state up at send time (repcached is state-based too, but it sent batches in reverse;
// we never reorder); the entry's cas says which version is gone when the key is gone by then. Bounds: at most `items_max` entries and `bytes_max` ring bytes, both
// fixed at start-up. `sync`/`flush` return false when full: the caller drops the link (a fresh full
// copy follows the re-pair), as an unbounded queue would be worse.
//
// Threads (-t N): the ring and its state words can live in a SharedArrayBuffer that every worker
// maps (Journal.sharedBuffer); pushes from any thread and the main thread's pops take the
// journal's lock for one entry's bytes. An entry is pushed after its mutation, and the sender
// reads the key's state at send time, so the last entry pushed for a key is sent after its last
// change whatever order two threads' pushes of that key interleave in.

export const Entry = { NONE: 0, SYNC: 1, FLUSH: 2, FETCH_KEY: 3, FETCHED: 4, DELETE: 5 } as const;

/** Per key entry: type byte + key length byte + the key + the version's cas (two u32 words). */
const entry_header_bytes = 2 + 8;
/** The longest key an entry holds (a length byte; the protocols stop keys at 250). */
const entry_key_bytes_max = 255;
/**
 * The largest journal entry: the journal holds keys, never values (the sender reads the value at
 * send time), so `items_max` entries never need more than items_max × this many bytes. A byte
 * bound above that could never be reached: config.ts refuses it (--replication-queue-bytes).
 */
export const journal_entry_bytes_max = entry_header_bytes + entry_key_bytes_max;
const flush_entry_bytes = 1 + 4;

/** The journal's state words before its ring: lock, head, tail, used, count (i32, Atomics). */
const State = { lock: 0, head: 1, tail: 2, used: 3, count: 4 } as const;
const state_bytes = 32;
/** Lock attempts before a contended producer sleeps on the lock word (a push holds it for one key copy). */
const lock_spins_max = 64;
/** The longest one sleep on the lock word (then it tries again). */
const lock_wait_ms_max = 1;

export class Journal {
  readonly items_max: number;
  readonly bytes_max: number;
  /** State words + ring; a SharedArrayBuffer when -t N threads push into it (journalBuffer). */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  private readonly state: Int32Array;
  private readonly ring: Uint8Array;
  // head / tail / used are copied out of `state` for the length of one push or pop (under the lock).
  private head = 0; // next byte to pop
  private tail = 0; // next byte to push
  private used = 0; // bytes in the ring
  /** The popped entry: type, and the key in `key` [0, key_len) or the number (flush time, fetch id). */
  popped_type: number = Entry.NONE;
  readonly key = new Uint8Array(256);
  key_len = 0;
  /** The popped key entry's cas (0, 0: unknown, e.g. an evicted key). */
  cas_lo = 0;
  cas_hi = 0;
  flush_exptime = 0;

  /** A buffer for a journal that threads share (pass it to every thread's Journal). */
  static sharedBuffer(bytes_max: number): SharedArrayBuffer {
    return new SharedArrayBuffer(state_bytes + bytes_max);
  }

  constructor(items_max: number, bytes_max: number, buffer?: ArrayBuffer | SharedArrayBuffer) {
    if (!(items_max > 0) || !(bytes_max >= journal_entry_bytes_max) || bytes_max > items_max * journal_entry_bytes_max) {
      throw new RangeError(`journal bounds: ${items_max} items, ${bytes_max} bytes (${journal_entry_bytes_max}..items × ${journal_entry_bytes_max})`);
    }
    this.items_max = items_max;
    this.bytes_max = bytes_max;
    this.buffer = buffer ?? new ArrayBuffer(state_bytes + bytes_max);
    if (this.buffer.byteLength !== state_bytes + bytes_max) throw new RangeError(`journal buffer: ${this.buffer.byteLength} bytes`);
    this.state = new Int32Array(this.buffer, 0, state_bytes / 4);
    this.ring = new Uint8Array(this.buffer, state_bytes, bytes_max);
  }

  /** Entries waiting. */
  get count(): number {
    return Atomics.load(this.state, State.count);
  }

  /** Ring bytes in use. */
  get bytes(): number {
    return Atomics.load(this.state, State.used);
  }

  /**
   * Takes the journal's lock (a futex-style mutex over the lock word: 0 free, 1 held, 2 held with
   * sleepers). Uncontended it is one compare-and-swap; with -t 1 it is never contended.
   */
  private lock(): void {
    const st = this.state;
    for (let spin = 0; spin < lock_spins_max; spin++) {
      if (Atomics.compareExchange(st, State.lock, 0, 1) === 0) return this.load();
    }
    while (Atomics.exchange(st, State.lock, 2) !== 0) Atomics.wait(st, State.lock, 2, lock_wait_ms_max);
    this.load();
  }

  private load(): void {
    this.head = this.state[State.head]!;
    this.tail = this.state[State.tail]!;
    this.used = this.state[State.used]!;
  }

  /** Stores head/tail/used and `count_delta`, then releases the lock. */
  private unlock(count_delta: number): void {
    const st = this.state;
    st[State.head] = this.head;
    st[State.tail] = this.tail;
    Atomics.store(st, State.used, this.used);
    Atomics.add(st, State.count, count_delta);
    if (Atomics.exchange(st, State.lock, 0) === 2) Atomics.notify(st, State.lock, 1);
  }

  private room(n: number): boolean {
    return Atomics.load(this.state, State.count) < this.items_max && this.used + n <= this.bytes_max;
  }

  private putByte(byte: number): void {
    this.ring[this.tail] = byte;
    this.tail = this.tail + 1 === this.bytes_max ? 0 : this.tail + 1;
  }

  /** A 32-bit word, big-endian. */
  private putWord(v: number): void {
    this.putByte((v >>> 24) & 0xff);
    this.putByte((v >>> 16) & 0xff);
    this.putByte((v >>> 8) & 0xff);
    this.putByte(v & 0xff);
  }

  private takeWord(): number {
    return ((this.takeByte() << 24) | (this.takeByte() << 16) | (this.takeByte() << 8) | this.takeByte()) >>> 0;
  }

  private takeByte(): number {
    const byte = this.ring[this.head]!;
    this.head = this.head + 1 === this.bytes_max ? 0 : this.head + 1;
    return byte;
  }

  /** The key changed to the version with this cas: send its state (a `rep`, or that the version is gone). */
  sync(buf: Uint8Array, off: number, len: number, cas_lo: number, cas_hi: number): boolean {
    return this.keyEntry(Entry.SYNC, buf, off, len, cas_lo, cas_hi);
  }

  /** The key was deleted at this cas: send its state (the delete, or a `rep` if it was stored again since). */
  deleted(buf: Uint8Array, off: number, len: number, cas_lo: number, cas_hi: number): boolean {
    return this.keyEntry(Entry.DELETE, buf, off, len, cas_lo, cas_hi);
  }

  /** The peer asked for the key (read-through): send its state if it exists, nothing otherwise. */
  fetchKey(buf: Uint8Array, off: number, len: number): boolean {
    return this.keyEntry(Entry.FETCH_KEY, buf, off, len, 0, 0);
  }

  /** After the fetched keys: tell the peer fetch `id` is complete. */
  fetched(id: number): boolean {
    return this.numberEntry(Entry.FETCHED, id);
  }

  private keyEntry(type: number, buf: Uint8Array, off: number, len: number, cas_lo: number, cas_hi: number): boolean {
    const n = entry_header_bytes + len;
    if (len > entry_key_bytes_max) return false;
    this.lock();
    if (!this.room(n)) {
      this.unlock(0);
      return false;
    }
    this.putByte(type);
    this.putByte(len);
    for (let i = 0; i < len; i++) this.putByte(buf[off + i]!);
    this.putWord(cas_lo);
    this.putWord(cas_hi);
    this.used += n;
    this.unlock(1);
    return true;
  }

  /**
   * Runs `apply` (the store's flush) and journals the flush under one hold of the lock, so every
   * entry another thread pushes for a write made after the flush comes after it (that thread
   * pushes after its write, and waits for this lock). False when the journal is full (the flush
   * was applied all the same).
   */
  flushAround(apply: () => void, exptime: number): boolean {
    this.lock();
    apply();
    if (!this.room(flush_entry_bytes)) {
      this.unlock(0);
      return false;
    }
    this.putByte(Entry.FLUSH);
    this.putWord(exptime);
    this.used += flush_entry_bytes;
    this.unlock(1);
    return true;
  }

  private numberEntry(type: number, exptime: number): boolean {
    this.lock();
    if (!this.room(flush_entry_bytes)) {
      this.unlock(0);
      return false;
    }
    this.putByte(type);
    this.putWord(exptime);
    this.used += flush_entry_bytes;
    this.unlock(1);
    return true;
  }

  /** Pops the oldest entry into popped_type / key / flush_exptime; false when empty. */
  pop(): boolean {
    if (this.count === 0) return false;
    this.lock();
    const type = this.takeByte();
    this.popped_type = type;
    if (type === Entry.FLUSH || type === Entry.FETCHED) {
      this.flush_exptime = this.takeWord() | 0;
      this.used -= flush_entry_bytes;
    } else {
      const len = this.takeByte();
      for (let i = 0; i < len; i++) this.key[i] = this.takeByte();
      this.key_len = len;
      this.cas_lo = this.takeWord();
      this.cas_hi = this.takeWord();
      this.used -= entry_header_bytes + len;
    }
    this.unlock(-1);
    return true;
  }

  clear(): void {
    this.lock();
    this.head = this.tail = this.used = 0;
    const count = this.count;
    this.unlock(-count);
  }
}
