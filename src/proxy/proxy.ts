// The proxy server: listeners, client connections, the backends, the clock, and the batched flush.
//
// Contract: `new ProxyServer(settings)` builds the backends and the ketama rings (nothing connects yet:
// upstream connections open on first use); `start()` binds the TCP listener (-l/-p) and the unix
// socket (-f) and starts the clock; `stop()` closes everything. Clients beyond -n are answered
// `ERROR Too many open connections` and closed, as memcached does.
// Writes are batched per event-loop turn: at the end of the turn the upstream connections and
// clients that the turn gave bytes to are written, each with one socket.write (bounded rounds: a
// flush can route more, e.g. a paused client that resumes).

import type { Socket, TCPSocketListener } from "bun";
import { unixListen, type UnixListener } from "../unix_listener.ts";
import { Cmd, type Command } from "../protocol/parser.ts";
import { Backend, type BackendHost, type BackendSettings } from "./backend.ts";
import { Client, type ClientHost } from "./client.ts";
import { Router } from "./router.ts";
import type { Upstream } from "./upstream.ts";
import { agent_line, type ProxySettings } from "./config.ts";
import { ProxyReply, encode } from "./request.ts";
import { statsText, type ProxyFigures } from "./stats.ts";
import { client_output_bytes, client_output_buffers_free_max, tick_ms } from "./limits.ts";

/** Flush rounds per event; what is still dirty after them is flushed on the next turn. */
const flush_rounds_max = 64;

type ClientSocket = Socket<Client>;

export class ProxyServer implements ClientHost, BackendHost {
  readonly settings: ProxySettings;
  readonly mains: Backend[];
  readonly backups: Backend[];
  readonly router: Router;
  readonly version_reply = encode(`VERSION ${agent_line}\r\n`);
  now_ms = Date.now();
  private readonly started_s = Math.floor(Date.now() / 1000);
  readonly clients = new Set<Client>();
  private listeners: Array<TCPSocketListener<Client> | UnixListener> = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private next_id = 1;
  private dirty_upstreams: Upstream[] = [];
  private dirty_clients: Client[] = [];
  private spare_upstreams: Upstream[] = [];
  private spare_clients: Client[] = [];
  private flush_scheduled = false;
  private readonly free_outputs: Uint8Array[] = [];
  private figures = {
    total_connections: 0, rejected_connections: 0, bytes_read: 0, bytes_written: 0,
    cmd_get: 0, cmd_set: 0, cmd_touch: 0, cmd_flush: 0, cmd_other: 0, clients_closed_output_bound: 0,
  };

  constructor(settings: ProxySettings) {
    this.settings = settings;
    const backend_settings: BackendSettings = {
      pool_connections_max: settings.pool_connections_max,
      connect_timeout_ms: settings.connect_timeout_ms,
      request_timeout_ms: settings.request_timeout_ms,
      retry_min_ms: settings.retry_min_ms,
      retry_max_ms: settings.retry_max_ms,
    };
    const mains_count = settings.servers.length;
    this.mains = settings.servers.map((address, i) => new Backend(this, i, address, backend_settings));
    this.backups = settings.backups.map((address, i) => new Backend(this, mains_count + i, address, backend_settings));
    this.router = new Router(this.mains, this.backups, settings.backup_fill);
  }

