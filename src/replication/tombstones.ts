// Tombstones: the deletes (and the latest immediate flush_all) a node made while it was not in
// sync with its repcached-bun peer (the link down, or the full copies not yet done both ways),
// each with the cas of the moment it was made, so the re-pair's two-way full copy does not bring
// the keys back. Sent to the peer as `rcb1_flush_before <cas>` and `rcb1_tomb <key> <cas>` before
// our copy; applied on both sides as "remove if older" (a write made on the other side after the
// delete or flush keeps its key: last writer wins, as for sets).
//
// Contract: allocation-free after construction. `add` keeps at most `entries_max` entries and
// `key_bytes_max` key bytes; past either bound the delete is not remembered, `dropped` counts it,
// and that key may come back at the re-pair. Entries are kept in arrival order; a key may appear
// more than once (the newest cas wins when they are applied). `clear` forgets everything.

/** Deletes remembered while unpaired: a cut of minutes under a delete-heavy load. */
export const tombstones_entries_max = 65_536;
/** Key bytes remembered (250-byte keys: 16,777 of them). */
export const tombstones_key_bytes_max = 4 * 1024 * 1024;

const two_pow_32 = 4_294_967_296;
/** The cas step of one millisecond in the store's replication clock (native cas_clock_shift). */
const cas_per_ms = 1024;

export class Tombstones {
  readonly keys = new Uint8Array(tombstones_key_bytes_max);
  readonly key_off = new Int32Array(tombstones_entries_max);
  readonly key_len = new Uint8Array(tombstones_entries_max);
  readonly cas_lo = new Uint32Array(tombstones_entries_max);
  readonly cas_hi = new Uint32Array(tombstones_entries_max);
  count = 0;
  private key_bytes = 0;
  /** Deletes not remembered because a bound was reached (since start). */
  dropped = 0;
  /** Deletes remembered (since start). */
  added = 0;
  /** The latest immediate flush_all made out of sync, as a cas (has_flush: there is one). */
  has_flush = false;
  flush_cas_lo = 0;
  flush_cas_hi = 0;

  /** Remembers a delete of `key` made now (a cas past everything the store minted before now). */
  add(key: Uint8Array, key_off: number, key_len: number, now_ms: number): boolean {
    if (key_len <= 0 || key_len > 250) throw new RangeError(`tombstone key of ${key_len} bytes`);
    if (this.count === tombstones_entries_max || this.key_bytes + key_len > tombstones_key_bytes_max) {
      this.dropped++;
      return false;
    }
    const cas = casAt(now_ms);
    const i = this.count;
    this.keys.set(key.subarray(key_off, key_off + key_len), this.key_bytes);
    this.key_off[i] = this.key_bytes;
    this.key_len[i] = key_len;
    this.cas_lo[i] = cas % two_pow_32;
    this.cas_hi[i] = Math.floor(cas / two_pow_32);
    this.key_bytes += key_len;
    this.count++;
    this.added++;
    return true;
  }

  /** Remembers an immediate flush_all made now: everything older goes, on both nodes. */
  addFlush(now_ms: number): void {
    const cas = casAt(now_ms);
    this.flush_cas_lo = cas % two_pow_32;
    this.flush_cas_hi = Math.floor(cas / two_pow_32);
    this.has_flush = true;
  }

  clear(): void {
    this.count = 0;
    this.key_bytes = 0;
    this.has_flush = false;
  }
}

/** A cas past everything the store minted up to the end of this millisecond (ms << 10 | 1023). */
function casAt(now_ms: number): number {
  return Math.floor(now_ms) * cas_per_ms + (cas_per_ms - 1);
}
