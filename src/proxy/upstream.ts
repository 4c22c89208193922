// One pipelined TCP connection from the proxy to a backend server.
//
// Contract:
// - `enqueue(part)` then `put*()` the part's request bytes; parts are answered in the order they
//   were enqueued (memcached answers a connection's requests in order). Request bytes of one event
//   are coalesced in `out` and written with one socket.write when the proxy flushes (`flush()`);
//   whatever the socket does not take is copied, in order, to `pending` and written on drain.
// - Replies are framed on the chunk Bun hands us (reply.ts). A one-line or meta reply split across
//   reads is copied to the stash. A multi-get reply split across reads is streamed: its VALUE lines
//   are read one by one and its data blocks skipped by count, and it is kept as views of the reads
//   it arrived in (Bun hands each read over in a fresh buffer: no copy, no growing buffer), joined
//   once when its END arrives; at most upstream_reply_bytes_max. Before each read is kept, the
//   part's owner is told the size the reply would reach, and may let it go (a client gone, or over
//   its output bound): the reply is then dropped as it arrives, never held. With nothing queued
//   behind it the connection is cut at once (closed on purpose: the server is not marked down; the
//   pool opens a fresh connection on demand); with other clients' requests behind it, the rest is
//   skipped in place up to upstream_discard_bytes_max, past which the connection is cut and the
//   parts behind fail as on any lost connection (a read is asked again of the key's backup, else
//   answered SERVER_ERROR; a write is answered SERVER_ERROR: whether it was applied is unknown).
// - Failure is never reported from inside put/enqueue (the caller is mid-routing): a write error
//   or an overfull backlog marks the connection `broken`, and the next `flush()` fails it. A failed
//   connection is closed and every queued part gets `failed(sent)` — sent is false while the
//   connection never opened (the bytes never left).

import type { Socket } from "bun";
import { InputStash } from "../server/stash.ts";
import { SendQueue } from "../server/send_queue.ts";
import { BAD, NEED_MORE, ReplyKind, replyEnd, scan, values_line, valuesLine } from "./reply.ts";
import type { Part } from "./part.ts";
import { copyBytes } from "./wire.ts";
import {
  upstream_discard_bytes_max, upstream_input_bytes_initial, upstream_output_bytes, upstream_pending_bytes_max,
  upstream_reply_bytes_max,
} from "./limits.ts";

export const UpstreamState = { CONNECTING: 0, OPEN: 1, CLOSED: 2 } as const;

export interface UpstreamHost {
  readonly now_ms: number;
  /** The upstream has request bytes to write at the end of this event. */
  dirty(upstream: Upstream): void;
  opened(upstream: Upstream): void;
  /** The connection is gone. reason: null when the server closed an idle connection, or the proxy
   *  closed it on purpose (not the server's fault). */
  lost(upstream: Upstream, reason: string | null): void;
  /** A reply was let go by its owner (cut false), or the connection carrying it is being cut. */
  dropped(upstream: Upstream, cut: boolean): void;
}

type UpstreamSocket = Socket<Upstream>;

const handlers = {
  binaryType: "uint8array" as const,
  open: (socket: UpstreamSocket) => socket.data.onOpen(socket),
  data: (socket: UpstreamSocket, chunk: Uint8Array) => socket.data.onData(chunk),
  drain: (socket: UpstreamSocket) => socket.data.onDrain(),
  close: (socket: UpstreamSocket) => socket.data.onSocketClose(),
  error: (socket: UpstreamSocket) => socket.data.onSocketClose(),
  end: (socket: UpstreamSocket) => socket.data.onSocketClose(),
  connectError: (socket: UpstreamSocket) => socket.data.fail("connect failed"),
};

/** How the head reply is read: framed on each read (NONE), or streamed — kept, or dropped. */
const Stream = { NONE: 0, KEEP: 1, DROP: 2 } as const;

const encoder = new TextEncoder();
/** Answered parts at the head of the queue before it is compacted (on a connection never idle). */
const parts_compact_min = 4096;

