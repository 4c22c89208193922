// One client connection to the proxy: framing, routing, replies in request order, backpressure.
//
// Contract:
// - Input is parsed on the chunk Bun hands us with the repo's text parser; only an unfinished tail
//   is copied to the stash (bounded by client_input_bytes_max; past it the connection is closed).
//   A storage command is routed once its whole data block is here (values up to value_bytes_max;
//   a larger one is answered `SERVER_ERROR object too large for cache` and its data skipped).
// - A get/gets line longer than get_line_bytes_max is routed in parts as it arrives (the parser's
//   GET_PART; get_request.ts GetLine), at most get_line_parts_max of them unanswered; only the
//   unfinished last key is kept between reads, never the line.
// - Every routed command holds a slot in `queue`; replies are written in queue order, whatever
//   order the backends answer in. Replies of one event are batched in `out` (a buffer borrowed from
//   the proxy for the event) and written with one socket.write by `flush()` at the end of the
//   event; what the socket does not take is copied to `pending`, in order, and written on drain.
// - Bounded: with client_requests_max requests in flight, or more than client_output_pause_bytes
//   unwritten, the connection stops reading (socket.pause) until replies drain. Replies held for it
//   (unwritten, or a multi-get reply still arriving from a server) past
//   client_output_pending_bytes_max close it at once, counted by the host (`outputBoundClosed`):
//   upstreams are shared, so a client that does not read cannot be allowed to make the proxy hold
//   its reply. Errors in a command line are answered like memcached and the connection lives on.

import { request_magic } from "../protocol/binary_parser.ts";
import type { Socket } from "bun";
import { InputStash } from "../server/stash.ts";
import { SendQueue } from "../server/send_queue.ts";
import { Cmd, Command, nextKey, Parse, parseCommand, parseGetRest } from "../protocol/parser.ts";
import { GetLine, GetRequest } from "./get_request.ts";
import { WriteRequest } from "./write_request.ts";
import { BroadcastRequest } from "./broadcast_request.ts";
import { LocalRequest, ProxyReply, Request, client_error_replies, type ReplyQueue } from "./request.ts";
import { Part } from "./part.ts";
import { ReplyKind } from "./reply.ts";
import { copyBytes } from "./wire.ts";
import type { Router } from "./router.ts";
import type { Upstream } from "./upstream.ts";
import {
  client_input_bytes_initial, client_input_bytes_max, client_output_pause_bytes, client_output_pending_bytes_max,
  client_requests_max, get_line_parts_max,
  value_bytes_max,
} from "./limits.ts";

export const ClientState = { OPEN: 0, QUITTING: 1, CLOSED: 2 } as const;

export interface ClientHost {
  readonly router: Router;
  readonly version_reply: Uint8Array;
  dirtyClient(client: Client): void;
  takeOutput(): Uint8Array;
  releaseOutput(buf: Uint8Array): void;
  /** The reply to `stats [...]`, or null for a subcommand the proxy does not know. */
  statsReply(cmd: Command, buf: Uint8Array): Uint8Array | null;
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
  counted(kind: number): void;
  /** A client was closed because replies held for it passed client_output_pending_bytes_max. */
  outputBoundClosed(): void;
}

export type ClientSocket = Socket<Client>;

/** One parsed command at a time: the parser fills it, routing reads it before the next parse. */
const command = new Command();
const CR = 13;
const LF = 10;

export class Client implements ReplyQueue {
  readonly socket: ClientSocket;
  readonly host: ClientHost;
  readonly id: number;
  /** This client's connection on each server (Backend.send keeps it; ordering depends on it). */
  readonly bound: Array<Upstream | null | undefined> = [];
  state: number = ClientState.OPEN;
  private readonly stash = new InputStash(client_input_bytes_initial, client_input_bytes_max);
  private swallow_left = 0;
  /** A get line longer than get_line_bytes_max being routed in parts (get_request.ts), or null. */
  private get_line: GetLine | null = null;
  private queue: Request[] = [];
  private head = 0;
  private out: Uint8Array | null = null;
  private out_len = 0;
  private readonly pending = new SendQueue();
  private paused = false;
  is_dirty = false;

  constructor(socket: ClientSocket, host: ClientHost, id: number) {
    this.socket = socket;
    this.host = host;
    this.id = id;
  }

  get inflight(): number {
    return this.queue.length - this.head;
  }

