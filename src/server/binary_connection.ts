// A client connection speaking memcached's binary protocol: framing, large values, SASL, replies.
//
// Contract (the same machinery as the text connection, connection.ts, which hands a connection over
// here on its first byte, 0x80, or at once under -B binary):
// - Frames are parsed in place on the chunk Bun hands us; only a split frame's bytes are copied into
//   the stash, and only as many as complete its header, its whole frame (frames without a large
//   value: at most header + extras + key + sasl_data_bytes_max, or value_inline_bytes_max), or the
//   part before a large value. Past input_bytes_max the connection is closed.
// - A value past value_inline_bytes_max is staged as it arrives (staging.ts) or streams into an item
//   reserved at its header; a value past the item size max is answered E2BIG and skipped, never held.
//   An unknown opcode's body is skipped the same way.
// - Replies of a batch go out in one write; what the socket does not take waits in `pending` and,
//   past output_pending_bytes_max, the connection stops reading until it drains.
// - With SASL on (-S), every request but SASL's and version is answered "Auth failure." and the
//   connection closes, until a SASL PLAIN auth succeeds (memcached 1.6.18's behaviour).

import { BinKind, BinaryCommand, BinParse, carriesValue, header_bytes, parseBinaryHeader } from "../protocol/binary_parser.ts";
import {
  binaryExptime, binaryFlags, binaryStoreOp, binaryStoreRefusal, binaryTooLarge, binaryTooLargeReply,
  executeBinaryKeyCommand, isBinaryWrite, storeReply,
} from "../protocol/binary_execute.ts";
import { BinStatus, putEmpty, putError, putStat, putText } from "../protocol/binary_replies.ts";
import { key_bytes_max } from "../protocol/parser.ts";
import { StoreOp } from "../native/store.ts";
import { plainAuthenticates, type AuthCounters, type PasswordFile } from "./auth.ts";
import type { ConnectionHost, SocketLike } from "./connection.ts";
import { InputStash } from "./stash.ts";
import { SendQueue } from "./send_queue.ts";
import { exptimeFrom } from "./staging.ts";
import { input_bytes_initial, input_bytes_max, output_pending_bytes_max, value_inline_bytes_max } from "./limits.ts";
import { statsGathersThreads, type StatLines } from "../stats.ts";

/** What the server offers a binary connection besides the text host's parts. */
export interface BinaryHost extends ConnectionHost {
  readonly version: string;
  /** `stat <arg>`'s lines ("" for the general ones); null when there is no such group. */
  binaryStatLines(arg: string): StatLines | null;
  /** -S: the password file SASL PLAIN checks; null: SASL is off (its opcodes are unknown). */
  readonly sasl: PasswordFile | null;
  readonly auth_counters: AuthCounters;
}

const BinState = { COMMANDS: 0, VALUE: 1, SWALLOW: 2, CLOSED: 3 } as const;
const sasl_mechanisms = "PLAIN";
const authenticated_text = "Authenticated";

const command = new BinaryCommand();
/** For looking at a stashed frame without disturbing `command`. */
const probe = new BinaryCommand();

export class BinaryConnection {
  private readonly socket: SocketLike;
  private readonly host: BinaryHost;
  private state: number = BinState.COMMANDS;
  private readonly stash = new InputStash(input_bytes_initial, input_bytes_max);
  private readonly pending = new SendQueue();
  private blocked = false;
  private held = false;
  private close_after_write = false;
  private authenticated: boolean;
  private readonly flushOut: () => void;
  private readonly writesResumed: () => void;
  // A large value arriving: its request (a copy), key, and where its bytes go.
  private value_cmd: BinaryCommand | null = null;
  private value_key: Uint8Array | null = null;
  private slot = -1;
  private staged: Uint8Array | null = null;
  private staged_len = 0;
  private value_left = 0;
  private value_op = 0;
  private value_flags = 0;
  private value_exptime = 0;
  private swallow_left = 0;

  constructor(socket: SocketLike, host: BinaryHost) {
    this.socket = socket;
    this.host = host;
    this.authenticated = host.sasl === null;
    this.flushOut = () => this.flushOutput();
    this.writesResumed = () => this.onWritesResumed();
  }

  onData(chunk: Uint8Array): void {
    if (this.state === BinState.CLOSED) return;
    this.host.bytesRead(chunk.length);
    this.bindOutput();
    this.consume(chunk);
    this.flushOutput();
  }

  onDrain(): void {
    if (this.state === BinState.CLOSED && !this.close_after_write) return;
    const written = this.pending.flush(this.socket);
    if (written < 0) return this.onClose();
    this.host.bytesWritten(written);
    if (this.pending.bytes > 0) return;
    if (this.close_after_write) return this.close();
    if (!this.blocked) return;
    this.blocked = false;
    if (this.held) return;
    this.socket.resume();
    this.resumeStash();
  }

