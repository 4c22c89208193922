// The streamer: turns the journal and the full copy into bytes for the peer, in order.
//
// Contract: `fill(link, copy_allowed)` encodes into the outbox until its window is full, a turn's
// message bound is reached, or nothing is left; it returns whether anything is left. Journal
// entries always go first, each with the key's state read now (a `rep` line, for our kind a
// tombstone's `rcb1_tomb` line). A key gone by then (flushed, expired, evicted, its tombstone
// reclaimed) goes to a classic peer as `delete`, and to our kind as the entry's own version
// deleted (`rcb1_tomb <key> <the entry's cas>`), never as a bare `delete`: the peer would apply
// that as a new delete at its own clock, above writes made after it (fault seeds 4 and 17: a
// delete, then a flush, then the late `delete` undid later sets on the peer). The full copy
// advances one cursor step at a time only when the journal is empty, so it never overtakes a live change.
// Evicted keys join the journal as they are taken (repcached sends evictions as deletes). The
// store writes `rep` and `rcb1_tomb` lines straight into the send buffer (GetMode.REP).

import { GetMode, Status, type Store } from "../native/store.ts";
import { Entry, type Journal } from "./journal.ts";
import { encodeDelete, encodeFlush, encodeFlushBefore, encodeMarugotoEnd, encodeTomb } from "./codec.ts";
import type { Outbox } from "./outbox.ts";
import type { Link } from "./link.ts";
import { CopyProgress } from "./copy_progress.ts";

/** During a full copy, look at the clock for a progress line once per this many items. */
const progress_check_items = 256;
/** Encode at most this many messages per pump turn, then yield to clients. */
const messages_per_turn_max = 4096;
/** Evicted keys taken per step ([u8 len][key][u64 cas LE] entries). */
const evictions_bytes = 64 * 1024;
const eviction_cas_bytes = 8;
const thirty_days_s = 2_592_000;
const ascii_c = 0x63;

export interface StreamFigures {
  sent_items: number;
  full_copies_sent: number;
  last_copy_items: number;
  last_copy_ms: number;
  tombstones_sent: number;
  flushes_sent: number;
}

export interface StreamHooks {
  propagate_evictions: boolean;
  log(level: number, text: string): void;
  /** The journal is full: the owner drops the link. */
  overflow(): void;
  /** Our `marugoto_end` is in the send buffer. */
  copyDone(): void;
}

export class Streamer {
  private readonly store: Store;
  private readonly journal: Journal;
  private readonly outbox: Outbox;
  private readonly figures: StreamFigures;
  private readonly hooks: StreamHooks;
  private readonly evictions = new Uint8Array(evictions_bytes);
  /** Our running (else last) full copy: items, bytes, percent of the store's count at its start. */
  readonly sending = new CopyProgress();

  constructor(store: Store, journal: Journal, outbox: Outbox, figures: StreamFigures, hooks: StreamHooks) {
    this.store = store;
    this.journal = journal;
    this.outbox = outbox;
    this.figures = figures;
    this.hooks = hooks;
  }

  /** Starts our full copy; a peer of our kind is told its size first (`rcb1_copy_total`, progress only). */
  beginCopy(link: Link): void {
    link.copy_items = 0;
    link.copy_started_ms = performance.now();
    const stats = this.store.stats();
    const total = (stats.curr_items ?? 0) + (stats.tombstones ?? 0);
    this.sending.start(total, link.copy_started_ms);
    if (link.mode === "ours") this.outbox.putText(`rcb1_copy_total ${total}\r\n`);
    this.store.cursorStart();
  }

  fill(link: Link, copy_allowed: boolean): boolean {
    const outbox = this.outbox;
    let messages = 0;
    while (outbox.pending() < outbox.window_bytes && messages < messages_per_turn_max) {
      outbox.makeRoom();
      if (this.takeEvictions()) continue;
      if (this.journal.pop()) this.encodeJournalEntry(link);
      else if (copying(link, copy_allowed)) this.encodeCopyStep(link);
      else break;
      messages++;
    }
    return this.journal.count > 0 || copying(link, copy_allowed);
  }

  /** `rcb1_flush_before <floor>` when the store has a flush floor; returns whether it had one. */
  encodeFlushFloor(): boolean {
    this.store.readFlushFloor();
    const lo = this.store.casLo();
    const hi = this.store.casHi();
    if (lo === 0 && hi === 0) return false;
    this.outbox.tail = encodeFlushBefore(this.outbox.buf, this.outbox.tail, lo, hi);
    this.figures.flushes_sent++;
    return true;
  }

  private takeEvictions(): boolean {
    if (!this.hooks.propagate_evictions) return false;
    const log = this.evictions;
    const n = this.store.evictionsTake(log, 0, log.length);
    if (n <= 0) return false;
    for (let at = 0; at < n; ) {
      const len = log[at]!;
      const cas_at = at + 1 + len;
      const cas_lo = (log[cas_at]! | (log[cas_at + 1]! << 8) | (log[cas_at + 2]! << 16) | (log[cas_at + 3]! << 24)) >>> 0;
      const cas_hi = (log[cas_at + 4]! | (log[cas_at + 5]! << 8) | (log[cas_at + 6]! << 16) | (log[cas_at + 7]! << 24)) >>> 0;
      if (!this.journal.sync(log, at + 1, len, cas_lo, cas_hi)) {
        this.hooks.overflow();
        return false;
      }
      at = cas_at + eviction_cas_bytes;
    }
    return true;
  }

