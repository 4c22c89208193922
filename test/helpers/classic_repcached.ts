// A classic repcached 2.2.1 emulator (memcached 1.2.8 + KLab's replication patch), for tests.
// Real repcached 2.2.1 cannot be installed here, so this standalone Bun program plays it, written
// from /work/shared/spec/repcached-replication.md (sections 1-6, 8, 9 and 10 for the protocol).
//
//   bun test/helpers/classic_repcached.ts -p <port> [-x <peer>] [-X L[:C]] [-l 127.0.0.1] [-q <n>]
//                                         [-v|-vv] [--in-order]
//
// Covered (as the spec describes the real binary):
// - Startup: with -x one connect to peer:C (`replication: connect (peer=IP:C)`, then
//   `marugoto copying`); the client port opens only on `marugoto_end` (`replication: start`). A failed
//   connect logs `marugoto copying` + `close` (loopback's asynchronous failure), then the node listens
//   on L (`replication: listen`) and opens its client port. Without -x it listens from the start and
//   a bind failure exits 1; after a failed -x connect a bind failure leaves it with no client port.
// - The listener accepts ONE peer (`accept`), closes its listen socket (a second connector is refused;
//   one that slips in is closed with `already connected`) and sends a full copy: every key of the
//   table (newest first), one key per pipe event, each as the state at send time, then
//   `marugoto_end`; logs `marugoto start`, `marugoto <n>`, `marugoto owari` (none for an empty cache).
//   The connector sends no copy.
// - Both sides send their own clients' mutations, state-based: the queue holds (type, key[, time]),
//   the item is looked up raw when the entry is serialized: `rep <k> <signed flags> <abs exptime>
//   <bytes> <cas low 32 bits>` or `delete <k>` when it is gone; `delete <k> <abs>` for a deferred
//   delete; `flush_all ` / `flush_all <realtime(N)+start>` (so `flush_all 0` sends the start time,
//   which a receiver treats as "no flush": the spec's bug, kept).
// - Batch order: each pipe event takes up to 256 queued entries and, like the real binary, sends
//   them in REVERSE order (pipelined `set p1; set p2; set p3; delete p2` goes out as `delete p2, rep
//   p3, delete p2, rep p1`). `--in-order` sends them in order instead (an emulator-only switch).
// - The replication connection is parsed as a client connection with `rep` / `marugoto_end` allowed;
//   out_string replies (STORED, DELETED, OK, ERROR, ...) are not written back, get/gets/bget and
//   stats replies are (a repcached-bun connector's `get rcb1:hello:...` is answered `END`). Nothing
//   applied from the peer is queued again (no echo). `rep` has set semantics (overrides delete locks,
//   takes flags/exptime/cas from the line).
// - Queue bound -q (default 8192; when full the pipe is drained synchronously), send buffer bound
//   256 MiB (`replication: alloc error: wsize over MAX_SENDBUF_SIZE`, link dropped). Unsent bytes are
//   written at the end of every event (client input, pipe, replication input), never on a socket
//   drain: like the real binary, a full socket stalls until the next event.
// - Link loss (EOF, error, overflow): `replication: close`, queue and unsent bytes dropped, then
//   the node binds L and listens again (`replication: listen`), whichever role it had. Never reconnects.
// - SIGINT/SIGTERM: `got signal N`; with a peer: queued entries are sent, `cleanup start`, clients
//   are no longer served, the send buffer drains (3 waits of 1 s without progress: `cleanup error`,
//   exit 1), then `close`, `cleanup complete`, exit 0.
// - memcached 1.2.8 text protocol subset: set/add/replace/append/prepend/cas (+noreply), get/bget/gets,
//   delete [time] (deferred delete: the key is hidden and delete-locked; add/replace/append/prepend
//   answer NOT_STORED, cas and incr/decr NOT_FOUND while locked; set and rep override the lock),
//   incr/decr (strtoull value, non-numeric counts as 0, in-place results padded with spaces, wrap /
//   floor), flush_all [time] [noreply] (1.2.8's oldest_live rule), stats (30 values with
//   `replication MASTER` and repcached_*), stats reset, version (`VERSION 1.2.8`), verbosity, quit.
//   Expiry: 0 never, up to 30 days relative, larger absolute (at or before start: expired), negative
//   expired. Flags are an int (4294967295 reads back as -1). Its own cas counter.
//
// Not covered: UDP (the real one always opens one), -d/-u/-s/-P, evictions (no memory limit, so no
// `delete` for evicted keys), the O(n^2) buffer growth and the 2 KiB steps beyond what
// repcached_wsize reports, -vv `REP>` reply logging, stats subcommands other than reset, the
// exact error texts of rarer malformed lines, `cas` against a delete-locked item (1.2.8 compares
// with the hidden item; here: NOT_FOUND), a deferred delete of a missing key on the receiver (no
// lock, as 1.2.8), the 5-second delete timer (locks end exactly at their time here), LRU access
// times (1.2.8's delayed flush keys on last access; here on last store), the idle-time current_time
// tick (computed per request here), synchronous connect failures (`can't connect` on stdout).
// Diagnostics not in the real binary: at -v an `emulator: unexpected on replication: <line>` line for
// every line the replication connection answered with ERROR/CLIENT_ERROR (tests assert there is none);
// at -vv the reason a replication bind failed (`emulator: bind ...`).

