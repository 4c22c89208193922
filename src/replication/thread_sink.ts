// A -t N worker's side of replication: its mutations go into the journal the main thread's
// replicator drains (a shared ring, journal.ts), and its writers obey the main thread's write gate.
//
// Contract: `ThreadSink` is the worker's MutationSink. It journals only while the main thread
// says a link runs (Word.link_running, read after the mutation: a mutation that finds it 0 was
// made before the link's full copy began, so the copy carries it). After a push it kicks the main
// thread (Word.journal_kick; one notify per main-thread turn); a push that finds the journal full
// raises Word.journal_overflow, on which the main thread drops the link as it would for its own
// overflow. `ThreadGate` is the worker's WriteGate: shut while Word.gate_shut is 1; waiters resume
// when the main thread opens it. No message is posted on the request path.

import type { MutationSink, ReadThrough } from "../protocol/execute.ts";
import type { Command } from "../protocol/parser.ts";
import { fetch_timeout_ms, Fetches, missingKeys } from "./read_through.ts";
import type { Store } from "../native/store.ts";
import { aboveHighWater, type WriteGate } from "./backpressure.ts";
import type { Journal } from "./journal.ts";
import { Word, type SharedWords } from "../server/shared_words.ts";

/** Atomics.waitAsync (ES2024): not in the TypeScript lib this project targets. */
export type WaitAsync = (array: Int32Array, index: number, value: number, timeout_ms?: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };
export const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class ThreadSink implements MutationSink {
  private readonly journal: Journal;
  private readonly words: SharedWords;
  private readonly store: Store;

  constructor(journal: Journal, words: SharedWords, store: Store) {
    this.journal = journal;
    this.words = words;
    this.store = store;
  }

  private running(): boolean {
    return this.words.get(Word.link_running) !== 0;
  }

  stored(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (!this.running()) return;
    this.after(this.journal.sync(key_buf, key_off, key_len, this.store.casLo(), this.store.casHi()));
  }

  deleted(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (!this.running()) return;
    this.after(this.journal.deleted(key_buf, key_off, key_len, this.store.casLo(), this.store.casHi()));
  }

  flush(store: Store, exptime: number): void {
    if (!this.running()) return void store.flush(exptime);
    this.after(this.journal.flushAround(() => store.flush(exptime), exptime));
  }

  private after(pushed: boolean): void {
    const words = this.words.words;
    if (!pushed) Atomics.store(words, Word.journal_overflow, 1);
    // The gate shuts here, at the push that crosses the mark, as it does on the main thread (the
    // main thread opens it by its low-water rule; a stalled peer keeps it open: gate_stalled).
    const journal = this.journal;
    if (Atomics.load(words, Word.gate_shut) === 0 && Atomics.load(words, Word.gate_stalled) === 0 &&
      aboveHighWater(journal.count, journal.bytes, journal.items_max, journal.bytes_max)) {
      Atomics.store(words, Word.gate_shut, 1);
    }
    if (Atomics.exchange(words, Word.journal_kick, 1) === 0) Atomics.notify(words, Word.journal_kick, 1);
  }
}

/** How long one wait for the gate lasts before it looks again (a lost wake-up costs at most this). */
const gate_wait_ms_max = 250;

export class ThreadGate implements WriteGate {
  private readonly words: SharedWords;
  private readonly waiting = new Set<() => void>();
  private watching = false;

  constructor(words: SharedWords) {
    this.words = words;
  }

  get shut(): boolean {
    return this.words.get(Word.gate_shut) !== 0;
  }

  wait(resume: () => void): void {
    this.waiting.add(resume);
    Atomics.add(this.words.words, Word.gate_pauses, 1);
    if (!this.watching) this.watch();
  }

  /**
   * Never resumes a waiter synchronously: `wait` is called from inside the connection's command
   * loop, and the main thread may open the word between the connection's look at `shut` and here;
   * resuming then would run the connection's input re-entrantly. Every resume comes from a fresh
   * task (a settled wait, or setImmediate).
   */
  private watch(): void {
    this.watching = true;
    const result = waitAsync(this.words.words, Word.gate_shut, 1, gate_wait_ms_max);
    if (!result.async) setImmediate(() => this.rewatch());
    else void result.value.then(() => this.rewatch());
  }

  private rewatch(): void {
    this.watching = false;
    if (!this.shut) return this.resumeAll();
    this.watch();
  }

  private resumeAll(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}

/**
 * A -t N worker's read-through (--serve-during-copy): its misses are looked up in its own session,
 * sent to the main thread as text (`ask`), and the waiting get runs again when the main thread
 * says the peer answered (`arrived`) — or after the main thread's own timeout plus slack, should
 * the answer never come. Bounded like the main thread's: at most fetches_max waiting.
 */
export class ThreadReadThrough implements ReadThrough {
  private readonly words: SharedWords;
  private readonly store: Store;
  private readonly ask: (id: number, keys: string) => void;
  private readonly waiting = new Fetches();

  constructor(words: SharedWords, store: Store, ask: (id: number, keys: string) => void) {
    this.words = words;
    this.store = store;
    this.ask = ask;
  }

  active(): boolean {
    return this.words.get(Word.read_through) !== 0;
  }

  fetchMissing(buf: Uint8Array, cmd: Command, done: () => void): boolean {
    const keys = missingKeys(this.store, buf, cmd);
    if (keys === null) return false;
    const id = this.waiting.register(done, fetch_timeout_ms + thread_fetch_slack_ms);
    if (id === 0) return false;
    this.ask(id, keys);
    return true;
  }

  /** The main thread's answer to fetch `id`: the get runs again. */
  arrived(id: number): void {
    this.waiting.finish(id);
  }
}

/** Beyond the main thread's fetch timeout, how long a worker waits for its answer before serving anyway. */
const thread_fetch_slack_ms = 500;
