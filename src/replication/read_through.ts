// Read-through while a peer's full copy arrives (--serve-during-copy): a client's get that misses
// here asks the peer (`rcb1_fetch <id> <key>...`) and waits, at most `fetch_timeout_ms`, for the
// peer to send those keys' states and `rcb1_fetched <id>` on the ordered replication stream.
//
// Contract: at most `fetches_max` fetches are outstanding; `request` returns null (serve what is
// here) when that bound, or the line bound, is reached, or when nothing is missing. Every started
// fetch ends exactly once — answered, timed out or failed with the link — by calling its `done`
// from a fresh task (never from inside the peer stream's processing).

import type { Command } from "../protocol/parser.ts";
import { key_cursor, key_bytes_max, nextKey } from "../protocol/parser.ts";
import { GetMode, Status, type Store } from "../native/store.ts";

export const fetches_max = 256;
/**
 * A get that misses during the copy waits at most this long for the peer's answer, which travels
 * behind the copy bytes already in flight (up to the send window); past it, the get is a miss.
 */
export const fetch_timeout_ms = 1_000;
/** A fetch line names at most this many bytes of keys (a multi-get's misses). */
const fetch_line_bytes_max = 64 * 1024;

/** A 0-byte destination: a hit answers BUFFER_SMALL (or 0 for an empty value), never copying. */
const probe = new Uint8Array(0);

/** " k1 k2..." for the keys of `cmd` missing from `store`; null when none is, or a key or the line is too long. */
export function missingKeys(store: Store, buf: Uint8Array, cmd: Command): string | null {
  let keys = "";
  let from = cmd.keys_off;
  while (nextKey(buf, from, cmd.line_end)) {
    const { off, len } = key_cursor;
    from = off + len;
    if (len > key_bytes_max) return null;
    if (store.get(buf, off, len, probe, 0, 0, GetMode.PEEK, 0) !== Status.NOT_FOUND) continue;
    keys += " " + Buffer.from(buf.buffer, buf.byteOffset + off, len).toString("latin1");
    if (keys.length > fetch_line_bytes_max) return null;
  }
  return keys.length === 0 ? null : keys;
}

export class Fetches {
  private readonly pending = new Map<number, { done: () => void; timer: ReturnType<typeof setTimeout> }>();
  private next_id = 1;
  started = 0;
  timeouts = 0;

  /** The fetch line for the keys of `cmd` that are missing here (and registers it), or null. */
  request(store: Store, buf: Uint8Array, cmd: Command, done: () => void): string | null {
    if (this.pending.size >= fetches_max) return null;
    const keys = missingKeys(store, buf, cmd);
    return keys === null ? null : this.requestKeys(keys, done);
  }

  /**
   * The fetch line for `keys` (" k1 k2...", as missingKeys gives them: a -t N worker looks them
   * up in its own session and sends the text to the main thread), registered; null at the bound.
   */
  requestKeys(keys: string, done: () => void): string | null {
    if (keys.length === 0 || keys.length > fetch_line_bytes_max) return null;
    const id = this.register(done, fetch_timeout_ms);
    return id === 0 ? null : `rcb1_fetch ${id}${keys}\r\n`;
  }

  /**
   * Registers a waiting get: `done` runs once, from a fresh task, at finish(id) or after
   * `timeout_ms`. Returns its id, or 0 when fetches_max are waiting. (A -t N worker waits on the
   * main thread's answer with one of its own: replication/thread_sink.ts.)
   */
  register(done: () => void, timeout_ms: number): number {
    if (this.pending.size >= fetches_max) return 0;
    const id = this.next_id;
    this.next_id = (id % 0x7fffffff) + 1;
    this.started++;
    const timer = setTimeout(() => {
      this.timeouts++;
      this.finish(id);
    }, timeout_ms);
    this.pending.set(id, { done, timer });
    return id;
  }

  /** The peer answered fetch `id` (or it timed out): the waiting get runs again. */
  finish(id: number): void {
    const fetch = this.pending.get(id);
    if (fetch === undefined) return;
    this.pending.delete(id);
    clearTimeout(fetch.timer);
    setImmediate(fetch.done);
  }

  /** The link is gone: every waiting get runs with what is here. */
  failAll(): void {
    for (const id of [...this.pending.keys()]) this.finish(id);
  }
}