import type { Socket, TCPSocketListener } from "bun";
import { lookup } from "node:dns/promises";

// ---- settings ----

interface Settings {
  port: number;
  listen_host: string;
  peer: string | null;
  listen_port: number;
  connect_port: number;
  qi_max: number;
  verbosity: number;
  in_order: boolean;
}

function usage(message: string): never {
  console.error(`classic_repcached: ${message}`);
  process.exit(64);
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = {
    port: 11211, listen_host: "0.0.0.0", peer: null, listen_port: 11212, connect_port: 11212, qi_max: 8192,
    verbosity: 0, in_order: false,
  };
  const value = (i: number): string => argv[i + 1] ?? usage(`${argv[i]} needs a value`);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-v") s.verbosity = Math.max(s.verbosity, 1);
    else if (a === "-vv") s.verbosity = 2;
    else if (a === "--in-order") s.in_order = true;
    else if (a === "-p") s.port = Number(value(i++));
    else if (a === "-l") s.listen_host = value(i++);
    else if (a === "-x") s.peer = value(i++);
    else if (a === "-q") s.qi_max = Number(value(i++));
    else if (a === "-X") {
      const [l, c] = value(i++).split(":");
      s.listen_port = Number(l);
      s.connect_port = c === undefined ? s.listen_port : Number(c);
    } else if (a === "-m" || a === "-c" || a === "-U" || a === "-t") i++; // accepted, no effect here
    else usage(`unknown option ${a}`);
  }
  for (const n of [s.port, s.listen_port, s.connect_port]) if (!Number.isInteger(n) || n < 0 || n > 65535) usage("bad port");
  if (!Number.isInteger(s.qi_max) || s.qi_max < 1) usage("bad -q");
  return s;
}

const settings = parseArgs(process.argv.slice(2));

function log(level: number, text: string): void {
  if (settings.verbosity >= level) console.error(text);
}

// ---- clock (memcached 1.2.8: rel_time_t seconds since process_started) ----

const thirty_days_s = 2_592_000;
/** The process start is taken 2 s back (as memcached's clock does), so relative time 1 — what
 *  realtime() gives a time already past — is in the past from the first request on. */
const started_s = Math.floor(Date.now() / 1000) - 2;

function currentTime(): number {
  return Math.floor(Date.now() / 1000) - started_s;
}

/** 1.2.8's realtime(): a protocol time (0, relative, or absolute unix) as relative time; 0 = never. */
function realtime(exptime: number): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return 1; // negative: expired at once
  if (exptime > thirty_days_s) return exptime <= started_s ? 1 : exptime - started_s;
  return exptime + currentTime();
}

// ---- bounds ----

const key_bytes_max = 250;
const item_size_max = 1024 * 1024;
/** An item (header, key, suffix, data) must fit one slab page: 1.2.8 refuses values this close to it. */
const item_overhead_bytes = 400;
/** A command line without '\n' beyond this closes the connection (1.2.8 has no limit but memory). */
const line_bytes_max = 64 * 1024;
/** Pointers one pipe read takes (2048 bytes of 8-byte pointers). */
const pipe_batch_items_max = 256;
/** repcached's MAX_SENDBUF_SIZE. */
const sendbuf_bytes_max = 256 * 1024 * 1024;
const sendbuf_step_bytes = 2048;
/** Shutdown: give up after this many 1 s waits without progress. */
const cleanup_stalls_max = 3;
const cleanup_wait_ms = 1000;

// ---- the item store ----

interface Item {
  flags: number; // int32, as 1.2.8 stores it
  exptime: number; // relative time, 0 = never
  time: number; // relative time of the last store (for flush_all's oldest_live)
  cas: number;
  value: Buffer;
}

const items = new Map<string, Item>();
/** Deferred deletes: key -> relative time the delete lock ends. */
const locks = new Map<string, number>();
let oldest_live = 0;
let cas_counter = 0;
const stats = {
  total_items: 0, cmd_get: 0, cmd_set: 0, cmd_flush: 0, get_hits: 0, get_misses: 0, bytes_read: 0, bytes_written: 0,
  curr_connections: 0, total_connections: 0,
};