  start(): void {
    const s = this.settings;
    const handlers = this.socketHandlers();
    if (s.tcp_port !== 0) {
      this.listeners.push(Bun.listen<Client>({ hostname: s.listen_host, port: s.tcp_port, socket: handlers }));
    }
    if (s.unix_socket_path !== null) {
      // magent binds under the process umask; the path appears already listening (unix_listener.ts)
      this.listeners.push(unixListen<Client>(s.unix_socket_path, 0o777 & ~process.umask(), handlers));
    }
    this.timer = setInterval(() => this.tick(), tick_ms);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const listener of this.listeners) listener.stop(true);
    this.listeners = [];
    for (const backend of [...this.mains, ...this.backups]) backend.close();
  }

  private tick(): void {
    this.now_ms = Date.now();
    for (const backend of this.mains) backend.tick(this.now_ms);
    for (const backend of this.backups) backend.tick(this.now_ms);
  }

  private socketHandlers() {
    return {
      binaryType: "uint8array" as const,
      open: (socket: ClientSocket) => this.accept(socket),
      data: (socket: ClientSocket, chunk: Uint8Array) => socket.data?.onData(chunk),
      drain: (socket: ClientSocket) => socket.data?.onDrain(),
      close: (socket: ClientSocket) => this.closed(socket),
      error: (socket: ClientSocket) => this.closed(socket),
    };
  }

  private accept(socket: ClientSocket): void {
    this.figures.total_connections++;
    if (this.clients.size >= this.settings.connections_max) {
      this.figures.rejected_connections++;
      socket.write(ProxyReply.TOO_MANY_CONNECTIONS);
      socket.end();
      return;
    }
    socket.setNoDelay?.(true);
    const client = new Client(socket, this, this.next_id++);
    socket.data = client;
    this.clients.add(client);
    this.log(2, `client ${client.id} connected`);
  }

  private closed(socket: ClientSocket): void {
    const client = socket.data;
    if (!client) return;
    client.onClose();
    if (this.clients.delete(client)) this.log(2, `client ${client.id} closed`);
  }

  dirtyUpstream(upstream: Upstream): void {
    this.dirty_upstreams.push(upstream);
    this.flushSoon();
  }

  dirtyClient(client: Client): void {
    this.dirty_clients.push(client);
    this.flushSoon();
  }

  /**
   * Schedules the write of what this event-loop turn queued, after every callback of the turn
   * (setImmediate): requests of many clients to one server then leave in one write, and replies
   * from many reads reach each client in one write.
   */
  private flushSoon(): void {
    if (this.flush_scheduled) return;
    this.flush_scheduled = true;
    setImmediate(this.flush_callback);
  }

  private readonly flush_callback = (): void => {
    this.flush_scheduled = false;
    this.flush();
  };

  /** Writes what the turn queued: requests to backends first, then replies to clients. */
  private flush(): void {
    for (let round = 0; round < flush_rounds_max; round++) {
      if (this.dirty_upstreams.length === 0 && this.dirty_clients.length === 0) return;
      const upstreams = this.dirty_upstreams;
      this.dirty_upstreams = this.spare_upstreams;
      for (const upstream of upstreams) upstream.flush();
      upstreams.length = 0;
      this.spare_upstreams = upstreams;
      const clients = this.dirty_clients;
      this.dirty_clients = this.spare_clients;
      for (const client of clients) client.flush();
      clients.length = 0;
      this.spare_clients = clients;
    }
    if (this.dirty_upstreams.length > 0 || this.dirty_clients.length > 0) this.flushSoon();
  }

  takeOutput(): Uint8Array {
    return this.free_outputs.pop() ?? new Uint8Array(client_output_bytes);
  }

  releaseOutput(buf: Uint8Array): void {
    if (this.free_outputs.length < client_output_buffers_free_max) this.free_outputs.push(buf);
  }

  bytesRead(n: number): void {
    this.figures.bytes_read += n;
  }

  bytesWritten(n: number): void {
    this.figures.bytes_written += n;
  }

  counted(kind: number): void {
    const f = this.figures;
    if (kind === Cmd.GET || kind === Cmd.GETS) f.cmd_get++;
    else if (kind === Cmd.GAT || kind === Cmd.GATS || kind === Cmd.TOUCH) f.cmd_touch++;
    else if (kind >= Cmd.SET && kind <= Cmd.CAS) f.cmd_set++;
    else if (kind === Cmd.FLUSH_ALL) f.cmd_flush++;
    else f.cmd_other++;
  }

  outputBoundClosed(): void {
    this.figures.clients_closed_output_bound++;
  }

  log(level: number, text: string): void {
    if (this.settings.verbosity >= level) console.error(`magent: ${text}`);
  }

  statsReply(cmd: Command, buf: Uint8Array): Uint8Array | null {
    if (cmd.ntokens === 2) return encode(statsText(this.figuresNow(), this.mains, this.backups));
    if (cmd.ntokens === 3 && tokenIs(buf, cmd, 1, "reset")) {
      const f = this.figures;
      f.total_connections = f.rejected_connections = f.bytes_read = f.bytes_written = 0;
      f.cmd_get = f.cmd_set = f.cmd_touch = f.cmd_flush = f.cmd_other = f.clients_closed_output_bound = 0;
      return encode("RESET\r\n");
    }
    return null;
  }

  /** The figures `stats` prints (also what /metrics reads). */
  figuresNow(): ProxyFigures {
    const now_s = Math.floor(Date.now() / 1000);
    const f = this.figures;
    return {
      pid: process.pid,
      uptime: now_s - this.started_s,
      time: now_s,
      version: agent_line,
      curr_connections: this.clients.size,
      total_connections: f.total_connections,
      rejected_connections: f.rejected_connections,
      connections_max: this.settings.connections_max,
      cmd_get: f.cmd_get,
      cmd_set: f.cmd_set,
      cmd_touch: f.cmd_touch,
      cmd_flush: f.cmd_flush,
      cmd_other: f.cmd_other,
      bytes_read: f.bytes_read,
      bytes_written: f.bytes_written,
      clients_closed_output_bound: f.clients_closed_output_bound,
    };
  }
}

function tokenIs(buf: Uint8Array, cmd: Command, index: number, text: string): boolean {
  if (cmd.token_len[index] !== text.length) return false;
  const off = cmd.token_off[index]!;
  for (let i = 0; i < text.length; i++) if (buf[off + i] !== text.charCodeAt(i)) return false;
  return true;
}