  onData(chunk: Uint8Array): void {
    if (this.state !== ClientState.OPEN) return;
    this.host.bytesRead(chunk.length);
    if (this.stash.len > 0 || this.paused) {
      if (!this.stash.append(chunk, 0, chunk.length)) return this.abort();
      if (!this.paused) this.runStash();
      return;
    }
    const used = this.run(chunk, 0, chunk.length);
    if (used < chunk.length && this.state === ClientState.OPEN && !this.stash.append(chunk, used, chunk.length)) {
      this.abort();
    }
  }

  private runStash(): void {
    const stash = this.stash;
    if (stash.bytes === null) return;
    const used = this.run(stash.bytes, 0, stash.len);
    if (this.state === ClientState.CLOSED) return;
    stash.consumed(used);
  }

  /** Routes what buf[start, end) holds; returns how far it got. */
  private run(buf: Uint8Array, start: number, end: number): number {
    let at = start;
    while (at < end && this.state === ClientState.OPEN && !this.paused) {
      if (this.swallow_left > 0) {
        const n = Math.min(this.swallow_left, end - at);
        this.swallow_left -= n;
        at += n;
        continue;
      }
      const next = this.get_line !== null ? this.runGetRest(buf, at, end) : this.runCommand(buf, at, end);
      if (next < 0) break;
      at = next;
      if (this.inflight >= client_requests_max || this.pending.bytes > client_output_pause_bytes || this.lineFull()) this.pause();
    }
    return at;
  }

  /** Parses and routes one command; returns the offset after it, or -1 when more input is needed. */
  private runCommand(buf: Uint8Array, at: number, end: number): number {
    // The proxy speaks text only: a binary request (its magic byte where a command starts) closes
    // the connection at once, as memcached's `-B ascii` does, instead of waiting for a line end.
    if (buf[at] === request_magic) {
      this.close();
      return end;
    }
    const cmd = command;
    const parse = parseCommand(buf, at, end, cmd);
    if (parse === Parse.NEED_MORE) return -1;
    if (parse === Parse.CLOSE) {
      this.close();
      return end;
    }
    this.host.counted(cmd.kind);
    if (parse === Parse.GET_PART) {
      this.get_line = new GetLine(cmd.kind);
      return this.routeGetPart(cmd, buf, false);
    }
    if (cmd.kind >= Cmd.SET && cmd.kind <= Cmd.CAS) return this.storage(cmd, buf, end);
    if (cmd.kind === Cmd.MS || cmd.kind === Cmd.MS_INVALID) return this.metaSet(cmd);
    this.execute(cmd, buf);
    return cmd.next;
  }

  /** A long get line has get_line_parts_max parts unanswered: read no more of it for now. */
  private lineFull(): boolean {
    return this.get_line !== null && this.get_line.parts_unwritten >= get_line_parts_max;
  }

  /** More of a long get line: its complete keys are routed, its unfinished last key waits. */
  private runGetRest(buf: Uint8Array, at: number, end: number): number {
    const line = this.get_line!;
    if (line.skipping) return this.skipGetRest(line, buf, at, end);
    const cmd = command;
    const parse = parseGetRest(buf, at, end, cmd);
    if (parse === Parse.NEED_MORE) return -1;
    cmd.kind = line.kind;
    cmd.exptime = 0;
    return this.routeGetPart(cmd, buf, parse === Parse.LINE);
  }

  /** One part of a long get line (`last`: its '\n' came); a line of spaces only is ERROR, as memcached. */
  private routeGetPart(cmd: Command, buf: Uint8Array, last: boolean): number {
    const line = this.get_line!;
    const has_keys = nextKey(buf, cmd.keys_off, cmd.line_end);
    if (last) this.get_line = null;
    if (last && !line.keys_seen && !has_keys) {
      this.local(ProxyReply.ERROR, false);
      return cmd.next;
    }
    if (has_keys) line.keys_seen = true;
    if (has_keys || last) {
      const request = new GetRequest(this, this.host.router, cmd, line, last);
      this.push(request);
      request.route(cmd, buf);
    }
    if (!last && cmd.keys_final) line.skipping = true;
    return cmd.next;
  }

