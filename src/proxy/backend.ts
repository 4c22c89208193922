// One backend memcached server: its pool of pipelined connections, its up/down state, its counters.
//
// Contract:
// - `usable()` says whether requests may be routed here now; `send(part, client)` queues a part on
//   the client's pooled connection to this server (see send: one per client, so its requests stay
//   in order) and returns it so the caller can put the request bytes. The pool holds at most -i
//   pipelined connections; a new one opens only when the open ones are busy.
// - A server is down after a connect error, a connect timeout, a request timeout, or a connection
//   lost with requests in flight. Down, it gets no requests (the router fails over to the backup
//   without rehashing) and every connection it had is failed.
// - A down server is probed in the background, never by client requests: the clock tick (tick_ms)
//   opens one probe connection at a time and asks `version`. The interval between a failed probe
//   (or the fall) and the next is retry_min_ms, doubling up to retry_max_ms — by default 100 ms,
//   then 200 ms, then every 250 ms (config.ts), so a restarted server is back within a few hundred
//   ms and the reads that follow warm it from the backup. The first answer marks it up at once;
//   the probe, a connection that just answered, joins the pool and carries the next requests.
// - `meta` records whether the server answers memcached 1.6's `mg` (learnt on first use).

import { Upstream, UpstreamState, type UpstreamHost } from "./upstream.ts";
import { Part, type PartOwner } from "./part.ts";
import { ReplyKind } from "./reply.ts";
import type { ServerAddress } from "./ketama.ts";
import { backend_requests_max, backoff_factor, upstream_busy_parts_min } from "./limits.ts";
import { LatencyHistogram } from "../metrics/histogram.ts";

/** A client's connection on every server, indexed by Backend.index (see Backend.send). */
export interface Affinity {
  readonly bound: Array<Upstream | null | undefined>;
}

export const BackendState = { UP: 0, DOWN: 1, PROBING: 2 } as const;
export const MetaSupport = { UNKNOWN: 0, YES: 1, NO: 2 } as const;
const state_names = ["up", "down", "probing"];

export interface BackendHost {
  readonly now_ms: number;
  dirtyUpstream(upstream: Upstream): void;
  log(level: number, text: string): void;
}

export interface BackendSettings {
  pool_connections_max: number;
  connect_timeout_ms: number;
  request_timeout_ms: number;
  retry_min_ms: number;
  retry_max_ms: number;
}

export class BackendCounters {
  parts = 0; // requests sent (a multi-get counts once per server)
  replies = 0;
  failures = 0; // parts failed by a lost connection
  timeouts = 0;
  connect_failures = 0;
  downs = 0;
  ups = 0; // probes answered: the server is back
  probes = 0; // probe connections opened while down
  probe_failures = 0; // probes refused, timed out or closed unanswered
  failover_parts = 0; // parts this backup served for a down main server
  fills = 0; // misses of this main server served from the backup
  write_backs = 0; // values written back to this main server
  mirrored = 0; // write copies this backup received
  dropped_replies = 0; // replies let go as they arrived (client gone or over its output bound)
  cut_connections = 0; // connections closed on purpose to stop a dropped reply
}

export class Backend implements UpstreamHost, PartOwner {
  readonly host: BackendHost;
  /** Position among all servers (mains, then backups): a client's bindings are indexed by it. */
  readonly index: number;
  readonly address: ServerAddress;
  readonly name: string;
  readonly settings: BackendSettings;
  state: number = BackendState.UP;
  /** When the clock tick opens the next probe of a down server. */
  private probe_at_ms = 0;
  /** The wait after the next failure: retry_min_ms, doubling up to retry_max_ms; reset when up. */
  private probe_interval_ms: number;
  /** The pool: at most -i pipelined connections. */
  private readonly conns: Upstream[] = [];
  /** The connection that tests a down server. */
  private probe: Upstream | null = null;
  private probe_part: Part | null = null;
  /** Parts queued or in flight over all connections. */
  queued = 0;
  meta: number = MetaSupport.UNKNOWN;
  readonly counters = new BackendCounters();
  /** Time from queueing a request to its reply, answered requests only (fixed buckets). */
  readonly latency = new LatencyHistogram();
  last_error = "";

  constructor(host: BackendHost, index: number, address: ServerAddress, settings: BackendSettings) {
    this.host = host;
    this.index = index;
    this.address = address;
    this.name = `${address.host}:${address.port}`;
    this.settings = settings;
    this.probe_interval_ms = settings.retry_min_ms;
  }

  get now_ms(): number {
    return this.host.now_ms;
  }

  get stateName(): string {
    return state_names[this.state]!;
  }

  usable(): boolean {
    return this.state === BackendState.UP && this.queued < backend_requests_max;
  }