  /**
   * Whether the connection waits for its client's next request (what -o idle_timeout may close):
   * not inside a frame's body or a value, not writing a backlog, not held by replication's gate.
   */
  awaitingCommand(): boolean {
    if (this.state !== BinState.COMMANDS || this.blocked || this.held || this.close_after_write) return false;
    return this.pending.bytes === 0 && this.stash.len < header_bytes;
  }

  onClose(): void {
    this.dropValue();
    this.state = BinState.CLOSED;
    this.close_after_write = false;
    this.pending.clear();
    this.stash.clear();
  }

  private consume(chunk: Uint8Array): void {
    let from = 0;
    while (this.stash.len > 0 && from < chunk.length && !this.blocked && !this.held) {
      const need = Math.min(this.stashNeed(), chunk.length - from);
      if (!this.stash.append(chunk, from, from + need)) return this.abort();
      from += need;
      this.runStash();
      if (this.state === BinState.CLOSED) return;
    }
    if (from === chunk.length) return;
    if (this.stash.len > 0 || this.blocked || this.held) {
      if (!this.stash.append(chunk, from, chunk.length)) this.abort();
      return;
    }
    const used = this.run(chunk, from, chunk.length);
    if (this.state === BinState.CLOSED) return;
    if (used < chunk.length && !this.stash.append(chunk, used, chunk.length)) this.abort();
  }

  /** Bytes the stashed frame still needs before it can go on (at least 1). */
  private stashNeed(): number {
    const stash = this.stash;
    if (this.state !== BinState.COMMANDS) return Number.MAX_SAFE_INTEGER;
    const parse = parseBinaryHeader(stash.bytes!, 0, stash.len, probe);
    if (parse === BinParse.NEED_MORE) return header_bytes - stash.len;
    if (parse !== BinParse.FRAME) return 1;
    const target = streamsValue(probe) ? probe.fixed_bytes : header_bytes + probe.bodylen;
    return Math.max(1, target - stash.len);
  }

  private runStash(): void {
    const stash = this.stash;
    if (stash.bytes === null) return;
    const used = this.run(stash.bytes, 0, stash.len);
    if (this.state === BinState.CLOSED) return;
    stash.consumed(used);
  }

  private resumeStash(): void {
    this.bindOutput();
    this.runStash();
    this.flushOutput();
  }

  private run(buf: Uint8Array, start: number, end: number): number {
    let at = start;
    while (at < end && !this.blocked && !this.held && this.state !== BinState.CLOSED) {
      if (this.state === BinState.VALUE) at = this.readValue(buf, at, end);
      else if (this.state === BinState.SWALLOW) at = this.swallow(at, end);
      else {
        const next = this.runFrame(buf, at, end);
        if (next < 0) break;
        at = next;
      }
      if (this.pending.bytes > output_pending_bytes_max) this.block();
    }
    return at;
  }

  /** Parses and executes one frame; returns the offset after what it used, or -1 for more input. */
  private runFrame(buf: Uint8Array, at: number, end: number): number {
    const cmd = command;
    const out = this.host.ctx.out;
    const parse = parseBinaryHeader(buf, at, end, cmd);
    if (parse === BinParse.NEED_MORE) return -1;
    if (parse === BinParse.CLOSE) return this.closeAfterWrite(end); // what came before is answered
    if (parse === BinParse.INVALID || parse === BinParse.MALFORMED) {
      putError(out, cmd, parse === BinParse.INVALID ? BinStatus.EINVAL : BinStatus.UNKNOWN_COMMAND);
      return this.closeAfterWrite(end);
    }
    // -C: a store's cas is ignored (memcached 1.6.18 then stores as without one); delete and
    // incr/decr still compare theirs with the item's, which is 0 (binary_execute.ts casDiffers).
    if (!this.host.ctx.cas_enabled && (cmd.kind === BinKind.STORE || cmd.kind === BinKind.CONCAT)) cmd.cas_lo = cmd.cas_hi = 0;
    if (!this.authenticated && !allowedUnauthenticated(cmd.kind)) {
      putError(out, cmd, BinStatus.AUTH_ERROR);
      return this.closeAfterWrite(end);
    }
    if (parse === BinParse.UNKNOWN) {
      putError(out, cmd, BinStatus.UNKNOWN_COMMAND);
      this.beginSwallow(cmd.bodylen);
      return at + header_bytes;
    }
    if (streamsValue(cmd)) {
      if (end - at < cmd.fixed_bytes) return -1;
      if (this.holdWrite()) return -1;
      this.beginValue(cmd, buf);
      return at + cmd.fixed_bytes;
    }
    if (end - at < header_bytes + cmd.bodylen) return -1;
    if (isBinaryWrite(cmd.kind) && this.holdWrite()) return -1;
    if (cmd.kind === BinKind.STAT && this.holdStats(cmd, buf)) return -1;
    this.execute(cmd, buf);
    return cmd.frame_end;
  }

