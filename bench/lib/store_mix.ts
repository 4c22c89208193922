// The fixed get/set mix of bench/threads.bench.ts, shared by its main thread and its workers.
//
// Keys are key_bytes bytes ("key:" + zero-padded index) over a power-of-two key space; each
// operation draws a key from a xorshift32 stream and is a set one time in set_every (else a get
// of the raw value into a buffer). Pure but for the store calls.

export const mix = {
  keys: 64 * 1024,
  key_bytes: 16,
  value_bytes: 64,
  /** One operation in this many is a set: 90/10 get/set. */
  set_every: 10,
} as const;

/** What bench/threads_worker.ts is told at start. */
export interface WorkerInit {
  index: number;
  /** The main thread's Store.owner: each worker opens its own session on it. */
  owner: number;
  library_path: string | null;
  /** Int32 words: word_stop, word_done, then one start word per worker. */
  control: SharedArrayBuffer;
  /** Operations per batch (one benchmark iteration). */
  ops: number;
}

export const word_stop = 0;
export const word_done = 1;
export const word_first = 2;

/** Every key, back to back, key_bytes each. */
export function keyBuffer(keys: number, key_bytes: number): Uint8Array {
  const buffer = new Uint8Array(keys * key_bytes);
  for (let i = 0; i < keys; i++) {
    const text = `key:${String(i).padStart(key_bytes - 4, "0")}`;
    for (let b = 0; b < key_bytes; b++) buffer[i * key_bytes + b] = text.charCodeAt(b);
  }
  return buffer;
}

/** The store calls the mix needs (src/native/store.ts's Store). */
export interface MixStore {
  store(op: number, key: Uint8Array, key_off: number, key_len: number, value: Uint8Array, value_off: number, value_len: number, flags: number, exptime: number): number;
  get(key: Uint8Array, key_off: number, key_len: number, out: Uint8Array, out_off: number, out_cap: number, mode: number, exptime: number): number;
}

export interface MixCodes {
  set_op: number;
  raw_mode: number;
}

/** Runs `ops` operations of the mix from `state` (a non-zero xorshift32 state); returns the next state. */
export function runMix(store: MixStore, codes: MixCodes, keys: Uint8Array, value: Uint8Array, out: Uint8Array, ops: number, state: number): number {
  const key_bytes = mix.key_bytes;
  const mask = mix.keys - 1;
  let x = state | 0;
  for (let i = 0; i < ops; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const key = ((x >>> 8) & mask) * key_bytes;
    if ((x >>> 0) % mix.set_every === 0) store.store(codes.set_op, keys, key, key_bytes, value, 0, value.length, 0, 0);
    else store.get(keys, key, key_bytes, out, 0, out.length, codes.raw_mode, 0);
  }
  return x;
}
