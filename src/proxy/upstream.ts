// One pipelined TCP connection from the proxy to a backend server.
//
// Contract:
// - `enqueue(part)` then `put*()` the part's request bytes; parts are answered in the order they
//   were enqueued (memcached answers a connection's requests in order). Request bytes of one event
//   are coalesced in `out` and written with one socket.write when the proxy flushes (`flush()`);
//   whatever the socket does not take is copied, in order, to `pending` and written on drain.
// - Replies are framed on the chunk Bun hands us (reply.ts); only a split tail is copied to the
//   stash, bounded by upstream_reply_bytes_max. While a multi-get reply is arriving its part is told
//   its size; a reply its owner let go (a client over its output bound) is read on and dropped
//   block by block, so the connection — shared by other clients' requests — stays up.
// - Failure is never reported from inside put/enqueue (the caller is mid-routing): a write error
//   or an overfull backlog marks the connection `broken`, and the next `flush()` fails it. A failed
//   connection is closed and every queued part gets `failed(sent)` — sent is false while the
//   connection never opened (the bytes never left).

import type { Socket } from "bun";
import { InputStash } from "../server/stash.ts";
import { SendQueue } from "../server/send_queue.ts";
import { BAD, NEED_MORE, ReplyKind, replyEnd, scan } from "./reply.ts";
import type { Part } from "./part.ts";
import { copyBytes } from "./wire.ts";
import {
  upstream_input_bytes_initial, upstream_output_bytes, upstream_pending_bytes_max, upstream_reply_bytes_max,
} from "./limits.ts";

export const UpstreamState = { CONNECTING: 0, OPEN: 1, CLOSED: 2 } as const;

export interface UpstreamHost {
  readonly now_ms: number;
  /** The upstream has request bytes to write at the end of this event. */
  dirty(upstream: Upstream): void;
  opened(upstream: Upstream): void;
  /** The connection is gone. reason: null when the server closed an idle connection. */
  lost(upstream: Upstream, reason: string | null): void;
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
  /** A reply split across reads, bounded by upstream_reply_bytes_max plus one read. */
  private readonly stash = new InputStash(upstream_input_bytes_initial, upstream_reply_bytes_max + upstream_input_bytes_initial);
  /** Where scanning of the unfinished reply resumes, relative to the reply's start. */
  private resume_rel = 0;
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
    const stash = this.stash;
    if (stash.len === 0) {
      const used = this.consume(chunk, 0, chunk.length);
      if (used < chunk.length && this.state !== UpstreamState.CLOSED) this.stashOrFail(chunk, used);
      return;
    }
    if (!this.stashOrFail(chunk, 0)) return;
    const used = this.consume(stash.bytes!, 0, stash.len);
    if (this.state === UpstreamState.CLOSED) return;
    stash.consumed(used);
  }

  private stashOrFail(chunk: Uint8Array, from: number): boolean {
    if (this.stash.append(chunk, from, chunk.length)) return true;
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
      if (reply_end === NEED_MORE) return this.unfinished(part, at, end);
      if (reply_end === BAD) {
        this.fail("malformed reply");
        return end;
      }
      this.resume_rel = 0;
      this.parts[this.head++] = undefined;
      if (this.head === this.parts.length) {
        this.parts.length = 0;
        this.head = 0;
      } else if (this.head >= parts_compact_min) {
        this.parts.splice(0, this.head); // a connection that is never idle: drop the answered head
        this.head = 0;
      }
      part.done(buf, at, reply_end - at);
      at = reply_end;
      if (this.state === UpstreamState.CLOSED) return end;
    }
    return at;
  }

  /**
   * The reply at `at` needs more bytes: tell its owner how much it holds so far. Returns how far
   * the input is consumed: `at` (the reply is kept), or — when nobody wants the reply any more —
   * the start of its first incomplete block, so a dropped reply is held one block at a time.
   */
  private unfinished(part: Part, at: number, end: number): number {
    const resume = scan.resume;
    if (part.kind === ReplyKind.VALUES && !part.held(end - at)) {
      this.resume_rel = 0;
      return resume;
    }
    this.resume_rel = resume - at;
    return at;
  }

  onSocketClose(): void {
    if (this.state === UpstreamState.CLOSED) return;
    this.fail(this.inflight > 0 ? "connection closed" : null);
  }

  /** Closes the connection and fails every queued part. reason null: an idle close. */
  fail(reason: string | null): void {
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
    this.host.lost(this, parts.length > head ? (reason ?? "connection closed") : reason);
    for (let i = head; i < parts.length; i++) parts[i]!.failed(this.opened);
  }

  /** Closes an idle connection on purpose (shutdown, pool trim). */
  close(): void {
    this.fail(null);
  }
}
