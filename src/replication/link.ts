// Replication with one peer, repcached-compatible on the wire, without repcached's flaws.
//
// Contract:
// - The request path touches replication in one call per mutation (`stored`/`deleted`/`flushed`,
//   the MutationSink): the key goes into the bounded Journal. Everything else happens off it, in
//   `pump()` (scheduled with setImmediate, and on drain): journal entries are sent in order, each
//   with the key's state at send time; a full copy streams from the store's cursor in bounded
//   steps between them, so clients keep being served and live writes are never overtaken by stale
//   copy entries (both read the state when they are encoded).
// - We listen on the replication port (-X L) whenever replication is on, and, with -x, keep
//   connecting to peer:C with backoff while no link is up: a cut link re-pairs by itself.
// - A classic repcached peer gets exactly repcached's bytes; two repcached-bun nodes handshake
//   (handshake.ts), send each other full copies and keep the higher cas (wall-clock cas with node
//   parity: last writer wins), so writes on either side of a cut survive the re-pair, and so do
//   deletes: those made out of sync are remembered and sent first (tombstones.ts).
// - Bounds: journal items (-q) and bytes, a fixed send buffer; overflow drops the link (logged,
//   counted) and the re-pair's full copy repairs the peer.

import type { Socket, TCPSocketListener } from "bun";
import { networkInterfaces } from "node:os";
import { Connection, type PeerHooks } from "../server/connection.ts";
import type { Server } from "../server/server.ts";
import type { MutationSink, ReadThrough } from "../protocol/execute.ts";
import { key_cursor, nextKey, type Command } from "../protocol/parser.ts";
import { GetMode, Status, StoreOp } from "../native/store.ts";
import { Entry, Journal } from "./journal.ts";
import {
  encodeDelete, encodeFlush, encodeFlushBefore, encodeMarugotoEnd, encodeTomb, rep_header_bytes_max,
} from "./codec.ts";
import { Tombstones } from "./tombstones.ts";
import {
  encodeAuth, encodeHello, encodeHelloReply, helloReplyLength, newToken, parseAuth, parseHello,
  parseHelloReply, proofFor, proofValid,
} from "./handshake.ts";

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
  verbosity: () => number;
}

export const LinkState = {
  DOWN: "down", LISTENING: "listening", CONNECTING: "connecting", HANDSHAKE: "handshake",
  COPYING: "copying", SYNCED: "synced",
} as const;

/** How long a listener waits for a repcached-bun hello before treating the connector as classic. */
const hello_wait_ms = 300;
const handshake_timeout_ms = 5_000;
const connect_timeout_ms = 3_000;
const reconnect_delay_ms_min = 100;
const reconnect_delay_ms_max = 5_000;
const listen_retry_ms = 1_000;
/** Stop encoding while this many bytes wait for the socket (TCP backpressure reaches the pump). */
const send_window_bytes = 256 * 1024;
/** Encode at most this many messages per pump turn, then yield to clients. */
const pump_messages_per_turn_max = 4096;
const handshake_bytes_max = 1024;
const thirty_days_s = 2_592_000;
/** Evicted keys taken per pump step ([u8 len][key] entries), and existence probes (no value copy). */
const scratch_bytes = 64 * 1024;
/** Read-through (--serve-during-copy): outstanding fetches, and how long a get waits for one. */
const fetches_max = 256;
const fetch_timeout_ms = 250;
const fetch_line_bytes_max = 64 * 1024;
/** Graceful shutdown: give up after this many 1 s waits without progress (repcached: 3). */
const drain_stalls_max = 3;

type Mode = "classic" | "ours";
type LinkSocket = Socket<Link>;

class Link {
  readonly socket: LinkSocket;
  readonly role: "accepted" | "connected";
  mode: Mode | null = null;
  running = false;
  closed = false;
  handshake_text = "";
  our_nonce = newToken();
  peer_id = "";
  peer_nonce = "";
  timer: ReturnType<typeof setTimeout> | null = null;
  inbound: Connection | null = null;
  copying = false;
  copy_items = 0;
  copy_started_ms = 0;
  peer_copy_done = false;

  constructor(socket: LinkSocket, role: "accepted" | "connected") {
    this.socket = socket;
    this.role = role;
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }
}

