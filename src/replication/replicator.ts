// Replication with one peer, repcached-compatible on the wire, without repcached's flaws.
//
// Contract:
// - The request path touches replication in one call per mutation (`stored`/`deleted`/`flushed`,
//   the MutationSink): the key goes into the bounded Journal. Everything else happens off it, in
//   `pump()` (scheduled with setImmediate, and on drain): journal entries are sent in order, each
//   with the key's state at send time (a value, a tombstone, or gone); a full copy streams from
//   the store's cursor in bounded steps between them (resync.ts: the re-pair, and why its order
//   cannot lose or resurrect data).
// - Who listens and who dials (the port rule below); a cut link re-pairs by itself.
// - A classic repcached peer gets exactly repcached's bytes; two repcached-bun nodes handshake
//   (link.ts, handshake.ts), send each other full copies and keep the higher cas per key.
// - Bounds: journal items (-q) and bytes, a fixed send buffer (outbox.ts); a journal overflow
//   drops the link (logged, counted) and the re-pair's full copy repairs the peer.
// - Graceful stop (SIGTERM/SIGINT): the listener stops accepting but keeps the link; what the
//   journal holds is sent before exit, giving up after `drain_stall_ms_max` without progress.
// - TLS (--replication-tls-*): both the listener and the connector speak TLS and check the other's
//   certificate (CA and/or pin, server/tls.ts) before a Link exists; a refused or stuck handshake
//   drops the socket, is logged and counted (tls_failures, last_error). A classic peer cannot pair.

import type { TCPSocketListener } from "bun";
import { networkInterfaces } from "node:os";
import { Connection, type PeerHooks } from "../server/connection.ts";
import type { Server } from "../server/server.ts";
import type { MutationSink, ReadThrough } from "../protocol/execute.ts";
import { key_bytes_max, key_cursor, nextKey, type Command } from "../protocol/parser.ts";
import { Status, StoreOp, type Store } from "../native/store.ts";
import { Journal } from "./journal.ts";
import { rep_header_bytes_max } from "./codec.ts";
import { Outbox } from "./outbox.ts";
import { Streamer } from "./streamer.ts";
import { Link, type LinkOwner, type LinkSocket } from "./link.ts";
import { Phase, type PeerKind, type Role } from "./resync.ts";
import { Fetches } from "./read_through.ts";
import { CopyProgress } from "./copy_progress.ts";
import { Backpressure, stall_ms_max } from "./backpressure.ts";
import { newToken } from "./handshake.ts";
import { tlsPeerRefusal, type ReplicationTls } from "../server/tls.ts";
import { Word, type SharedWords } from "../server/shared_words.ts";
import { waitAsync } from "./thread_sink.ts";

/** How long one wait for the workers' journal kick lasts before it looks again (and at `stopping`). */
const thread_kick_wait_ms_max = 1_000;

export interface ReplicationOptions {
  peer_host: string | null;
  listen_port: number;
  connect_port: number;
  listen_hosts: string[];
  queue_items_max: number;
  queue_bytes_max: number;
  secret: string | null;
  propagate_evictions: boolean;
  serve_during_copy: boolean;
  /** TLS on both ends of every link, peer verified; null: plain TCP (repcached's). */
  tls: ReplicationTls | null;
  /** Test-only skew of the replication clock (REPCACHED_CLOCK_OFFSET_MS); 0 in production. */
  clock_offset_ms: number;
  verbosity: () => number;
  /** -t N: the words and journal buffer the workers share (threads.ts); null with -t 1. */
  threads?: { words: SharedWords; journal_buffer: SharedArrayBuffer } | null;
}

export const LinkState = {
  DOWN: "down", LISTENING: "listening", CONNECTING: "connecting", HANDSHAKE: "handshake",
  COPYING: "copying", SYNCED: "synced",
} as const;

const connect_timeout_ms = 3_000;
const reconnect_delay_ms_min = 100;
const reconnect_delay_ms_max = 5_000;
const listen_retry_ms = 1_000;
/** While the write gate is shut, look for a stalled peer this often. */
const stall_check_ms = 100;
/** Accepted connections allowed in their handshake at once (strangers cannot hold them all long: handshake_timeout_ms). */
const handshakes_pending_max = 8;
/** Stop encoding while this many bytes wait for the socket (TCP backpressure reaches the pump). */
const send_window_bytes = 256 * 1024;
/** Graceful stop: give up when the peer takes nothing for this long (repcached: 3 × 1 s). */
const drain_stall_ms_max = 3_000;
/** Graceful stop: the read-through id of the last message (read_through.ts ids start at 1). */
const bye_fetch_id = 0;
/** Graceful stop: how long a peer of our kind may take to acknowledge the last bytes. */
const bye_wait_ms_max = 5_000;
/** Graceful stop: poll the drain this often. */
const drain_poll_ms = 10;

