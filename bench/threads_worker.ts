// A worker of bench/threads.bench.ts: its own session on the main thread's store, doing `ops`
// operations of the mix (bench/lib/store_mix.ts) each time the main thread bumps its word.
//
// Contract: answers `init` with `ready` (or `failed`); then, off the event loop, waits on its
// word control[word_first + index]; each bump runs the batch and adds 1 to control[word_done]
// (notified); control[word_stop] set ends the loop, the session is closed and `closed` posted.
import { libraryReuse } from "../src/native/library.ts";
import { keyBuffer, mix, runMix, word_done, word_first, word_stop, type WorkerInit } from "./lib/store_mix.ts";

declare const self: Worker;

/** Waits are in slices this long, so a stop is seen even if a notify is missed. */
const wait_slice_ms = 200;

self.onmessage = async (event: MessageEvent<WorkerInit>) => {
  const init = event.data;
  try {
    if (init.library_path !== null) libraryReuse(init.library_path);
    const { Store, StoreOp, GetMode } = await import("../src/native/store.ts");
    const store = Store.session(init.owner);
    const control = new Int32Array(init.control);
    const keys = keyBuffer(mix.keys, mix.key_bytes);
    const value = new Uint8Array(mix.value_bytes).fill(0x62);
    const out = new Uint8Array(4096);
    const codes = { set_op: StoreOp.SET, raw_mode: GetMode.RAW };
    let state = 0x9e3779b9 ^ ((init.index + 1) * 0x85ebca6b);
    if (state === 0) state = 1;
    self.postMessage({ kind: "ready" });
    // Off the event loop from here: this thread only ever waits on its word.
    setTimeout(() => {
      const word = word_first + init.index;
      let seen = Atomics.load(control, word);
      while (Atomics.load(control, word_stop) === 0) {
        Atomics.wait(control, word, seen, wait_slice_ms);
        const now = Atomics.load(control, word);
        if (now === seen) continue;
        seen = now;
        state = runMix(store, codes, keys, value, out, init.ops, state);
        Atomics.add(control, word_done, 1);
        Atomics.notify(control, word_done);
      }
      store.close();
      self.postMessage({ kind: "closed" });
    }, 0);
  } catch (error) {
    self.postMessage({ kind: "failed", message: String(error) });
  }
};
