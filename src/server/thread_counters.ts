// Per-thread event counters that any thread can sum (memcached's per-thread stats, aggregated on
// `stats`): one row of `counter_slots` doubles per thread in one buffer. With `-t N` the buffer is
// a SharedArrayBuffer shared by the main thread (row 0: the unix socket, UDP, replication) and the
// N workers (rows 1..N); with `-t 1` it is a plain ArrayBuffer of one row.
//
// Contract: a thread writes only its own row (plain stores: doubles are 8-byte aligned, so a
// reader never sees a torn value); a reader sums every row. `stats reset` zeroes every row from
// the thread that serves it: an increment racing the reset on another thread may survive it or
// be lost (memcached's reset takes each thread's stats lock; ours has none, by design: the hot
// path writes its row without an atomic). `curr_connections` is a gauge kept the same way (each
// row counts its own thread's connections). The connection limit (-c) is counted separately,
// atomically, in SharedWords (shared_words.ts), because it must be checked and taken as one step.

export const Counter = {
  cmd_get: 0,
  cmd_set: 1,
  cmd_flush: 2,
  cmd_touch: 3,
  get_keys_too_long: 4,
  store_too_large: 5,
  store_no_memory: 6,
  total_connections: 7,
  rejected_connections: 8,
  bytes_read: 9,
  bytes_written: 10,
  idle_kicks: 11,
  auth_cmds: 12,
  auth_errors: 13,
  curr_connections: 14,
} as const;
export type CounterName = keyof typeof Counter;

/** Doubles per row (the counters above, rounded up to a 128-byte row so rows share no cache line pair). */
export const counter_slots = 16;

/**
 * One thread's row, with a property per counter so call sites read as before
 * (`ctx.counters.cmd_get++`). It serves as the protocol's `Counters`, the server's `figures` and
 * the auth counters at once.
 */
export class CounterRow {
  private readonly row: Float64Array;

  constructor(row: Float64Array) {
    if (row.length !== counter_slots) throw new RangeError(`a counter row has ${counter_slots} slots, not ${row.length}`);
    this.row = row;
  }

  get cmd_get(): number { return this.row[0]!; }
  set cmd_get(v: number) { this.row[0] = v; }
  get cmd_set(): number { return this.row[1]!; }
  set cmd_set(v: number) { this.row[1] = v; }
  get cmd_flush(): number { return this.row[2]!; }
  set cmd_flush(v: number) { this.row[2] = v; }
  get cmd_touch(): number { return this.row[3]!; }
  set cmd_touch(v: number) { this.row[3] = v; }
  get get_keys_too_long(): number { return this.row[4]!; }
  set get_keys_too_long(v: number) { this.row[4] = v; }
  get store_too_large(): number { return this.row[5]!; }
  set store_too_large(v: number) { this.row[5] = v; }
  get store_no_memory(): number { return this.row[6]!; }
  set store_no_memory(v: number) { this.row[6] = v; }
  get total_connections(): number { return this.row[7]!; }
  set total_connections(v: number) { this.row[7] = v; }
  get rejected_connections(): number { return this.row[8]!; }
  set rejected_connections(v: number) { this.row[8] = v; }
  get bytes_read(): number { return this.row[9]!; }
  set bytes_read(v: number) { this.row[9] = v; }
  get bytes_written(): number { return this.row[10]!; }
  set bytes_written(v: number) { this.row[10] = v; }
  get idle_kicks(): number { return this.row[11]!; }
  set idle_kicks(v: number) { this.row[11] = v; }
  get auth_cmds(): number { return this.row[12]!; }
  set auth_cmds(v: number) { this.row[12] = v; }
  get auth_errors(): number { return this.row[13]!; }
  set auth_errors(v: number) { this.row[13] = v; }
  get curr_connections(): number { return this.row[14]!; }
  set curr_connections(v: number) { this.row[14] = v; }
}

/** Every thread's rows: `rows` rows of `counter_slots` doubles. */
export class ThreadCounters {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly rows: number;
  private readonly all: Float64Array;

  /** A fresh buffer for `rows` threads (shared when rows > 1), or a view of one made elsewhere. */
  constructor(rows: number, buffer?: ArrayBuffer | SharedArrayBuffer) {
    if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`counter rows: ${rows}`);
    const bytes = rows * counter_slots * Float64Array.BYTES_PER_ELEMENT;
    this.buffer = buffer ?? (rows > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    if (this.buffer.byteLength !== bytes) throw new RangeError(`counter buffer: ${this.buffer.byteLength} bytes, need ${bytes}`);
    this.rows = rows;
    this.all = new Float64Array(this.buffer);
  }

  row(index: number): CounterRow {
    if (!Number.isInteger(index) || index < 0 || index >= this.rows) throw new RangeError(`counter row ${index} of ${this.rows}`);
    return new CounterRow(this.all.subarray(index * counter_slots, (index + 1) * counter_slots));
  }

  /** The counter summed over every thread. */
  sum(name: CounterName): number {
    const slot = Counter[name];
    let total = 0;
    for (let r = 0; r < this.rows; r++) total += this.all[r * counter_slots + slot]!;
    return total;
  }

  /** `stats reset`: zeroes the event counters of every row (not the curr_connections gauge). */
  reset(): void {
    for (let r = 0; r < this.rows; r++) {
      const base = r * counter_slots;
      for (let slot = 0; slot < counter_slots; slot++) {
        if (slot !== Counter.curr_connections) this.all[base + slot] = 0;
      }
    }
  }
}