export class Replicator implements MutationSink, ReadThrough {
  private readonly server: Server;
  private readonly options: ReplicationOptions;
  private readonly node_id = newToken();
  private readonly journal: Journal;
  private readonly send: Uint8Array;
  private send_head = 0;
  private send_tail = 0;
  private readonly scratch: Uint8Array;
  private listeners: Array<TCPSocketListener<Link>> = [];
  private link: Link | null = null;
  private outgoing: Link | null = null;
  private reconnect_delay_ms = reconnect_delay_ms_min;
  private reconnect_timer: ReturnType<typeof setTimeout> | null = null;
  private listen_timer: ReturnType<typeof setTimeout> | null = null;
  private pump_scheduled = false;
  private stopping = false;
  private ready: (() => void) | null = null;
  private self_connects = 0;
  private readonly fetches = new Map<number, { done: () => void; timer: ReturnType<typeof setTimeout> }>();
  private next_fetch_id = 1;
  private connecting = false;
  private paired_as_connector = false;
  private listen_failures = 0;
  /** Deletes made while not in sync with a repcached-bun peer (tombstones.ts). */
  private readonly tombstones = new Tombstones();
  /** Set once a repcached-bun peer paired: from then on cas values follow the wall clock. */
  private paired_ours = false;
  /** The tombstones this pairing sends: [tomb_next, tomb_end) are still to go. */
  private tomb_next = 0;
  private tomb_end = 0;
  readonly figures = {
    sent_bytes: 0, sent_items: 0, received_items: 0, full_copies_sent: 0, full_copies_received: 0,
    last_copy_items: 0, last_copy_ms: 0, link_drops: 0, queue_overflows: 0, pairings: 0, auth_failures: 0,
    read_through_fetches: 0, read_through_timeouts: 0,
    tombstones_sent: 0, tombstones_received: 0, tombstones_applied: 0, flushes_sent: 0, flushes_received: 0,
    last_error: "",
  };

  constructor(server: Server, options: ReplicationOptions) {
    this.server = server;
    this.options = options;
    const item_size_max = server.settings.item_size_max;
    this.journal = new Journal(options.queue_items_max, Math.min(options.queue_bytes_max, options.queue_items_max * 258));
    this.send = new Uint8Array(2 * (item_size_max + rep_header_bytes_max) + send_window_bytes);
    this.scratch = new Uint8Array(scratch_bytes);
    // cas values stay memcached-like (a counter) until a repcached-bun peer pairs: a classic peer
    // keeps only the low 32 bits of a cas it sends back, so wall-clock cas would change on the
    // round trip. Pairing with our own kind switches to wall-clock cas for last-writer-wins.
    this.same_port_peer = options.peer_host !== null && options.connect_port === options.listen_port && isLocalHost(options.peer_host);
  }

  private log(level: number, text: string): void {
    if (this.options.verbosity() >= level) console.error(text);
  }

  private fail(text: string): void {
    this.figures.last_error = text;
    console.error(text);
  }

  // ---- lifecycle ----

  /**
   * Who listens: a node without -x listens; a node with -x connects (and keeps reconnecting) and
   * also listens — except when the peer is this host on the same port (the usual one-host test
   * pair). Then only one of the two can hold the port: like repcached, the -x node takes it only
   * when nothing answered its first connect; once it has paired as the connector it keeps
   * connecting and leaves the port to the peer, so a restarted peer (with or without -x) gets it.
   */
  private readonly same_port_peer: boolean;

  /** Binds the replication port, connects to the peer; resolves when clients may be served. */
  start(): Promise<void> {
    if (!this.same_port_peer) this.listen();
    if (this.options.peer_host === null) return Promise.resolve();
    // With --serve-during-copy the client port opens once the link is up (read-through works from
    // the first request); otherwise once the peer's full copy is in, as repcached does.
    return new Promise((resolve) => {
      this.ready = resolve;
      this.connect();
    });
  }

  private markReady(): void {
    const ready = this.ready;
    this.ready = null;
    if (ready !== null) ready();
  }

  private listen(): void {
    if (this.stopping || this.listeners.length > 0) return;
    const hosts = this.options.listen_hosts.length > 0 ? this.options.listen_hosts : ["0.0.0.0"];
    try {
      for (const host of hosts) {
        this.listeners.push(Bun.listen<Link>({ hostname: host, port: this.options.listen_port, socket: this.handlers("accepted") }));
      }
      this.listen_failures = 0;
      this.log(1, "replication: listen");
    } catch (error) {
      for (const listener of this.listeners) listener.stop(true);
      this.listeners = [];
      const message = `replication: failed to initialize replication server socket (${String(error)})`;
      if (this.listen_failures++ === 0) this.fail(message);
      else this.log(2, message);
      this.listen_timer = setTimeout(() => {
        this.listen_timer = null;
        this.listen();
      }, listen_retry_ms);
    }
  }

