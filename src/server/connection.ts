// One client connection: framing, value streaming, reply flushing and backpressure.
//
// Contract:
// - Input is parsed directly on the chunk Bun hands us; only an unfinished tail is copied into the
//   connection's stash (bounded by input_bytes_max; past it the connection is closed).
// - Replies of a whole input batch are collected in the shared Output and written with one
//   socket.write. Whatever the socket does not take is copied, in order, into `pending` and written
//   on drain. While more than output_pending_bytes_max is pending the connection stops executing
//   requests and pauses the socket, so a slow reader cannot make the server buffer without bound.
//   The bound holds inside a command too: a multi-get stops after the key that passed it (the line
//   stays in the stash; `get_resume_off` remembers the next key) and goes on from there on drain,
//   so at most output_pending_bytes_max + one Output buffer is ever held for one connection.
// - A large value is staged as it arrives and enters the store (reserve/fill/commit) only when
//   complete, so a half-sent value holds no store memory (staging.ts); past the staging budget it
//   streams into an item reserved at its command line. A value the store refuses is swallowed, as
//   memcached does.

import {
  ClientError, Cmd, Command, get_line_bytes_max, key_bytes_max, nextKey, Parse, parseCommand, parseGetRest, tokenText,
} from "../protocol/parser.ts";
import {
  casOperandHi, casOperandLo, countRefusal, executeDeferredDelete, flushApply, GetDone, executeGet, executeKeyCommand, executeStoreInline, isGet, isStorage, isWrite, itemTooLarge,
  lockedStoreReply, releaseDeleteLock, reply, storeFailedTooLarge, storeOpOf, storeReply, type Context,
} from "../protocol/execute.ts";
import { executeMeta, executeMetaSet, isMetaKind, metaSetBegin, metaSetReply, MetaSetPlan } from "../protocol/meta_execute.ts";
import { parsed, parseU64 } from "../protocol/numbers.ts";
import { Reply } from "../protocol/replies.ts";
import { Status, StoreOp } from "../native/store.ts";
import { InputStash } from "./stash.ts";
import { SendQueue } from "./send_queue.ts";
import { exptimeFrom, type StagingBudget } from "./staging.ts";
import { input_bytes_initial, input_bytes_max, output_pending_bytes_max, value_inline_bytes_max } from "./limits.ts";
import { BinaryConnection } from "./binary_connection.ts";
import { auth_token_bytes_max, AuthReply, type ClientAccess } from "./access.ts";
import { tokenAuthenticates } from "./auth.ts";
import { statsGathersThreads } from "../stats.ts";

/** GET_REST: inside a get line longer than get_line_bytes_max, executed part by part as it
 *  arrives; GET_SKIP: skipping the rest of such a line up to its '\n' (its keys ended early). */
export const State = { COMMANDS: 0, VALUE: 1, SWALLOW: 2, CLOSED: 3, GET_REST: 4, GET_SKIP: 5 } as const;

/** What an admin command may do to the connection it came on (`shutdown` closes it). */
export interface Closable {
  close(): void;
}

/** The server-wide part a connection needs besides the protocol context. */
export interface ConnectionHost {
  ctx: Context;
  /** Commands the protocol layer does not execute itself (stats, version, verbosity, shutdown, ...). */
  executeAdmin(conn: Closable, cmd: Command, buf: Uint8Array): void;
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
  /** Unix seconds, refreshed by the server's clock tick (no Date.now per request). */
  readonly now_s: number;
  /** Clock ticks (one a second) since start: a monotonic count, for the idle kicker. */
  readonly clock_ticks: number;
  /** -v count (the `verbosity` command changes it): at 2 and above commands are logged. */
  readonly verbosity: number;
  /** Set by a replication link: lets `rep` / `marugoto_end` through and silences replies. */
  /** Bytes all connections together may stage for values still arriving (staging.ts). */
  readonly staging: StagingBudget;
  /** -B / -S / -Y (access.ts); absent: auto-negotiation without a binary server, no auth. */
  readonly access?: ClientAccess;
  /**
   * A -t N worker's `stats` needs the main thread's lines first: true means the connection holds
   * (input stashed, socket paused) and `resume` runs once they are here; false: answer now.
   * `every_thread`: the `stats` shows every thread's state (server.ts statsGathersThreads).
   */
  statsHold?(resume: () => void, every_thread: boolean): boolean;
}

const command = new Command();
/** For looking at a stashed command without disturbing `command`. */
const probe = new Command();
/** -vv logs at most this much of a command line. */
const log_line_bytes_max = 256;