function nextCas(): number {
  return ++cas_counter;
}

function lockedNow(key: string): boolean {
  const until = locks.get(key);
  if (until === undefined) return false;
  if (currentTime() < until) return true;
  locks.delete(key);
  return false;
}

/** 1.2.8's item_get: hidden while delete-locked, invalid once flushed or expired (unlinked lazily). */
function itemGet(key: string): Item | undefined {
  if (lockedNow(key)) return undefined;
  const it = items.get(key);
  if (it === undefined) return undefined;
  const now = currentTime();
  if ((oldest_live !== 0 && oldest_live <= now && it.time <= oldest_live) || (it.exptime !== 0 && it.exptime <= now)) {
    items.delete(key);
    return undefined;
  }
  return it;
}

function link(key: string, flags: number, exptime: number, value: Buffer, cas: number): void {
  items.set(key, { flags, exptime, time: currentTime(), cas, value });
  locks.delete(key); // set (and rep) replace the hidden item: the lock goes with it
  stats.total_items++;
}

type Comm = "set" | "add" | "replace" | "append" | "prepend" | "cas" | "rep";

/** 1.2.8's do_store_item: the reply word. */
function storeItem(comm: Comm, key: string, flags: number, exptime: number, value: Buffer, cas_in: number): string {
  const old = itemGet(key);
  const locked = old === undefined && lockedNow(key);
  if (comm === "rep") {
    link(key, flags, exptime, value, cas_in);
    return "STORED";
  }
  if (old !== undefined && comm === "add") return "NOT_STORED";
  if (old === undefined && (comm === "replace" || comm === "append" || comm === "prepend")) return "NOT_STORED";
  if (locked && (comm === "add" || comm === "replace")) return "NOT_STORED";
  if (comm === "cas") {
    if (old === undefined) return "NOT_FOUND";
    if (old.cas !== cas_in) return "EXISTS";
  }
  if (comm === "append" || comm === "prepend") {
    const joined = comm === "append" ? Buffer.concat([old!.value, value]) : Buffer.concat([value, old!.value]);
    if (joined.length + key.length + item_overhead_bytes > item_size_max) return "SERVER_ERROR out of memory storing object";
    link(key, old!.flags, old!.exptime, joined, nextCas());
    return "STORED";
  }
  link(key, flags, exptime, value, nextCas());
  return "STORED";
}

/** `delete <key> [time]`: true if the key was there. A time > 0 hides it and locks it until then. */
function deleteItem(key: string, lock_until: number): boolean {
  if (itemGet(key) === undefined) return false;
  items.delete(key);
  if (lock_until > currentTime()) locks.set(key, lock_until);
  return true;
}

/** 1.2.8's flush: oldest_live, then unlink what was stored at or after it. */
function flushItems(exptime: number): void {
  stats.cmd_flush++;
  oldest_live = exptime > 0 ? realtime(exptime) - 1 : currentTime() - 1;
  if (oldest_live === 0) return;
  for (const [key, it] of items) if (it.time >= oldest_live) items.delete(key);
  if (oldest_live <= currentTime()) items.clear();
}

const two64 = 1n << 64n;

/** strtoull on the item's data: leading space, optional sign, digits; anything else counts as 0. */
function numericValue(value: Buffer): bigint {
  const match = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(value.toString("latin1"));
  if (match === null) return 0n;
  let n = BigInt(match[2]!);
  if (n >= two64) n = two64 - 1n;
  return match[1] === "-" ? (two64 - n) % two64 : n;
}

/** 1.2.8's do_add_delta: the reply (the new number), or null when the key is missing. */
function addDelta(key: string, incr: boolean, delta: bigint): string | null {
  const it = itemGet(key);
  if (it === undefined) return null;
  const value = numericValue(it.value);
  const next = incr ? (value + delta) % two64 : delta > value ? 0n : value - delta;
  const text = next.toString();
  if (text.length > it.value.length) {
    link(key, it.flags, it.exptime, Buffer.from(text, "latin1"), nextCas());
  } else {
    it.value = Buffer.from(text.padEnd(it.value.length, " "), "latin1"); // in place, padded
    it.cas = nextCas();
    it.time = currentTime();
  }
  return text;
}

// ---- replication: the queue ("pipe"), the send buffer, the link ----

const QType = { REP: 0, DEL: 1, DEFER_DEL: 2, FLUSH: 3, FLUSH_DELAYED: 4 } as const;

interface QItem {
  type: number;
  key: string;
  time: number; // absolute unix time (deferred delete, delayed flush)
}

type LinkSocket = Socket<{ session: Session | null }>;