  private connect(): void {
    if (this.stopping || this.connecting || this.link !== null || this.options.peer_host === null) return;
    const host = this.options.peer_host;
    const port = this.options.connect_port;
    this.connecting = true;
    this.log(1, `replication: connect (peer=${host}:${port})`);
    const give_up = setTimeout(() => this.connectFailed(`timed out after ${connect_timeout_ms} ms`), connect_timeout_ms);
    Bun.connect<Link>({ hostname: host, port, socket: this.handlers("connected") }).then(
      () => clearTimeout(give_up),
      (error) => {
        clearTimeout(give_up);
        this.connectFailed(String(error));
      },
    );
  }

  /** Like repcached: a node whose peer cannot be reached serves on its own (and we keep trying). */
  private connectFailed(reason: string): void {
    if (!this.connecting) return;
    this.connecting = false;
    this.log(2, `replication: can't connect ${this.options.peer_host}:${this.options.connect_port} (${reason})`);
    this.markReady();
    if (this.same_port_peer && !this.paired_as_connector) {
      this.log(1, "replication: close");
      this.listen();
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.options.peer_host === null || this.reconnect_timer !== null) return;
    // Holding the shared port ourselves: the peer will connect to us; dialing would reach us.
    if (this.same_port_peer && this.listeners.length > 0) return;
    const jitter = Math.floor(Math.random() * this.reconnect_delay_ms * 0.2);
    this.reconnect_timer = setTimeout(() => {
      this.reconnect_timer = null;
      this.connect();
    }, this.reconnect_delay_ms + jitter);
    this.reconnect_delay_ms = Math.min(reconnect_delay_ms_max, this.reconnect_delay_ms * 2);
  }

  private handlers(role: "accepted" | "connected") {
    return {
      open: (socket: LinkSocket) => this.onOpen(socket, role),
      data: (socket: LinkSocket, chunk: Buffer) => this.onData(socket.data, chunk),
      drain: (socket: LinkSocket) => this.onDrain(socket.data),
      close: (socket: LinkSocket) => this.onClose(socket.data),
      error: (socket: LinkSocket) => this.onClose(socket.data),
      connectError: () => {},
    };
  }

  private onOpen(socket: LinkSocket, role: "accepted" | "connected"): void {
    const link = new Link(socket, role);
    socket.data = link;
    socket.setNoDelay?.(true);
    if (role === "connected") return this.openOutgoing(link);
    this.log(1, "replication: accept");
    if (this.isSelf(socket)) {
      this.self_connects++;
      this.log(2, "replication: connected to myself; closing");
      this.outgoing?.socket.terminate();
      return socket.terminate();
    }
    if (this.link !== null) {
      console.error("replication: already connected"); // repcached prints this at any verbosity
      return socket.terminate();
    }
    this.link = link;
    link.timer = setTimeout(() => this.helloTimeout(link), hello_wait_ms);
  }

  /** Our own outgoing connection landing on our own listener (same host, same -X port). */
  private isSelf(socket: LinkSocket): boolean {
    const out = this.outgoing;
    return out !== null && socket.remotePort === out.socket.localPort && socket.localPort === out.socket.remotePort;
  }

  private openOutgoing(link: Link): void {
    if (!this.connecting || this.link !== null || this.stopping) return link.socket.terminate();
    this.connecting = false;
    this.outgoing = link;
    this.link = link;
    this.log(1, "replication: marugoto copying");
    link.socket.write(encodeHello({ node_id: this.node_id, nonce: link.our_nonce }));
    link.timer = setTimeout(() => this.drop(link, "replication: handshake timeout"), handshake_timeout_ms);
  }

  private onData(link: Link, chunk: Buffer): void {
    if (link.closed) return;
    if (link.running) {
      link.inbound!.onData(chunk);
      return this.kick();
    }
    link.handshake_text += chunk.toString("latin1");
    if (link.role === "accepted") this.listenerHandshake(link);
    else this.connectorHandshake(link);
  }

  // ---- handshake ----

  private helloTimeout(link: Link): void {
    link.timer = null;
    if (link.closed || link.running || link.mode !== null) return;
    this.beginClassic(link, "");
  }

