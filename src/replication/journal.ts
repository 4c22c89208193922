// The replication journal: what changed, in the order it changed, waiting to be sent to the peer.
//
// Contract: the request path calls `sync(key, cas)`, `deleted(key, cas)` or `flush(exptime)` once
// per successful mutation (O(1): a key copy into a preallocated ring), with the cas of the version
// the mutation made (0: unknown). The sender pops entries in FIFO order and looks the key's
// *current* state up at send time (repcached is state-based too, but it sent batches in reverse;
// we never reorder); the entry's cas says which version is gone when the key is gone by then. Bounds: at most `items_max` entries and `bytes_max` ring bytes, both
// fixed at start-up. `sync`/`flush` return false when full: the caller drops the link (a fresh full
// copy follows the re-pair), as an unbounded queue would be worse.

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

export class Journal {
  readonly items_max: number;
  readonly bytes_max: number;
  private readonly ring: Uint8Array;
  private head = 0; // next byte to pop
  private tail = 0; // next byte to push
  private used = 0; // bytes in the ring
  count = 0;
  /** The popped entry: type, and the key in `key` [0, key_len) or the number (flush time, fetch id). */
  popped_type: number = Entry.NONE;
  readonly key = new Uint8Array(256);
  key_len = 0;
  /** The popped key entry's cas (0, 0: unknown, e.g. an evicted key). */
  cas_lo = 0;
  cas_hi = 0;
  flush_exptime = 0;

  constructor(items_max: number, bytes_max: number) {
    if (!(items_max > 0) || !(bytes_max >= journal_entry_bytes_max) || bytes_max > items_max * journal_entry_bytes_max) {
      throw new RangeError(`journal bounds: ${items_max} items, ${bytes_max} bytes (${journal_entry_bytes_max}..items × ${journal_entry_bytes_max})`);
    }
    this.items_max = items_max;
    this.bytes_max = bytes_max;
    this.ring = new Uint8Array(bytes_max);
  }

  private room(n: number): boolean {
    return this.count < this.items_max && this.used + n <= this.bytes_max;
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
    if (len > entry_key_bytes_max || !this.room(n)) return false;
    this.putByte(type);
    this.putByte(len);
    for (let i = 0; i < len; i++) this.putByte(buf[off + i]!);
    this.putWord(cas_lo);
    this.putWord(cas_hi);
    this.used += n;
    this.count++;
    return true;
  }

  flush(exptime: number): boolean {
    return this.numberEntry(Entry.FLUSH, exptime);
  }

  private numberEntry(type: number, exptime: number): boolean {
    if (!this.room(flush_entry_bytes)) return false;
    this.putByte(type);
    this.putWord(exptime);
    this.used += flush_entry_bytes;
    this.count++;
    return true;
  }

  /** Pops the oldest entry into popped_type / key / flush_exptime; false when empty. */
  pop(): boolean {
    if (this.count === 0) return false;
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
    this.count--;
    return true;
  }

  clear(): void {
    this.head = this.tail = this.used = this.count = 0;
  }

  get bytes(): number {
    return this.used;
  }
}
