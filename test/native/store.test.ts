// The item store through FFI (src/native/store.ts over librepcache.so): the same behaviour the
// Zig tests check in native/cache_test.zig, seen from TS with io words, offsets and statuses.
import { afterEach, describe, expect, test } from "bun:test";
import {
  GetMode,
  IO_CAS_HI,
  IO_CAS_LO,
  IO_EXPTIME_ABS,
  IO_FLAGS,
  IO_KEY_LEN,
  IO_NEED,
  IO_NUM_HI,
  IO_NUM_LO,
  IO_VALUE_LEN,
  Status,
  Store,
  StoreOp,
  type StoreOptions,
  item_header_bytes as header,
} from "../../src/native/store.ts";
import * as store_meta from "../../src/native/store.ts";

const unix_start = 1_700_000_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const out = new Uint8Array(4 << 20);

const open_stores: Store[] = [];
afterEach(() => {
  while (open_stores.length > 0) open_stores.pop()!.close();
});

/** A store plus string-level helpers (the tests' convenience, not the hot API). */
class Harness {
  readonly store: Store;
  now_s = unix_start;
  constructor(options: Partial<StoreOptions> = {}) {
    this.store = Store.open({ memory_bytes_max: 4 << 20, unix_now_s: unix_start, ...options });
    open_stores.push(this.store);
  }
  op(op: number, key: string, value: string | Uint8Array, flags = 0, exptime = 0): number {
    const k = encoder.encode(key);
    const v = typeof value === "string" ? encoder.encode(value) : value;
    return this.store.store(op, k, 0, k.length, v, 0, v.length, flags, exptime);
  }
  set(key: string, value: string | Uint8Array, flags = 0, exptime = 0): number {
    return this.op(StoreOp.SET, key, value, flags, exptime);
  }
  get(key: string, mode: number = GetMode.RAW, exptime = 0): string | null {
    const k = encoder.encode(key);
    const n = this.store.get(k, 0, k.length, out, 0, out.length, mode, exptime);
    if (n === Status.NOT_FOUND) return null;
    expect(n).toBeGreaterThanOrEqual(0);
    return decoder.decode(out.subarray(0, n));
  }
  cas(): bigint {
    return this.store.io64[0]!;
  }
  setCas(cas: bigint): void {
    this.store.setCas(Number(cas & 0xffffffffn), Number(cas >> 32n));
  }
  delta(key: string, incr: boolean, amount: bigint): number | string {
    this.store.setDelta(Number(amount & 0xffffffffn), Number(amount >> 32n));
    const k = encoder.encode(key);
    const n = this.store.delta(k, 0, k.length, incr, out, 0, 32);
    return n < 0 ? n : decoder.decode(out.subarray(0, n));
  }
  advance(seconds: number): void {
    this.now_s += seconds;
    this.store.clock(this.now_s);
  }
  del(key: string): number {
    const k = encoder.encode(key);
    return this.store.delete(k, 0, k.length);
  }
}

describe("open", () => {
  test("rejects bad options, naming the option", () => {
    expect(() => Store.open({ memory_bytes_max: 0 })).toThrow(/memory_bytes_max/);
    expect(() => Store.open({ memory_bytes_max: 1 << 20, growth_factor: 1 })).toThrow(/growth_factor/);
    expect(() => Store.open({ memory_bytes_max: 1 << 20, item_size_max: 1000 })).toThrow(/item_size_max/);
    expect(() => Store.open({ memory_bytes_max: 1 << 20, item_size_max: 1028 })).toThrow(/multiple of 8/);
    expect(() => Store.open({ memory_bytes_max: 1 << 20, pending_max: 0 })).toThrow(/pending_max/);
    expect(() => Store.open({ memory_bytes_max: 40 * 2 ** 30 })).toThrow(/rc_create failed/);
  });

  test("default classes match memcached's rule, ending with one page-sized class", () => {
    const h = new Harness();
    const sizes = h.store.classStats().map((c) => c.chunk_size);
    expect(sizes.slice(0, 5)).toEqual([96, 120, 152, 192, 240]);
    expect(sizes.slice(-5)).toEqual([394840, 493552, 616944, 771184, 1048576]);
    expect(sizes.length).toBe(42);
    expect(h.store.classCount()).toBe(42);
  });
});