  private listenerHandshake(link: Link): void {
    const text = link.handshake_text;
    if (link.mode === null) {
      const line_end = text.indexOf("\r\n");
      if (line_end < 0) {
        if (text.length > handshake_bytes_max || !"get rcb1:hello:".startsWith(text.slice(0, 15))) this.beginClassic(link, text);
        return;
      }
      const hello = parseHello(text.slice(0, line_end));
      if (hello === null) return this.beginClassic(link, text);
      if (hello.node_id === this.node_id) return this.drop(link, "replication: connected to myself");
      link.mode = "ours";
      link.peer_id = hello.node_id;
      link.peer_nonce = hello.nonce;
      link.handshake_text = text.slice(line_end + 2);
      const proof = proofFor(this.options.secret, "L", hello.nonce, link.our_nonce, this.node_id);
      link.socket.write(encodeHelloReply({ node_id: this.node_id, nonce: link.our_nonce, proof }));
      this.resetTimer(link, handshake_timeout_ms);
    }
    const rest = link.handshake_text;
    const line_end = rest.indexOf("\r\n");
    if (line_end < 0) {
      if (rest.length > handshake_bytes_max) this.drop(link, "replication: bad auth line");
      return;
    }
    const proof = parseAuth(rest.slice(0, line_end));
    const expected = proofFor(this.options.secret, "C", link.our_nonce, link.peer_nonce, link.peer_id);
    if (proof === null || !proofValid(proof, expected)) return this.authFailed(link);
    this.beginOurs(link, rest.slice(line_end + 2));
  }

  private connectorHandshake(link: Link): void {
    const text = link.handshake_text;
    const length = helloReplyLength(text);
    if (length === 0) return;
    if (length < 0) return this.beginClassic(link, text);
    const reply = parseHelloReply(text.slice(0, length));
    if (reply === null) return this.drop(link, "replication: malformed hello reply");
    if (reply.node_id === this.node_id) return this.drop(link, "replication: connected to myself");
    const expected = proofFor(this.options.secret, "L", link.our_nonce, reply.nonce, reply.node_id);
    if (!proofValid(reply.proof, expected)) {
      link.socket.write(encodeAuth("-")); // lets the listener see (and count) the mismatch at once
      return this.authFailed(link);
    }
    link.peer_id = reply.node_id;
    link.peer_nonce = reply.nonce;
    link.socket.write(encodeAuth(proofFor(this.options.secret, "C", reply.nonce, link.our_nonce, this.node_id)));
    this.beginOurs(link, text.slice(length));
  }

  private authFailed(link: Link): void {
    this.figures.auth_failures++;
    this.drop(link, "replication: peer failed authentication (replication secret)");
  }

  private resetTimer(link: Link, ms: number): void {
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = setTimeout(() => this.drop(link, "replication: handshake timeout"), ms);
  }

  /** A classic repcached peer: its bytes, last arrival wins, only a listener copies. */
  private beginClassic(link: Link, pending: string): void {
    if (this.options.secret !== null) return this.authFailed(link);
    link.mode = "classic";
    this.tombstones.clear(); // a classic peer knows no tombstones (and mints its own cas)
    this.run(link, StoreOp.REP, link.role === "accepted", pending);
  }

  private beginOurs(link: Link, pending: string): void {
    link.mode = "ours";
    this.paired_ours = true;
    this.server.ctx.store.setCasClock(true, this.node_id < link.peer_id ? 0 : 1);
    this.run(link, StoreOp.REP_IF_NEWER, true, pending);
  }

  private run(link: Link, rep_op: number, send_copy: boolean, pending: string): void {
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = null;
    link.running = true;
    link.handshake_text = "";
    this.figures.pairings++;
    if (link.role === "connected") this.paired_as_connector = true;
    this.reconnect_delay_ms = reconnect_delay_ms_min;
    const hooks: PeerHooks = {
      rep_op,
      onMarugotoEnd: () => this.peerCopyDone(link),
      onApplied: () => this.figures.received_items++,
      onFetch: (id, buf, keys_off, line_end) => this.onFetch(id, buf, keys_off, line_end),
      onFetched: (id) => this.finishFetch(id),
      onTomb: (buf, key_off, key_len, cas_lo, cas_hi) => this.onTomb(buf, key_off, key_len, cas_lo, cas_hi),
      onFlushBefore: (cas_lo, cas_hi) => this.onFlushBefore(cas_lo, cas_hi),
    };
    link.inbound = new Connection(link.socket, this.server, 0, hooks);
    this.journal.clear();
    this.send_head = this.send_tail = 0;
    this.tomb_next = 0;
    this.tomb_end = link.mode === "ours" ? this.tombstones.count : 0;
    if (link.mode === "ours" && this.tombstones.has_flush) this.encodeFlushBefore();
    if (send_copy) this.beginCopy(link);
    if (link.role === "connected" && link.mode === "classic") {
      // A classic listener copies to us; we have nothing to copy back (repcached's connector).
    }
    if (pending.length > 0) link.inbound.onData(Buffer.from(pending, "latin1"));
    if (this.options.serve_during_copy) this.markReady();
    this.kick();
  }