class Replication {
  private queue: QItem[] = [];
  private pipe_scheduled = false;
  private send: Buffer[] = [];
  private send_bytes = 0;
  private wsize = 0;
  link: LinkSocket | null = null;
  private link_session: Session | null = null;
  private listener: TCPSocketListener<{ session: Session | null }> | null = null;
  private copy: { keys: string[]; next: number; sent: number } | null = null;
  /** The connector waits for the listener's marugoto_end before serving clients. */
  waiting_copy = false;
  private cleanup = false;
  private closing = false;

  /** A client's successful mutation (never called for what the peer sent). */
  enqueue(type: number, key: string, time = 0): void {
    if (this.link === null || this.cleanup) return;
    if (this.queue.length >= settings.qi_max) this.pipeEvent(); // repcached drains the pipe and retries
    this.queue.push({ type, key, time });
    this.schedulePipe();
  }

  private schedulePipe(): void {
    if (this.pipe_scheduled) return;
    this.pipe_scheduled = true;
    setImmediate(() => {
      this.pipe_scheduled = false;
      this.pipeEvent();
    });
  }

  /** One pipe read: up to 256 entries, serialized in reverse order (repcached), then one copy key. */
  private pipeEvent(): void {
    if (this.link === null) return;
    const batch = this.queue.splice(0, pipe_batch_items_max);
    if (!settings.in_order) batch.reverse();
    for (const q of batch) {
      this.serialize(q);
      if (this.link === null) return;
    }
    if (this.copy !== null) this.copyStep();
    this.flushWrites();
    if (this.link === null) return;
    if (this.queue.length > 0 || this.copy !== null) return this.schedulePipe();
    if (this.cleanup) void this.drainAndExit();
  }

  private serialize(q: QItem): void {
    switch (q.type) {
      case QType.REP: return this.putItemState(q.key);
      case QType.DEL: return this.put(`delete ${q.key}\r\n`);
      case QType.DEFER_DEL: return this.put(`delete ${q.key} ${q.time}\r\n`);
      case QType.FLUSH: return this.put("flush_all \r\n");
      case QType.FLUSH_DELAYED: return this.put(`flush_all ${q.time}\r\n`);
    }
  }

  /** The key's state now, from the raw table (assoc_find: no expiry or flush check). */
  private putItemState(key: string): void {
    const it = items.get(key);
    if (it === undefined) return this.put(`delete ${key}\r\n`);
    const exptime = it.exptime === 0 ? 0 : it.exptime + started_s;
    const flags = it.flags | 0;
    const cas = it.cas % 4294967296;
    this.put(Buffer.concat([
      Buffer.from(`rep ${key} ${flags} ${exptime} ${it.value.length} ${cas}\r\n`, "latin1"), it.value, crlf,
    ]));
  }

  /** Appends to the send buffer; past MAX_SENDBUF_SIZE the link is dropped. */
  put(data: string | Buffer): void {
    if (this.link === null) return;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (this.send_bytes + bytes.length > sendbuf_bytes_max) {
      console.error("replication: alloc error: wsize over MAX_SENDBUF_SIZE");
      console.error("replication: rep alloc error");
      return this.close();
    }
    this.send.push(bytes);
    this.send_bytes += bytes.length;
    while (this.wsize < this.send_bytes) this.wsize += sendbuf_step_bytes;
  }

  /** Non-blocking write of what is pending (the end of every drive_machine call). */
  flushWrites(): void {
    const socket = this.link;
    while (socket !== null && this.send.length > 0) {
      const chunk = this.send[0]!;
      const n = socket.write(chunk);
      if (n < 0) {
        console.error("replication: send error: write failed");
        return this.close();
      }
      this.send_bytes -= n;
      if (n < chunk.length) {
        this.send[0] = chunk.subarray(n);
        return;
      }
      this.send.shift();
    }
  }

  // ---- full copy (listener only) ----

  private startCopy(): void {
    const keys = [...items.keys()].reverse(); // newest first, like the capture in spec section 9
    if (keys.length === 0) {
      this.put("marugoto_end\r\n");
      this.flushWrites();
      return;
    }
    log(1, "replication: marugoto start");
    this.copy = { keys, next: 0, sent: 0 };
    this.schedulePipe();
  }

  /** One live key of the snapshot (keys item_get no longer finds are skipped), or the end marker. */
  private copyStep(): void {
    const copy = this.copy!;
    while (copy.next < copy.keys.length) {
      const key = copy.keys[copy.next++]!;
      if (itemGet(key) === undefined) continue;
      copy.sent++;
      return this.putItemState(key);
    }
    this.copy = null;
    this.put("marugoto_end\r\n");
    log(1, `replication: marugoto ${copy.sent}`);
    log(1, "replication: marugoto owari");
  }

  // ---- roles ----