describe("get and set", () => {
  test("raw and text replies, io words, buffer too small", () => {
    const h = new Harness();
    expect(h.set("foo", "hello", 42)).toBe(Status.OK);
    const cas = h.cas();
    expect(cas).toBeGreaterThan(0n);
    expect(h.get("foo")).toBe("hello");
    expect(h.store.io[IO_FLAGS]).toBe(42);
    expect(h.store.io[IO_VALUE_LEN]).toBe(5);
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(0);
    expect(h.get("foo", GetMode.TEXT)).toBe("VALUE foo 42 5\r\nhello\r\n");
    expect(h.get("foo", GetMode.TEXT | GetMode.CAS)).toBe(`VALUE foo 42 5 ${cas}\r\nhello\r\n`);
    const key = encoder.encode("xxfooxx");
    const small = new Uint8Array(64);
    expect(h.store.get(key, 2, 3, small, 0, 10, GetMode.TEXT, 0)).toBe(Status.BUFFER_SMALL);
    expect(h.store.io[IO_NEED]).toBe(23);
    // Offsets into caller buffers: key at 2, output at 7.
    expect(h.store.get(key, 2, 3, small, 7, 23, GetMode.TEXT, 0)).toBe(23);
    expect(decoder.decode(small.subarray(7, 30))).toBe("VALUE foo 42 5\r\nhello\r\n");
    expect(h.get("missing")).toBeNull();
    expect(h.set("", "v")).toBe(Status.BAD_KEY);
    expect(h.set("k".repeat(251), "v")).toBe(Status.BAD_KEY);
    expect(h.set("k".repeat(250), "v")).toBe(Status.OK);
    // Ranges outside the arrays never reach native code.
    expect(h.store.get(key, 5, 3, small, 0, 64, 0, 0)).toBe(Status.INVALID);
    expect(h.store.get(key, 0, 3, small, 1, 64, 0, 0)).toBe(Status.INVALID);
    expect(h.store.get(key, -1, 3, small, 0, 64, 0, 0)).toBe(Status.INVALID);
    expect(h.store.get(key, 0, 3, small, 0, 64, GetMode.CAS_HIDDEN * 2, 0)).toBe(Status.INVALID); // an unknown mode bit
    expect(h.op(0, "foo", "x")).toBe(Status.INVALID);
    const stats = h.store.stats();
    expect(stats.get_hits).toBe(4); // BUFFER_SMALL counted nothing
    expect(stats.get_misses).toBe(1);
    expect(stats.curr_items).toBe(2);
    expect(stats.bytes).toBe(header + 4 + 3 + 5 + 2 + (header + 250 + 1 + 2)); // flags 42 take 4 bytes
  });

  test("add, replace, append, prepend, delete", () => {
    const h = new Harness();
    expect(h.op(StoreOp.REPLACE, "k", "v")).toBe(Status.NOT_STORED);
    expect(h.op(StoreOp.APPEND, "k", "v")).toBe(Status.NOT_STORED);
    expect(h.op(StoreOp.PREPEND, "k", "v")).toBe(Status.NOT_STORED);
    expect(h.op(StoreOp.ADD, "k", "mid", 7)).toBe(Status.OK);
    expect(h.op(StoreOp.ADD, "k", "other")).toBe(Status.NOT_STORED);
    expect(h.op(StoreOp.APPEND, "k", ">>", 99)).toBe(Status.OK);
    expect(h.op(StoreOp.PREPEND, "k", "<<", 98)).toBe(Status.OK);
    expect(h.get("k")).toBe("<<mid>>");
    expect(h.store.io[IO_FLAGS]).toBe(7);
    expect(h.op(StoreOp.REPLACE, "k", "new", 1)).toBe(Status.OK);
    expect(h.get("k")).toBe("new");
    expect(h.del("k")).toBe(Status.OK);
    expect(h.del("k")).toBe(Status.NOT_FOUND);
    expect(h.get("k")).toBeNull();
    const stats = h.store.stats();
    expect([stats.delete_hits, stats.delete_misses, stats.curr_items, stats.bytes]).toEqual([1, 1, 0, 0]);
  });

  test("append grows into a bigger class", () => {
    const h = new Harness();
    expect(h.set("grow", "a".repeat(40), 5, 1000)).toBe(Status.OK);
    expect(h.store.classStats()[0]!.number).toBe(1);
    expect(h.op(StoreOp.APPEND, "grow", "b".repeat(100))).toBe(Status.OK);
    const classes = h.store.classStats();
    expect(classes[0]!.number).toBe(0);
    expect(classes[3]!.number).toBe(1); // 36 + 4 (flags) + 4 + 140 + 2 = 186
    expect(classes[3]!.chunk_size).toBe(192);
    expect(h.get("grow")).toBe("a".repeat(40) + "b".repeat(100));
    expect(h.store.io[IO_FLAGS]).toBe(5);
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(unix_start + 1000);
  });

  test("item size limit is the page size", () => {
    const h = new Harness({ item_size_max: 1024, memory_bytes_max: 1 << 20 });
    expect(h.set("k", "v".repeat(1024 - header - 1 - 2))).toBe(Status.OK);
    expect(h.set("k2", "v".repeat(1024 - header - 2 - 1))).toBe(Status.TOO_LARGE);
    expect(h.set("a", "v".repeat(900))).toBe(Status.OK);
    expect(h.op(StoreOp.APPEND, "a", "v".repeat(100))).toBe(Status.TOO_LARGE);
    expect(h.get("a")!.length).toBe(900);
  });
});

