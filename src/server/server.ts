// The cache server: owns the Store, the shared reply buffer, the listeners and the clock.
//
// Contract: `Server.start(settings)` binds every listener (TCP per -l address, unix socket, UDP) and
// returns; with -Z (settings.tls) every TCP listener speaks TLS but `-l notls:` ones (UDP and the
// unix socket stay plain, as in memcached), and a client refused by ssl_verify_mode is closed; `stop()` closes them and the store. Connections beyond connections_max are answered
// "ERROR Too many open connections" and closed, as memcached does. Nothing here parses bytes.

import type { Socket, TCPSocketListener } from "bun";
import { Store, Status } from "../native/store.ts";
import { Cmd, tokenText, type Command } from "../protocol/parser.ts";
import { reply, type Context, type MutationSink } from "../protocol/execute.ts";
import { Reply } from "../protocol/replies.ts";
import { Output } from "./output.ts";
import { dumpText, PrefixStats, type PrefixRow } from "../protocol/detail.ts";
import { DeleteLocks } from "../protocol/delete_locks.ts";
import { Connection, type Closable, type ConnectionHost } from "./connection.ts";
import { StagingBudget } from "./staging.ts";
import { output_headroom_bytes } from "./limits.ts";
import { UdpTransport } from "./udp.ts";
import type { AuthCounters, PasswordFile } from "./auth.ts";
import type { BinaryHost } from "./binary_connection.ts";
import type { Binding, ClientAccess } from "./access.ts";
import { listenAddressSplit, listenNoTls } from "../config.ts";
import { unixListen, type UnixListener } from "../unix_listener.ts";
import { tlsPeerRefusal, VerifyMode, type ClientTls } from "./tls.ts";
import { ThreadCounters, type CounterRow } from "./thread_counters.ts";
import { SharedWords } from "./shared_words.ts";
import {
  formatStats, generalStats, itemsStats, slabsStats, type ClassFigures, type ServerFigures, type StatLines,
} from "../stats.ts";

export interface ServerSettings {
  tcp_port: number;
  udp_port: number; // 0 = off
  requests_per_event_max: number; // -R: UDP replies are flushed in memcached's per-event batches
  listen_addresses: string[];
  /** -Z: TLS on the TCP client listeners (not `-l notls:` ones); null: plain text. */
  tls: ClientTls | null;
  unix_socket_path: string | null;
  unix_socket_mask: number;
  backlog: number;
  connections_max: number;
  memory_bytes_max: number;
  item_size_max: number;
  chunk_size_min: number;
  growth_factor: number;
  evictions_disabled: boolean;
  cas_enabled: boolean; // false with -C: clients see no cas (Context.cas_enabled)
  flush_enabled: boolean; // false with -F: flush_all is refused (Context.flush_enabled)
  /** -o idle_timeout: a client connection waiting for a command longer than this is closed (0 = never). */
  idle_timeout_s: number;
  verbosity: number;
  threads: number;
  shutdown_enabled: boolean;
  version: string;
  stats_detail_enabled: boolean;
  stats_prefix_delimiter: string;
  /** `stats settings` lines (from the config module), given the values that change at run time. */
  settingsStats: (live: { verbosity: number; stats_detail_enabled: boolean }) => Array<[string, string]>;
  /** Evicted keys kept for replication to send as deletes (0 = not kept). */
  eviction_log_max: number;
  /** Bounded reclaim work per second for expired items (a bounded LRU-crawler stand-in). */
  sweep_items_per_tick: number;
  /** -B (absent: auto); -S's and -Y's password files (absent: off). See access.ts. */
  binding_protocol?: Binding;
  sasl?: PasswordFile | null;
  text_auth?: PasswordFile | null;
}

/**
 * Where this Server runs in a `-t N` process (threads.ts): which listeners it binds, whether it
 * keeps the store's clock, and its row of the shared counters. `-t 1` is one Server that does
 * everything (singlePlacement).
 */
