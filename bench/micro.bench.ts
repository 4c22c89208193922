// Micro-benchmarks (mitata): the text parser, the reply writer, and store operations through FFI.
// `bun bench/micro.bench.ts` (run.ts runs it as a subprocess). The store group is skipped, with the
// reason printed, when src/native/store.ts does not load or does not behave (it is young).
import { bench, do_not_optimize, group, run } from "mitata";
import { Command, parseCommand } from "../src/protocol/parser.ts";
import { Reply } from "../src/protocol/replies.ts";
import { Output } from "../src/server/output.ts";

const latin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

function parserGroup(): void {
  const cmd = new Command();
  const get_one = latin1("get k\r\n");
  const get_ten = latin1(`get ${Array.from({ length: 10 }, (_, i) => `mcl:${String(i).padStart(10, "0")}`).join(" ")}\r\n`);
  const set_line = latin1("set mcl:0000000042 0 0 100\r\n");
  group("parser: parseCommand (one reused Command)", () => {
    bench("get k", () => do_not_optimize(parseCommand(get_one, 0, get_one.length, cmd)));
    bench("get of 10 keys", () => do_not_optimize(parseCommand(get_ten, 0, get_ten.length, cmd)));
    bench("set line (100 B value follows)", () => do_not_optimize(parseCommand(set_line, 0, set_line.length, cmd)));
  });
}

function writerGroup(): void {
  const output_bytes = 64 * 1024;
  const out = new Output(output_bytes);
  out.flush = () => {
    out.len = 0;
  };
  group("reply writer: Output.put of constant replies", () => {
    bench("STORED", () => out.put(Reply.STORED));
    bench("END", () => out.put(Reply.END));
    bench("10 × NOT_FOUND", () => {
      for (let i = 0; i < 10; i++) out.put(Reply.NOT_FOUND);
    });
  });
}

interface StoreBench {
  name: string;
  fn: () => unknown;
}

const store_keys = 1024;
const value_sizes_bytes = [100, 1024, 10 * 1024];

/** Builds the store benchmarks, or returns why it cannot (module missing, API changed, wrong results). */
async function storeBenches(): Promise<{ benches: StoreBench[]; close: () => void } | string> {
  let mod: any;
  try {
    const path = "../src/native/store.ts";
    mod = await import(path);
  } catch (error) {
    return `src/native/store.ts did not load: ${error instanceof Error ? error.message : String(error)}`;
  }
  const { Store, StoreOp, GetMode, Status } = mod;
  // The "VALUE <key> <flags> <bytes>" reply mode: GetMode.TEXT (named VALUE_LINE in places).
  const text_mode: number | undefined = GetMode?.TEXT ?? GetMode?.VALUE_LINE;
  if (typeof Store?.open !== "function" || StoreOp?.SET === undefined || text_mode === undefined || Status?.OK === undefined) {
    return "src/native/store.ts does not export Store.open, StoreOp.SET, GetMode.TEXT and Status.OK";
  }
  let store: any;
  try {
    store = Store.open({
      memory_bytes_max: 256 * 1024 * 1024, item_size_max: 1024 * 1024, chunk_size_min: 48, growth_factor: 1.25,
      evictions_disabled: false, pending_max: 1024, eviction_log_max: 0,
    });
  } catch (error) {
    return `Store.open failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  const key_len = 15;
  const out = new Uint8Array(64 * 1024);
  const benches: StoreBench[] = [];
  for (const [index, size] of value_sizes_bytes.entries()) {
    // Each size has its own keys (mcl<index>:<10 digits>), so sizes never overwrite each other.
    const keys = latin1(Array.from({ length: store_keys }, (_, i) => `mcl${index}:${String(i).padStart(10, "0")}`).join(""));
    const value = new Uint8Array(size).fill(120);
    for (let k = 0; k < store_keys; k++) {
      const status = store.store(StoreOp.SET, keys, k * key_len, key_len, value, 0, size, 0, 0);
      if (status !== Status.OK) return (store.close(), `store.store(SET, ${size} B) returned ${status}, not OK`);
    }
    const n = store.get(keys, 0, key_len, out, 0, out.length, text_mode, 0);
    if (!(n >= size)) return (store.close(), `store.get of a ${size} B value returned ${n}, not a VALUE line`);
    let at = 0;
    benches.push({
      name: `set ${size} B`,
      fn: () => {
        at = (at + 1) % store_keys;
        return store.store(StoreOp.SET, keys, at * key_len, key_len, value, 0, size, 0, 0);
      },
    });
    benches.push({
      name: `get ${size} B (VALUE line into a buffer)`,
      fn: () => {
        at = (at + 1) % store_keys;
        return store.get(keys, at * key_len, key_len, out, 0, out.length, text_mode, 0);
      },
    });
  }
  return { benches, close: () => store.close() };
}

parserGroup();
writerGroup();
const store = await storeBenches();
if (typeof store === "string") {
  console.log(`store group skipped: ${store}`);
} else {
  group("store through FFI (src/native/store.ts)", () => {
    for (const b of store.benches) bench(b.name, () => do_not_optimize(b.fn()));
  });
}
await run({ colors: process.stdout.isTTY === true && !process.env.NO_COLOR });
if (typeof store !== "string") store.close();