describe("cas", () => {
  test("every store gets a new, larger cas; CAS compares io cas", () => {
    const h = new Harness();
    let last = 0n;
    for (let i = 0; i < 200; i++) {
      expect(h.set(`k${i % 10}`, "v")).toBe(Status.OK);
      expect(h.cas()).toBeGreaterThan(last);
      last = h.cas();
    }
    h.get("k3");
    const current = h.cas();
    h.setCas(current + 1n);
    expect(h.op(StoreOp.CAS, "k3", "x")).toBe(Status.EXISTS);
    h.setCas(0n);
    expect(h.op(StoreOp.CAS, "k3", "x")).toBe(Status.EXISTS);
    h.setCas(current);
    expect(h.op(StoreOp.CAS, "k3", "swapped")).toBe(Status.OK);
    expect(h.cas()).toBeGreaterThan(last);
    expect(h.get("k3")).toBe("swapped");
    h.setCas(current);
    expect(h.op(StoreOp.CAS, "k3", "again")).toBe(Status.EXISTS);
    expect(h.op(StoreOp.CAS, "missing", "x")).toBe(Status.NOT_FOUND);
    const stats = h.store.stats();
    expect([stats.cas_hits, stats.cas_badval, stats.cas_misses]).toEqual([1, 3, 1]);
  });

  test("tomb: a peer's delete takes effect only over an older version (hi and lo words), and leaves a tombstone", () => {
    const h = new Harness();
    h.store.setTombstones(true, true);
    const key = encoder.encode("t");
    h.setCas((5n << 32n) + 7n);
    expect(h.op(StoreOp.REP, "t", "")).toBe(Status.OK); // an empty value is a version too
    expect(h.store.tomb(key, 0, 1, 6, 5)).toBe(Status.NOT_STORED); // an older delete: kept
    expect(h.store.tomb(key, 0, 1, 0xffffffff, 4)).toBe(Status.NOT_STORED); // older delete
    expect(h.get("t")).toBe("");
    expect(h.store.tomb(key, 0, 1, 0, 6)).toBe(Status.OK);
    expect(h.get("t")).toBeNull();
    expect(h.store.stats().tombstones).toBe(1);
    expect(h.store.stats().curr_items).toBe(0);
    h.setCas((5n << 32n) + 9n);
    expect(h.op(StoreOp.REP_IF_NEWER, "t", "stale")).toBe(Status.NOT_STORED); // older than the delete
    h.setCas((6n << 32n) + 1n);
    expect(h.op(StoreOp.REP_IF_NEWER, "t", "x".repeat(5000))).toBe(Status.OK);
    expect(h.store.tomb(key, 0, 1, 2, 6)).toBe(Status.OK);
    expect(h.get("t")).toBeNull();
  });

  test("REP keeps a 64-bit given cas and moves the counter past it; REP_IF_NEWER", () => {
    const h = new Harness();
    const big = (5n << 32n) + 7n;
    h.setCas(big);
    expect(h.op(StoreOp.REP, "r", "one")).toBe(Status.OK);
    expect(h.store.io[IO_CAS_LO]).toBe(7);
    expect(h.store.io[IO_CAS_HI]).toBe(5);
    expect(h.set("s", "x")).toBe(Status.OK);
    expect(h.cas()).toBe(big + 1n);
    h.setCas(big - 1n);
    expect(h.op(StoreOp.REP_IF_NEWER, "r", "older")).toBe(Status.NOT_STORED);
    h.setCas(big); // the same cas: the greater bytes win the tie, on every node alike
    expect(h.op(StoreOp.REP_IF_NEWER, "r", "eq")).toBe(Status.NOT_STORED);
    h.setCas(big + 10n);
    expect(h.op(StoreOp.REP_IF_NEWER, "r", "newer")).toBe(Status.OK);
    expect(h.get("r")).toBe("newer");
    expect(h.cas()).toBe(big + 10n);
    h.setCas(3n);
    expect(h.op(StoreOp.REP_IF_NEWER, "fresh", "v")).toBe(Status.OK);
    expect(h.cas()).toBe(3n);
  });
});

