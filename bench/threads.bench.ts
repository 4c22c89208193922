// The native store from 1, 2 and 4 threads at once (mitata), through the real FFI.
//
//   bun bench/threads.bench.ts        (bun bench --only micro runs it after micro.bench.ts)
//
// One store opened here (Store.open), 64 Ki keys of 64 B preloaded; 4 Bun Workers, each with its
// own session on it (Store.session), started one after another (each loads the library before the
// next starts: Bun has crash reports when dlopen races in fresh Workers). One benchmark iteration
// of "N threads": the first N workers each run `batch_ops` operations of a fixed 90/10 get/set mix
// (bench/lib/store_mix.ts), started by bumping each one's word in a SharedArrayBuffer
// (Atomics.notify) and finished when all N have counted themselves done; this thread sleeps in
// Atomics.wait meanwhile. ns/op = the iteration's wall time ÷ (N × batch_ops); scaling = ops/s at
// N threads ÷ ops/s at 1. "main thread" is the same batch run here, without a Worker or a hand-off.
// Whatever locking the built library has is what is measured. Every wait is bounded.
import { bench, group, run } from "mitata";
import { availableParallelism } from "node:os";
import { library_loaded_path } from "../src/native/library.ts";
import { GetMode, Status, Store, StoreOp } from "../src/native/store.ts";
import { keyBuffer, mix, runMix, word_done, word_first, word_stop, type WorkerInit } from "./lib/store_mix.ts";

const thread_counts = [1, 2, 4] as const;
const workers_max = 4;
const batch_ops = 16_384;
const ready_ms_max = 15_000;
const batch_ms_max = 30_000;
const close_ms_max = 5_000;

const store = Store.open({ memory_bytes_max: 256 * 1024 * 1024 });
const keys = keyBuffer(mix.keys, mix.key_bytes);
const value = new Uint8Array(mix.value_bytes).fill(0x61);
for (let i = 0; i < mix.keys; i++) {
  const status = store.store(StoreOp.SET, keys, i * mix.key_bytes, mix.key_bytes, value, 0, mix.value_bytes, 0, 0);
  if (status !== Status.OK) throw new Error(`preload of key ${i}: status ${status}`);
}

const control = new Int32Array(new SharedArrayBuffer(4 * (word_first + workers_max)));
const workers: Worker[] = [];

/** Resolves at the worker's next message of `kind`; rejects on `failed`, an error, or after ms. */
function next(worker: Worker, kind: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    };
    const onMessage = (event: MessageEvent<{ kind: string; message?: string }>) => {
      if (event.data.kind === kind) (done(), resolve());
      else if (event.data.kind === "failed") (done(), reject(new Error(event.data.message)));
    };
    const onError = (event: ErrorEvent) => (done(), reject(new Error(event.message)));
    const timer = setTimeout(() => (done(), reject(new Error(`worker did not say "${kind}" within ${ms} ms`))), ms);
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}

async function stopWorkers(): Promise<void> {
  Atomics.store(control, word_stop, 1);
  for (let i = 0; i < workers.length; i++) Atomics.notify(control, word_first + i);
  await Promise.allSettled(workers.map((w) => next(w, "closed", close_ms_max)));
  for (const worker of workers) worker.terminate();
}

/** One iteration: the first n workers each run batch_ops operations; returns when all are done. */
function batch(n: number): void {
  Atomics.store(control, word_done, 0);
  for (let i = 0; i < n; i++) {
    Atomics.add(control, word_first + i, 1);
    Atomics.notify(control, word_first + i);
  }
  const deadline = performance.now() + batch_ms_max;
  for (;;) {
    const done = Atomics.load(control, word_done);
    if (done >= n) return;
    if (performance.now() > deadline) throw new Error(`${n - done} of ${n} workers did not finish a batch within ${batch_ms_max} ms`);
    Atomics.wait(control, word_done, done, 100);
  }
}

try {
  for (let index = 0; index < workers_max; index++) {
    const worker = new Worker(new URL("./threads_worker.ts", import.meta.url).href);
    workers.push(worker);
    const ready = next(worker, "ready", ready_ms_max);
    const init: WorkerInit = { index, owner: store.owner, library_path: library_loaded_path, control: control.buffer as SharedArrayBuffer, ops: batch_ops };
    worker.postMessage(init);
    await ready;
  }
  const codes = { set_op: StoreOp.SET, raw_mode: GetMode.RAW };
  const out = new Uint8Array(4096);
  let state = 0x2545f491;
  const names = new Map<string, number>();
  group(`store: ${batch_ops} ops per thread per iteration (90% get / 10% set, ${mix.value_bytes} B values, ${mix.keys / 1024} Ki keys)`, () => {
    names.set("main thread (no Worker)", 1);
    bench("main thread (no Worker)", () => {
      state = runMix(store, codes, keys, value, out, batch_ops, state);
    });
    for (const n of thread_counts) {
      const name = `${n} worker thread${n === 1 ? "" : "s"}`;
      names.set(name, n);
      bench(name, () => batch(n));
    }
  });
  const result = await run({ colors: process.stdout.isTTY === true && !process.env.NO_COLOR });
  const rows: Array<{ name: string; threads: number; ns_per_op: number; p50_ns_per_op: number }> = [];
  for (const trial of result.benchmarks) {
    for (const r of trial.runs) {
      const threads = names.get(r.name);
      if (r.stats === undefined || threads === undefined) continue;
      rows.push({ name: r.name, threads, ns_per_op: r.stats.avg / (threads * batch_ops), p50_ns_per_op: r.stats.p50 / (threads * batch_ops) });
    }
  }
  const one = rows.find((r) => r.name.startsWith("1 worker"));
  console.log(`\nns/op = iteration time ÷ (threads × ${batch_ops}), from the mean (and the median) iteration; scaling = ops/s ÷ 1 worker thread's; ${availableParallelism()} CPUs`);
  console.log(`${"".padEnd(24)}${"ns/op".padStart(8)}${"Mops/s".padStart(9)}${"scaling".padStart(9)}${"p50 ns/op".padStart(11)}${"p50 scaling".padStart(13)}`);
  for (const r of rows) {
    const scaling = one === undefined ? "" : (one.ns_per_op / r.ns_per_op).toFixed(2);
    const p50_scaling = one === undefined ? "" : (one.p50_ns_per_op / r.p50_ns_per_op).toFixed(2);
    console.log(`${r.name.padEnd(24)}${r.ns_per_op.toFixed(1).padStart(8)}${(1e3 / r.ns_per_op).toFixed(2).padStart(9)}${scaling.padStart(9)}${r.p50_ns_per_op.toFixed(1).padStart(11)}${p50_scaling.padStart(13)}`);
  }
} finally {
  await stopWorkers();
  store.close();
}