  /** The rest of a long get line that carries nothing (after a NUL or a key too long): up to its '\n', then END. */
  private skipGetRest(line: GetLine, buf: Uint8Array, at: number, end: number): number {
    const nl = buf.indexOf(LF, at);
    if (nl < 0 || nl >= end) return end;
    this.get_line = null;
    if (!line.keys_seen) {
      this.local(ProxyReply.ERROR, false);
    } else {
      command.kind = line.kind;
      const request = new GetRequest(this, this.host.router, command, line, true);
      this.push(request);
      request.finishWith(ProxyReply.END);
    }
    return nl + 1;
  }

  private storage(cmd: Command, buf: Uint8Array, end: number): number {
    if (cmd.data_len > value_bytes_max) {
      this.local(ProxyReply.TOO_LARGE, cmd.noreply);
      if (cmd.kind === Cmd.SET) this.dropOldValue(cmd, buf);
      this.swallow_left = cmd.data_len + 2;
      return cmd.next;
    }
    const total = cmd.next + cmd.data_len + 2;
    if (total > end) return -1;
    if (buf[total - 2] !== CR || buf[total - 1] !== LF) {
      this.local(ProxyReply.BAD_DATA_CHUNK, cmd.noreply);
      return total;
    }
    const request = new WriteRequest(this, cmd.noreply);
    this.push(request);
    request.route(this.host.router, cmd, buf, total);
    return total;
  }

  /**
   * The proxy does not route the meta protocol (mg md ma me answer ERROR, as unknown commands;
   * mn answers MN). An `ms` is refused the same way and its data block skipped, never parsed as
   * commands; one without a usable length cannot be skipped, so the connection closes after the reply.
   */
  private metaSet(cmd: Command): number {
    this.local(ProxyReply.ERROR, false);
    if (cmd.kind === Cmd.MS) {
      this.swallow_left = cmd.data_len + 2;
    } else if (cmd.has_arg) {
      this.state = ClientState.QUITTING;
      this.markDirty();
    }
    return cmd.next;
  }

  /** memcached drops the old value of a set it cannot store ("avoid stale data"): so do we. */
  private dropOldValue(cmd: Command, buf: Uint8Array): void {
    const p = this.host.router.place(buf, cmd.key_off, cmd.key_len);
    for (const backend of [p.main, p.backup]) {
      if (backend === null || !backend.usable()) continue;
      const upstream = backend.send(new Part(null, ReplyKind.LINE, 0, backend), this);
      upstream.putText("delete ");
      upstream.put(buf, cmd.key_off, cmd.key_len);
      upstream.putText("\r\n");
    }
  }

  private execute(cmd: Command, buf: Uint8Array): void {
    const router = this.host.router;
    switch (cmd.kind) {
      case Cmd.GET:
      case Cmd.GETS:
      case Cmd.GAT:
      case Cmd.GATS: {
        const request = new GetRequest(this, router, cmd);
        this.push(request);
        return request.route(cmd, buf);
      }
      case Cmd.INCR:
      case Cmd.DECR:
      case Cmd.DELETE:
      case Cmd.TOUCH: {
        const request = new WriteRequest(this, cmd.noreply);
        this.push(request);
        return request.route(router, cmd, buf, cmd.next);
      }
      case Cmd.FLUSH_ALL:
      case Cmd.VERBOSITY: {
        const request = new BroadcastRequest(this, cmd.noreply);
        this.push(request);
        return request.route(router, cmd, buf);
      }
    }
    this.executeLocal(cmd, buf);
  }

  /** Commands the proxy answers itself. */
  private executeLocal(cmd: Command, buf: Uint8Array): void {
    switch (cmd.kind) {
      case Cmd.VERSION:
        return this.local(this.host.version_reply, false);
      case Cmd.STATS:
        return this.local(this.host.statsReply(cmd, buf) ?? ProxyReply.ERROR, false);
      case Cmd.MN:
        return this.local(ProxyReply.MN, false);
      case Cmd.QUIT:
        this.state = ClientState.QUITTING;
        return this.markDirty();
      case Cmd.CLOSE:
        return this.close();
      case Cmd.CLIENT_ERROR:
        return this.local(client_error_replies[cmd.error]!, cmd.noreply);
    }
    this.local(ProxyReply.ERROR, false); // unknown commands, and shutdown/slabs/rep: not proxied
  }