describe("time", () => {
  test("expiry edges: 30 days is relative, one more second is absolute, negative is expired", () => {
    const h = new Harness();
    expect(h.set("rel", "v", 0, 2592000)).toBe(Status.OK);
    expect(h.get("rel")).toBe("v");
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(unix_start + 2592000);
    expect(h.set("abs", "v", 0, 2592001)).toBe(Status.OK);
    expect(h.get("abs")).toBeNull();
    expect(h.set("neg", "v", 0, -1)).toBe(Status.OK);
    expect(h.get("neg")).toBeNull();
    expect(h.set("future", "v", 0, unix_start + 10)).toBe(Status.OK);
    expect(h.set("short", "v", 0, 3)).toBe(Status.OK);
    h.advance(2);
    expect(h.get("short")).toBe("v");
    h.advance(1);
    expect(h.get("short")).toBeNull();
    expect(h.get("future")).toBe("v");
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(unix_start + 10);
    h.advance(7);
    expect(h.get("future")).toBeNull();
    expect(h.store.stats().get_expired).toBe(4);
    expect(h.store.stats().curr_items).toBe(1);
  });

  test("touch and get-and-touch", () => {
    const h = new Harness();
    expect(h.set("t", "v", 0, 5)).toBe(Status.OK);
    const key = encoder.encode("t");
    expect(h.store.touch(key, 0, 1, 100)).toBe(Status.OK);
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(unix_start + 100);
    h.advance(50);
    expect(h.get("t", GetMode.TEXT | GetMode.TOUCH, 0)).toBe("VALUE t 0 1\r\nv\r\n");
    expect(h.store.io[IO_EXPTIME_ABS]).toBe(0);
    h.advance(1000);
    expect(h.get("t")).toBe("v");
    expect(h.store.touch(key, 0, 1, -1)).toBe(Status.OK);
    expect(h.get("t")).toBeNull();
    expect(h.store.touch(key, 0, 1, 0)).toBe(Status.NOT_FOUND);
    const stats = h.store.stats();
    expect([stats.touch_hits, stats.touch_misses, stats.cmd_touch]).toEqual([3, 1, 4]);
  });

  test("flush_all now hides what exists, not what is stored after it", () => {
    const h = new Harness();
    expect(h.set("old1", "v")).toBe(Status.OK);
    h.advance(5);
    expect(h.set("old2", "v")).toBe(Status.OK);
    expect(h.store.flush(0)).toBe(Status.OK);
    expect(h.set("new", "v")).toBe(Status.OK);
    expect(h.get("old1")).toBeNull();
    expect(h.get("old2")).toBeNull();
    expect(h.get("new")).toBe("v");
    h.advance(1);
    expect(h.get("new")).toBe("v");
    expect(h.store.stats().get_flushed).toBe(2);
  });

  test("delayed flush_all", () => {
    const h = new Harness();
    expect(h.set("a", "v")).toBe(Status.OK);
    expect(h.store.flush(10)).toBe(Status.OK);
    h.advance(5);
    expect(h.set("b", "v")).toBe(Status.OK);
    h.advance(3);
    expect(h.get("a")).toBe("v");
    expect(h.get("b")).toBe("v");
    h.advance(1);
    expect(h.get("a")).toBeNull();
    expect(h.get("b")).toBeNull();
    h.advance(1);
    expect(h.set("c", "v")).toBe(Status.OK);
    expect(h.get("c")).toBe("v");
  });

  test("sweep reclaims expired items within its budget", () => {
    const h = new Harness();
    for (let i = 0; i < 100; i++) expect(h.set(`key${i}`, "v", 0, i % 2 === 0 ? 5 : 0)).toBe(Status.OK);
    h.advance(10);
    expect(h.store.sweep(0)).toBe(0);
    const buckets = 2 ** h.store.stats().hash_power_level;
    expect(h.store.sweep(buckets + 200)).toBe(50);
    const stats = h.store.stats();
    expect([stats.curr_items, stats.crawler_reclaimed, stats.expired_unfetched]).toEqual([50, 50, 50]);
  });
});