  private handlers() {
    return {
      open: (socket: LinkSocket) => this.onAccept(socket),
      data: (socket: LinkSocket, chunk: Buffer) => this.onData(socket, chunk),
      close: (socket: LinkSocket) => this.onSocketClosed(socket),
      error: (socket: LinkSocket) => this.onSocketClosed(socket),
      drain: () => {},
    };
  }

  /** Binds L. Returns false (and says so) when it cannot. */
  listen(): boolean {
    try {
      this.listener = Bun.listen<{ session: Session | null }>({
        hostname: settings.listen_host, port: settings.listen_port, socket: this.handlers(),
      });
    } catch (error) {
      console.error("replication: failed to initialize replication server socket");
      log(2, `emulator: bind ${settings.listen_host}:${settings.listen_port}: ${String(error)}`);
      return false;
    }
    log(1, "replication: listen");
    return true;
  }

  private onAccept(socket: LinkSocket): void {
    if (this.link !== null || this.cleanup) {
      console.error("replication: already connected");
      socket.data = { session: null };
      socket.terminate();
      return;
    }
    log(1, "replication: accept");
    this.listener?.stop(false);
    this.listener = null;
    this.attach(socket);
    this.startCopy();
  }

  private attach(socket: LinkSocket): void {
    socket.setNoDelay?.(true);
    this.link = socket;
    this.link_session = new Session(true, (data) => this.put(data), () => this.close());
    socket.data = { session: this.link_session };
  }

  /** With -x: one connect, at startup only. Resolves once clients may be served (or never). */
  async connect(peer: string): Promise<boolean> {
    let ip: string;
    try {
      ip = (await lookup(peer, { family: 4 })).address;
    } catch {
      console.error(`Illegal address: ${peer}`);
      process.exit(1);
    }
    log(1, `replication: connect (peer=${ip}:${settings.connect_port})`);
    const handlers = {
      ...this.handlers(),
      open: (socket: LinkSocket) => {
        log(1, "replication: marugoto copying");
        this.waiting_copy = true;
        this.attach(socket);
      },
      connectError: () => {},
    };
    try {
      await Bun.connect<{ session: Session | null }>({ hostname: ip, port: settings.connect_port, socket: handlers });
      return true;
    } catch {
      log(1, "replication: marugoto copying");
      log(1, "replication: close");
      return false;
    }
  }

  private onData(socket: LinkSocket, chunk: Buffer): void {
    const session = socket.data?.session;
    if (session === null || session === undefined || socket !== this.link || this.cleanup) return;
    session.feed(chunk);
    this.flushWrites();
  }

  /** `marugoto_end` arrived: a waiting connector starts serving clients. */
  marugotoEnd(): void {
    log(1, "replication: start");
    this.waiting_copy = false;
    openClientPort();
  }

  private onSocketClosed(socket: LinkSocket): void {
    if (socket === this.link) this.close();
  }

  /** replication_close: forget the queue and the unsent bytes, then listen again (any role). */
  close(): void {
    if (this.link === null || this.closing) return;
    this.closing = true;
    const socket = this.link;
    this.link = null;
    this.link_session = null;
    log(1, "replication: close");
    this.queue = [];
    this.send = [];
    this.send_bytes = 0;
    this.wsize = 0;
    this.copy = null;
    socket.terminate();
    this.closing = false;
    if (this.cleanup) process.exit(0); // the peer went away while we drained: nothing left to send

    this.waiting_copy = false;
    if (this.listen()) openClientPort();
  }

  // ---- shutdown ----

  /** SIGINT/SIGTERM with a peer: the NULL marker goes through the pipe behind what is queued. */
  shutdown(): void {
    if (this.link === null) process.exit(0);
    if (this.cleanup) return;
    this.cleanup = true;
    this.copy = null;
    this.schedulePipe();
  }

  private async drainAndExit(): Promise<void> {
    log(1, "replication: cleanup start");
    stopServingClients();
    let stalls = 0;
    while (this.link !== null && this.send_bytes > 0) {
      const before = this.send_bytes;
      this.flushWrites();
      if (this.send_bytes === 0) break;
      await Bun.sleep(cleanup_wait_ms);
      this.flushWrites();
      if (this.send_bytes < before) stalls = 0;
      else if (++stalls >= cleanup_stalls_max) {
        console.error("replication: cleanup error");
        process.exit(1);
      }
    }
    const socket = this.link;
    this.link = null; // its close event must not run replication_close
    socket?.end();
    log(1, "replication: close");
    log(1, "replication: cleanup complete");
    process.exit(0);
  }

  statsLines(): string {
    return `STAT replication MASTER\r\nSTAT repcached_version 2.2.1\r\n` +
      `STAT repcached_qi_free ${settings.qi_max - this.queue.length}\r\n` +
      `STAT repcached_wdata ${this.send_bytes}\r\nSTAT repcached_wsize ${this.wsize}\r\n`;
  }
}