export class Replicator implements MutationSink, ReadThrough, LinkOwner {
  private readonly server: Server;
  private readonly options: ReplicationOptions;
  readonly node_id = newToken();
  readonly secret: string | null;
  private readonly journal: Journal;
  private readonly outbox: Outbox;
  private readonly streamer: Streamer;
  /** Backpressure from the journal to the clients that write (backpressure.ts). */
  readonly gate: Backpressure;
  private stall_timer: ReturnType<typeof setInterval> | null = null;
  /** Graceful stop: the peer acknowledged everything we sent (see acknowledged()). */
  private bye_acked = false;
  /** When the peer last took bytes (or had none waiting): the lag is measured from it (lagMs). */
  private progress_ms = 0;
  private progress_bytes = 0;
  /** Nothing waited for the peer at the end of the last pump turn (the lag clock restarts). */
  private idle = true;
  private readonly fetches = new Fetches();
  /** The peer's running (else last) full copy as it arrives (its size from `rcb1_copy_total`). */
  private readonly receiving = new CopyProgress();
  private listeners: Array<TCPSocketListener<Link>> = [];
  private link: Link | null = null;
  private outgoing: Link | null = null;
  /** Accepted links still in their handshake (at most handshakes_pending_max). */
  private readonly pending = new Set<Link>();
  private connecting = false;
  private reconnect_delay_ms = reconnect_delay_ms_min;
  private reconnect_timer: ReturnType<typeof setTimeout> | null = null;
  private listen_timer: ReturnType<typeof setTimeout> | null = null;
  private listen_failures = 0;
  private pump_scheduled = false;
  private stopping = false;
  private ready: (() => void) | null = null;
  private self_connects = 0;
  /**
   * The port rule. Without a shared port (the peer is elsewhere, or on this host on another
   * port or address) we always listen, and with -x dial while no link is up. With a shared port
   * (the peer is this host, same port — the usual one-host pair) only one process can hold it:
   * the node that holds it waits for the other to dial; the other dials. Like repcached, the
   * survivor of a broken link takes the port (so a peer restarted with -x finds it), and a node
   * that finds the port taken dials whoever holds it (so a peer restarted without -x pairs too).
   */
  private readonly port_shared: boolean;
  /** No -x, but our port is held by another process on this host: dial it (see the port rule). */
  private dial_holder = false;
  readonly figures = {
    sent_items: 0, received_items: 0, full_copies_sent: 0, full_copies_received: 0,
    last_copy_items: 0, last_copy_ms: 0, link_drops: 0, queue_overflows: 0, pairings: 0, auth_failures: 0,
    tombstones_sent: 0, tombstones_received: 0, tombstones_applied: 0, flushes_sent: 0, flushes_received: 0,
    drain_timeouts: 0, tls_failures: 0, last_error: "",
  };
  /** Our TLS dial whose handshake has not finished (terminated if the dial gives up). */
  private tls_dialing: LinkSocket | null = null;

  constructor(server: Server, options: ReplicationOptions) {
    this.server = server;
    this.options = options;
    this.secret = options.secret;
    const item_size_max = server.settings.item_size_max;
    const threads = options.threads ?? null;
    // config.ts keeps bytes ≤ items × the largest entry
    this.journal = new Journal(options.queue_items_max, options.queue_bytes_max, threads?.journal_buffer);
    this.outbox = new Outbox(send_window_bytes, item_size_max + rep_header_bytes_max);
    this.gate = new Backpressure(this.journal.items_max, this.journal.bytes_max,
      threads === null ? undefined : (shut, stalled) => {
        threads.words.set(Word.gate_stalled, stalled ? 1 : 0);
        threads.words.set(Word.gate_shut, shut ? 1 : 0);
      });
    this.streamer = new Streamer(server.ctx.store, this.journal, this.outbox, this.figures, {
      propagate_evictions: options.propagate_evictions,
      log: (level, text) => this.log(level, text),
      overflow: () => this.overflow(),
      copyDone: () => this.copyDone(),
    });
    this.port_shared = options.peer_host !== null && options.connect_port === options.listen_port &&
      isLocalHost(options.peer_host) && listensOn(options.listen_hosts, options.peer_host);
    // From the start, cas values follow the wall clock and deletes leave tombstones, so every
    // version this node makes — before its first pairing too (a restarted node serves at once) —
    // orders against its peer's by time (resync.ts). The parity is settled when a peer of our
    // kind pairs. A classic peer only sees other numbers in the cas field (spec §2: its cas values
    // are per node anyway).
    const store = server.ctx.store;
    store.setCasClock(true, this.node_id.charCodeAt(15) & 1 ? 1 : 0, options.clock_offset_ms);
    store.setTombstones(true, true);
  }

  private log(level: number, text: string): void {
    if (this.options.verbosity() >= level) console.error(text);
  }

  private fail(text: string): void {
    this.figures.last_error = text;
    console.error(text);
  }

  // ---- lifecycle: the port rule ----

  /** Binds the replication port, dials the peer; resolves when clients may be served. */
  start(): Promise<void> {
    this.watchThreads();
    if (!this.port_shared) this.listen();
    if (this.options.peer_host === null) return Promise.resolve();
    // With --serve-during-copy the client port opens once the link is up (read-through works from
    // the first request); otherwise once the peer's full copy is in, as repcached does.
    return new Promise((resolve) => {
      this.ready = resolve;
      this.dial();
    });
  }