describe("incr and decr", () => {
  test("wrap, floor, in-place padding, growth, non-numeric", () => {
    const h = new Harness();
    expect(h.delta("n", true, 1n)).toBe(Status.NOT_FOUND);
    expect(h.set("n", "10")).toBe(Status.OK);
    expect(h.delta("n", true, 5n)).toBe("15");
    expect(h.store.io[IO_NUM_LO]).toBe(15);
    expect(h.delta("n", false, 6n)).toBe("9");
    expect(h.get("n")).toBe("9 ");
    expect(h.delta("n", false, 100n)).toBe("0");
    expect(h.get("n")).toBe("0 ");
    expect(h.delta("n", true, 100n)).toBe("100");
    expect(h.get("n")).toBe("100");
    expect(h.set("max", "18446744073709551615")).toBe(Status.OK);
    expect(h.delta("max", true, 2n)).toBe("1");
    expect(h.get("max")).toBe("1" + " ".repeat(19));
    expect(h.delta("max", true, (1n << 64n) - 2n)).toBe("18446744073709551615");
    expect(h.store.io[IO_NUM_LO]).toBe(0xffffffff);
    expect(h.store.io[IO_NUM_HI]).toBe(0xffffffff);
    expect(h.set("text", "12a")).toBe(Status.OK);
    expect(h.delta("text", true, 1n)).toBe(Status.NON_NUMERIC);
    expect(h.set("long", "1".repeat(21))).toBe(Status.OK);
    expect(h.delta("long", true, 1n)).toBe(Status.NON_NUMERIC);
    expect(h.set("empty", "")).toBe(Status.OK);
    expect(h.delta("empty", false, 1n)).toBe(Status.NON_NUMERIC);
    const stats = h.store.stats();
    expect([stats.incr_hits, stats.incr_misses, stats.decr_hits]).toEqual([4, 1, 2]);
  });

  test("a new cas each time, even in place", () => {
    const h = new Harness();
    expect(h.set("n", "100")).toBe(Status.OK);
    const before = h.cas();
    expect(h.delta("n", false, 1n)).toBe("99");
    expect(h.cas()).toBeGreaterThan(before);
    h.get("n");
    expect(h.cas()).toBe(before + 1n);
  });
});

/** 1 KiB pages, one page of memory: class 1 (96 B) holds 10 items. */
const tiny: Partial<StoreOptions> = {
  memory_bytes_max: 1024,
  item_size_max: 1024,
  growth_factor: 2,
  eviction_log_max: 16,
};
const keyOf = (i: number) => `key${String(i).padStart(4, "0")}`;

describe("eviction", () => {
  test("takes the LRU tail; a hit older than 60 s moves an item to the head; keys are logged", () => {
    const h = new Harness(tiny);
    for (let i = 0; i < 10; i++) expect(h.set(keyOf(i), "value")).toBe(Status.OK);
    h.advance(61);
    expect(h.get(keyOf(0))).toBe("value");
    for (let i = 10; i < 13; i++) expect(h.set(keyOf(i), "value")).toBe(Status.OK);
    const stats = h.store.stats();
    expect([stats.evictions, stats.evicted_unfetched]).toEqual([3, 3]);
    expect(h.store.classStats()[0]!.evicted_time).toBe(61);
    expect(h.get(keyOf(0))).toBe("value");
    for (let i = 1; i < 4; i++) expect(h.get(keyOf(i))).toBeNull();
    for (let i = 4; i < 13; i++) expect(h.get(keyOf(i))).toBe("value");
    const log = new Uint8Array(64);
    const n = h.store.evictionsTake(log, 0, 64);
    // [len][key][cas u64 LE] per entry: the evicted versions' cas (keyN was the (N+1)th set).
    expect(n).toBe(3 * (1 + 7 + 8));
    const view = new DataView(log.buffer);
    for (let i = 0; i < 3; i++) {
      expect(log[i * 16]).toBe(7);
      expect(decoder.decode(log.subarray(i * 16 + 1, i * 16 + 8))).toBe(keyOf(i + 1));
      expect(view.getBigUint64(i * 16 + 8, true)).toBe(BigInt(i + 2));
    }
    expect(h.store.evictionsTake(log, 0, 64)).toBe(0);
  });

  test("-M answers NO_MEMORY, still reclaims expired items, and a failed SET drops the old value", () => {
    const h = new Harness({ ...tiny, evictions_disabled: true });
    for (let i = 0; i < 10; i++) expect(h.set(keyOf(i), "value", 0, i === 0 ? 5 : 0)).toBe(Status.OK);
    expect(h.set("more", "value")).toBe(Status.NO_MEMORY);
    h.advance(10);
    expect(h.set("more", "value")).toBe(Status.OK);
    expect(h.set(keyOf(9), "value")).toBe(Status.NO_MEMORY);
    expect(h.get(keyOf(9))).toBeNull();
    expect(h.set("again", "value")).toBe(Status.OK);
    const stats = h.store.stats();
    expect([stats.evictions, stats.reclaimed, stats.outofmemory]).toEqual([0, 1, 2]);
  });
});