  private encodeJournalEntry(link: Link): void {
    const journal = this.journal;
    const outbox = this.outbox;
    switch (journal.popped_type) {
      case Entry.FETCHED:
        return outbox.putText(`rcb1_fetched ${journal.flush_exptime >>> 0}\r\n`);
      case Entry.FETCH_KEY:
        if (this.encodeStateOf(link, journal.key, journal.key_len) > 0) this.figures.sent_items++;
        return;
      case Entry.FLUSH:
        return this.encodeFlushEntry(link, journal.flush_exptime);
    }
    // A stored key that is gone by now was evicted or expired: say so only if evictions propagate.
    const delete_if_gone = journal.popped_type === Entry.DELETE || this.hooks.propagate_evictions;
    if (this.encodeStateOf(link, journal.key, journal.key_len) < 0) {
      if (!delete_if_gone || !this.encodeGone(link)) return;
    }
    this.figures.sent_items++;
  }

  /** The popped key is gone: `delete` for repcached; for our kind, that version deleted (nothing when unknown). */
  private encodeGone(link: Link): boolean {
    const journal = this.journal;
    const outbox = this.outbox;
    if (link.mode === "classic") {
      outbox.tail = encodeDelete(outbox.buf, outbox.tail, journal.key, 0, journal.key_len);
      return true;
    }
    if (journal.cas_lo === 0 && journal.cas_hi === 0) return false;
    outbox.tail = encodeTomb(outbox.buf, outbox.tail, journal.key, 0, journal.key_len, journal.cas_lo, journal.cas_hi);
    this.figures.tombstones_sent++;
    return true;
  }

  /** An immediate flush goes to our kind as its cas (the store's flush floor); else repcached's bytes. */
  private encodeFlushEntry(link: Link, exptime: number): void {
    this.figures.sent_items++;
    if (exptime <= 0 && link.mode === "ours" && this.encodeFlushFloor()) return;
    const time = exptime === 0 || link.mode === "ours" ? exptime : absoluteTime(exptime);
    this.outbox.tail = encodeFlush(this.outbox.buf, this.outbox.tail, time);
  }

  /** The key's state straight into the send buffer; returns the bytes, or NOT_FOUND (gone). */
  private encodeStateOf(link: Link, key: Uint8Array, key_len: number): number {
    const outbox = this.outbox;
    const at = outbox.tail;
    const n = this.store.get(key, 0, key_len, outbox.buf, at, outbox.room(), GetMode.PEEK | repMode(link), 0);
    if (n > 0) this.advance(at, n);
    return n;
  }

  private advance(at: number, n: number): void {
    if (this.outbox.buf[at + 1] === ascii_c) this.figures.tombstones_sent++; // "rcb1_tomb", not "rep"
    this.outbox.tail = at + n;
  }

  private encodeCopyStep(link: Link): void {
    const outbox = this.outbox;
    const at = outbox.tail;
    const n = this.store.cursorNext(outbox.buf, at, outbox.room(), repMode(link));
    if (n === Status.CURSOR_AGAIN) return;
    if (n < 0) {
      outbox.tail = encodeMarugotoEnd(outbox.buf, outbox.tail);
      return this.finishCopy(link);
    }
    if (link.copy_items === 0) this.hooks.log(1, "replication: marugoto start");
    link.copy_items++;
    this.advance(at, n);
    this.figures.sent_items++;
    this.sending.step(1, n);
    if (link.copy_items % progress_check_items === 0) this.logProgress();
  }

  private logProgress(): void {
    const now_ms = performance.now();
    if (this.sending.due(now_ms)) this.hooks.log(1, this.sending.line("sent", now_ms));
  }

  private finishCopy(link: Link): void {
    link.resync.copySent();
    this.figures.full_copies_sent++;
    this.figures.last_copy_items = link.copy_items;
    this.figures.last_copy_ms = Math.round(performance.now() - link.copy_started_ms);
    this.sending.finish(performance.now());
    if (link.copy_items > 0) {
      this.hooks.log(1, `replication: marugoto ${link.copy_items}`);
      this.hooks.log(1, "replication: marugoto owari");
    }
    this.hooks.copyDone();
  }
}

function copying(link: Link, copy_allowed: boolean): boolean {
  return copy_allowed && link.resync.send_copy && !link.resync.copy_sent;
}

/** repcached's rep lines for a classic peer (signed flags, absolute expiry); ours: relative expiry and tombstones. */
function repMode(link: Link): number {
  return GetMode.REP | (link.mode === "classic" ? GetMode.REP_SIGNED_FLAGS : GetMode.REP_RELATIVE);
}

/** repcached sends a delayed flush as an absolute time. */
function absoluteTime(exptime: number): number {
  return exptime > thirty_days_s ? exptime : Math.floor(Date.now() / 1000) + exptime;
}