  private markReady(): void {
    const ready = this.ready;
    this.ready = null;
    if (ready !== null) ready();
  }

  /** Whether we share the port with our peer (then we listen only while no link is up). */
  private sharesPort(): boolean {
    return this.port_shared || this.dial_holder;
  }

  private wantListen(): boolean {
    if (this.stopping || this.listeners.length > 0) return false;
    if (this.link?.mode === "classic") return false; // repcached's rule while paired (see paired())
    return !this.sharesPort() || this.link === null;
  }

  /** Stops accepting; the links already accepted stay (stop(true) would close them). */
  private stopListening(): void {
    for (const listener of this.listeners) listener.stop(false);
    this.listeners = [];
  }

  private listen(): void {
    if (!this.wantListen()) return;
    const hosts = this.options.listen_hosts.length > 0 ? this.options.listen_hosts : ["0.0.0.0"];
    try {
      for (const host of hosts) {
        const tls = this.options.tls?.listen;
        this.listeners.push(Bun.listen<Link>({ hostname: host, port: this.options.listen_port, tls, socket: this.handlers("accepted") }));
      }
      this.listen_failures = 0;
      this.log(1, "replication: listen");
    } catch (error) {
      for (const listener of this.listeners) listener.stop(true);
      this.listeners = [];
      this.listenFailed(error as { code?: string });
    }
  }

  private listenFailed(error: { code?: string }): void {
    const message = `replication: failed to initialize replication server socket (${String(error)}${error.code ? ` ${error.code}` : ""})`;
    if (this.listen_failures++ === 0) this.fail(message);
    else this.log(2, message);
    if (this.options.peer_host === null && !this.dial_holder && error.code === "EADDRINUSE") {
      this.dial_holder = true;
      this.log(1, "replication: the port is held on this host; dialing its holder");
    }
    if (this.listen_timer === null) {
      this.listen_timer = setTimeout(() => {
        this.listen_timer = null;
        this.listen();
      }, listen_retry_ms);
    }
    this.scheduleDial();
  }

  /** Where we dial: the -x peer, or (dial_holder) our own port on our listen address. */
  private dialTarget(): { host: string; port: number } | null {
    if (this.options.peer_host !== null) return { host: this.options.peer_host, port: this.options.connect_port };
    if (!this.dial_holder) return null;
    const host = this.options.listen_hosts.find((h) => h !== "0.0.0.0" && h !== "::") ?? "127.0.0.1";
    return { host, port: this.options.listen_port };
  }

  private dial(): void {
    const target = this.dialTarget();
    if (this.stopping || this.connecting || this.link !== null || target === null) return;
    if (this.sharesPort() && this.listeners.length > 0) return; // we hold it: the peer dials us
    this.connecting = true;
    this.log(1, `replication: connect (peer=${target.host}:${target.port})`);
    const give_up = setTimeout(() => this.dialFailed(`timed out after ${connect_timeout_ms} ms`), connect_timeout_ms);
    const tls = this.options.tls?.connect;
    Bun.connect<Link>({ hostname: target.host, port: target.port, tls, socket: this.handlers("connected") }).then(
      // With TLS the dial is done at the handshake (openOutgoing); until then give_up stands.
      () => tls === undefined && clearTimeout(give_up),
      (error) => {
        clearTimeout(give_up);
        this.dialFailed(String(error));
      },
    );
  }

  /** Like repcached: a node whose peer cannot be reached serves on its own (and we keep trying). */
  private dialFailed(reason: string): void {
    if (!this.connecting) return;
    this.connecting = false;
    this.tls_dialing?.terminate();
    this.tls_dialing = null;
    this.log(2, `replication: can't connect (${reason})`);
    this.markReady();
    if (this.sharesPort()) {
      this.log(1, "replication: close");
      this.listen();
    }
    this.scheduleDial();
  }

  private scheduleDial(): void {
    if (this.stopping || this.dialTarget() === null || this.reconnect_timer !== null || this.link !== null) return;
    if (this.sharesPort() && this.listeners.length > 0) return;
    const jitter = Math.floor(Math.random() * this.reconnect_delay_ms * 0.2);
    this.reconnect_timer = setTimeout(() => {
      this.reconnect_timer = null;
      this.dial();
    }, this.reconnect_delay_ms + jitter);
    this.reconnect_delay_ms = Math.min(reconnect_delay_ms_max, this.reconnect_delay_ms * 2);
  }

  private handlers(role: Role) {
    const tls = this.options.tls;
    return {
      open: (socket: LinkSocket) => (tls === null ? this.onOpen(socket, role) : this.onTlsOpen(socket, role)),
      handshake: (socket: LinkSocket, _success: boolean, error: Error | null) => this.onTlsHandshake(socket, role, error),
      data: (socket: LinkSocket, chunk: Buffer) => this.onData(socket.data, chunk),
      drain: (socket: LinkSocket) => this.onDrain(socket.data),
      close: (socket: LinkSocket, error?: Error) => this.onSocketGone(socket, error),
      error: (socket: LinkSocket, error?: Error) => this.onSocketGone(socket, error),
      connectError: () => {},
    };
  }