const crlf = Buffer.from("\r\n", "latin1");

// ---- the text protocol (one Session per client connection, one for the replication link) ----

const ClientErr = {
  FORMAT: "CLIENT_ERROR bad command line format",
  KEY: "CLIENT_ERROR bad command line format!",
  NUMBER: "CLIENT_ERROR bad command line format!!",
  DELTA_KEY: "CLIENT_ERROR bad command line format!!!",
  DELTA: "CLIENT_ERROR bad command line format!!!!",
  DELETE_KEY: "CLIENT_ERROR bad command line format!!!!!",
  DELETE_TIME: "CLIENT_ERROR bad command line format!!!!!!",
  FLUSH_TIME: "CLIENT_ERROR bad command line format!!!!!!!!",
} as const;

interface PendingValue {
  comm: Comm;
  key: string;
  flags: number;
  exptime: number;
  bytes: number;
  cas: number;
  noreply: boolean;
  swallow: boolean;
}

class Session {
  private input: Buffer = Buffer.alloc(0);
  private value: PendingValue | null = null;
  private closed = false;

  constructor(
    readonly peer: boolean,
    private readonly write: (data: string | Buffer) => void,
    private readonly closeConnection: () => void,
  ) {}

  feed(chunk: Buffer): void {
    stats.bytes_read += chunk.length;
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    while (!this.closed && this.step()) { /* one command or value per step */ }
  }

  /** Executes one command line or one data block; false when more input is needed. */
  private step(): boolean {
    if (this.value !== null) return this.readValue(this.value);
    const nl = this.input.indexOf(10);
    if (nl < 0) {
      if (this.input.length > line_bytes_max) this.close();
      return false;
    }
    const end = nl > 0 && this.input[nl - 1] === 13 ? nl - 1 : nl;
    const line = this.input.toString("latin1", 0, end);
    this.input = this.input.subarray(nl + 1);
    this.command(line);
    return true;
  }

  private close(): void {
    this.closed = true;
    this.closeConnection();
  }

  /** A reply through 1.2.8's out_string: dropped on the replication connection. */
  private outString(text: string, noreply = false): void {
    if (text.startsWith("ERROR") || text.startsWith("CLIENT_ERROR")) this.noteUnexpected(text);
    if (noreply || this.peer) return;
    this.write(text + "\r\n");
  }

  private current_line = "";
  private noteUnexpected(reply: string): void {
    if (this.peer) log(1, `emulator: unexpected on replication: ${this.current_line} -> ${reply}`);
  }

  private command(line: string): void {
    this.current_line = line;
    const tokens = line.split(" ").filter((t) => t.length > 0);
    const name = tokens[0] ?? "";
    if (settings.verbosity >= 2) console.error(`<${this.peer ? "rep" : "client"} ${line}`);
    switch (name) {
      case "get": case "bget": case "gets": return this.get(tokens, name === "gets");
      case "set": case "add": case "replace": case "append": case "prepend": case "cas":
        return this.update(tokens, name);
      case "rep": return this.peer ? this.update(tokens, "rep") : this.outString("ERROR");
      case "marugoto_end":
        if (!this.peer) return this.outString("ERROR");
        return replication.marugotoEnd();
      case "incr": case "decr": return this.delta(tokens, name === "incr");
      case "delete": return this.delete(tokens);
      case "flush_all": return this.flush(tokens);
      case "stats": return this.stats(tokens);
      case "version": return this.outString("VERSION 1.2.8");
      case "verbosity":
        if (tokens.length < 2) return this.outString("ERROR");
        return this.outString("OK", tokens[tokens.length - 1] === "noreply");
      case "quit": return this.close();
    }
    this.outString("ERROR");
  }

  private get(tokens: string[], with_cas: boolean): void {
    if (tokens.length < 2) return this.outString("ERROR");
    const parts: Buffer[] = [];
    for (const key of tokens.slice(1)) {
      if (key.length > key_bytes_max) return this.outString(ClientErr.FORMAT);
      stats.cmd_get++;
      const it = itemGet(key);
      if (it === undefined) {
        stats.get_misses++;
        continue;
      }
      stats.get_hits++;
      const cas = with_cas ? ` ${it.cas}` : "";
      parts.push(Buffer.from(`VALUE ${key} ${it.flags | 0} ${it.value.length}${cas}\r\n`, "latin1"), it.value, crlf);
    }
    parts.push(Buffer.from("END\r\n", "latin1"));
    this.write(Buffer.concat(parts)); // not out_string: written back even on the replication connection
  }