describe("reserve, fill, commit, abort", () => {
  test("a 1 MiB value in 64 KiB pieces", () => {
    const h = new Harness({ item_size_max: 2 << 20, memory_bytes_max: 8 << 20 });
    const value = new Uint8Array(1 << 20);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    const key = encoder.encode("big");
    const slot = h.store.reserve(StoreOp.SET, key, 0, 3, 9, 0, value.length);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(h.get("big")).toBeNull();
    for (let off = 0; off < value.length; off += 65536) {
      expect(h.store.fill(slot, value, off, 65536)).toBe(Status.OK);
    }
    expect(h.store.fill(slot, value, 0, 1)).toBe(Status.INVALID);
    expect(h.store.stats().pending_items).toBe(1);
    expect(h.store.commit(slot)).toBe(Status.OK);
    expect(h.store.stats().pending_items).toBe(0);
    const n = h.store.get(key, 0, 3, out, 0, out.length, GetMode.RAW, 0);
    expect(n).toBe(value.length);
    expect(Buffer.compare(out.subarray(0, n), value)).toBe(0);
    expect(h.store.io[IO_FLAGS]).toBe(9);
    expect(h.store.commit(slot)).toBe(Status.INVALID);
  });

  test("abort, incomplete commit, bounded slots, CAS at commit time", () => {
    const h = new Harness({ pending_max: 2 });
    const k = encoder.encode("k");
    const k2 = encoder.encode("k2");
    const v = encoder.encode("12345");
    const used = () => h.store.classStats()[0]!.used_chunks;
    const base = used();
    const a = h.store.reserve(StoreOp.SET, k, 0, 1, 0, 0, 5);
    const b = h.store.reserve(StoreOp.SET, k2, 0, 2, 0, 0, 5);
    expect(h.store.reserve(StoreOp.SET, k, 0, 1, 0, 0, 5)).toBe(Status.NO_MEMORY);
    expect(used()).toBe(base + 2);
    expect(h.store.abort(a)).toBe(Status.OK);
    expect(h.store.abort(a)).toBe(Status.INVALID);
    expect(h.store.fill(b, v, 0, 2)).toBe(Status.OK);
    expect(h.store.commit(b)).toBe(Status.INVALID);
    expect(used()).toBe(base);
    expect(h.set("c", "old")).toBe(Status.OK);
    const cas = h.cas();
    const c = encoder.encode("c");
    const slot = h.store.reserve(StoreOp.CAS, c, 0, 1, 0, 0, 5);
    h.setCas(cas + 1n);
    expect(h.store.fill(slot, v, 0, 5)).toBe(Status.OK);
    h.setCas(cas);
    expect(h.store.commit(slot)).toBe(Status.OK);
    expect(h.get("c")).toBe("12345");
    expect(h.store.reserve(StoreOp.SET, c, 0, 1, 0, 0, 2 << 20)).toBe(Status.TOO_LARGE);
    expect(h.get("c")).toBeNull();
  });
});

describe("cursor", () => {
  test("returns every stable item exactly once while others are added, replaced and removed", () => {
    const h = new Harness({ memory_bytes_max: 1 << 20 });
    const stable = 3000;
    for (let i = 0; i < stable; i++) expect(h.set(keyOf(i), `stable${i}`)).toBe(Status.OK);
    const seen = new Map<string, number>();
    const buffer = new Uint8Array(1024);
    h.store.cursorStart();
    let step = 0;
    for (;;) {
      const n = h.store.cursorNext(buffer, 0, buffer.length);
      if (n === Status.CURSOR_DONE) break;
      if (n === Status.CURSOR_AGAIN) continue;
      expect(n).toBeGreaterThanOrEqual(0);
      const key_len = h.store.io[IO_KEY_LEN]!;
      expect(n).toBe(key_len + h.store.io[IO_VALUE_LEN]!);
      const key = decoder.decode(buffer.subarray(0, key_len));
      if (key.startsWith("key")) expect(decoder.decode(buffer.subarray(key_len, n))).toBe(`stable${Number(key.slice(3))}`);
      seen.set(key, (seen.get(key) ?? 0) + 1);
      // Changes between steps.
      const r = (step * 7919) % 400;
      expect(h.set(`replaced${r}`, `v${step}`)).toBe(Status.OK);
      expect(h.set(`added${step}`, "new")).toBe(Status.OK);
      h.del(`churn${r % 40}`);
      expect(h.set(`churn${r % 40}`, "again")).toBe(Status.OK);
      step++;
    }
    for (let i = 0; i < stable; i++) expect(seen.get(keyOf(i))).toBe(1);
    for (const count of seen.values()) expect(count).toBe(1);
    expect(h.store.cursorNext(buffer, 0, buffer.length)).toBe(Status.CURSOR_DONE);
  });

  test("skips expired and flushed items; BUFFER_SMALL keeps the item", () => {
    const h = new Harness();
    expect(h.set("dead", "v", 0, -1)).toBe(Status.OK);
    expect(h.set("flushed", "v")).toBe(Status.OK);
    expect(h.store.flush(0)).toBe(Status.OK);
    expect(h.set("live", "value", 3)).toBe(Status.OK);
    const buffer = new Uint8Array(64);
    h.store.cursorStart();
    let n: number;
    let again = 0; // 65536 buckets, 4096 per call: mostly empty calls
    while ((n = h.store.cursorNext(buffer, 0, 4)) === Status.CURSOR_AGAIN) again++;
    expect(n).toBe(Status.BUFFER_SMALL);
    expect(h.store.io[IO_NEED]).toBe(9);
    expect(h.store.cursorNext(buffer, 0, 64)).toBe(9);
    expect(decoder.decode(buffer.subarray(0, 9))).toBe("livevalue");
    expect(h.store.io[IO_FLAGS]).toBe(3);
    while ((n = h.store.cursorNext(buffer, 0, 64)) === Status.CURSOR_AGAIN) again++;
    expect(n).toBe(Status.CURSOR_DONE);
    expect(again).toBeGreaterThanOrEqual(2 ** h.store.stats().hash_power_level / 4096 - 2);
  });
});