  /** TCP is up, TLS is not: no Link until the peer's certificate is checked (onTlsHandshake). */
  private onTlsOpen(socket: LinkSocket, role: Role): void {
    if (role === "connected") {
      if (!this.connecting) return socket.terminate();
      this.tls_dialing = socket;
      return;
    }
    setTimeout(() => {
      if (socket.data === undefined) socket.terminate(); // never finished its handshake
    }, connect_timeout_ms);
  }

  /** The TLS handshake is over: a verified peer gets a Link; any other is dropped, logged, counted. */
  private onTlsHandshake(socket: LinkSocket, role: Role, error: Error | null): void {
    const tls = this.options.tls;
    if (tls === null) return;
    if (role === "connected") {
      if (this.tls_dialing !== socket) return socket.terminate();
      this.tls_dialing = null;
    }
    const refusal = tlsPeerRefusal(socket, error, true, tls.ca_verify, tls.pin_sha256, false);
    if (refusal === null) return this.onOpen(socket, role);
    this.figures.tls_failures++;
    this.fail(`replication: TLS peer ${socket.remoteAddress}:${socket.remotePort} refused: ${refusal}`);
    socket.terminate();
    if (role === "connected") this.dialFailed(`TLS: ${refusal}`);
  }

  private onSocketGone(socket: LinkSocket, error: Error | undefined): void {
    if (socket === this.tls_dialing) {
      this.tls_dialing = null;
      this.figures.tls_failures++;
      const reason = `TLS handshake with ${socket.remoteAddress}:${socket.remotePort} failed (${error?.message ?? "closed"})`;
      this.fail(`replication: ${reason}`);
      return this.dialFailed(reason);
    }
    const link = socket.data;
    // A TLS record that does not decrypt (bytes changed or added on the path) ends up here.
    if (error !== undefined && link !== undefined && !link.closed) this.fail(`replication: link error (${error.message})`);
    this.onClose(link);
  }

  private onOpen(socket: LinkSocket, role: Role): void {
    socket.setNoDelay?.(true);
    if (role === "connected") return this.openOutgoing(socket);
    this.log(1, "replication: accept");
    if (this.isSelf(socket)) {
      this.self_connects++;
      this.log(2, "replication: connected to myself; closing");
      this.outgoing?.socket.terminate();
      return socket.terminate();
    }
    if (this.link?.running || this.stopping) {
      console.error("replication: already connected"); // repcached prints this at any verbosity
      return socket.terminate();
    }
    // Handshakes run side by side (bounded; the oldest gives way), so a stranger that connects
    // and stays silent never keeps the real peer out: the first to prove itself is the link.
    if (this.pending.size >= handshakes_pending_max) {
      const oldest = this.pending.values().next().value!;
      this.refuse(oldest, "replication: too many pending handshakes; dropping the oldest");
    }
    socket.data = new Link(socket, role, this);
    this.pending.add(socket.data);
  }

  /** Our own outgoing connection landing on our own listener (same host, same -X port). */
  private isSelf(socket: LinkSocket): boolean {
    const out = this.outgoing;
    return out !== null && socket.remotePort === out.socket.localPort && socket.localPort === out.socket.remotePort;
  }

  private openOutgoing(socket: LinkSocket): void {
    if (!this.connecting || this.link !== null || this.stopping) return socket.terminate();
    this.connecting = false;
    this.log(1, "replication: marugoto copying");
    socket.data = new Link(socket, "connected", this);
    this.outgoing = socket.data;
    this.link = socket.data;
  }

  private onData(link: Link | undefined, chunk: Buffer): void {
    if (link === undefined || link.closed) return;
    if (!link.running) return link.onHandshakeData(chunk);
    if (this.receiving.running) this.receiving.step(0, chunk.length);
    link.inbound!.onData(chunk);
    if (this.receiving.running) this.logReceiving();
    this.kick();
  }

  // ---- pairing (LinkOwner) ----

  failed(link: Link, reason: string, auth: boolean): void {
    if (auth) this.figures.auth_failures++;
    this.drop(link, reason);
  }

  paired(link: Link, kind: PeerKind, rest: string): void {
    if (link.role === "accepted" && !this.adopt(link, kind)) return;
    this.figures.pairings++;
    this.reconnect_delay_ms = reconnect_delay_ms_min;
    if (kind === "ours") {
      this.server.ctx.store.setCasClock(true, this.node_id < link.peer_id ? 0 : 1, this.options.clock_offset_ms);
    } else {
      // Like repcached, no listen socket while paired with a classic peer: when this process
      // dies, the peer's re-listen on the port (its only way back) must not find it still held.
      this.stopListening();
    }
    this.updateTombstones();
    link.inbound = new Connection(link.socket, this.server, 0, this.peerHooks(link, kind));
    // Workers journal from now on; what they changed before is in the full copy that follows.
    this.options.threads?.words.set(Word.link_running, 1);
    this.journal.clear();
    this.outbox.clear();
    if (kind === "ours") this.streamer.encodeFlushFloor();
    if (link.resync.begin(kind, link.role)) this.streamer.beginCopy(link);
    if (link.resync.expect_peer_copy) this.receiving.start(-1, performance.now());
    if (rest.length > 0) link.inbound.onData(Buffer.from(rest, "latin1"));
    if (this.options.serve_during_copy || link.resync.peer_data_in) this.markReady();
    this.mirrorReadThrough();
    this.kick();
  }