  private peerCopyDone(link: Link): void {
    if (link.peer_copy_done) return;
    link.peer_copy_done = true;
    this.figures.full_copies_received++;
    this.log(1, "replication: start");
    this.retireTombstones(link);
    this.markReady();
  }

  // ---- tombstones: deletes made while not in sync survive the re-pair ----

  /** While a repcached-bun peer's copy has not fully arrived, or ours are not all sent. */
  private recordingTombstones(): boolean {
    if (!this.paired_ours) return false;
    const link = this.link;
    if (link === null || !link.running || link.mode !== "ours") return true;
    return !link.peer_copy_done || this.tomb_next < this.tomb_end;
  }

  private encodeTombStep(): void {
    const t = this.tombstones;
    const i = this.tomb_next++;
    this.send_tail = encodeTomb(this.send, this.send_tail, t.keys, t.key_off[i]!, t.key_len[i]!, t.cas_lo[i]!, t.cas_hi[i]!);
    this.figures.tombstones_sent++;
  }

  private encodeFlushBefore(): void {
    const t = this.tombstones;
    this.send_tail = encodeFlushBefore(this.send, this.send_tail, t.flush_cas_lo, t.flush_cas_hi);
    this.figures.flushes_sent++;
  }

  /** The peer ran flush_all while unpaired: drop what we hold from before that moment. */
  private onFlushBefore(cas_lo: number, cas_hi: number): void {
    this.figures.flushes_received++;
    this.figures.tombstones_applied += this.server.ctx.store.removeBelowCas(cas_lo, cas_hi);
  }

  /** The peer deleted a key while unpaired: drop our copy unless we wrote it after that. */
  private onTomb(buf: Uint8Array, key_off: number, key_len: number, cas_lo: number, cas_hi: number): void {
    this.figures.tombstones_received++;
    if (this.server.ctx.store.deleteOlder(buf, key_off, key_len, cas_lo, cas_hi) === Status.OK) {
      this.figures.tombstones_applied++;
    }
  }

  /**
   * Once the peer's copy is in and our tombstones are sent: delete again what the peer's copy
   * brought back (older than our delete), then forget. The peer applied the same tombstones.
   */
  private retireTombstones(link: Link): void {
    if (!link.peer_copy_done || this.tomb_next < this.tomb_end) return;
    const t = this.tombstones;
    const store = this.server.ctx.store;
    if (t.has_flush) this.figures.tombstones_applied += store.removeBelowCas(t.flush_cas_lo, t.flush_cas_hi);
    for (let i = 0; i < t.count; i++) {
      if (store.deleteOlder(t.keys, t.key_off[i]!, t.key_len[i]!, t.cas_lo[i]!, t.cas_hi[i]!) === Status.OK) {
        this.figures.tombstones_applied++;
      }
    }
    t.clear();
    this.tomb_next = this.tomb_end = 0;
  }

  // ---- full copy ----

  private beginCopy(link: Link): void {
    link.copying = true;
    link.copy_items = 0;
    link.copy_started_ms = performance.now();
    this.server.ctx.store.cursorStart();
  }

  private finishCopy(link: Link): void {
    link.copying = false;
    this.figures.full_copies_sent++;
    this.figures.last_copy_items = link.copy_items;
    this.figures.last_copy_ms = Math.round(performance.now() - link.copy_started_ms);
    if (link.copy_items > 0) {
      this.log(1, `replication: marugoto ${link.copy_items}`);
      this.log(1, "replication: marugoto owari");
    }
  }

  // ---- the request path: one call per mutation ----

  stored(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (this.link === null || !this.link.running) return;
    if (!this.journal.sync(key_buf, key_off, key_len)) return this.overflow();
    this.kick();
  }