  /** A reply composed here: written now if nothing is ahead of it, else queued in order. */
  private local(bytes: Uint8Array, noreply: boolean): void {
    if (noreply) return;
    if (this.inflight === 0) return this.emit(bytes, 0, bytes.length);
    const request = new LocalRequest(this, false);
    request.finished = true;
    request.done = true;
    request.reply = bytes;
    this.queue.push(request);
  }

  private push(request: Request): void {
    this.queue.push(request);
  }

  complete(request: Request, buf: Uint8Array, off: number, len: number): void {
    if (this.state === ClientState.CLOSED) return;
    if (this.queue[this.head] !== request) {
      request.done = true;
      if (!request.noreply) request.reply = buf.slice(off, off + len);
      return;
    }
    if (!request.noreply && request.takesItsTurn()) this.emit(buf, off, len);
    this.advance();
  }

  /** Pops the head and every finished request behind it, writing their replies. */
  private advance(): void {
    this.head++;
    while (this.head < this.queue.length && this.queue[this.head]!.done) {
      const request = this.queue[this.head]!;
      if (request.reply !== null && request.takesItsTurn()) this.emit(request.reply, 0, request.reply.length);
      request.reply = null;
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.paused || this.state === ClientState.QUITTING) this.markDirty();
  }

  /** Appends reply bytes to this event's batch. */
  private emit(buf: Uint8Array, off: number, len: number): void {
    if (this.state === ClientState.CLOSED) return;
    if (this.out === null) {
      this.out = this.host.takeOutput();
      this.markDirty();
    }
    if (len > this.out.length - this.out_len) {
      this.writeOut();
      if (len > this.out.length) return this.writeRaw(buf, off, len);
    }
    copyBytes(buf, off, this.out, this.out_len, len);
    this.out_len += len;
  }

  private markDirty(): void {
    if (this.is_dirty) return;
    this.is_dirty = true;
    this.host.dirtyClient(this);
  }

  /** End of an event: write the batch; close after quit; read again when the limits allow. */
  flush(): void {
    this.is_dirty = false;
    if (this.out !== null) {
      this.writeOut();
      this.host.releaseOutput(this.out);
      this.out = null;
    }
    if (this.state === ClientState.QUITTING && this.inflight === 0 && this.pending.bytes === 0) return this.close();
    if (this.paused && this.inflight < client_requests_max && this.pending.bytes <= client_output_pause_bytes && !this.lineFull()) {
      this.paused = false;
      this.socket.resume();
      this.runStash();
    }
  }

  private writeOut(): void {
    const n = this.out_len;
    this.out_len = 0;
    if (n > 0) this.writeRaw(this.out!, 0, n);
  }

  private writeRaw(buf: Uint8Array, off: number, len: number): void {
    if (this.state === ClientState.CLOSED) return;
    const written = this.pending.send(this.socket, buf, off, len);
    if (written < 0) return this.onClose();
    this.host.bytesWritten(written);
    if (this.pending.bytes > client_output_pending_bytes_max) return this.closeOverOutput();
    if (this.pending.bytes > client_output_pause_bytes) this.pause();
  }

  holding(bytes: number): boolean {
    if (this.state === ClientState.CLOSED) return false;
    if (this.pending.bytes + bytes <= client_output_pending_bytes_max) return true;
    this.closeOverOutput();
    return false;
  }

  /** Replies held for this client passed their bound: closed at once, what is held is dropped. */
  private closeOverOutput(): void {
    this.host.outputBoundClosed();
    this.abort();
  }

  onDrain(): void {
    if (this.state === ClientState.CLOSED) return;
    const written = this.pending.flush(this.socket);
    if (written < 0) return this.onClose();
    this.host.bytesWritten(written);
    if (this.paused || this.state === ClientState.QUITTING) this.markDirty();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Closes after what the socket already took (quit, a line too long, an HTTP request). */
  close(): void {
    if (this.state === ClientState.CLOSED) return;
    this.state = ClientState.CLOSED;
    this.socket.end();
    this.release();
  }

  /** Closes at once (input over its bound). */
  private abort(): void {
    this.state = ClientState.CLOSED;
    this.socket.terminate();
    this.release();
  }

  onClose(): void {
    this.state = ClientState.CLOSED;
    this.release();
  }

  private release(): void {
    this.queue = [];
    this.head = 0;
    this.pending.clear();
    this.stash.clear();
    if (this.out !== null && !this.is_dirty) {
      this.host.releaseOutput(this.out);
      this.out = null;
    }
  }
}