  private execute(cmd: BinaryCommand, buf: Uint8Array): void {
    const host = this.host;
    const out = host.ctx.out;
    if (executeBinaryKeyCommand(host.ctx, cmd, buf)) return;
    switch (cmd.kind) {
      case BinKind.NOOP:
        return putEmpty(out, cmd);
      case BinKind.VERSION:
        return putText(out, cmd, host.version);
      case BinKind.QUIT:
        if (!cmd.quiet) putEmpty(out, cmd);
        this.closeAfterWrite(0);
        return;
      case BinKind.STAT:
        return this.stat(cmd, buf);
      case BinKind.SASL_LIST:
        if (host.sasl === null) return putError(out, cmd, BinStatus.UNKNOWN_COMMAND);
        return putText(out, cmd, sasl_mechanisms);
      case BinKind.SASL_AUTH:
      case BinKind.SASL_STEP:
        return this.saslAuth(cmd, buf);
    }
    putError(out, cmd, BinStatus.UNKNOWN_COMMAND);
  }

  private stat(cmd: BinaryCommand, buf: Uint8Array): void {
    const out = this.host.ctx.out;
    const lines = this.host.binaryStatLines(statArg(cmd, buf));
    if (lines === null) return putError(out, cmd, BinStatus.KEY_ENOENT);
    for (const [name, value] of lines) putStat(out, cmd, name, String(value));
    putEmpty(out, cmd);
  }

  /** SASL PLAIN in one step; a step (PLAIN has none) or another mechanism fails. */
  private saslAuth(cmd: BinaryCommand, buf: Uint8Array): void {
    const host = this.host;
    const out = host.ctx.out;
    const file = host.sasl;
    if (file === null) return putError(out, cmd, BinStatus.UNKNOWN_COMMAND);
    host.auth_counters.auth_cmds++;
    const mech = Buffer.from(buf.buffer, buf.byteOffset + cmd.key_off, cmd.keylen).toString("latin1");
    const data = buf.subarray(cmd.value_off, cmd.value_off + cmd.value_len);
    if (cmd.kind === BinKind.SASL_AUTH && mech === sasl_mechanisms && plainAuthenticates(file, data)) {
      this.authenticated = true;
      return putText(out, cmd, authenticated_text);
    }
    host.auth_counters.auth_errors++;
    putError(out, cmd, BinStatus.AUTH_ERROR);
  }

  private beginValue(cmd: BinaryCommand, buf: Uint8Array): void {
    const ctx = this.host.ctx;
    ctx.counters.cmd_set++;
    ctx.detail.recordSet(buf, cmd.key_off, cmd.keylen);
    if (binaryTooLarge(ctx, cmd)) {
      binaryTooLargeReply(ctx, cmd, buf);
      return this.beginSwallow(cmd.value_len);
    }
    const refused = binaryStoreRefusal(ctx, cmd, buf);
    if (refused >= 0) {
      putError(ctx.out, cmd, refused);
      return this.beginSwallow(cmd.value_len);
    }
    const value_cmd = (this.value_cmd ??= new BinaryCommand()); // once per connection, reused
    Object.assign(value_cmd, cmd);
    const key = (this.value_key ??= new Uint8Array(key_bytes_max));
    key.set(buf.subarray(cmd.key_off, cmd.key_off + cmd.keylen));
    this.value_op = binaryStoreOp(cmd);
    this.value_flags = binaryFlags(cmd, buf);
    this.value_exptime = binaryExptime(cmd, buf);
    if (this.host.staging.take(cmd.value_len)) {
      this.staged = new Uint8Array(cmd.value_len);
      this.staged_len = 0;
      this.value_exptime = exptimeFrom(this.value_exptime, this.host.now_s);
    } else {
      const slot = ctx.store.reserve(this.value_op, key, 0, cmd.keylen, this.value_flags, this.value_exptime, cmd.value_len);
      if (slot < 0) {
        storeReply(ctx, value_cmd, key, 0, slot);
        return this.beginSwallow(cmd.value_len);
      }
      this.slot = slot;
    }
    this.value_left = cmd.value_len;
    this.state = BinState.VALUE;
    if (this.value_left === 0) this.finishValue();
  }