/** Bytes of chunk[from..] that finish a long get line's unfinished key: through the first space or '\n'. */
function keyTailNeed(chunk: Uint8Array, from: number): number {
  for (let i = from; i < chunk.length; i++) if (chunk[i] === 32 || chunk[i] === 10) return i - from + 1;
  return chunk.length - from;
}

/**
 * What makes a connection a replication peer's inbound stream: `rep` and `marugoto_end` are
 * accepted, replies are dropped, and what it applies is not journaled again (no echo).
 */
export interface PeerHooks {
  /** StoreOp.REP (a classic peer: last arrival wins) or StoreOp.REP_IF_NEWER (ours: higher cas wins). */
  rep_op: number;
  onMarugotoEnd(): void;
  /** Counts what the peer sent us. */
  onApplied(kind: number): void;
  /** `rcb1_fetch <id> <key>...`: the peer reads through to us for these keys. */
  onFetch(id: number, buf: Uint8Array, keys_off: number, line_end: number): void;
  /** `rcb1_fetched <id>`: what we asked for has been sent. */
  onFetched(id: number): void;
  /** `rcb1_tomb <key> <cas>`: the peer deleted the key at that cas (a tombstone, native/cache.zig). */
  onTomb(buf: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number): void;
  /** `rcb1_flush_before <cas>`: the peer ran an immediate flush_all at that cas. */
  onFlushBefore(cas_lo: number, cas_hi: number): void;
  /** `rcb1_copy_total <items>`: the size of the full copy the peer is about to send (progress only). */
  onCopyTotal?(items: number): void;
}