  /**
   * Queues `part` on the client's connection to this server and returns it for the request bytes.
   * A client is bound to one pooled connection per server (chosen at its first request there: the
   * least busy one, or a new one while every open one has upstream_busy_parts_min parts queued and
   * the pool is below -i), so its requests travel one connection and memcached applies them in
   * the order the client sent them. A binding ends when its connection does.
   */
  send(part: Part, affinity: Affinity): Upstream {
    if (!this.usable()) throw new Error(`send to unusable backend ${this.name}`);
    let upstream = affinity.bound[this.index];
    if (upstream === undefined || upstream === null || !upstream.usable()) {
      upstream = this.pick();
      affinity.bound[this.index] = upstream;
    }
    upstream.enqueue(part);
    this.queued++;
    this.counters.parts++;
    return upstream;
  }

  private pick(): Upstream {
    let best: Upstream | null = null;
    for (const conn of this.conns) {
      if (conn.usable() && (best === null || conn.inflight < best.inflight)) best = conn;
    }
    // A full pool of broken connections (failed at the next flush) still gets a fresh one.
    const busy = best === null || best.inflight >= upstream_busy_parts_min;
    if (best !== null && (!busy || this.conns.length >= this.settings.pool_connections_max)) return best;
    const conn = new Upstream(this, this.address.host, this.address.port);
    this.conns.push(conn);
    return conn;
  }

  /** Open connections (stats' "pool size"). */
  get poolSize(): number {
    return this.conns.length + (this.probe !== null ? 1 : 0);
  }

  partSettled(ok: boolean, started_ms: number): void {
    this.queued--;
    if (!ok) {
      this.counters.failures++;
      return;
    }
    this.counters.replies++;
    this.latency.record(performance.now() - started_ms);
  }

  dirty(upstream: Upstream): void {
    this.host.dirtyUpstream(upstream);
  }

  opened(_upstream: Upstream): void {}

  dropped(_upstream: Upstream, cut: boolean): void {
    if (cut) this.counters.cut_connections++;
    else this.counters.dropped_replies++;
  }

  /** The probe's `version` was answered: the server is back, and the probe joins the pool. */
  partDone(part: Part): void {
    const upstream = this.probe;
    if (upstream === null || part !== this.probe_part) return;
    this.probe = null;
    this.probe_part = null;
    this.state = BackendState.UP;
    this.counters.ups++;
    this.probe_interval_ms = this.settings.retry_min_ms;
    if (this.conns.length < this.settings.pool_connections_max) this.conns.push(upstream);
    else upstream.close();
    this.host.log(1, `server ${this.name} is up again`);
  }

  /** The probe's connection failed: lost() has marked the server down again. */
  partFailed(): void {}

  /**
   * Tests a down server: connects and asks `version`. Up again only when it answers (a stopped
   * process still accepts connections in the kernel; it does not answer), within the timeouts.
   */
  private startProbe(): void {
    this.state = BackendState.PROBING;
    this.counters.probes++;
    const upstream = new Upstream(this, this.address.host, this.address.port);
    const part = new Part(this, ReplyKind.LINE, 0, this);
    this.probe = upstream;
    this.probe_part = part;
    upstream.enqueue(part);
    this.queued++;
    upstream.putText("version\r\n");
  }

  lost(upstream: Upstream, reason: string | null): void {
    if (upstream === this.probe) {
      this.probe = null;
      this.probe_part = null;
      this.counters.probe_failures++;
    }
    const at = this.conns.indexOf(upstream);
    if (at >= 0) this.conns.splice(at, 1);
    if (reason === null) return;
    if (reason.startsWith("connect")) this.counters.connect_failures++;
    this.markDown(reason);
  }

  private connections(): Upstream[] {
    const all = this.conns.slice();
    if (this.probe !== null) all.push(this.probe);
    return all;
  }

  /** Takes the server out of rotation; fails its other connections (their requests fail over). */
  markDown(reason: string): void {
    if (this.state === BackendState.DOWN) return;
    this.last_error = reason;
    const was_up = this.state === BackendState.UP;
    this.state = BackendState.DOWN;
    this.probe_at_ms = this.host.now_ms + this.probe_interval_ms;
    this.host.log(was_up ? 1 : 2, `server ${this.name} is down (${reason}); next probe in ${this.probe_interval_ms} ms`);
    this.probe_interval_ms = Math.min(this.probe_interval_ms * backoff_factor, this.settings.retry_max_ms);
    if (was_up) this.counters.downs++;
    for (const conn of this.connections()) conn.fail("server marked down");
  }

  /** The clock tick: connect and request timeouts, and the probe of a down server (at most one open). */
  tick(now_ms: number): void {
    for (const conn of this.connections()) {
      if (conn.state === UpstreamState.CONNECTING && now_ms - conn.started_ms > this.settings.connect_timeout_ms) {
        conn.fail("connect timeout");
        continue;
      }
      const oldest = conn.oldestQueuedMs();
      if (oldest >= 0 && conn.state === UpstreamState.OPEN && now_ms - oldest > this.settings.request_timeout_ms) {
        this.counters.timeouts++;
        conn.fail("request timeout");
      }
    }
    if (this.state === BackendState.DOWN && now_ms >= this.probe_at_ms) {
      this.startProbe();
    }
  }

  /** Closes every connection (shutdown). */
  close(): void {
    for (const conn of this.connections()) conn.close();
  }
}