  private readValue(buf: Uint8Array, at: number, end: number): number {
    const n = Math.min(end - at, this.value_left);
    if (this.staged === null) {
      this.host.ctx.store.fill(this.slot, buf, at, n);
    } else {
      this.staged.set(buf.subarray(at, at + n), this.staged_len);
      this.staged_len += n;
    }
    this.value_left -= n;
    if (this.value_left === 0) this.finishValue();
    return at + n;
  }

  private finishValue(): void {
    const ctx = this.host.ctx;
    const cmd = this.value_cmd!;
    const key = this.value_key!;
    this.state = BinState.COMMANDS;
    let slot = this.slot;
    this.slot = -1;
    const staged = this.staged;
    if (staged !== null) {
      slot = ctx.store.reserve(this.value_op, key, 0, cmd.keylen, this.value_flags, this.value_exptime, staged.length);
      if (slot >= 0) ctx.store.fill(slot, staged, 0, staged.length);
    }
    this.dropValue(); // the staged bytes are in the store now (or refused)
    if (slot < 0) return storeReply(ctx, cmd, key, 0, slot);
    if (this.value_op === StoreOp.CAS) ctx.store.setCas(cmd.cas_lo, cmd.cas_hi);
    storeReply(ctx, cmd, key, 0, ctx.store.commit(slot));
  }

  private dropValue(): void {
    if (this.slot >= 0) this.host.ctx.store.abort(this.slot);
    this.slot = -1;
    if (this.staged !== null) this.host.staging.give(this.staged.length);
    this.staged = null;
  }

  private beginSwallow(n: number): void {
    if (n === 0) return;
    this.swallow_left = n;
    this.state = BinState.SWALLOW;
  }

  private swallow(at: number, end: number): number {
    const n = Math.min(end - at, this.swallow_left);
    this.swallow_left -= n;
    if (this.swallow_left === 0) this.state = BinState.COMMANDS;
    return at + n;
  }

  /** While replication's gate is shut, a write waits with its input stashed and the socket paused. */
  private holdWrite(): boolean {
    const gate = this.host.ctx.write_gate;
    if (gate === null || !gate.shut) return false;
    this.held = true;
    this.socket.pause();
    gate.wait(this.writesResumed);
    return true;
  }

  /** A -t N worker's `stat` waits for the main thread's lines (ConnectionHost.statsHold), as text's does. */
  private holdStats(cmd: BinaryCommand, buf: Uint8Array): boolean {
    if (this.host.statsHold === undefined) return false;
    if (!this.host.statsHold(this.writesResumed, statsGathersThreads(statArg(cmd, buf)))) return false;
    this.held = true;
    this.socket.pause();
    return true;
  }

  private onWritesResumed(): void {
    this.held = false;
    if (this.state === BinState.CLOSED) return;
    if (!this.blocked) this.socket.resume();
    if (this.blocked || this.stash.bytes === null) return;
    this.resumeStash();
  }

  private bindOutput(): void {
    const out = this.host.ctx.out;
    out.flush = this.flushOut;
    out.backlog_bytes = this.pending.bytes;
  }

  private flushOutput(): void {
    const out = this.host.ctx.out;
    const n = out.len;
    out.len = 0;
    if (this.state === BinState.CLOSED && !this.close_after_write) return;
    if (n > 0) {
      const written = this.pending.send(this.socket, out.buf, 0, n);
      if (written < 0) return this.onClose();
      out.backlog_bytes = this.pending.bytes;
      this.host.bytesWritten(written);
    }
    if (this.close_after_write && this.pending.bytes === 0) this.close();
  }

  /** Stops executing; the connection closes once the replies so far are written. Returns `end`. */
  private closeAfterWrite(end: number): number {
    this.close_after_write = true;
    this.state = BinState.CLOSED;
    return end;
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.socket.pause();
  }

  close(): void {
    this.state = BinState.CLOSED;
    this.close_after_write = false;
    this.socket.end();
  }

  private abort(): void {
    this.state = BinState.CLOSED;
    this.socket.terminate();
  }
}

/** A store whose frame is too large to wait for whole: its value streams (or is skipped). */
function streamsValue(cmd: BinaryCommand): boolean {
  return carriesValue(cmd) && header_bytes + cmd.bodylen > value_inline_bytes_max;
}

/** memcached lets SASL's requests and version through before authentication. */
function allowedUnauthenticated(kind: number): boolean {
  return kind === BinKind.SASL_LIST || kind === BinKind.SASL_AUTH || kind === BinKind.SASL_STEP || kind === BinKind.VERSION;
}

/** A binary `stat`'s group: its key, as text ("" for all). */
function statArg(cmd: BinaryCommand, buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset + cmd.key_off, cmd.keylen).toString("latin1");
}