  /**
   * An accepted link that finished its handshake becomes the link unless one is up: an
   * established link is never replaced by a newcomer (a third node cannot break a pair). Crossing
   * connects of the same two nodes (both dialed) keep, on both sides, the link dialed by the
   * smaller node id. Returns whether `link` is now the link.
   */
  private adopt(link: Link, kind: PeerKind): boolean {
    this.pending.delete(link);
    const current = this.link;
    if (current !== null && current !== link) {
      const crossing = kind === "ours" && current.peer_id === link.peer_id;
      const dialer = (l: Link) => (l.role === "connected" ? this.node_id : l.peer_id);
      if (!crossing ? current.running : dialer(current) < dialer(link)) {
        this.refuse(link, "replication: already connected");
        return false;
      }
      this.drop(current, "replication: crossed connects; keeping the one the smaller node id dialed");
    }
    this.link = link;
    for (const other of this.pending) this.refuse(other, "replication: already connected");
    return true;
  }

  private peerHooks(link: Link, kind: PeerKind): PeerHooks {
    return {
      // A classic peer: last arrival wins (repcached). Ours: the higher cas wins (resync.ts).
      rep_op: kind === "ours" ? StoreOp.REP_IF_NEWER : StoreOp.REP,
      onMarugotoEnd: () => this.peerCopyIn(link),
      onApplied: () => {
        this.figures.received_items++;
        if (this.receiving.running) this.receiving.step(1, 0);
      },
      onCopyTotal: (items) => {
        if (this.receiving.running) this.receiving.total = items;
      },
      onFetch: (id, buf, keys_off, line_end) => this.onFetch(id, buf, keys_off, line_end),
      onFetched: (id) => {
        if (id === bye_fetch_id) this.bye_acked = true;
        else this.fetches.finish(id);
      },
      onTomb: (buf, key_off, key_len, cas_lo, cas_hi) => this.onTomb(buf, key_off, key_len, cas_lo, cas_hi),
      onFlushBefore: (cas_lo, cas_hi) => this.onFlushBefore(cas_lo, cas_hi),
    };
  }

  private peerCopyIn(link: Link): void {
    if (!link.resync.peerCopyIn()) return;
    this.mirrorReadThrough();
    this.figures.full_copies_received++;
    this.receiving.finish(performance.now());
    this.log(1, "replication: start");
    this.updateTombstones();
    this.markReady();
  }

  /** Tombstones are kept (none expires) while the node is not in sync with its peer. */
  private updateTombstones(): void {
    const link = this.link;
    const keep = link === null || !link.running || link.resync.keep_tombstones;
    this.server.ctx.store.setTombstones(true, keep);
  }

  /** The peer deleted the key at that cas: ours becomes a tombstone unless it is newer. */
  private onTomb(buf: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number): void {
    this.figures.tombstones_received++;
    if (this.server.ctx.store.tomb(buf, key_off, key_len, cas_lo, cas_hi) === Status.OK) this.figures.tombstones_applied++;
  }

  /** The peer ran an immediate flush_all at that cas: drop what is older, fence what comes. */
  private onFlushBefore(cas_lo: number, cas_hi: number): void {
    this.figures.flushes_received++;
    this.figures.tombstones_applied += this.server.ctx.store.removeBelowCas(cas_lo, cas_hi);
  }

  // ---- the request path: one call per mutation ----

  // The store's io holds the cas of the version a mutation just made (MutationSink's contract):
  // the journal keeps it, so a key that is gone by send time is sent as that version deleted.
  stored(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (this.link === null || !this.link.running) return;
    const store = this.server.ctx.store;
    if (!this.journal.sync(key_buf, key_off, key_len, store.casLo(), store.casHi())) return this.overflow();
    this.journaled();
  }

  deleted(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (this.link === null || !this.link.running) return;
    const store = this.server.ctx.store;
    if (!this.journal.deleted(key_buf, key_off, key_len, store.casLo(), store.casHi())) return this.overflow();
    this.journaled();
  }

  flush(store: Store, exptime: number): void {
    if (this.link === null || !this.link.running) return void store.flush(exptime);
    if (!this.journal.flushAround(() => store.flush(exptime), exptime)) return this.overflow();
    this.journaled();
  }