export interface Placement {
  /** This thread's counter row (0: the main thread; workers 1..N). */
  index: number;
  counters: ThreadCounters;
  words: SharedWords;
  /** A session on the store the main thread opened (a worker's); null: this Server opens it. */
  store: Store | null;
  /** Binds the TCP listeners; with reuse_port every worker binds the same port (the kernel spreads connections). */
  tcp: boolean;
  reuse_port: boolean;
  /** Binds the unix socket (-s) and UDP (-U): they cannot be shared between threads, so one owns them. */
  local: boolean;
  /** Runs the store's clock, sweep and tail reclaim (the thread that opened the store). */
  maintain: boolean;
}

export function singlePlacement(): Placement {
  return {
    index: 0, counters: new ThreadCounters(1), words: new SharedWords(false), store: null,
    tcp: true, reuse_port: false, local: true, maintain: true,
  };
}

/** Item header + CRLF the store adds to key + value (see native/items.zig). */
export const item_overhead_bytes = 48 + 2;
const clock_interval_ms = 1000;
const sweep_interval_ms = 1000;
/**
 * Dead items reclaimed from the LRU tails per clock tick (memcached's LRU maintainer, which
 * reclaims what died at a tail within about a second of its death). Each costs an unlink and a
 * free, well under 1 ms for the lot; a larger backlog (a flush_all of millions) drains over
 * several ticks, the bucket sweep helping.
 */
const tail_reclaim_items_per_tick = 10_000;
const store_pending_slots_min = 64;

type ClientSocket = Socket<Connection>;

export class Server implements BinaryHost {
  readonly settings: ServerSettings;
  readonly ctx: Context;
  /** Values still arriving wait outside the store, up to -m bytes in all (staging.ts). */
  readonly staging: StagingBudget;
  readonly started_s: number;
  now_s: number;
  clock_ticks = 0;
  private listeners: Array<TCPSocketListener<Connection> | UnixListener> = [];
  private udp: UdpTransport | null = null;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  readonly connections = new Set<Connection>();
  readonly placement: Placement;
  /** This thread's counters (connections, bytes, idle_kicks — connections closed by -o idle_timeout). */
  readonly figures: CounterRow;
  /** Extra `stats` lines (replication adds its own). */
  extraStats: () => StatLines = () => [];
  /** More `stats <name>` subcommands (replication adds `stats replication`). */
  readonly subStats = new Map<string, () => StatLines>();
  onShutdown: () => void = () => process.exit(0);
  /**
   * -t N: asks the main thread for its stat groups (worker.ts sets it; main.ts on the main thread,
   * where its own groups are local and only `every_thread` asks need the workers); null elsewhere.
   * `every_thread`: the asker needs every thread's connections and detail prefixes too.
   */
  askMainStats: ((id: number, every_thread: boolean) => void) | null = null;
  /** The main thread's own server: its groups are here, so a `stats` that needs no other thread does not wait. */
  groups_local = false;
  /** The main thread's stat groups (replication's), as last fetched; fresh only while waiters resume. */
  private main_groups: Record<string, StatLines> = {};
  /** The connections (their resume callbacks) that may use the groups just fetched, once each. */
  private main_granted = new Set<() => void>();
  /** Every thread's detail prefixes, merged, as last fetched with the groups (null: this thread's). */
  private main_detail: PrefixRow[] | null = null;
  /** -t N: tells the other threads to clear their detail prefixes (`stats reset`); null elsewhere. */
  onDetailClear: (() => void) | null = null;
  private main_waiters: Array<() => void> = [];
  private main_asked = 0;
  /** Whether the ask in flight (main_asked) gathers every thread's connections and prefixes. */
  private main_asked_every = false;
  readonly auth_counters: AuthCounters;
  readonly sasl: PasswordFile | null;
  readonly access: ClientAccess;