  private update(tokens: string[], comm: Comm): void {
    const with_cas = comm === "cas" || comm === "rep";
    const base = with_cas ? 6 : 5;
    const noreply = tokens.length === base + 1 && tokens[base] === "noreply" && comm !== "rep";
    if (tokens.length !== base && !noreply) return this.outString("ERROR");
    const key = tokens[1]!;
    if (key.length > key_bytes_max) return this.outString(ClientErr.KEY);
    const flags = parseInteger(tokens[2]!);
    const exptime = parseInteger(tokens[3]!);
    const bytes = parseInteger(tokens[4]!);
    const cas = with_cas ? parseInteger(tokens[5]!) : 0;
    if (flags === null || exptime === null || bytes === null || cas === null) return this.outString(ClientErr.NUMBER);
    if (bytes < 0) return this.outString(ClientErr.FORMAT);
    stats.cmd_set++;
    const swallow = bytes + key.length + item_overhead_bytes > item_size_max;
    this.value = { comm, key, flags: flags | 0, exptime: realtime(exptime), bytes, cas, noreply, swallow };
  }

  private readValue(v: PendingValue): boolean {
    if (this.input.length < v.bytes + 2) return false;
    const data = Buffer.from(this.input.subarray(0, v.bytes));
    const ok = this.input[v.bytes] === 13 && this.input[v.bytes + 1] === 10;
    this.input = this.input.subarray(v.bytes + 2);
    this.value = null;
    if (v.swallow) return (this.outString("SERVER_ERROR object too large for cache", v.noreply), true);
    if (!ok) return (this.outString("CLIENT_ERROR bad data chunk", v.noreply), true);
    const result = storeItem(v.comm, v.key, v.flags, v.exptime, data, v.cas);
    if (result === "STORED" && !this.peer) replication.enqueue(QType.REP, v.key);
    this.outString(result, v.noreply);
    return true;
  }

  private delta(tokens: string[], incr: boolean): void {
    const noreply = tokens.length === 4 && tokens[3] === "noreply";
    if (tokens.length !== 3 && !noreply) return this.outString("ERROR");
    const key = tokens[1]!;
    if (key.length > key_bytes_max) return this.outString(ClientErr.DELTA_KEY);
    if (!/^-?\d+$/.test(tokens[2]!)) return this.outString(ClientErr.DELTA);
    const delta = BigInt(tokens[2]!);
    if (delta > (1n << 63n) - 1n || delta < -(1n << 63n)) return this.outString(ClientErr.DELTA);
    const result = addDelta(key, incr, BigInt.asUintN(64, delta));
    if (result === null) return this.outString("NOT_FOUND", noreply);
    if (!this.peer) replication.enqueue(QType.REP, key);
    this.outString(result, noreply);
  }

  private delete(tokens: string[]): void {
    const noreply = tokens[tokens.length - 1] === "noreply";
    const n = tokens.length - (noreply ? 1 : 0);
    if (n < 2 || n > 3) return this.outString("ERROR");
    const key = tokens[1]!;
    if (key.length > key_bytes_max) return this.outString(ClientErr.DELETE_KEY);
    const time = n === 3 ? parseInteger(tokens[2]!) : 0;
    if (time === null) return this.outString(ClientErr.DELETE_TIME);
    const lock_until = time > 0 ? realtime(time) : 0;
    if (!deleteItem(key, lock_until)) return this.outString("NOT_FOUND", noreply);
    if (!this.peer) {
      if (time > 0) replication.enqueue(QType.DEFER_DEL, key, lock_until + started_s);
      else replication.enqueue(QType.DEL, key);
    }
    this.outString("DELETED", noreply);
  }

  private flush(tokens: string[]): void {
    const noreply = tokens[tokens.length - 1] === "noreply";
    const n = tokens.length - (noreply ? 1 : 0);
    if (n > 2) return this.outString("ERROR");
    let time = 0;
    if (n === 2) {
      const parsed = parseStrtol(tokens[1]!);
      if (parsed === null) return this.outString(ClientErr.FLUSH_TIME);
      time = parsed;
    }
    flushItems(time);
    if (!this.peer) {
      if (n === 2) replication.enqueue(QType.FLUSH_DELAYED, "", realtime(time) + started_s);
      else replication.enqueue(QType.FLUSH, "");
    }
    this.outString("OK", noreply);
  }

  private stats(tokens: string[]): void {
    if (tokens.length === 2 && tokens[1] === "reset") {
      for (const name of ["total_items", "cmd_get", "cmd_set", "cmd_flush", "get_hits", "get_misses", "bytes_read", "bytes_written", "total_connections"] as const) {
        stats[name] = 0;
      }
      return this.outString("RESET");
    }
    if (tokens.length !== 1) return this.outString("ERROR");
    this.write(statsText()); // write_and_free, not out_string: written back on the replication link too
  }
}