  /**
   * -t N: waits (off the request path, Atomics.waitAsync) for the workers' kick word; on a kick,
   * an overflow they met drops the link as our own would, else their entries are pumped.
   */
  private watchThreads(): void {
    const threads = this.options.threads ?? null;
    if (threads === null || this.stopping) return;
    const words = threads.words.words;
    const turn = () => {
      Atomics.store(words, Word.journal_kick, 0);
      const link = this.link;
      const running = link !== null && link.running;
      const overflowed = Atomics.exchange(words, Word.journal_overflow, 0) !== 0;
      if (!running) this.gate.open(); // no link: nothing may hold a writer (a worker may have shut it as the link went)
      else if (overflowed) this.overflow();
      else {
        // A worker may have shut the gate word: the gate takes it, and opens it by its rule
        // once the pump has drained below the low-water mark (the entries may be sent already).
        if (Atomics.load(words, Word.gate_shut) !== 0) this.gate.shutByWorker();
        this.journaled();
      }
      this.watchThreads();
    };
    const result = waitAsync(words, Word.journal_kick, 0, thread_kick_wait_ms_max);
    if (result.async) void result.value.then(turn);
    else setImmediate(turn); // a kick already waiting: take it on the next turn, never in a microtask loop
  }

  /** After a journal entry: maybe shut the write gate, and kick the pump. */
  private journaled(): void {
    if (!this.gate.shut) this.updateGate(false);
    this.kick();
  }

  /** Shuts or opens the write gate by the journal's level; a shut gate watches for a stalled peer. */
  private updateGate(progress: boolean): void {
    this.gate.update(this.journal.count, this.journal.bytes, progress);
    if (this.gate.shut) this.watchStall();
  }

  /** While the gate is shut: a peer that takes nothing for stall_ms_max opens it. */
  private watchStall(): void {
    if (this.stall_timer !== null) return;
    this.progress_ms = performance.now();
    this.stall_timer = setInterval(() => {
      if (!this.gate.shut) return this.unwatchStall();
      if (this.outbox.pending() === 0 || performance.now() - this.progress_ms <= stall_ms_max) return;
      this.log(1, `replication: the peer took nothing for ${stall_ms_max} ms; clients are no longer held`);
      this.gate.peerStalled();
      this.unwatchStall();
    }, stall_check_ms);
  }

  private unwatchStall(): void {
    if (this.stall_timer !== null) clearInterval(this.stall_timer);
    this.stall_timer = null;
  }

  private overflow(): void {
    this.figures.queue_overflows++;
    if (this.link !== null) this.drop(this.link, "replication: queue limit!");
  }

  private kick(): void {
    if (this.pump_scheduled) return;
    this.pump_scheduled = true;
    setImmediate(this.scheduled_pump);
  }

  /** Bound once: kicking the pump allocates nothing on the request path. */
  private readonly scheduled_pump = (): void => {
    this.pump_scheduled = false;
    this.pump();
  };

  // ---- sending ----

  private pump(): void {
    const link = this.link;
    if (link === null || !link.running || link.closed) return;
    if (this.idle) this.progress_ms = performance.now(); // data starts waiting now, not at the last turn
    const more = this.streamer.fill(link, !this.stopping);
    this.write(link);
    if (more && this.outbox.pending() < this.outbox.window_bytes) this.kick();
    this.updateGate(this.progressed());
  }

  /** Whether the peer took bytes since the last look (or has none waiting). */
  private progressed(): boolean {
    const written = this.outbox.written_bytes;
    const progress = written !== this.progress_bytes || this.outbox.pending() === 0;
    this.progress_bytes = written;
    if (progress) this.progress_ms = performance.now();
    this.idle = this.outbox.pending() === 0 && this.journal.count === 0;
    return progress;
  }

  /** A progress line for the peer's copy at -v, when one is due (copy_progress.ts bounds them). */
  private logReceiving(): void {
    const now_ms = performance.now();
    if (this.receiving.due(now_ms)) this.log(1, this.receiving.line("received", now_ms));
  }

  /**
   * The replication lag: 0 while nothing waits for the peer (journal and send buffer empty);
   * else the ms since the peer last took bytes, or since data started waiting after an idle
   * spell (the pump refreshes `progress_ms` whenever the peer takes bytes or nothing is pending).
   * Read when asked; nothing on the request path.
   */
  lagMs(): number {
    const link = this.link;
    if (link === null || !link.running || this.idle) return 0; // idle: what waits is younger than one turn
    if (this.journal.count === 0 && this.outbox.pending() === 0) return 0;
    return Math.max(0, Math.round(performance.now() - this.progress_ms));
  }

  /** Our full copy is in the send buffer (the streamer's callback). */
  private copyDone(): void {
    this.updateTombstones();
  }

  private write(link: Link): void {
    if (!this.outbox.write(link.socket)) this.drop(link, "replication: send error");
  }

  private onDrain(link: Link | undefined): void {
    if (link === undefined || link.closed || !link.running) return;
    this.write(link);
    this.pump();
  }

  // ---- read-through while the peer's copy arrives (--serve-during-copy) ----

  active(): boolean {
    const link = this.link;
    return this.options.serve_during_copy && link !== null && link.running && link.mode === "ours" && !link.resync.peer_copy_in;
  }

  fetchMissing(buf: Uint8Array, cmd: Command, done: () => void): boolean {
    if (this.outbox.pending() >= this.outbox.window_bytes) return false;
    return this.sendFetch(this.fetches.request(this.server.ctx.store, buf, cmd, done));
  }