  deleted(key_buf: Uint8Array, key_off: number, key_len: number): void {
    if (this.recordingTombstones()) this.tombstones.add(key_buf, key_off, key_len, Date.now());
    if (this.link === null || !this.link.running) return;
    if (!this.journal.deleted(key_buf, key_off, key_len)) return this.overflow();
    this.kick();
  }

  flushed(exptime: number): void {
    if (exptime <= 0 && this.recordingTombstones()) this.tombstones.addFlush(Date.now());
    if (this.link === null || !this.link.running) return;
    if (!this.journal.flush(exptime)) return this.overflow();
    this.kick();
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

  private pending(): number {
    return this.send_tail - this.send_head;
  }

  private pump(): void {
    const link = this.link;
    if (link === null || !link.running || link.closed) return;
    let messages = 0;
    while (this.pending() < send_window_bytes && messages < pump_messages_per_turn_max) {
      this.compact();
      if (this.takeEvictions()) continue;
      if (this.journal.pop()) this.encodeJournalEntry(link);
      else if (this.tomb_next < this.tomb_end) this.encodeTombStep();
      else if (link.copying) this.encodeCopyStep(link);
      else break;
      messages++;
    }
    if (this.tomb_end > 0 && this.tomb_next === this.tomb_end) this.retireTombstones(link);
    this.write(link);
    const more = this.journal.count > 0 || link.copying || this.tomb_next < this.tomb_end;
    if (more && this.pending() < send_window_bytes) this.kick();
  }

  private compact(): void {
    if (this.send_head === 0) return;
    if (this.send.length - this.send_tail >= this.send.length / 2) return;
    this.send.copyWithin(0, this.send_head, this.send_tail);
    this.send_tail -= this.send_head;
    this.send_head = 0;
  }

  private takeEvictions(): boolean {
    if (!this.options.propagate_evictions) return false;
    const n = this.server.ctx.store.evictionsTake(this.scratch, 0, this.scratch.length);
    if (n <= 0) return false;
    for (let at = 0; at < n; ) {
      const len = this.scratch[at]!;
      if (!this.journal.sync(this.scratch, at + 1, len)) {
        this.overflow();
        return false;
      }
      at += 1 + len;
    }
    return true;
  }

  private encodeJournalEntry(link: Link): void {
    const journal = this.journal;
    if (journal.popped_type === Entry.FETCHED) {
      this.send_tail = putText(this.send, this.send_tail, `rcb1_fetched ${journal.flush_exptime >>> 0}\r\n`);
      return;
    }
    if (journal.popped_type === Entry.FETCH_KEY) {
      if (this.encodeRepOf(link, journal.key, 0, journal.key_len) > 0) this.figures.sent_items++;
      return;
    }
    if (journal.popped_type === Entry.FLUSH) {
      const exptime = journal.flush_exptime;
      const time = exptime === 0 || link.mode === "ours" ? exptime : this.absoluteTime(exptime);
      this.send_tail = encodeFlush(this.send, this.send_tail, time);
      this.figures.sent_items++;
      return;
    }
    // A stored key that is gone by now was evicted or expired: say so only if evictions propagate.
    const delete_if_gone = journal.popped_type === Entry.DELETE || this.options.propagate_evictions;
    this.encodeKeyState(link, journal.key, 0, journal.key_len, delete_if_gone);
  }

  /** Sends `rep` with the key's current state, or (if asked) `delete` when it no longer exists. */
  private encodeKeyState(link: Link, key: Uint8Array, key_off: number, key_len: number, delete_if_gone: boolean): void {
    const n = this.encodeRepOf(link, key, key_off, key_len);
    if (n < 0) {
      if (!delete_if_gone) return;
      this.send_tail = encodeDelete(this.send, this.send_tail, key, key_off, key_len);
    }
    this.figures.sent_items++;
  }

  /** The store writes the key's `rep` line straight into the send buffer: bytes, or NOT_FOUND. */
  private encodeRepOf(link: Link, key: Uint8Array, key_off: number, key_len: number): number {
    const mode = GetMode.PEEK | repMode(link);
    const room = this.send.length - this.send_tail;
    const n = this.server.ctx.store.get(key, key_off, key_len, this.send, this.send_tail, room, mode, 0);
    if (n > 0) this.send_tail += n;
    return n;
  }

  private encodeCopyStep(link: Link): void {
    const store = this.server.ctx.store;
    const room = this.send.length - this.send_tail;
    const n = store.cursorNext(this.send, this.send_tail, room, repMode(link));
    if (n === Status.CURSOR_AGAIN) return;
    if (n < 0) {
      this.finishCopy(link);
      this.send_tail = encodeMarugotoEnd(this.send, this.send_tail);
      return;
    }
    if (link.copy_items === 0) this.log(1, "replication: marugoto start");
    link.copy_items++;
    this.send_tail += n;
    this.figures.sent_items++;
  }

  /** repcached sends a delayed flush as an absolute time. */
  private absoluteTime(exptime: number): number {
    return exptime > thirty_days_s ? exptime : Math.floor(Date.now() / 1000) + exptime;
  }

  private write(link: Link): void {
    const n = this.pending();
    if (n === 0) return;
    const written = link.socket.write(this.send, this.send_head, n);
    if (written < 0) return this.drop(link, "replication: send error");
    this.figures.sent_bytes += written;
    this.send_head += written;
    if (this.send_head === this.send_tail) this.send_head = this.send_tail = 0;
  }

  private onDrain(link: Link): void {
    if (link.closed || !link.running) return;
    this.write(link);
    this.pump();
  }

  // ---- read-through while the peer's copy arrives (--serve-during-copy) ----

  active(): boolean {
    const link = this.link;
    return this.options.serve_during_copy && link !== null && link.running && link.mode === "ours" && !link.peer_copy_done;
  }

  fetchMissing(buf: Uint8Array, cmd: Command, done: () => void): boolean {
    const link = this.link!;
    if (this.fetches.size >= fetches_max || this.pending() >= send_window_bytes) return false;
    const id = this.next_fetch_id;
    let line = `rcb1_fetch ${id}`;
    const store = this.server.ctx.store;
    let missing = 0;
    let from = cmd.keys_off;
    while (nextKey(buf, from, cmd.line_end)) {
      const { off, len } = key_cursor;
      from = off + len;
      if (len > 250) return false;
      // A 0-byte destination: a hit answers BUFFER_SMALL (or 0 for an empty value), never copying.
      if (store.get(buf, off, len, this.scratch, 0, 0, GetMode.PEEK, 0) !== Status.NOT_FOUND) continue;
      line += " " + Buffer.from(buf.buffer, buf.byteOffset + off, len).toString("latin1");
      missing++;
      if (line.length > fetch_line_bytes_max) return false;
    }
    if (missing === 0) return false;
    this.next_fetch_id = (id % 0x7fffffff) + 1;
    this.compact();
    this.send_tail = putText(this.send, this.send_tail, line + "\r\n");
    this.write(link);
    this.figures.read_through_fetches++;
    const timer = setTimeout(() => {
      this.figures.read_through_timeouts++;
      this.finishFetch(id);
    }, fetch_timeout_ms);
    this.fetches.set(id, { done, timer });
    return true;
  }

  private finishFetch(id: number): void {
    const fetch = this.fetches.get(id);
    if (fetch === undefined) return;
    this.fetches.delete(id);
    clearTimeout(fetch.timer);
    // Not from inside the peer stream's processing: the client's replies must not mix with it.
    setImmediate(fetch.done);
  }

  /** The peer reads through to us: queue the keys' states, then the end marker, in order. */
  private onFetch(id: number, buf: Uint8Array, keys_off: number, line_end: number): void {
    let from = keys_off;
    while (nextKey(buf, from, line_end)) {
      const { off, len } = key_cursor;
      from = off + len;
      if (len <= 250 && !this.journal.fetchKey(buf, off, len)) return this.overflow();
    }
    if (!this.journal.fetched(id)) return this.overflow();
    this.kick();
  }

  private failFetches(): void {
    for (const id of [...this.fetches.keys()]) this.finishFetch(id);
  }

  // ---- closing ----

  private drop(link: Link, reason: string): void {
    if (link.closed) return;
    this.fail(reason);
    this.figures.link_drops++;
    link.socket.terminate();
    this.onClose(link);
  }

  private onClose(link: Link | undefined): void {
    if (link === undefined || link.closed) return;
    link.closed = true;
    if (link.timer !== null) clearTimeout(link.timer);
    if (this.outgoing === link) this.outgoing = null;
    if (this.link !== link) return;
    this.link = null;
    link.inbound?.onClose();
    this.failFetches();
    this.journal.clear();
    this.send_head = this.send_tail = 0;
    if (link.running) this.log(1, "replication: close");
    this.markReady();
    if (this.stopping) return;
    if (this.listeners.length > 0) this.log(1, "replication: listen");
    this.scheduleReconnect();
  }

  /** SIGTERM/SIGINT: send what is queued (up to 3 s without progress), then close. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnect_timer !== null) clearTimeout(this.reconnect_timer);
    if (this.listen_timer !== null) clearTimeout(this.listen_timer);
    for (const listener of this.listeners) listener.stop(true);
    this.listeners = [];
    const link = this.link;
    if (link === null || !link.running) return;
    this.log(1, "replication: cleanup start");
    let stalls = 0;
    let last = -1;
    while (stalls < drain_stalls_max && (this.journal.count > 0 || this.pending() > 0) && !link.closed) {
      this.pump();
      const left = this.journal.count + this.pending();
      if (left === last) stalls++;
      else stalls = 0;
      last = left;
      await Bun.sleep(stalls === 0 ? 10 : 1000);
    }
    if (this.journal.count > 0 || this.pending() > 0) this.fail("replication: cleanup error");
    link.socket.end();
    this.log(1, "replication: close");
    this.log(1, "replication: cleanup complete");
  }

  // ---- stats ----

  state(): string {
    const link = this.link;
    if (link === null) return this.connecting ? LinkState.CONNECTING : this.listeners.length > 0 ? LinkState.LISTENING : LinkState.DOWN;
    if (!link.running) return LinkState.HANDSHAKE;
    if (link.copying || (!link.peer_copy_done && link.mode === "ours")) return LinkState.COPYING;
    return LinkState.SYNCED;
  }

  /** Lines appended to `stats` (repcached's names, with the real state). */
  statsLines(): Array<[string, string | number]> {
    return [
      ["replication", this.state()],
      ["repcached_version", "2.2.1"],
      ["repcached_qi_free", this.options.queue_items_max - this.journal.count],
      ["repcached_wdata", this.pending()],
      ["repcached_wsize", this.send.length],
    ];
  }

  /** `stats replication`. */
  detailLines(): Array<[string, string | number]> {
    const link = this.link;
    const f = this.figures;
    return [
      ["state", this.state()],
      ["node_id", this.node_id],
      ["peer", this.options.peer_host === null ? "" : `${this.options.peer_host}:${this.options.connect_port}`],
      ["peer_connected", link === null ? "" : link.remote],
      ["peer_kind", link?.mode ?? ""],
      ["role", link?.role ?? ""],
      ["listen_port", this.options.listen_port],
      ["queue_items", this.journal.count],
      ["queue_items_max", this.options.queue_items_max],
      ["queue_bytes", this.journal.bytes],
      ["queue_bytes_max", this.journal.bytes_max],
      ["send_pending_bytes", this.pending()],
      ["sent_bytes", f.sent_bytes],
      ["sent_items", f.sent_items],
      ["received_items", f.received_items],
      ["full_copies_sent", f.full_copies_sent],
      ["full_copies_received", f.full_copies_received],
      ["last_full_copy_items", f.last_copy_items],
      ["last_full_copy_ms", f.last_copy_ms],
      ["pairings", f.pairings],
      ["link_drops", f.link_drops],
      ["queue_overflows", f.queue_overflows],
      ["auth_failures", f.auth_failures],
      ["self_connects", this.self_connects],
      ["read_through_fetches", f.read_through_fetches],
      ["read_through_timeouts", f.read_through_timeouts],
      ["tombstones", this.tombstones.count],
      ["tombstones_dropped", this.tombstones.dropped],
      ["tombstones_sent", f.tombstones_sent],
      ["tombstones_received", f.tombstones_received],
      ["tombstones_applied", f.tombstones_applied],
      ["flushes_sent", f.flushes_sent],
      ["flushes_received", f.flushes_received],
      ["last_error", f.last_error],
    ];
  }
}

/** repcached's rep lines for a classic peer (signed flags, absolute expiry); ours: relative expiry. */
function repMode(link: Link): number {
  return GetMode.REP | (link.mode === "classic" ? GetMode.REP_SIGNED_FLAGS : GetMode.REP_RELATIVE);
}

function putText(buf: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}

/** Loopback, localhost, or one of this machine's interface addresses. */
function isLocalHost(host: string): boolean {
  if (host === "localhost" || host.startsWith("127.") || host === "::1" || host === "0.0.0.0") return true;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.address === host) return true;
  }
  return false;
}
