// Memory behaviour of the store through FFI: item memory lives in the native arena, pages are
// touched lazily, and eviction keeps RSS bounded however much is written.
//
// A 64 MiB store takes 1 M small items (more than fit), then ten times what fits. Process RSS may
// grow by at most the page memory (memory_bytes_max) plus the hash table plus
// `rss_overhead_bytes_max`, a fixed allowance for the JS side (JIT code, GC heap) and allocator
// slack. The items written last must read back byte for byte.
import { expect, test } from "bun:test";
import { GetMode, Status, Store, StoreOp } from "../../src/native/store.ts";

const memory_bytes_max = 64 * 1024 * 1024;
const rss_overhead_bytes_max = 32 * 1024 * 1024;
const first_fill_items = 1_000_000;
const key_bytes = 9; // "k" + 8 digits
const value_bytes = 20;

function writeDigits(buf: Uint8Array, off: number, count: number, value: number): void {
  for (let i = off + count - 1; i >= off; i--) {
    buf[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function fillKey(key: Uint8Array, i: number): void {
  key[0] = 107; // "k"
  writeDigits(key, 1, 8, i);
}

function fillValue(value: Uint8Array, i: number): void {
  writeDigits(value, 0, 10, i * 7 + 3);
  writeDigits(value, 10, 10, i * 13 + 5);
}

test("RSS stays within the page memory plus a fixed overhead while 10x more than fits is written", () => {
  Bun.gc(true);
  const rss_before = process.memoryUsage().rss;
  const store = Store.open({ memory_bytes_max, unix_now_s: 1_700_000_000 });
  try {
    const key = new Uint8Array(key_bytes);
    const value = new Uint8Array(value_bytes);
    let written = 0;
    const write = (count: number) => {
      for (let n = 0; n < count; n++, written++) {
        fillKey(key, written);
        fillValue(value, written);
        const status = store.store(StoreOp.SET, key, 0, key_bytes, value, 0, value_bytes, 0, 0);
        if (status !== Status.OK) throw new Error(`set ${written}: ${status}`);
      }
    };
    write(first_fill_items);
    const class_one = store.classStats()[0]!;
    const fits = class_one.chunks_per_page * (memory_bytes_max / (1024 * 1024));
    expect(class_one.chunk_size).toBe(96);
    expect(store.stats().curr_items).toBe(fits);
    write(fits * 10);

    const stats = store.stats();
    const rss_growth = process.memoryUsage().rss - rss_before;
    console.log(
      `wrote ${written} items; ${stats.curr_items} live, ${stats.evictions} evicted; ` +
        `RSS +${(rss_growth / 2 ** 20).toFixed(1)} MiB (bound ${((memory_bytes_max + stats.hash_bytes + rss_overhead_bytes_max) / 2 ** 20).toFixed(0)} MiB)`,
    );
    expect(stats.curr_items).toBe(fits);
    expect(stats.evictions).toBe(written - fits);
    expect(stats.total_malloced).toBe(memory_bytes_max);
    expect(rss_growth).toBeLessThanOrEqual(memory_bytes_max + stats.hash_bytes + rss_overhead_bytes_max);

    // The last `fits` items are exactly the live ones (no hits: the LRU is FIFO).
    const out = new Uint8Array(64);
    for (let i = written - fits; i < written; i++) {
      fillKey(key, i);
      fillValue(value, i);
      const n = store.get(key, 0, key_bytes, out, 0, out.length, GetMode.RAW, 0);
      if (n !== value_bytes) throw new Error(`get ${i}: ${n}`);
      for (let b = 0; b < value_bytes; b++) {
        if (out[b] !== value[b]) throw new Error(`item ${i} byte ${b}: ${out[b]} != ${value[b]}`);
      }
    }
    fillKey(key, written - fits - 1);
    expect(store.get(key, 0, key_bytes, out, 0, out.length, GetMode.RAW, 0)).toBe(Status.NOT_FOUND);
  } finally {
    store.close();
  }
}, 60_000);