  constructor(settings: ServerSettings, mutations: MutationSink | null = null, placement: Placement = singlePlacement()) {
    this.settings = settings;
    this.placement = placement;
    const row = placement.counters.row(placement.index);
    this.figures = row;
    this.auth_counters = row;
    this.started_s = Math.floor(Date.now() / 1000);
    this.now_s = this.started_s;
    this.sasl = settings.sasl ?? null;
    const binding = settings.binding_protocol ?? "auto";
    this.access = {
      binding, binary: binding === "ascii" ? null : this, text_auth: settings.text_auth ?? null, counters: this.auth_counters,
    };
    this.staging = new StagingBudget(settings.memory_bytes_max, placement.words.staging_cell);
    const store = placement.store ?? Store.open({
      memory_bytes_max: settings.memory_bytes_max,
      item_size_max: settings.item_size_max,
      chunk_size_min: settings.chunk_size_min,
      growth_factor: settings.growth_factor,
      evictions_disabled: settings.evictions_disabled,
      pending_max: Math.max(store_pending_slots_min, settings.connections_max),
      eviction_log_max: settings.eviction_log_max,
    });
    this.ctx = {
      store,
      out: new Output(settings.item_size_max + output_headroom_bytes),
      counters: row,
      mutations,
      read_through: null,
      write_gate: null,
      delete_locks: new DeleteLocks(this.now_s),
      detail: new PrefixStats(settings.stats_detail_enabled, settings.stats_prefix_delimiter),
      item_size_max: settings.item_size_max,
      item_overhead_bytes,
      flush_enabled: settings.flush_enabled,
      cas_enabled: settings.cas_enabled,
    };
  }

  start(): void {
    const handlers = this.socketHandlers();
    const s = this.settings;
    const where = this.placement;
    if (s.unix_socket_path !== null) {
      if (where.local) {
        // memcached: umask(~mask) around bind; here the path appears with its mode, already listening
        this.listeners.push(unixListen<Connection>(s.unix_socket_path, s.unix_socket_mask & 0o777, handlers));
      }
    } else if (s.tcp_port !== 0 && where.tcp) {
      const entries = s.listen_addresses.length > 0 ? s.listen_addresses : ["0.0.0.0"];
      for (const entry of entries) {
        const address = listenAddressSplit(entry);
        if (address === null) throw new Error(`bad listen address '${entry}'`);
        const port = address.port ?? s.tcp_port; // memcached: a -l host:port entry's port wins
        const tls = s.tls !== null && !listenNoTls(entry) ? s.tls : null;
        // bun-types 1.4.5 does not declare `reusePort` on Bun.listen's options; the runtime
        // honours it (SO_REUSEPORT), which is how N workers share one port.
        const reuse = where.reuse_port ? ({ reusePort: true } as {}) : {};
        if (tls === null) {
          this.listeners.push(Bun.listen<Connection>({ hostname: address.host, port, socket: handlers, ...reuse }));
          continue;
        }
        const tls_handlers = { ...handlers, handshake: this.handshakeHandler(tls) };
        this.listeners.push(Bun.listen<Connection>({ hostname: address.host, port, tls: tls.options, socket: tls_handlers, ...reuse }));
      }
    }
    if (s.udp_port !== 0 && where.local) {
      this.udp = new UdpTransport(this, {
        port: s.udp_port, listen_addresses: s.listen_addresses,
        requests_per_event_max: s.requests_per_event_max, item_size_max: s.item_size_max,
      });
      this.udp.start();
    }
    this.timers.push(setInterval(() => this.tick(), clock_interval_ms));
    if (where.maintain) this.timers.push(setInterval(() => this.ctx.store.sweep(s.sweep_items_per_tick), sweep_interval_ms));
  }

  private tick(): void {
    this.clock_ticks++;
    this.now_s = Math.floor(Date.now() / 1000);
    if (this.placement.maintain) {
      this.ctx.store.clock(this.now_s);
      this.ctx.store.reclaimTails(tail_reclaim_items_per_tick);
    }
    this.ctx.delete_locks.tick(this.now_s);
    this.kickIdle();
  }

  /**
   * -o idle_timeout: closes client connections that have waited for a command longer than the
   * timeout, as memcached's idle kicker (counted in idle_kicks, "Closing idle fd" at -vv).
   * memcached checks `current_time - last_cmd_time > idle_timeout` on its 1-second clock, so it
   * closes a silent client about N+1 to N+2 seconds after its last command (measured on 1.6.18:
   * 1.7 to 3.5 s for 1, 3.1 to 4.0 s for 2); we close it after N+1 whole ticks past the one its
   * command came in (measured: 2.1 to 3.0 s for 1) — ticks, not the wall second a tick reads,
   * which jumps by 2 when a tick is late. Replication links are not client
   * connections and are never kicked. One pass per tick, bounded by connections_max.
   */
  private kickIdle(): void {
    const idle_s = this.settings.idle_timeout_s;
    if (idle_s === 0) return;
    for (const conn of this.connections) {
      if (this.clock_ticks - conn.last_cmd_tick <= idle_s + 1 || !conn.awaitingCommand()) continue;
      this.figures.idle_kicks++;
      if (this.settings.verbosity >= 2) console.error(`Closing idle fd ${conn.id}`);
      conn.close();
    }
  }