export class Upstream {
  readonly host: UpstreamHost;
  state: number = UpstreamState.CONNECTING;
  readonly started_ms: number;
  private socket: UpstreamSocket | null = null;
  /** The connection opened at least once: queued bytes may have reached the server. */
  private opened = false;
  /** Parts awaiting replies, oldest at `head`. */
  private parts: Array<Part | undefined> = [];
  private head = 0;
  private readonly out = new Uint8Array(upstream_output_bytes);
  private out_len = 0;
  private readonly pending = new SendQueue();
  /** A one-line or meta reply split across reads, or a split line of a streamed multi-get reply;
   *  bounded by upstream_reply_bytes_max plus one read. */
  private readonly stash = new InputStash(upstream_input_bytes_initial, upstream_reply_bytes_max + upstream_input_bytes_initial);
  /** Where scanning of the unfinished reply resumes, relative to the reply's start. */
  private resume_rel = 0;
  /** Stream: whether the head multi-get reply is being streamed, kept or dropped (see streamBytes). */
  private stream: number = Stream.NONE;
  /** The streamed reply's last line was read. */
  private stream_over = false;
  /** Data bytes (and CRLF) of the streamed reply's current VALUE block still to come. */
  private block_left = 0;
  /** The kept reply so far: views of the reads it arrived in, and their total. */
  private kept: Uint8Array[] = [];
  private kept_bytes = 0;
  /** Bytes of a dropped reply skipped so far (bounded by upstream_discard_bytes_max). */
  private dropped_bytes = 0;
  /** Set when writing failed inside put(); the next flush() fails the connection. */
  private broken: string | null = null;
  is_dirty = false;

  constructor(host: UpstreamHost, hostname: string, port: number) {
    this.host = host;
    this.started_ms = host.now_ms;
    Bun.connect<Upstream>({ hostname, port, data: this, socket: handlers }).catch(() => this.fail("connect failed"));
  }

  /** Parts queued on this connection (sent or waiting to be). */
  get inflight(): number {
    return this.parts.length - this.head;
  }

  /** When the oldest queued part was queued, or -1 if none is. */
  oldestQueuedMs(): number {
    return this.head < this.parts.length ? this.parts[this.head]!.queued_ms : -1;
  }

  usable(): boolean {
    return this.state !== UpstreamState.CLOSED && this.broken === null;
  }

  enqueue(part: Part): void {
    if (!this.usable()) throw new Error("enqueue on an unusable upstream");
    part.queued_ms = this.host.now_ms;
    part.started_ms = performance.now();
    this.parts.push(part);
    this.markDirty();
  }

  put(buf: Uint8Array, off: number, len: number): void {
    if (len > this.out.length - this.out_len) {
      this.flushOut();
      if (len > this.out.length) return this.writeRaw(buf, off, len);
    }
    copyBytes(buf, off, this.out, this.out_len, len);
    this.out_len += len;
  }

  /** ASCII text (request lines the proxy composes). */
  putText(text: string): void {
    if (text.length > this.out.length - this.out_len) {
      const bytes = encoder.encode(text);
      return this.put(bytes, 0, bytes.length);
    }
    const out = this.out;
    let at = this.out_len;
    for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
    this.out_len = at;
  }

  private markDirty(): void {
    if (this.is_dirty) return;
    this.is_dirty = true;
    this.host.dirty(this);
  }

  /** Writes what this event queued (the proxy calls it at the end of the event). */
  flush(): void {
    this.is_dirty = false;
    if (this.broken !== null) return this.fail(this.broken);
    this.flushOut();
    if (this.broken !== null) this.fail(this.broken);
  }

  private flushOut(): void {
    if (this.out_len === 0) return;
    const n = this.out_len;
    this.out_len = 0;
    this.writeRaw(this.out, 0, n);
  }

  private writeRaw(buf: Uint8Array, off: number, len: number): void {
    if (this.state === UpstreamState.CLOSED) return;
    const socket = this.state === UpstreamState.OPEN ? this.socket : null;
    if (this.pending.send(socket, buf, off, len) < 0) {
      this.broken = "write failed";
      return this.markDirty();
    }
    if (this.pending.bytes > upstream_pending_bytes_max) {
      this.broken = "request backlog over its limit";
      this.markDirty();
    }
  }

  private writePending(): void {
    if (this.state !== UpstreamState.OPEN) return;
    if (this.pending.flush(this.socket!) < 0) this.fail("write failed");
  }

