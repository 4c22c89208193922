// `-t N` (N > 1): N worker threads (Bun Workers, server/worker.ts), each with its own event loop,
// its own Server (parser, reply buffers, connections) and its own Bun.listen on the client port
// with SO_REUSEPORT (the kernel spreads connections over them), all over the ONE native store the
// main thread opened (each through its own session: native/session.zig). The main thread keeps
// what cannot be shared: the unix socket and UDP (one owner each), the store's clock and
// reclaim, replication, metrics and signals.
//
// Why reusePort rather than one acceptor handing connections out: Bun cannot pass an accepted
// socket to another Worker, so an acceptor would have to proxy every byte; with reusePort each
// worker accepts its own (measured: connections spread evenly, 21/19 of 40 over two workers).
// Such a relaying acceptor was built and measured (bench/acceptor.ts, README "reusePort or one
// acceptor"): 0.76× -t 2's throughput on pipelined gets, 0.88× on one request per round trip,
// 1.25–1.32× the CPU per request, its socket thread the ceiling.
// The cost: connections are spread by the kernel's hash of the 4-tuple, not by load.
//
// Contract: `WorkerPool.start` spawns the workers one after another (each loads the native library
// — Bun has crash reports when dlopen races in fresh Workers — and opens its session before the
// next starts) and resolves when all are ready, or rejects with the first failure. `listen` binds
// every worker's listeners (after replication's full copy, as a -t 1 node opens its port);
// `stop` closes every worker's listeners and connections and its session, bounded by
// `stop_ms_max`, then ends the threads. A worker's `shutdown` command reaches `onShutdown`.

import type { SharedWords } from "./shared_words.ts";
import type { ThreadCounters } from "./thread_counters.ts";
import type { StatLines } from "../stats.ts";
import { mergeRows, type PrefixRow } from "../protocol/detail.ts";
import { library_loaded_path } from "../native/library.ts";

/** What a worker needs to join (all of it crosses postMessage). */
export interface WorkerInit {
  kind: "init";
  index: number;
  threads: number;
  argv: string[];
  store_owner: number;
  /** The native library's path as the main thread loaded it (a single-file binary's unpacked copy). */
  library_path: string | null;
  counters_buffer: SharedArrayBuffer;
  words_buffer: SharedArrayBuffer;
  journal_buffer: SharedArrayBuffer | null;
}

export type ToWorker =
  | WorkerInit
  | { kind: "listen" }
  | { kind: "stop" }
  | { kind: "stats"; id: number; lines: Record<string, StatLines>; detail: PrefixRow[] | null }
  | { kind: "detail_clear" }
  | { kind: "fetched"; id: number }
  | { kind: "conns"; id: number }
  | { kind: "lock"; key: string; until_s: number }
  | { kind: "release"; key: string };
export type FromWorker =
  | { kind: "ready" }
  | { kind: "listening" }
  | { kind: "failed"; message: string }
  | { kind: "shutdown" }
  | { kind: "stats"; id: number; every_thread: boolean }
  | { kind: "fetch"; id: number; keys: string }
  | { kind: "conns"; id: number; lines: StatLines; detail: PrefixRow[] }
  | { kind: "detail_clear" }
  | { kind: "lock"; key: string; until_s: number }
  | { kind: "release"; key: string }
  | { kind: "stopped" };

/** A worker that does not answer a step within this long has failed (start, listen) or is ended (stop). */
const step_ms_max = 10_000;
const stop_ms_max = 5_000;
/** A `stats` served by a worker waits at most this long for the other workers' connection lists. */
const gather_ms_max = 1_000;
/** Gatherings in flight at once (each is one worker's `stats`; a worker asks one at a time). */
const gatherings_max = 1_024;

export interface PoolShare {
  argv: string[];
  store_owner: number;
  counters: ThreadCounters;
  words: SharedWords;
  journal_buffer: SharedArrayBuffer | null;
}

/**
 * worker.ts: beside this file in a checkout; in a single-file binary it is bundled as its own
 * entry point (scripts/build-binaries.ts) and named relative to the entries' common root, src/.
 */
function workerEntry(): string {
  if (import.meta.url.includes("/$bunfs/")) return "./server/worker.ts";
  return new URL("./worker.ts", import.meta.url).href;
}

/** One worker's `stats`, waiting for every thread's `stats conns` lines and detail prefixes. */
interface Gathering {
  lines: StatLines;
  detail: PrefixRow[][];
  waiting: number;
  done: (lines: StatLines, detail: PrefixRow[]) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  onShutdown: () => void = () => {};
  /** The main thread's stat groups a worker's `stats` shows (replication's lines). */
  statGroups: () => Record<string, StatLines> = () => ({});
  /** The main thread's own `stats conns` lines (its listeners: the unix socket, UDP) and detail rows. */
  mainConns: () => StatLines = () => [];
  mainDetail: () => PrefixRow[] = () => [];
  /** Clears the main thread's detail prefixes (a worker's `stats reset`). */
  onDetailClear: () => void = () => {};
  /** Gatherings in flight: each waits for every worker's connections and prefixes (bounded by gather_ms_max). */
  private readonly gatherings = new Map<number, Gathering>();
  private next_gathering = 1;
  /** --serve-during-copy: a worker's misses read through the main thread's link (false: serve as is). */
  fetchKeys: (keys: string, done: () => void) => boolean = () => false;