  /** Stops accepting clients and closes the client connections (first step of a shutdown). */
  stopListening(): void {
    for (const listener of this.listeners) listener.stop(true);
    this.listeners = [];
    this.udp?.stop();
    this.udp = null;
  }

  /** Stops everything and closes the store (a worker's session, or the store itself on the thread that opened it). */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.stopListening();
    this.ctx.store.close();
  }

  private socketHandlers() {
    return {
      open: (socket: ClientSocket) => this.accept(socket),
      data: (socket: ClientSocket, chunk: Buffer) => socket.data?.onData(chunk),
      drain: (socket: ClientSocket) => socket.data?.onDrain(),
      close: (socket: ClientSocket) => this.closed(socket),
      error: (socket: ClientSocket) => this.closed(socket),
    };
  }

  /**
   * The runtime enforces ssl_verify_mode 2 and 3 itself; 1 (request) lets any certificate
   * through, so a client that sent one that does not verify is closed here.
   */
  private handshakeHandler(tls: ClientTls) {
    return (socket: ClientSocket, _success: boolean, authorization_error: Error | null) => {
      if (tls.verify_mode !== VerifyMode.REQUEST) return;
      const refusal = tlsPeerRefusal(socket, authorization_error, false, true, null);
      if (refusal === null) return;
      if (this.settings.verbosity > 0) console.error(`TLS client refused: ${refusal}`);
      socket.terminate();
    };
  }

  private accept(socket: ClientSocket): void {
    this.figures.total_connections++;
    if (!this.placement.words.connectionTake(this.settings.connections_max)) {
      this.figures.rejected_connections++;
      socket.write(Reply.TOO_MANY_CONNECTIONS);
      socket.end();
      return;
    }
    socket.setNoDelay?.(true);
    const conn = new Connection(socket, this, this.placement.words.connectionId());
    socket.data = conn;
    this.connections.add(conn);
    this.figures.curr_connections = this.connections.size;
    if (this.settings.verbosity >= 2) console.error(`<${conn.id} new auto-negotiating client connection`);
  }

  private closed(socket: ClientSocket): void {
    const conn = socket.data;
    if (!conn || !this.connections.has(conn)) return;
    conn.onClose();
    this.connections.delete(conn);
    this.figures.curr_connections = this.connections.size;
    this.placement.words.connectionGive();
    if (this.settings.verbosity >= 2) console.error(`<${conn.id} connection closed.`);
  }

  get verbosity(): number {
    return this.settings.verbosity;
  }

  /**
   * A worker's `stats` (any group) waits for the main thread's groups, fetched once for every
   * connection that asks meanwhile; each waiting connection answers its one `stats` with them when
   * they arrive, and a later `stats` (even in the same pipeline) fetches again. Only a `stats` that
   * shows every thread (statsGathersThreads) makes the main thread gather the workers; one that
   * needs it while a plain ask is in flight asks again (the plain answer is then ignored). Bounded:
   * one request in flight (two at an upgrade), one waiter per connection.
   */
  statsHold(resume: () => void, every_thread: boolean): boolean {
    if (this.askMainStats === null) return false;
    if (this.groups_local && !every_thread) return false;
    if (this.main_granted.delete(resume)) return false; // its one `stats` on the groups it waited for
    this.main_waiters.push(resume);
    const upgrade = every_thread && !this.main_asked_every;
    if (this.main_waiters.length === 1 || upgrade) {
      this.main_asked_every = every_thread;
      this.askMainStats(++this.main_asked, every_thread);
    }
    return true;
  }

  /** The main thread's answer to askMainStats: resume every waiting `stats`. */
  statsArrived(id: number, groups: Record<string, StatLines>, detail: PrefixRow[] | null): void {
    if (id !== this.main_asked) return;
    this.main_asked_every = false;
    this.main_groups = groups;
    this.main_detail = detail;
    const waiters = this.main_waiters;
    this.main_waiters = [];
    this.main_granted = new Set(waiters);
    try {
      for (const resume of waiters) resume();
    } finally {
      this.main_granted.clear();
    }
  }

  get version(): string {
    return this.settings.version;
  }

  bytesRead(n: number): void {
    this.figures.bytes_read += n;
  }

  bytesWritten(n: number): void {
    this.figures.bytes_written += n;
  }

  executeAdmin(conn: Closable, cmd: Command, buf: Uint8Array): void {
    const out = this.ctx.out;
    switch (cmd.kind) {
      case Cmd.VERSION:
        return out.putText(`VERSION ${this.settings.version}\r\n`);
      case Cmd.VERBOSITY:
        this.settings.verbosity = Math.min(cmd.num_lo, 3);
        return reply(out, Reply.OK, cmd.noreply);
      case Cmd.STATS:
        return this.stats(cmd, buf);
      case Cmd.SHUTDOWN:
        return this.shutdown(conn, cmd, buf);
      case Cmd.SLABS:
        return out.put(Reply.SLABS_USAGE);
    }
    out.put(Reply.ERROR);
  }

  private shutdown(conn: Closable, cmd: Command, buf: Uint8Array): void {
    if (!this.settings.shutdown_enabled) return this.ctx.out.put(Reply.SHUTDOWN_DISABLED);
    const graceful = cmd.ntokens === 3 && tokenText(buf, cmd, 1) === "graceful";
    if (cmd.ntokens !== 2 && !graceful) return this.ctx.out.put(Reply.SHUTDOWN_BAD_MODE);
    conn.close();
    setTimeout(() => this.onShutdown(), 0);
  }

  private stats(cmd: Command, buf: Uint8Array): void {
    const out = this.ctx.out;
    const sub = cmd.ntokens > 2 ? tokenText(buf, cmd, 1) : "";
    const text = this.statsText(sub, cmd, buf);
    if (text === null) return out.put(Reply.ERROR);
    if (text.length > out.buf.length) return out.put(Reply.ERROR);
    out.ensure(text.length);
    out.putText(text);
  }

  private statsText(sub: string, cmd: Command, buf: Uint8Array): string | null {
    switch (sub) {
      case "reset":
        this.statsReset();
        return "RESET\r\n";
      case "detail":
        return this.statsDetail(cmd.ntokens === 4 ? tokenText(buf, cmd, 2) : "");
    }
    const lines = this.statGroup(sub);
    return lines === null ? null : formatStats(lines);
  }

  /** The lines of `stats <sub>` that are plain name/value lists (text and binary share them). */
  private statGroup(sub: string): StatLines | null {
    const store = this.ctx.store;
    switch (sub) {
      case "":
        return generalStats(this.figuresNow(), store.stats(), [...this.extraStats(), ...(this.main_groups[""] ?? [])]);
      case "settings":
        return this.settings.settingsStats({
          verbosity: this.settings.verbosity, stats_detail_enabled: this.ctx.detail.enabled,
        });
      case "items":
        return itemsStats(this.classFigures());
      case "slabs":
        return slabsStats(this.classFigures(), store.stats().total_malloced ?? 0);
      case "sizes":
        return [["sizes_status", "disabled"]];
      case "threads":
        return threadsStats(this.placement.counters);
      case "conns":
        return this.main_groups["conns"] ?? this.connsStats(); // -t N: every thread's, gathered by the main thread
    }
    const more = this.subStats.get(sub);
    if (more !== undefined) return more();
    return this.main_groups[sub] ?? null;
  }

  private statsReset(): void {
    this.ctx.store.statsReset();
    this.ctx.detail.clear();
    this.onDetailClear?.();
    this.resetCounters();
  }

  /** Binary `stat <arg>`: memcached answers reset and detail on/off with the terminator alone. */
  binaryStatLines(arg: string): StatLines | null {
    if (arg === "reset") {
      this.statsReset();
      return [];
    }
    if (arg.startsWith("detail ")) {
      const text = this.statsDetail(arg.slice("detail ".length));
      if (text === "OK\r\n") return [];
      return text.startsWith("CLIENT_ERROR") ? null : [["detailed", text]];
    }
    return this.statGroup(arg);
  }

  private statsDetail(arg: string): string {
    const detail = this.ctx.detail;
    if (arg === "on" || arg === "off") {
      detail.enabled = arg === "on";
      return "OK\r\n";
    }
    if (arg === "dump") return this.main_detail !== null ? dumpText(this.main_detail) : detail.dump();
    return "CLIENT_ERROR usage: stats detail on|off|dump\r\n";
  }

  /** Every thread's event counters (thread_counters.ts: one row each). */
  private resetCounters(): void {
    this.placement.counters.reset();
  }

  private classFigures(): ClassFigures[] {
    return this.ctx.store.classStats().map((stats) => ({ id: stats.class_id, stats }));
  }

  /** `stats conns` lines of this thread's listeners and connections (with -t N the main thread gathers every thread's). */
  connsStats(): StatLines {
    const lines: StatLines = [];
    const now = Math.floor(Date.now() / 1000);
    for (const listener of this.listeners) {
      lines.push([`0:addr`, listenerAddress(listener)]);
      lines.push([`0:state`, "conn_listening"]);
      lines.push([`0:secs_since_last_cmd`, now - this.started_s]);
    }
    for (const conn of this.connections) {
      const socket = conn.socket;
      lines.push([`${conn.id}:addr`, `tcp:${socket.remoteAddress}:${socket.remotePort}`]);
      lines.push([`${conn.id}:listen_addr`, `tcp:${socket.localAddress}:${socket.localPort}`]);
      lines.push([`${conn.id}:state`, "conn_parse_cmd"]);
      lines.push([`${conn.id}:secs_since_last_cmd`, now - conn.last_cmd_s]);
    }
    return lines;
  }

  /** `stats` figures: event counters summed over every thread, as memcached sums its threads' stats. */
  figuresNow(): ServerFigures {
    const usage = process.resourceUsage();
    const all = this.placement.counters;
    const now_s = Math.floor(Date.now() / 1000);
    return {
      pid: process.pid,
      uptime_s: now_s - this.started_s,
      time_s: now_s,
      version: this.settings.version,
      rusage_user_us: usage.userCPUTime,
      rusage_system_us: usage.systemCPUTime,
      connections_max: this.settings.connections_max,
      curr_connections: all.sum("curr_connections"),
      total_connections: all.sum("total_connections"),
      rejected_connections: all.sum("rejected_connections"),
      connection_structures: all.sum("curr_connections") + this.listeners.length,
      cmd_get: all.sum("cmd_get"),
      cmd_set: all.sum("cmd_set"),
      cmd_flush: all.sum("cmd_flush"),
      cmd_touch: all.sum("cmd_touch"),
      bytes_read: all.sum("bytes_read"),
      bytes_written: all.sum("bytes_written"),
      threads: this.settings.threads,
      store_too_large: all.sum("store_too_large"),
      store_no_memory: all.sum("store_no_memory"),
      auth_cmds: all.sum("auth_cmds"),
      auth_errors: all.sum("auth_errors"),
      idle_kicks: this.settings.idle_timeout_s > 0 ? all.sum("idle_kicks") : null,
    };
  }
}

/** The per-thread counters a thread serves with (thread_counters.ts). */
const thread_stat_names = ["curr_connections", "total_connections", "cmd_get", "cmd_set", "bytes_read", "bytes_written"] as const;

/**
 * `stats threads` (ours; memcached has none): each thread's own counters, `<n>:<name>` — 0 is the
 * main thread (unix socket, UDP, replication's peer), 1..N the workers — to see how the kernel
 * spread connections over them with -t N.
 */
function threadsStats(counters: ThreadCounters): StatLines {
  const lines: StatLines = [];
  for (let index = 0; index < counters.rows; index++) {
    const row = counters.row(index);
    for (const name of thread_stat_names) lines.push([`${index}:${name}`, row[name]]);
  }
  return lines;
}

function listenerAddress(listener: TCPSocketListener<Connection> | UnixListener): string {
  if ("port" in listener) return `tcp:${listener.hostname}:${listener.port}`;
  return `unix:${listener.path}`;
}

export { Status };