  /**
   * A -t N worker's read-through: `keys` (" k1 k2...") are missing there; false (call nothing)
   * when read-through is not active now or a bound is reached, else `done` runs once they came.
   */
  fetchKeys(keys: string, done: () => void): boolean {
    if (!this.active() || this.outbox.pending() >= this.outbox.window_bytes) return false;
    return this.sendFetch(this.fetches.requestKeys(keys, done));
  }

  private sendFetch(line: string | null): boolean {
    if (line === null) return false;
    this.outbox.makeRoom();
    this.outbox.putText(line);
    this.write(this.link!);
    return true;
  }

  /** -t N: tells the workers whether their misses read through now (Word.read_through). */
  private mirrorReadThrough(): void {
    this.options.threads?.words.set(Word.read_through, this.active() ? 1 : 0);
  }

  /** The peer reads through to us: queue the keys' states, then the end marker, in order. */
  private onFetch(id: number, buf: Uint8Array, keys_off: number, line_end: number): void {
    let from = keys_off;
    while (nextKey(buf, from, line_end)) {
      const { off, len } = key_cursor;
      from = off + len;
      if (len <= key_bytes_max && !this.journal.fetchKey(buf, off, len)) return this.overflow();
    }
    if (!this.journal.fetched(id)) return this.overflow();
    this.kick();
  }

  // ---- closing ----

  /** Closes a link that never carried data (a duplicate, or a handshake that gave way): not a link drop. */
  private refuse(link: Link, reason: string): void {
    if (link.closed) return;
    console.error(reason); // repcached prints `already connected` at any verbosity
    link.socket.terminate();
    this.onClose(link);
  }

  private drop(link: Link, reason: string): void {
    if (link.closed) return;
    this.fail(reason);
    this.figures.link_drops++;
    link.socket.terminate();
    this.onClose(link);
  }

  private onClose(link: Link | undefined): void {
    if (link === undefined || link.closed) return;
    const was_running = link.running;
    link.close();
    this.pending.delete(link);
    if (this.outgoing === link) this.outgoing = null;
    if (this.link !== link) return;
    this.link = null;
    this.options.threads?.words.set(Word.link_running, 0);
    this.mirrorReadThrough();
    this.idle = true;
    this.receiving.abort(performance.now());
    this.streamer.sending.abort(performance.now());
    link.inbound?.onClose();
    this.fetches.failAll();
    this.journal.clear();
    this.outbox.clear();
    this.gate.open();
    this.unwatchStall();
    this.updateTombstones();
    if (was_running) this.log(1, "replication: close");
    this.markReady();
    if (this.stopping) return;
    if (this.listeners.length > 0) this.log(1, "replication: listen");
    else this.listen(); // the survivor of a broken link takes the shared port (the port rule)
    this.scheduleDial();
  }

  /**
   * SIGTERM/SIGINT: stop accepting, send what the journal holds to a live peer, then close.
   * Gives up (logged, counted) when the peer takes nothing for `drain_stall_ms_max`.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnect_timer !== null) clearTimeout(this.reconnect_timer);
    if (this.listen_timer !== null) clearTimeout(this.listen_timer);
    this.stopListening(); // keeps the accepted link, and with it what is queued
    const link = this.link;
    if (link === null || !link.running) return;
    this.log(1, "replication: cleanup start");
    let progress_ms = performance.now();
    let written = this.outbox.written_bytes;
    while (!link.closed && (this.journal.count > 0 || this.outbox.pending() > 0)) {
      this.pump();
      if (this.outbox.written_bytes !== written) {
        written = this.outbox.written_bytes;
        progress_ms = performance.now();
      } else if (performance.now() - progress_ms > drain_stall_ms_max) break;
      await Bun.sleep(drain_poll_ms);
    }
    const left = this.journal.count + this.outbox.pending();
    if (left > 0 || link.closed) {
      this.figures.drain_timeouts++;
      this.fail(`replication: cleanup error (${this.journal.count} items and ${this.outbox.pending()} bytes not sent${link.closed ? ": the link closed" : `: no progress for ${drain_stall_ms_max} ms`})`);
    }
    // The last bytes may still sit in the kernel's buffers, and exiting could cut them off: a peer
    // of our kind acknowledges them (bounded wait) before we end the link.
    if (left === 0 && !link.closed && link.mode === "ours") await this.acknowledged(link);
    link.socket.end();
    this.onClose(link); // logs `replication: close`
    this.log(1, "replication: cleanup complete");
  }

  /**
   * Sends a read-through of one key with the reserved id `bye_fetch_id`: the peer answers
   * `rcb1_fetched` after it has applied everything we sent before it (one ordered stream).
   */
  private async acknowledged(link: Link): Promise<void> {
    this.bye_acked = false;
    this.outbox.putText(`rcb1_fetch ${bye_fetch_id} rcb1:bye\r\n`);
    this.write(link);
    const deadline = performance.now() + bye_wait_ms_max;
    while (!this.bye_acked && !link.closed && performance.now() < deadline) await Bun.sleep(drain_poll_ms);
    if (!this.bye_acked) {
      this.figures.drain_timeouts++;
      this.fail(`replication: cleanup error (the peer did not acknowledge the last bytes within ${bye_wait_ms_max} ms)`);
    }
  }

