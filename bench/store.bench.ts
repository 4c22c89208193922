// ns per get/set through FFI (src/native/store.ts) beside a JS Map doing the same work.
//
//   bun bench/store.bench.ts [--markdown]
//
// Same work: the store copies the value in on set and out on get, so the Map does too (set stores
// a fresh copy of the value bytes, get copies them into the output buffer). Keys rotate over
// `keys_count` keys so lookups are not one hot entry; the Map gets its string keys prebuilt (the
// store reads key bytes from a Uint8Array), which flatters the Map. The store is large enough that
// nothing is evicted.
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { GetMode, Status, Store, StoreOp } from "../src/native/store.ts";

const keys_count = 4096;
const key_bytes = 16;
const value_sizes = [100, 1024, 10 * 1024];

const store = Store.open({ memory_bytes_max: 1024 * 1024 * 1024 });
const key_buffer = new Uint8Array(keys_count * key_bytes);
const key_strings: string[] = [];
for (let i = 0; i < keys_count; i++) {
  const text = `key:${String(i).padStart(key_bytes - 4, "0")}`;
  key_strings.push(text);
  for (let b = 0; b < key_bytes; b++) key_buffer[i * key_bytes + b] = text.charCodeAt(b);
}
const out = new Uint8Array(64 * 1024);

for (const size of value_sizes) {
  const value = new Uint8Array(size).fill(0x61);
  const map = new Map<string, Uint8Array>();
  for (let i = 0; i < keys_count; i++) {
    const status = store.store(StoreOp.SET, key_buffer, i * key_bytes, key_bytes, value, 0, size, 0, 0);
    if (status !== Status.OK) throw new Error(`preload: ${status}`);
    map.set(key_strings[i]!, value.slice());
  }
  let set_index = 0;
  let get_index = 0;
  let map_set_index = 0;
  let map_get_index = 0;

  group(`${size} B values`, () => {
    summary(() => {
      bench(`store.store SET ${size} B (FFI)`, () => {
        set_index = (set_index + 1) & (keys_count - 1);
        return store.store(StoreOp.SET, key_buffer, set_index * key_bytes, key_bytes, value, 0, size, 0, 0);
      });
      bench(`Map.set copy ${size} B`, () => {
        map_set_index = (map_set_index + 1) & (keys_count - 1);
        map.set(key_strings[map_set_index]!, value.slice());
      });
    });
    summary(() => {
      bench(`store.get raw ${size} B (FFI)`, () => {
        get_index = (get_index + 1) & (keys_count - 1);
        return store.get(key_buffer, get_index * key_bytes, key_bytes, out, 0, out.length, GetMode.RAW, 0);
      });
      bench(`store.get text reply ${size} B (FFI)`, () => {
        get_index = (get_index + 1) & (keys_count - 1);
        return store.get(key_buffer, get_index * key_bytes, key_bytes, out, 0, out.length, GetMode.TEXT, 0);
      });
      bench(`Map.get copy ${size} B`, () => {
        map_get_index = (map_get_index + 1) & (keys_count - 1);
        const found = map.get(key_strings[map_get_index]!)!;
        out.set(found, 0);
        do_not_optimize(found.length);
      });
    });
  });
}

await run(process.argv.includes("--markdown") ? { format: "markdown" } : {});
store.close();