/** The socket operations a connection uses (a Bun socket, or a replication link's). */
export interface SocketLike {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  pause(): void;
  resume(): void;
  end(): void;
  terminate(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export class Connection {
  readonly socket: SocketLike;
  readonly host: ConnectionHost;
  readonly peer: PeerHooks | null;
  readonly id: number;
  state: number = State.COMMANDS;
  /** Unprocessed input (a split command, or input held back while output is blocked). */
  private readonly stash = new InputStash(input_bytes_initial, input_bytes_max);
  /** Replies the socket has not taken yet, oldest first. */
  private readonly pending = new SendQueue();
  private blocked = false;
  /** A get waits for replication's read-through; its line stays in the stash until then. */
  private waiting_fetch = false;
  private skip_read_through = false;
  private readonly fetchDone: () => void;
  /** Replication backpressure holds this connection's next write (backpressure.ts). */
  private held = false;
  private readonly writesResumed: () => void;
  private close_after_write = false;
  /** A multi-get stopped at its output bound: the offset of its next key from the line's start
   *  (the line is the first thing in the stash); 0 when none is waiting. */
  private get_resume_off = 0;
  /** A long get line executed in parts (State.GET_REST / GET_SKIP): its kind; whether any key was
   *  seen (a line of spaces alone answers ERROR, as memcached); what GET_SKIP answers at its '\n'. */
  private get_kind = 0;
  private get_keys_seen = false;
  private get_skip_reply: Uint8Array | null = null;
  // Value streaming / swallowing.
  private slot = -1;
  private value_left = 0;
  private crlf_left = 0;
  private crlf_ok = true;
  private value_kind = 0;
  private value_noreply = false;
  private value_cas_lo = 0;
  private value_cas_hi = 0;
  /** The key of the value being streamed (allocated at the connection's first streamed value). */
  private value_key: Uint8Array | null = null;
  private value_key_len = 0;
  /** A staged value's bytes (its length charged to host.staging), or null; op, flags, exptime. */
  private staged: Uint8Array | null = null;
  private staged_len = 0;
  private value_op = 0;
  private value_flags = 0;
  private value_exptime = 0;
  private swallow_left = 0;
  /** An `ms` whose value streams: how to answer once it is stored (allocated at the first one). */
  private meta_plan: MetaSetPlan | null = null;
  readonly flushOut: () => void;
  /** Unix seconds (the server's clock tick) of the last command line, as memcached's last_cmd_time:
   *  bytes that complete no line do not count (stats conns' secs_since_last_cmd, -o idle_timeout). */
  last_cmd_s: number;
  /** Set on the first input when the client speaks binary: it gets every later event. */
  private binary: BinaryConnection | null = null;
  private negotiated = false;
  /** -Y: false until an auth token `set` succeeds. */
  private authenticated: boolean;
  /** The server's clock tick of the last command line (-o idle_timeout counts whole ticks: the
   *  wall clock the tick reads may jump by 2 s when a tick is late, a tick count does not). */
  last_cmd_tick: number;

  constructor(socket: SocketLike, host: ConnectionHost, id: number, peer: PeerHooks | null = null) {
    this.socket = socket;
    this.host = host;
    this.id = id;
    this.peer = peer;
    this.last_cmd_s = host.now_s;
    this.last_cmd_tick = host.clock_ticks;
    this.flushOut = peer === null ? () => this.flushOutput() : () => this.discardOutput();
    this.fetchDone = () => this.onFetchDone();
    this.writesResumed = () => this.onWritesResumed();
    this.authenticated = peer !== null || !host.access?.text_auth;
  }

  onData(chunk: Uint8Array): void {
    if (this.binary !== null || (!this.negotiated && this.negotiate(chunk))) {
      this.commandSeen(); // a binary client's input counts as activity (-o idle_timeout, stats conns)
      return this.binary!.onData(chunk);
    }
    if (this.state === State.CLOSED) return;
    if (this.peer !== null) return this.onPeerData(chunk);
    this.host.bytesRead(chunk.length);
    this.bindOutput();
    this.consume(chunk);
    this.flushOutput();
  }

  /**
   * Executes a chunk. A command split across reads is completed in the stash with only the bytes
   * it still needs; the rest of the chunk is then parsed in place, not copied.
   */
  private consume(chunk: Uint8Array): void {
    let from = 0;
    while (this.stash.len > 0 && from < chunk.length && !this.blocked && !this.waiting_fetch && !this.held) {
      const need = this.stashNeed(chunk, from);
      if (!this.stash.append(chunk, from, from + need)) return this.abort();
      from += need;
      this.runStash();
      if (this.state === State.CLOSED) return;
    }
    if (from === chunk.length) return;
    if (this.stash.len > 0 || this.blocked || this.waiting_fetch || this.held) {
      if (!this.stash.append(chunk, from, chunk.length)) this.abort();
      return;
    }
    const used = this.run(chunk, from, chunk.length);
    if (used < chunk.length && !this.stash.append(chunk, used, chunk.length)) this.abort();
  }

  /** How many bytes of chunk[from..] complete the command waiting in the stash (at least 1). */
  private stashNeed(chunk: Uint8Array, from: number): number {
    const left = chunk.length - from;
    const stash = this.stash;
    if (this.state === State.GET_REST) return keyTailNeed(chunk, from);
    if (this.state !== State.COMMANDS) return left;
    const parse = parseCommand(stash.bytes!, 0, stash.len, probe);
    if (parse === Parse.NEED_MORE) {
      const nl = chunk.indexOf(10, from);
      // a long get line grows the stash only just past get_line_bytes_max: then it runs in parts
      return Math.min(nl < 0 ? left : nl - from + 1, Math.max(1, get_line_bytes_max + 1 - stash.len));
    }
    if (parse !== Parse.LINE || !(isStorage(probe.kind) || probe.kind === Cmd.REP || probe.kind === Cmd.MS)) return left;
    const need = probe.next + probe.data_len + 2 - stash.len;
    return need > 0 && need < left ? need : left;
  }

  /** A replication stream: applied without replies and without journaling it back (no echo). */
  private onPeerData(chunk: Uint8Array): void {
    const ctx = this.host.ctx;
    const out = ctx.out;
    const mutations = ctx.mutations;
    const reply_start = out.len;
    this.bindOutput();
    ctx.mutations = null;
    try {
      this.consume(chunk);
    } finally {
      ctx.mutations = mutations;
      out.len = reply_start;
    }
  }

  /** Makes the shared Output this connection's for a batch: its flush, and its unsent backlog. */
  private bindOutput(): void {
    const out = this.host.ctx.out;
    out.flush = this.flushOut;
    out.backlog_bytes = this.pending.bytes;
  }

  private discardOutput(): void {
    this.host.ctx.out.len = 0;
  }

  /** memcached's negotiation on the first byte (0x80: binary), or -B binary for every connection. */
  private negotiate(chunk: Uint8Array): boolean {
    this.negotiated = true;
    const access = this.host.access;
    if (this.peer !== null || access === undefined || access.binary === null) return false;
    if (access.binding !== "binary" && (access.binding !== "auto" || chunk[0] !== 0x80)) return false;
    this.binary = new BinaryConnection(this.socket, access.binary);
    return true;
  }

  onDrain(): void {
    if (this.binary !== null) return this.binary.onDrain();
    if (this.state === State.CLOSED) return;
    this.writePending();
    if (this.pending.bytes > 0) return;
    if (this.close_after_write) return this.close();
    if (!this.blocked) return;
    this.blocked = false;
    if (this.held || this.waiting_fetch) return;
    this.socket.resume();
    this.resumeStash();
  }

  /** Goes on with the stashed input once nothing holds it any more (drain, gate, fetch). */
  private resumeStash(): void {
    this.bindOutput();
    this.runStash();
    this.flushOutput();
  }

  onClose(): void {
    this.binary?.onClose();
    this.dropValue();
    this.state = State.CLOSED;
    this.pending.clear();
    this.stash.clear();
    this.get_resume_off = 0;
    this.get_kind = 0;
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

  /** A -t N worker's `stats` waits for the main thread's lines (ConnectionHost.statsHold). */
  private holdStats(cmd: Command, buf: Uint8Array): boolean {
    if (this.host.statsHold === undefined) return false;
    if (!this.host.statsHold(this.writesResumed, statsGathersThreads(statsArgs(buf, cmd)))) return false;
    this.held = true;
    this.socket.pause();
    return true;
  }

  private onWritesResumed(): void {
    this.held = false;
    if (this.state === State.CLOSED) return;
    if (!this.blocked && !this.waiting_fetch) this.socket.resume();
    if (this.blocked || this.waiting_fetch || this.stash.bytes === null) return;
    this.resumeStash();
  }

  private onFetchDone(): void {
    this.waiting_fetch = false;
    this.skip_read_through = true;
    if (this.state === State.CLOSED) return;
    if (!this.blocked && !this.held) this.socket.resume();
    if (this.blocked || this.stash.bytes === null) return;
    this.resumeStash();
  }

  private runStash(): void {
    const stash = this.stash;
    if (stash.bytes === null) return;
    const used = this.run(stash.bytes, 0, stash.len);
    if (this.state === State.CLOSED) return;
    stash.consumed(used);
  }

  /** Executes what buf[start, end) holds; returns how far it got. */
  private run(buf: Uint8Array, start: number, end: number): number {
    let at = start;
    while (at < end && !this.blocked && !this.waiting_fetch && !this.held && this.state !== State.CLOSED) {
      if (this.state === State.VALUE) at = this.readValue(buf, at, end);
      else if (this.state === State.SWALLOW) at = this.swallow(at, end);
      else if (this.state === State.GET_SKIP) at = this.skipGetLine(buf, at, end);
      else {
        const next = this.state === State.GET_REST ? this.runGetRest(buf, at, end) : this.runCommand(buf, at, end);
        if (next < 0) break;
        at = next;
      }
      if (this.pending.bytes > output_pending_bytes_max) this.block();
    }
    return at;
  }

  /** Parses and executes one command; returns the offset after it, or -1 when more input is needed. */
  private runCommand(buf: Uint8Array, at: number, end: number): number {
    const cmd = command;
    const parse = parseCommand(buf, at, end, cmd);
    if (parse === Parse.NEED_MORE) return -1;
    if (parse === Parse.CLOSE) {
      this.close();
      return end;
    }
    this.commandSeen();
    if (!this.authenticated) return this.runUnauthenticated(cmd, buf, end);
    if (this.peer === null && isWrite(cmd.kind) && this.holdWrite()) return -1;
    if (cmd.kind === Cmd.STATS && this.peer === null && this.holdStats(cmd, buf)) return -1;
    const resuming = this.get_resume_off > 0;
    if (this.host.verbosity >= 2 && this.peer === null && !resuming) this.logCommand(buf, cmd);
    if (!isStorage(cmd.kind) && cmd.kind !== Cmd.MS && !(cmd.kind === Cmd.REP && this.peer !== null)) {
      if (!resuming && this.readThrough(cmd, buf)) return -1;
      if (parse === Parse.GET_PART) return this.beginGetLine(cmd, buf);
      if (isGet(cmd.kind)) return this.runGet(cmd, buf, true);
      this.execute(cmd, buf);
      return cmd.next;
    }
    const total = cmd.data_len + 2;
    if (end - cmd.next >= total) {
      if (cmd.kind === Cmd.MS) executeMetaSet(this.host.ctx, cmd, buf, cmd.next);
      else executeStoreInline(this.host.ctx, cmd, buf, cmd.next, this.repOp());
      if (this.peer !== null) this.peer.onApplied(cmd.kind);
      return cmd.next + total;
    }
    if (cmd.next - at + total <= value_inline_bytes_max) return -1;
    if (cmd.kind === Cmd.MS) this.beginMetaValue(cmd, buf);
    else this.beginValue(cmd, buf);
    return cmd.next;
  }

  /**
   * -Y before authentication: a `set` whose data is "user password" authenticates; anything else
   * is refused (a storage command's data skipped). Returns as runCommand does.
   */
  private runUnauthenticated(cmd: Command, buf: Uint8Array, end: number): number {
    const ctx = this.host.ctx;
    const access = this.host.access!;
    const total = isStorage(cmd.kind) ? cmd.data_len + 2 : 0;
    if (cmd.kind !== Cmd.SET || cmd.data_len > auth_token_bytes_max) {
      ctx.out.put(cmd.kind === Cmd.SET ? AuthReply.FAILURE : AuthReply.UNAUTHENTICATED);
      if (total > 0) this.beginSwallow(total);
      return cmd.next;
    }
    if (end - cmd.next < total) return -1;
    access.counters.auth_cmds++;
    const data_end = cmd.next + cmd.data_len;
    const chunk_ok = buf[data_end] === 13 && buf[data_end + 1] === 10;
    const ok = chunk_ok ? tokenAuthenticates(access.text_auth!, buf.subarray(cmd.next, data_end)) : false;
    if (ok === true) this.authenticated = true;
    else access.counters.auth_errors++;
    if (!chunk_ok) ctx.out.put(Reply.BAD_DATA_CHUNK);
    else ctx.out.put(ok === true ? Reply.STORED : ok === null ? AuthReply.BAD_FORMAT : AuthReply.FAILURE);
    return cmd.next + total;
  }

  /**
   * A get-like command's keys [keys_off, line_end), from the first or from where they stopped.
   * `last`: they end the line (END follows them). Returns the offset after them, or -1 when they
   * stopped at the output bound: then the connection blocks and the same range is run again from
   * `get_resume_off` on drain (END comes once, at the very end). A long key answers the line: the
   * rest of a line that is still arriving is skipped.
   */
  private runGet(cmd: Command, buf: Uint8Array, last: boolean): number {
    const resume_off = this.get_resume_off;
    const from = resume_off > 0 ? cmd.line_start + resume_off : cmd.keys_off;
    const stopped = executeGet(this.host.ctx, cmd, buf, from, last);
    if (stopped >= 0) {
      this.get_resume_off = stopped - cmd.line_start;
      this.block();
      return -1;
    }
    this.get_resume_off = 0;
    if (last) return cmd.next;
    if (nextKey(buf, cmd.keys_off, cmd.line_end)) this.get_keys_seen = true;
    if (stopped === GetDone.LONG_KEY) this.skipGetRest(null);
    else if (cmd.keys_final) this.skipGetRest(this.get_keys_seen ? Reply.END : Reply.ERROR);
    return cmd.next;
  }

  /** The first part of a get line longer than get_line_bytes_max (parser's GET_PART). */
  private beginGetLine(cmd: Command, buf: Uint8Array): number {
    if (this.get_resume_off === 0) {
      this.get_kind = cmd.kind;
      this.get_keys_seen = false;
    }
    const next = this.runGet(cmd, buf, false);
    // (stopped at the output bound, the line is parsed from its name again on drain)
    if (next >= 0 && this.state === State.COMMANDS) this.state = State.GET_REST;
    return next;
  }

  /** More of a long get line: its complete keys are executed, its unfinished last key waits. */
  private runGetRest(buf: Uint8Array, at: number, end: number): number {
    const cmd = command;
    const parse = parseGetRest(buf, at, end, cmd);
    if (parse === Parse.NEED_MORE) return -1;
    cmd.kind = this.get_kind;
    cmd.exptime = 0;
    this.commandSeen();
    if (this.get_resume_off === 0 && this.readThrough(cmd, buf)) return -1;
    if (parse === Parse.GET_PART) return this.runGet(cmd, buf, false);
    if (!this.get_keys_seen && !nextKey(buf, cmd.keys_off, cmd.line_end)) {
      this.host.ctx.out.put(Reply.ERROR); // `get` and spaces only: memcached's too-few-tokens ERROR
      return this.endGetLine(cmd.next);
    }
    const next = this.runGet(cmd, buf, true);
    return next < 0 ? -1 : this.endGetLine(next);
  }

  /** The rest of a long get line up to its '\n' carries nothing: skipped, then `reply` (if any). */
  private skipGetRest(reply: Uint8Array | null): void {
    this.get_skip_reply = reply;
    this.state = State.GET_SKIP;
  }

  private skipGetLine(buf: Uint8Array, at: number, end: number): number {
    const nl = buf.indexOf(10, at);
    if (nl < 0 || nl >= end) return end;
    if (this.get_skip_reply !== null) this.host.ctx.out.put(this.get_skip_reply);
    return this.endGetLine(nl + 1);
  }

  private endGetLine(next: number): number {
    this.state = State.COMMANDS;
    this.get_kind = 0;
    this.get_skip_reply = null;
    return next;
  }

  /** -vv: memcached's `<fd command` lines (the line only, never value bytes). */
  private logCommand(buf: Uint8Array, cmd: Command): void {
    const length = Math.min(cmd.line_end - cmd.line_start, log_line_bytes_max);
    const line = Buffer.from(buf.buffer, buf.byteOffset + cmd.line_start, length).toString("latin1");
    console.error(`<${this.id} ${line}`);
  }

  /** A get that misses during the peer's full copy asks the peer first (--serve-during-copy). */
  private readThrough(cmd: Command, buf: Uint8Array): boolean {
    if (this.peer !== null || !isGet(cmd.kind)) return false;
    if (this.skip_read_through) {
      this.skip_read_through = false;
      return false;
    }
    const read_through = this.host.ctx.read_through;
    if (read_through === null || !read_through.active()) return false;
    if (!read_through.fetchMissing(buf, cmd, this.fetchDone)) return false;
    this.waiting_fetch = true;
    this.socket.pause(); // what the client sends meanwhile (a long get line's rest) waits in the kernel
    return true;
  }

  private repOp(): number {
    return this.peer === null ? StoreOp.REP : this.peer.rep_op;
  }

  private execute(cmd: Command, buf: Uint8Array): void {
    const ctx = this.host.ctx;
    if (this.peer !== null && this.executePeerOnly(cmd, buf)) return;
    if (isMetaKind(cmd.kind)) {
      if (executeMeta(ctx, cmd, buf, this.host.now_s)) this.closeAfterWrite();
      return;
    }
    switch (cmd.kind) {
      case Cmd.QUIT:
        return this.closeAfterWrite();
      case Cmd.CLOSE:
        this.close();
        return;
    }
    if (!executeKeyCommand(ctx, cmd, buf)) this.host.executeAdmin(this, cmd, buf);
  }

  /** What only a replication peer may send: marugoto_end, and repcached's deferred delete. */
  private executePeerOnly(cmd: Command, buf: Uint8Array): boolean {
    const peer = this.peer!;
    if (cmd.kind === Cmd.MARUGOTO_END) {
      peer.onMarugotoEnd();
      return true;
    }
    if (cmd.kind === Cmd.FETCH) {
      peer.onFetch(cmd.num_lo, buf, cmd.keys_off, cmd.line_end);
      return true;
    }
    if (cmd.kind === Cmd.FETCHED) {
      peer.onFetched(cmd.num_lo);
      return true;
    }
    if (cmd.kind === Cmd.TOMB) {
      peer.onTomb(buf, cmd.key_off, cmd.key_len, cmd.num_lo, cmd.num_hi);
      return true;
    }
    if (cmd.kind === Cmd.FLUSH_BEFORE) {
      peer.onFlushBefore(cmd.num_lo, cmd.num_hi);
      return true;
    }
    if (cmd.kind === Cmd.COPY_TOTAL) {
      peer.onCopyTotal?.(cmd.num_lo);
      return true;
    }
    if (cmd.kind === Cmd.META_MARK) {
      this.host.ctx.store.metaMark(buf, cmd.key_off, cmd.key_len, cmd.num_lo, cmd.num_hi, cmd.flags);
      return true;
    }
    if (cmd.kind === Cmd.CLIENT_ERROR && cmd.error === ClientError.DELETE_USAGE && cmd.ntokens === 4) {
      this.deferredDelete(cmd, buf);
      peer.onApplied(Cmd.DELETE);
      return true;
    }
    if (cmd.kind === Cmd.FLUSH_ALL) {
      peer.onApplied(cmd.kind);
      this.host.ctx.counters.cmd_flush++;
      flushApply(this.host.ctx, cmd); // a peer's flush applies under -F too: the pair stays alike
      return true;
    }
    if (cmd.kind === Cmd.DELETE) peer.onApplied(cmd.kind);
    return false;
  }

  /**
   * `delete <key> <unix time>`: repcached 1.2.8's deferred delete hides the key at once and
   * delete-locks it until then. A time that is not a number (1.2.8: CLIENT_ERROR) changes nothing.
   */
  private deferredDelete(cmd: Command, buf: Uint8Array): void {
    const key_off = cmd.token_off[1]!;
    const key_len = cmd.token_len[1]!;
    if (key_len > key_bytes_max) return;
    if (!parseU64(buf, cmd.token_off[2]!, cmd.token_len[2]!) || parsed.hi !== 0) return;
    executeDeferredDelete(this.host.ctx, buf, key_off, key_len, parsed.lo);
  }

  /** An `ms` whose value streams: its line checked and answered now if bad (the value skipped). */
  private beginMetaValue(cmd: Command, buf: Uint8Array): void {
    const plan = (this.meta_plan ??= new MetaSetPlan());
    if (!metaSetBegin(this.host.ctx, cmd, buf, plan)) return this.beginSwallow(cmd.data_len + 2);
    this.beginValue(cmd, buf, plan.op);
  }

  /** `meta_op`: the store op of an `ms` (metaSetBegin counted it and rewrote cmd). */
  private beginValue(cmd: Command, buf: Uint8Array, meta_op = 0): void {
    const ctx = this.host.ctx;
    if (meta_op === 0) {
      ctx.counters.cmd_set++;
      ctx.detail.recordSet(buf, cmd.key_off, cmd.key_len);
    }
    this.value_kind = cmd.kind;
    this.value_noreply = cmd.noreply;
    this.value_cas_lo = casOperandLo(ctx, cmd);
    this.value_cas_hi = casOperandHi(ctx, cmd);
    if (itemTooLarge(ctx, cmd)) {
      storeFailedTooLarge(ctx, cmd, buf);
      return this.beginSwallow(cmd.data_len + 2);
    }
    const refused = lockedStoreReply(ctx, cmd, buf);
    if (refused !== null) {
      reply(ctx.out, refused, cmd.noreply);
      return this.beginSwallow(cmd.data_len + 2);
    }
    if (cmd.kind === Cmd.CAS || cmd.kind === Cmd.REP) ctx.store.setCas(this.value_cas_lo, this.value_cas_hi);
    const op = meta_op !== 0 ? meta_op : cmd.kind === Cmd.REP ? this.repOp() : storeOpOf(cmd.kind);
    if (this.host.staging.take(cmd.data_len)) {
      this.beginStaged(cmd, op);
    } else {
      const slot = ctx.store.reserve(
        op, buf, cmd.key_off, cmd.key_len, cmd.flags, cmd.exptime, cmd.data_len,
      );
      if (slot < 0) return this.refuseValue(slot, cmd.data_len + 2);
      this.slot = slot;
    }
    this.value_left = cmd.data_len;
    this.crlf_left = 2;
    this.crlf_ok = true;
    // kept for replication and for the key's delete lock (one may arrive while the value streams)
    this.value_key ??= new Uint8Array(key_bytes_max); // once per connection, reused
    for (let i = 0; i < cmd.key_len; i++) this.value_key[i] = buf[cmd.key_off + i]!;
    this.value_key_len = cmd.key_len;
    this.state = State.VALUE;
  }

  /** Stages the value (its bytes already charged to host.staging); see staging.ts. */
  private beginStaged(cmd: Command, op: number): void {
    this.staged = new Uint8Array(cmd.data_len);
    this.staged_len = 0;
    this.value_op = op;
    this.value_flags = cmd.flags;
    this.value_exptime = exptimeFrom(cmd.exptime, this.host.now_s);
  }

  /** The store's refusal (a status): counted, answered, and `swallow_bytes` of input skipped. */
  private refuseValue(status: number, swallow_bytes: number): void {
    const ctx = this.host.ctx;
    countRefusal(ctx.counters, status);
    reply(ctx.out, storeReply(status, this.value_kind), this.value_noreply);
    if (swallow_bytes > 0) this.beginSwallow(swallow_bytes);
  }

  /** A complete staged value into a reserved item: the slot, or the store's refusal status. */
  private reserveStaged(): number {
    const staged = this.staged!;
    const store = this.host.ctx.store;
    const key = this.value_key!;
    const slot = store.reserve(this.value_op, key, 0, this.value_key_len, this.value_flags, this.value_exptime, staged.length);
    if (slot >= 0) store.fill(slot, staged, 0, staged.length);
    return slot;
  }

  /** Gives up the value being received: its reservation aborted, its staged bytes released. */
  private dropValue(): void {
    if (this.slot >= 0) this.host.ctx.store.abort(this.slot);
    this.slot = -1;
    if (this.staged !== null) this.host.staging.give(this.staged.length);
    this.staged = null;
  }

  private beginSwallow(n: number): void {
    this.swallow_left = n;
    this.state = State.SWALLOW;
  }

  private swallow(at: number, end: number): number {
    const n = Math.min(end - at, this.swallow_left);
    this.swallow_left -= n;
    if (this.swallow_left === 0) this.state = State.COMMANDS;
    return at + n;
  }

  private readValue(buf: Uint8Array, at: number, end: number): number {
    const store = this.host.ctx.store;
    if (this.value_left > 0) {
      const n = Math.min(end - at, this.value_left);
      if (this.staged === null) {
        store.fill(this.slot, buf, at, n);
      } else {
        this.staged.set(buf.subarray(at, at + n), this.staged_len);
        this.staged_len += n;
      }
      this.value_left -= n;
      at += n;
    }
    while (this.value_left === 0 && this.crlf_left > 0 && at < end) {
      const expected = this.crlf_left === 2 ? 13 : 10;
      if (buf[at] !== expected) this.crlf_ok = false;
      this.crlf_left--;
      at++;
    }
    if (this.value_left === 0 && this.crlf_left === 0) this.finishValue();
    return at;
  }

  private finishValue(): void {
    const ctx = this.host.ctx;
    this.state = State.COMMANDS;
    if (!this.crlf_ok) {
      this.dropValue();
      return reply(ctx.out, Reply.BAD_DATA_CHUNK, this.value_noreply);
    }
    let slot = this.slot;
    this.slot = -1;
    if (this.staged !== null) slot = this.reserveStaged();
    this.dropValue(); // the staged bytes are in the store now (or refused)
    if (slot < 0) return this.refuseValue(slot, 0);
    const kind = this.value_kind;
    if (kind === Cmd.CAS || kind === Cmd.REP || kind === Cmd.MS) ctx.store.setCas(this.value_cas_lo, this.value_cas_hi);
    const status = ctx.store.commit(slot);
    if (this.peer !== null) this.peer.onApplied(this.value_kind);
    const key = this.value_key;
    if (status === Status.OK && key !== null) {
      releaseDeleteLock(ctx, key, 0, this.value_key_len);
      if (ctx.mutations !== null) ctx.mutations.stored(key, 0, this.value_key_len);
    }
    if (this.value_kind === Cmd.MS) return metaSetReply(ctx, status, this.meta_plan!, key!, 0, this.value_key_len);
    reply(ctx.out, storeReply(status, this.value_kind), this.value_noreply);
  }

  /** Writes the batch's replies (or queues them behind earlier unsent ones). */
  flushOutput(): void {
    const out = this.host.ctx.out;
    const n = out.len;
    out.len = 0;
    if (this.state === State.CLOSED && !this.close_after_write) return;
    if (n > 0) this.write(out.buf, n);
    if (this.close_after_write && this.pending.bytes === 0) this.close();
  }

  private write(buf: Uint8Array, n: number): void {
    const written = this.pending.send(this.socket, buf, 0, n);
    if (written < 0) return this.onClose();
    this.host.ctx.out.backlog_bytes = this.pending.bytes;
    this.host.bytesWritten(written);
  }

  private writePending(): void {
    const written = this.pending.flush(this.socket);
    if (written < 0) return this.onClose();
    this.host.bytesWritten(written);
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.socket.pause();
  }

  /** Closes once this batch's replies are written (quit, an `ms` without a usable length). */
  private closeAfterWrite(): void {
    this.close_after_write = true;
    this.state = State.CLOSED;
  }

  private commandSeen(): void {
    this.last_cmd_s = this.host.now_s;
    this.last_cmd_tick = this.host.clock_ticks;
  }

  /**
   * Whether the connection waits for its client's next command — the only state memcached's idle
   * kicker closes: not inside a value (a small one waits in the stash behind its line), not writing
   * a backlog, not held by replication's gate or a read-through.
   */
  awaitingCommand(): boolean {
    if (this.binary !== null) return this.binary.awaitingCommand();
    const reading = this.state === State.COMMANDS || this.state === State.GET_REST || this.state === State.GET_SKIP;
    if (!reading) return false;
    if (this.blocked || this.held || this.waiting_fetch || this.close_after_write) return false;
    if (this.pending.bytes > 0) return false;
    // a stashed complete line is a storage command waiting for its value (memcached's conn_nread)
    const stash = this.stash;
    return stash.len === 0 || parseCommand(stash.bytes!, 0, stash.len, probe) !== Parse.LINE;
  }

  /** Closes after what was already queued is written. */
  close(): void {
    this.state = State.CLOSED;
    this.close_after_write = false;
    this.socket.end();
  }

  /** Closes at once (input bound exceeded). */
  private abort(): void {
    this.state = State.CLOSED;
    this.socket.terminate();
  }
}

/** A text `stats` line's arguments, one space apart ("" for plain `stats`). */
function statsArgs(buf: Uint8Array, cmd: Command): string {
  const words: string[] = [];
  for (let i = 1; i < cmd.ntokens - 1; i++) words.push(tokenText(buf, cmd, i));
  return words.join(" ");
}