/** safe_strtol-like: an integer token (no junk), or null. */
function parseInteger(token: string): number | null {
  if (!/^-?\d+$/.test(token)) return null;
  const n = Number(token);
  return Number.isSafeInteger(n) ? n : null;
}

/** strtol as flush_all uses it: a leading number or 0; null only for a number out of range. */
function parseStrtol(token: string): number | null {
  const match = /^\s*[+-]?\d+/.exec(token);
  if (match === null) return 0;
  const n = Number(match[0]);
  return n > 2147483647 || n < -2147483648 ? null : n;
}

function statsText(): string {
  const usage = process.resourceUsage();
  const now = currentTime();
  let bytes = 0;
  for (const [key, it] of items) bytes += key.length + it.value.length + 50;
  const seconds = (us: number) => `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")}`;
  const lines: Array<[string, string | number]> = [
    ["pid", process.pid], ["uptime", now], ["time", now + started_s], ["version", "1.2.8"], ["pointer_size", 64],
    ["rusage_user", seconds(usage.userCPUTime)], ["rusage_system", seconds(usage.systemCPUTime)],
    ["curr_items", items.size], ["total_items", stats.total_items], ["bytes", bytes],
    ["curr_connections", stats.curr_connections], ["total_connections", stats.total_connections],
    ["connection_structures", stats.curr_connections + 1], ["cmd_flush", stats.cmd_flush],
    ["cmd_get", stats.cmd_get], ["cmd_set", stats.cmd_set], ["get_hits", stats.get_hits],
    ["get_misses", stats.get_misses], ["evictions", 0], ["bytes_read", stats.bytes_read],
    ["bytes_written", stats.bytes_written], ["limit_maxbytes", 64 * 1024 * 1024], ["threads", 1],
    ["accepting_conns", 1], ["listen_disabled_num", 0],
  ];
  return lines.map(([k, v]) => `STAT ${k} ${v}\r\n`).join("") + replication.statsLines() + "END\r\n";
}

// ---- client port ----

interface ClientData {
  session: Session;
  pending: Buffer[];
  close_after_write: boolean;
}
type ClientSocket = Socket<ClientData>;

let client_listener: TCPSocketListener<ClientData> | null = null;
const clients = new Set<ClientSocket>();
let serving = true;

function clientWrite(socket: ClientSocket, data: string | Buffer): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  stats.bytes_written += bytes.length;
  socket.data.pending.push(bytes);
  clientFlush(socket);
}

function clientFlush(socket: ClientSocket): void {
  const pending = socket.data.pending;
  while (pending.length > 0) {
    const chunk = pending[0]!;
    const n = socket.write(chunk);
    if (n < 0) return;
    if (n < chunk.length) {
      pending[0] = chunk.subarray(n);
      return;
    }
    pending.shift();
  }
  if (socket.data.close_after_write) socket.end();
}

function openClientPort(): void {
  if (client_listener !== null || !serving) return;
  try {
    client_listener = Bun.listen<ClientData>({
      hostname: settings.listen_host,
      port: settings.port,
      socket: {
        open(socket) {
          stats.curr_connections++;
          stats.total_connections++;
          clients.add(socket);
          socket.setNoDelay?.(true);
          socket.data = {
            pending: [],
            close_after_write: false,
            session: new Session(false, (data) => clientWrite(socket, data), () => {
              socket.data.close_after_write = true;
              clientFlush(socket);
            }),
          };
        },
        data(socket, chunk) {
          if (!serving) return;
          socket.data.session.feed(chunk);
          replication.flushWrites(); // repcached writes the replication socket after every event
        },
        drain(socket) {
          clientFlush(socket);
        },
        close(socket) {
          if (clients.delete(socket)) stats.curr_connections--;
        },
        error(socket) {
          if (clients.delete(socket)) stats.curr_connections--;
        },
      },
    });
  } catch {
    console.error("failed to listen");
    process.exit(1);
  }
}

function stopServingClients(): void {
  serving = false;
  client_listener?.stop(true);
  client_listener = null;
}

// ---- main ----

const replication = new Replication();

async function main(): Promise<void> {
  for (const [name, number] of [["SIGTERM", 15], ["SIGINT", 2]] as const) {
    process.on(name, () => {
      log(1, `got signal ${number}`);
      replication.shutdown();
    });
  }
  if (settings.peer !== null) {
    if (await replication.connect(settings.peer)) return; // serves once marugoto_end arrives
    if (replication.listen()) openClientPort(); // bind failure here: no client port, no replication
    return;
  }
  if (!replication.listen()) {
    console.error("faild to replication init");
    process.exit(1);
  }
  openClientPort();
}

await main();