  onOpen(socket: UpstreamSocket): void {
    if (this.state === UpstreamState.CLOSED) {
      socket.terminate();
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    this.state = UpstreamState.OPEN;
    this.opened = true;
    this.host.opened(this);
    this.writePending();
  }

  onDrain(): void {
    this.writePending();
  }

  onData(chunk: Uint8Array): void {
    if (this.state === UpstreamState.CLOSED) return;
    if (this.stream === Stream.NONE && this.stash.len > 0) return this.fromStash(chunk);
    this.take(chunk, 0, chunk.length);
  }

  /** Frames buf[at, end): replies delivered, a multi-get reply streamed; stashes a split tail. */
  private take(buf: Uint8Array, at: number, end: number): void {
    while (at < end && this.state !== UpstreamState.CLOSED) {
      if (this.stream !== Stream.NONE) {
        at = this.streamBytes(buf, at, end);
        continue;
      }
      const next = this.consume(buf, at, end);
      if (this.state === UpstreamState.CLOSED) return;
      if (next < end && this.stream === Stream.NONE) {
        this.stashOrFail(buf, next, end);
        return;
      }
      at = next;
    }
  }

  /** A one-line or meta reply split across reads: finishes it from the stash. */
  private fromStash(chunk: Uint8Array): void {
    const stash = this.stash;
    if (!this.stashOrFail(chunk, 0, chunk.length)) return;
    const used = this.consume(stash.bytes!, 0, stash.len);
    if (this.state === UpstreamState.CLOSED) return;
    if (this.stream === Stream.NONE) return stash.consumed(used);
    // A multi-get reply starts in the stash: it goes on as a stream, from a copy (the stash is the
    // stream's line buffer). Bounded: one meta reply plus one read.
    const rest = stash.bytes!.slice(used, stash.len);
    stash.clear();
    this.take(rest, 0, rest.length);
  }

  private stashOrFail(buf: Uint8Array, from: number, to: number): boolean {
    if (this.stash.append(buf, from, to)) return true;
    this.fail("reply over its size limit");
    return false;
  }

  /** Frames and delivers the replies in buf[start, end); returns how far it got. */
  private consume(buf: Uint8Array, start: number, end: number): number {
    let at = start;
    while (at < end) {
      const part = this.parts[this.head];
      if (part === undefined) {
        this.fail("reply nobody asked for");
        return end;
      }
      const reply_end = replyEnd(part.kind, buf, at, at + this.resume_rel, end);
      if (reply_end === NEED_MORE) return this.unfinished(part, at);
      if (reply_end === BAD) {
        this.fail("malformed reply");
        return end;
      }
      this.resume_rel = 0;
      this.popHead();
      part.done(buf, at, reply_end - at);
      at = reply_end;
      if (this.state === UpstreamState.CLOSED) return end;
    }
    return at;
  }

  /** Takes the answered part off the head of the queue. */
  private popHead(): Part {
    const part = this.parts[this.head]!;
    this.parts[this.head++] = undefined;
    if (this.head === this.parts.length) {
      this.parts.length = 0;
      this.head = 0;
    } else if (this.head >= parts_compact_min) {
      this.parts.splice(0, this.head); // a connection that is never idle: drop the answered head
      this.head = 0;
    }
    return part;
  }

  /**
   * The reply at `at` needs more bytes. A one-line or meta reply is stashed (returns `at`); a
   * multi-get reply becomes a stream from its start (returns `at`, with `stream` set).
   */
  private unfinished(part: Part, at: number): number {
    if (part.kind !== ReplyKind.VALUES) {
      this.resume_rel = scan.resume - at;
      return at;
    }
    this.resume_rel = 0;
    this.stream = Stream.KEEP;
    this.block_left = 0;
    this.kept_bytes = 0;
    return at;
  }

  /**
   * Streams buf[at, end) of the head multi-get reply: data blocks skipped by count, lines read one
   * by one (a split line waits in the stash). A kept reply holds the reads Bun handed over, no copy;
   * its owner is told its size before each read is kept and may let it go (drop). Returns where
   * the reply ended in buf, or end.
   */
  private streamBytes(buf: Uint8Array, start: number, end: number): number {
    if (this.stream === Stream.KEEP && !this.parts[this.head]!.held(this.kept_bytes + (end - start))) this.drop();
    if (this.state === UpstreamState.CLOSED) return end;
    let at = start;
    this.stream_over = false;
    if (this.stash.len > 0) at = this.splitLine(buf, at, end);
    while (at < end && !this.stream_over && this.state !== UpstreamState.CLOSED) {
      if (this.block_left > 0) {
        const n = Math.min(this.block_left, end - at);
        this.block_left -= n;
        at += n;
        continue;
      }
      const after = valuesLine(buf, at, end);
      if (after === NEED_MORE) {
        this.stashOrFail(buf, at, end);
        at = end;
        break;
      }
      if (after === BAD) {
        this.fail("malformed reply");
        return end;
      }
      at = after;
      this.lineRead();
    }
    if (this.state === UpstreamState.CLOSED) return end;
    this.streamed(buf, start, at);
    if (this.stream_over) this.streamOver(buf, at);
    return at;
  }

  /** A whole line of the streamed reply was read (values_line): a block follows, or it was the last. */
  private lineRead(): void {
    if (values_line.skip_bytes < 0) this.stream_over = true;
    else this.block_left = values_line.skip_bytes;
  }

  /** Completes the split line waiting in the stash with buf's first line; returns where it ends. */
  private splitLine(buf: Uint8Array, at: number, end: number): number {
    const nl = buf.indexOf(10, at);
    const line_end = nl < 0 || nl >= end ? end : nl + 1;
    const stash = this.stash;
    if (!this.stashOrFail(buf, at, line_end)) return end;
    const after = valuesLine(stash.bytes!, 0, stash.len);
    if (after === NEED_MORE) return end; // still no end of line (BAD once past the line limit)
    stash.clear();
    if (after === BAD) {
      this.fail("malformed reply");
      return end;
    }
    this.lineRead();
    return line_end;
  }

  /** Keeps buf[from, to) of the reply (a view: Bun hands each read over in a fresh buffer), or counts it dropped. */
  private streamed(buf: Uint8Array, from: number, to: number): void {
    if (to === from) return;
    if (this.stream === Stream.KEEP) {
      this.kept.push(buf.subarray(from, to));
      this.kept_bytes += to - from;
      if (this.kept_bytes > upstream_reply_bytes_max) this.fail("reply over its size limit");
      return;
    }
    this.dropped_bytes += to - from;
    if (!this.stream_over && this.dropped_bytes > upstream_discard_bytes_max) this.cut();
  }

  /** The streamed reply's last line was read: a kept reply is joined (one copy) and delivered. */
  private streamOver(buf: Uint8Array, at: number): void {
    const kept = this.stream === Stream.KEEP;
    this.stream = Stream.NONE;
    this.stream_over = false;
    const part = this.popHead();
    if (!kept) return part.done(buf, at, 0);
    const reply = new Uint8Array(this.kept_bytes);
    let off = 0;
    for (const piece of this.kept) {
      reply.set(piece, off);
      off += piece.length;
    }
    this.kept = [];
    this.kept_bytes = 0;
    part.done(reply, 0, reply.length);
  }

  /**
   * The head reply was let go (its client is gone, or over its output bound): what was kept of it
   * is released. With no other part queued behind it, the connection is cut at once — reading the
   * rest of a reply nobody wants is wasted work, and a fresh connection costs one connect. Otherwise
   * the rest is skipped in place as it arrives, up to upstream_discard_bytes_max, then cut.
   */
  private drop(): void {
    this.host.dropped(this, false);
    this.stream = Stream.DROP;
    this.kept = [];
    this.kept_bytes = 0;
    this.dropped_bytes = 0;
    if (this.inflight === 1) this.cut();
  }

  /** Closes the connection on purpose (the server is fine): queued parts fail as if it broke. */
  private cut(): void {
    this.host.dropped(this, true);
    this.fail(null, false);
  }
  onSocketClose(): void {
    if (this.state === UpstreamState.CLOSED) return;
    this.fail(this.inflight > 0 ? "connection closed" : null);
  }

  /**
   * Closes the connection and fails every queued part. reason null: an idle close. server_fault
   * false: closed on purpose (cut), the server is not to be marked down for it.
   */
  fail(reason: string | null, server_fault = true): void {
    if (this.state === UpstreamState.CLOSED) return;
    this.state = UpstreamState.CLOSED;
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) socket.terminate();
    const parts = this.parts;
    const head = this.head;
    this.parts = [];
    this.head = 0;
    this.pending.clear();
    this.out_len = 0;
    this.stash.clear();
    this.stream = Stream.NONE;
    this.kept = [];
    this.kept_bytes = 0;
    this.host.lost(this, server_fault && parts.length > head ? (reason ?? "connection closed") : reason);
    for (let i = head; i < parts.length; i++) parts[i]!.failed(this.opened);
  }

  /** Closes an idle connection on purpose (shutdown, pool trim). */
  close(): void {
    this.fail(null);
  }
}