  // ---- stats ----

  state(): string {
    const link = this.link;
    if (link === null) return this.connecting ? LinkState.CONNECTING : this.listeners.length > 0 ? LinkState.LISTENING : LinkState.DOWN;
    if (!link.running) return LinkState.HANDSHAKE;
    return link.resync.phase === Phase.SYNCED ? LinkState.SYNCED : LinkState.COPYING;
  }

  /** Lines appended to `stats` (repcached's names, with the real state). */
  statsLines(): Array<[string, string | number]> {
    return [
      ["replication", this.state()],
      ["repcached_version", "2.2.1"],
      ["repcached_qi_free", this.options.queue_items_max - this.journal.count],
      ["repcached_wdata", this.outbox.pending()],
      ["repcached_wsize", this.outbox.buf.length],
    ];
  }

  /** Full-copy progress: ours (sent) and the peer's (received), running or last. */
  private copyLines(): Array<[string, string | number]> {
    const sent = this.streamer.sending;
    const received = this.receiving;
    return [
      ["copy_sending", sent.running ? 1 : 0],
      ["copy_items_sent", sent.items],
      ["copy_bytes_sent", sent.bytes],
      ["copy_items_planned", sent.total < 0 ? 0 : sent.total],
      ["copy_percent", sent.percent()],
      ["copy_receiving", received.running ? 1 : 0],
      ["copy_items_received", received.items],
      ["copy_bytes_received", received.bytes],
      ["copy_items_expected", received.total],
      ["copy_percent_received", received.percent()],
    ];
  }

  /** `stats replication`. */
  detailLines(): Array<[string, string | number]> {
    const link = this.link;
    const f = this.figures;
    const store = this.server.ctx.store.stats();
    const target = this.dialTarget();
    return [
      ["state", this.state()],
      ["node_id", this.node_id],
      ["peer", target === null ? "" : `${target.host}:${target.port}`],
      ["peer_connected", link === null ? "" : link.remote],
      ["peer_kind", link?.mode ?? ""],
      ["role", link?.role ?? ""],
      ["listen_port", this.options.listen_port],
      ["listening", this.listeners.length > 0 ? 1 : 0],
      ["handshakes_pending", this.pending.size],
      ["queue_items", this.journal.count],
      ["queue_items_max", this.options.queue_items_max],
      ["queue_bytes", this.journal.bytes],
      ["queue_bytes_max", this.journal.bytes_max],
      ["send_pending_bytes", this.outbox.pending()],
      ["sent_bytes", this.outbox.written_bytes],
      ["sent_items", f.sent_items],
      ["received_items", f.received_items],
      ["full_copies_sent", f.full_copies_sent],
      ["full_copies_received", f.full_copies_received],
      ["last_full_copy_items", f.last_copy_items],
      ["last_full_copy_ms", f.last_copy_ms],
      ...this.copyLines(),
      ["lag_ms", this.lagMs()],
      ["pairings", f.pairings],
      ["link_drops", f.link_drops],
      ["queue_overflows", f.queue_overflows],
      ["backpressure", this.gate.shut ? 1 : 0],
      ["backpressure_pauses", this.gate.pauses + (this.options.threads?.words.get(Word.gate_pauses) ?? 0)],
      ["backpressure_waiting", this.gate.waiters],
      ["backpressure_stalls", this.gate.stalls],
      ["auth_failures", f.auth_failures],
      ["self_connects", this.self_connects],
      ["read_through_fetches", this.fetches.started],
      ["read_through_timeouts", this.fetches.timeouts],
      ["tombstones", store.tombstones],
      ["tombstones_dropped", store.tombstones_dropped],
      ["tombstones_sent", f.tombstones_sent],
      ["tombstones_received", f.tombstones_received],
      ["tombstones_applied", f.tombstones_applied],
      ["flushes_sent", f.flushes_sent],
      ["flushes_received", f.flushes_received],
      ["drain_timeouts", f.drain_timeouts],
      ["tls", this.options.tls === null ? "off" : "on"],
      ["tls_failures", f.tls_failures],
      ["clock_offset_ms", this.options.clock_offset_ms],
      ["last_error", f.last_error],
    ];
  }
}

/** Loopback, localhost, or one of this machine's interface addresses. */
function isLocalHost(host: string): boolean {
  if (host === "localhost" || host.startsWith("127.") || host === "::1" || host === "0.0.0.0") return true;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.address === host) return true;
  }
  return false;
}

/** Whether binding `listen_hosts` (empty: every address) would take `host`'s port too. */
function listensOn(listen_hosts: string[], host: string): boolean {
  if (listen_hosts.length === 0) return true;
  const same = (h: string) => h === host || (host === "localhost" && h === "127.0.0.1");
  return listen_hosts.some((h) => h === "0.0.0.0" || h === "::" || same(h));
}
