// The few facts every thread of a `-t N` server reads and any may change: i32 words in one
// SharedArrayBuffer, read and written with Atomics only (a plain ArrayBuffer with -t 1).
//
// Contract: `connectionTake` counts a client connection against -c across every thread and says
// whether it may stay (one atomic add: two threads accepting the last slot at once cannot both
// keep it); `connectionGive` gives it back. `verbosity` is the one live verbosity (`verbosity 1`
// on any connection applies to all threads, as memcached's global settings.verbose). The
// replication words are written by the main thread's replicator and read by workers:
// `link_running` (journal mutations), `gate_shut` (backpressure: hold the next write), and
// written by workers for the main thread: `journal_kick` (entries waiting) and
// `journal_overflow` (a push found the journal full), `gate_pauses` (writers a worker held);
// `read_through` says a worker's misses go to the peer now (--serve-during-copy);
// `gate_stalled`: the peer took nothing for a while, so workers must not shut the gate;
// `detail_enabled`: `stats detail on|off` for every thread. `connectionId` numbers connections across
// every thread.

export const Word = {
  verbosity: 0,
  connections: 1,
  link_running: 2,
  gate_shut: 3,
  journal_kick: 4,
  journal_overflow: 5,
  conn_id_last: 6,
  gate_pauses: 7,
  read_through: 8,
  gate_stalled: 9,
  detail_enabled: 10,
} as const;
const words_count = 12; // Word's, rounded up to keep the i64 cells 8-byte aligned
/** After the i32 words: i64 cells (8-byte aligned). 0: staging bytes held (staging.ts). */
const cells_count = 2;

export class SharedWords {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly words: Int32Array;
  /** The staging budget's bytes-held cell. */
  readonly staging_cell: BigInt64Array;

  constructor(shared: boolean, buffer?: ArrayBuffer | SharedArrayBuffer) {
    const words_bytes = words_count * Int32Array.BYTES_PER_ELEMENT;
    const bytes = words_bytes + cells_count * BigInt64Array.BYTES_PER_ELEMENT;
    this.buffer = buffer ?? (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    if (this.buffer.byteLength !== bytes) throw new RangeError(`shared words: ${this.buffer.byteLength} bytes, need ${bytes}`);
    this.words = new Int32Array(this.buffer, 0, words_count);
    this.staging_cell = new BigInt64Array(this.buffer, words_bytes, 1);
  }

  get(word: number): number {
    return Atomics.load(this.words, word);
  }

  set(word: number, value: number): void {
    Atomics.store(this.words, word, value);
  }

  /** Counts one more connection; false (and nothing counted) when `max` are open already. */
  connectionTake(max: number): boolean {
    if (Atomics.add(this.words, Word.connections, 1) < max) return true;
    Atomics.sub(this.words, Word.connections, 1);
    return false;
  }

  /** A connection id unique in the process (memcached's are fds, unique too): 1, 2, ... */
  connectionId(): number {
    return Atomics.add(this.words, Word.conn_id_last, 1) + 1;
  }

  connectionGive(): void {
    Atomics.sub(this.words, Word.connections, 1);
  }

  /** As bindVerbosity, for `stats detail on|off` (every thread counts prefixes, or none). */
  bindDetail(detail: { enabled: boolean }, initial = true): void {
    if (initial) this.set(Word.detail_enabled, detail.enabled ? 1 : 0);
    Object.defineProperty(detail, "enabled", {
      get: () => this.get(Word.detail_enabled) !== 0,
      set: (value: boolean) => this.set(Word.detail_enabled, value ? 1 : 0),
      enumerable: true,
      configurable: true,
    });
  }

  /**
   * Makes `settings.verbosity` this buffer's word, so a change on any thread is seen by all
   * (the settings object keeps its shape; reads become one atomic load). `initial`: the word
   * takes the settings' value (the main thread, once); a worker joins the word as it is.
   */
  bindVerbosity(settings: { verbosity: number }, initial = true): void {
    if (initial) this.set(Word.verbosity, settings.verbosity);
    Object.defineProperty(settings, "verbosity", {
      get: () => this.get(Word.verbosity),
      set: (value: number) => this.set(Word.verbosity, value),
      enumerable: true,
      configurable: true,
    });
  }
}