describe("stats and lifecycle", () => {
  test("stats reset zeroes counters, not gauges", () => {
    const h = new Harness();
    expect(h.set("a", "v")).toBe(Status.OK);
    h.get("a");
    h.get("b");
    let stats = h.store.stats();
    expect(stats.total_items).toBe(1);
    expect(stats.cmd_set).toBe(1);
    expect(stats.total_malloced).toBe(1 << 20);
    expect(stats.limit_maxbytes).toBe(4 << 20);
    expect(stats.hash_power_level).toBe(15); // 4 MiB / 96 / 1.5 -> 2^15
    expect(stats.hash_bytes).toBe(4 << 15);
    expect(h.store.statsReset()).toBe(Status.OK);
    stats = h.store.stats();
    expect([stats.total_items, stats.get_hits, stats.get_misses, stats.cmd_set]).toEqual([0, 0, 0, 0]);
    expect(stats.curr_items).toBe(1);
    expect(h.store.classStats()[0]!.used_chunks).toBe(1);
  });

  test("after close every call is INVALID", () => {
    const store = Store.open({ memory_bytes_max: 1 << 20 });
    store.close();
    const k = encoder.encode("k");
    expect(store.store(StoreOp.SET, k, 0, 1, k, 0, 1, 0, 0)).toBe(Status.INVALID);
    expect(store.get(k, 0, 1, out, 0, 16, 0, 0)).toBe(Status.INVALID);
    expect(store.flush(0)).toBe(Status.INVALID);
    store.close();
  });
});