  static async start(count: number, share: PoolShare): Promise<WorkerPool> {
    const pool = new WorkerPool();
    try {
      for (let index = 1; index <= count; index++) await pool.spawn(index, count, share);
    } catch (error) {
      await pool.stop();
      throw error;
    }
    return pool;
  }

  private async spawn(index: number, threads: number, share: PoolShare): Promise<void> {
    const worker = new Worker(workerEntry());
    this.workers.push(worker);
    const ready = this.next(worker, "ready");
    const init: WorkerInit = {
      kind: "init", index, threads, argv: share.argv, store_owner: share.store_owner, library_path: library_loaded_path,
      counters_buffer: share.counters.buffer as SharedArrayBuffer,
      words_buffer: share.words.buffer as SharedArrayBuffer,
      journal_buffer: share.journal_buffer,
    };
    worker.postMessage(init);
    await ready;
    worker.addEventListener("message", (event: MessageEvent<FromWorker>) => this.onMessage(worker, event.data));
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    if (message.kind === "shutdown") this.onShutdown();
    else if (message.kind === "stats") {
      // The main thread's groups; every thread's connections and prefixes only for the `stats` that shows them.
      if (!message.every_thread) {
        worker.postMessage({ kind: "stats", id: message.id, lines: this.statGroups(), detail: null } satisfies ToWorker);
      } else {
        this.gatherConns((conns, detail) => {
          worker.postMessage({ kind: "stats", id: message.id, lines: { ...this.statGroups(), conns }, detail } satisfies ToWorker);
        });
      }
    } else if (message.kind === "conns") this.connsArrived(message.id, message.lines, message.detail);
    else if (message.kind === "detail_clear") {
      this.onDetailClear();
      this.broadcast(message, worker);
    }
    else if (message.kind === "lock" || message.kind === "release") {
      // A classic peer's deferred-delete lock changed on a worker: the main thread's copy and every other worker's.
      this.onLockChange(message);
      this.broadcast(message, worker);
    }
    else if (message.kind === "fetch") {
      const answer = () => worker.postMessage({ kind: "fetched", id: message.id } satisfies ToWorker);
      if (!this.fetchKeys(message.keys, answer)) answer();
    }
  }

  /** Applies a worker's lock change to the main thread's copy (main.ts sets it). */
  onLockChange: (change: { kind: "lock"; key: string; until_s: number } | { kind: "release"; key: string }) => void = () => {};

  /** Sends `message` to every worker but `except` (null: to all). */
  broadcast(message: ToWorker, except: Worker | null = null): void {
    for (const worker of this.workers) if (worker !== except) worker.postMessage(message);
  }

  /** Asks every worker for its `stats conns` lines; `done` gets the main thread's and theirs, in thread order. */
  gatherConns(done: (lines: StatLines, detail: PrefixRow[]) => void): void {
    if (this.gatherings.size >= gatherings_max) return done(this.mainConns(), this.mainDetail());
    const id = this.next_gathering;
    this.next_gathering = (id % 0x7fffffff) + 1;
    const timer = setTimeout(() => this.gathered(id), gather_ms_max);
    this.gatherings.set(id, { lines: [...this.mainConns()], detail: [this.mainDetail()], waiting: this.workers.length, done, timer });
    for (const worker of this.workers) worker.postMessage({ kind: "conns", id } satisfies ToWorker);
  }

  private connsArrived(id: number, lines: StatLines, detail: PrefixRow[]): void {
    const gathering = this.gatherings.get(id);
    if (gathering === undefined) return;
    gathering.lines.push(...lines);
    gathering.detail.push(detail);
    if (--gathering.waiting === 0) this.gathered(id);
  }

  private gathered(id: number): void {
    const gathering = this.gatherings.get(id);
    if (gathering === undefined) return;
    this.gatherings.delete(id);
    clearTimeout(gathering.timer);
    gathering.done(gathering.lines, mergeRows(gathering.detail));
  }

  /** Resolves at the worker's next `kind` message; rejects on a `failed` one, an error, or after step_ms_max. */
  private next(worker: Worker, kind: FromWorker["kind"], ms = step_ms_max): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        worker.removeEventListener("error", onError);
      };
      const onMessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.kind === kind) {
          done();
          resolve();
        } else if (event.data.kind === "failed") {
          done();
          reject(new Error(event.data.message));
        }
      };
      const onError = (event: ErrorEvent) => {
        done();
        reject(new Error(event.message));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`worker thread did not answer "${kind}" within ${ms} ms`));
      }, ms);
      worker.addEventListener("message", onMessage);
      worker.addEventListener("error", onError);
    });
  }

  /** Binds every worker's client listeners; rejects with the first failure (e.g. the port is taken). */
  async listen(): Promise<void> {
    await Promise.all(this.workers.map((worker) => {
      const listening = this.next(worker, "listening");
      worker.postMessage({ kind: "listen" } satisfies ToWorker);
      return listening;
    }));
  }

  /** Stops every worker (listeners, connections, its store session), then ends the threads. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((worker) => {
      const stopped = this.next(worker, "stopped", stop_ms_max);
      worker.postMessage({ kind: "stop" } satisfies ToWorker);
      return stopped;
    }));
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
  }
}