describe("meta protocol calls (mg md ma, ms ops, rcb1_meta)", () => {
  const k = (key: string) => encoder.encode(key);
  const { IoIndex, MetaDelete, MetaDelta, MetaGet, MetaState } = store_meta;

  test("metaGet: value, the state before the call, T and N exptimes, and the win token once", () => {
    const h = new Harness();
    expect(h.set("a", "hello", 7, 100)).toBe(Status.OK);
    const io = h.store.io;
    expect(h.store.metaGet(k("a"), 0, 1, out, 0, out.length, MetaGet.VALUE | MetaGet.TOUCH, 30, 0, 0)).toBe(5);
    expect(decoder.decode(out.subarray(0, 5))).toBe("hello");
    expect([io[IoIndex.FLAGS], io[IoIndex.VALUE_LEN], io[IoIndex.META]]).toEqual([7, 5, 0]);
    expect(io[IoIndex.EXPTIME_ABS]).toBe(unix_start + 100);
    expect(io[IoIndex.TOUCH_ABS]).toBe(unix_start + 30);
    expect(h.store.metaGet(k("a"), 0, 1, out, 0, 2, MetaGet.VALUE, 0, 0, 0)).toBe(Status.BUFFER_SMALL);
    expect(h.store.metaGet(k("a"), 0, 1, out, 0, 0, 0, 0, 0, 0)).toBe(0);
    expect(io[IoIndex.META]! & MetaState.FETCHED).toBe(MetaState.FETCHED);
    expect(io[IoIndex.EXPTIME_ABS]).toBe(unix_start + 30);

    expect(h.store.metaGet(k("v"), 0, 1, out, 0, 0, 0, 0, 0, 0)).toBe(Status.NOT_FOUND);
    expect(h.store.metaGet(k("v"), 0, 1, out, 0, 0, MetaGet.VIVIFY, 0, 60, 0)).toBe(0);
    expect(io[IoIndex.META]).toBe(MetaState.CREATED | MetaState.WON);
    expect(io[IoIndex.VIVIFY_ABS]).toBe(unix_start + 60);
    expect(h.store.metaGet(k("v"), 0, 1, out, 0, 0, MetaGet.VIVIFY, 0, 60, 0)).toBe(0);
    expect(io[IoIndex.META]! & (MetaState.TOKEN_SENT | MetaState.WON)).toBe(MetaState.TOKEN_SENT);
    expect(h.store.metaGet(k("v"), 0, 1, out, 0, 0, MetaGet.PEEK | MetaGet.TOUCH, 1, 0, 0)).toBe(Status.INVALID);
    expect(h.store.metaGet(k("v"), 0, 1, out, 0, 0, 128, 0, 0, 0)).toBe(Status.INVALID);
  });

  test("metaDelete: C, I (stale at a new cas, token cleared), plain delete; metaDelta: C and T", () => {
    const h = new Harness();
    const io = h.store.io;
    expect(h.set("d", "v")).toBe(Status.OK);
    const cas = h.cas();
    h.setCas(cas + 1n);
    expect(h.store.metaDelete(k("d"), 0, 1, MetaDelete.CAS, 0)).toBe(Status.EXISTS);
    h.setCas(cas);
    expect(h.store.metaDelete(k("d"), 0, 1, MetaDelete.CAS | MetaDelete.STALE, 0)).toBe(Status.OK);
    expect(h.cas()).toBeGreaterThan(cas);
    h.store.metaGet(k("d"), 0, 1, out, 0, 0, 0, 0, 0, 0);
    expect(io[IoIndex.META]! & (MetaState.STALE | MetaState.WON)).toBe(MetaState.STALE | MetaState.WON);
    expect(h.store.metaDelete(k("d"), 0, 1, 0, 0)).toBe(Status.OK);
    expect(h.store.metaDelete(k("d"), 0, 1, 0, 0)).toBe(Status.NOT_FOUND);

    expect(h.set("n", "10")).toBe(Status.OK);
    h.store.setDelta(5, 0);
    expect(h.store.metaDelta(k("n"), 0, 1, MetaDelta.INCR | MetaDelta.TOUCH, 40, out, 0, 32)).toBe(2);
    expect(decoder.decode(out.subarray(0, 2))).toBe("15");
    expect([io[IoIndex.EXPTIME_ABS], io[IoIndex.TOUCH_ABS]]).toEqual([0, unix_start + 40]);
    h.setCas(1n);
    expect(h.store.metaDelta(k("n"), 0, 1, MetaDelta.CAS, 0, out, 0, 32)).toBe(Status.EXISTS);
    expect(h.store.metaDelta(k("x"), 0, 1, 0, 0, out, 0, 32)).toBe(Status.NOT_FOUND);
  });

  test("ms ops: CAS_STALE below the item's cas stores a stale value; APPEND_CAS compares a non-zero cas", () => {
    const h = new Harness();
    const io = h.store.io;
    expect(h.set("s", "v0")).toBe(Status.OK);
    expect(h.set("s", "v1", 0, 100)).toBe(Status.OK); // cas 2
    h.setCas(1n);
    expect(h.op(StoreOp.CAS_STALE, "s", "v2")).toBe(Status.OK);
    h.store.metaGet(k("s"), 0, 1, out, 0, out.length, MetaGet.VALUE, 0, 0, 0);
    expect(decoder.decode(out.subarray(0, 2))).toBe("v2");
    expect(io[IoIndex.META]! & MetaState.STALE).toBe(MetaState.STALE);
    expect(io[IoIndex.EXPTIME_ABS]).toBe(unix_start + 100);
    h.setCas(h.cas() + 1n);
    expect(h.op(StoreOp.APPEND_CAS, "s", "x")).toBe(Status.EXISTS);
    h.setCas(0n);
    expect(h.op(StoreOp.PREPEND_CAS, "s", "<")).toBe(Status.OK);
    expect(h.get("s")).toBe("<v2");
  });

  test("rcb1_meta: written after the rep line to our kind, applied by metaMark at the same cas only", () => {
    const a = new Harness();
    expect(a.set("m", "v")).toBe(Status.OK);
    expect(a.store.metaDelete(k("m"), 0, 1, MetaDelete.STALE, 0)).toBe(Status.OK);
    const cas = a.cas();
    const line = a.get("m", GetMode.PEEK | GetMode.REP | GetMode.REP_RELATIVE);
    expect(line).toBe(`rep m 0 0 1 ${cas}\r\nv\r\nrcb1_meta m ${cas} 8\r\n`);
    expect(a.get("m", GetMode.PEEK | GetMode.REP | GetMode.REP_SIGNED_FLAGS)).not.toContain("rcb1_meta");
    const b = new Harness();
    b.setCas(cas);
    expect(b.op(StoreOp.REP_IF_NEWER, "m", "v")).toBe(Status.OK);
    expect(b.store.metaMark(k("m"), 0, 1, Number(cas & 0xffffffffn) + 1, Number(cas >> 32n), 8)).toBe(Status.NOT_FOUND);
    expect(b.store.metaMark(k("m"), 0, 1, Number(cas & 0xffffffffn), Number(cas >> 32n), 8)).toBe(Status.OK);
    b.store.metaGet(k("m"), 0, 1, out, 0, 0, 0, 0, 0, 0);
    expect(b.store.io[IoIndex.META]! & MetaState.STALE).toBe(MetaState.STALE);
  });
});
