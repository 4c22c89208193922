// Two real repcached-bun nodes paired through test relays, with the process faults a schedule
// applies (kill -9, SIGTERM, SIGSTOP/SIGCONT, restart with the same command line), a monitor that
// samples `stats replication` and RSS, and the wait for convergence.
//
// Topologies (README, "Replication"):
// - one_way: A `-X <la>` listens; B `-x 127.0.0.1 -X <lb>:<RA>` connects to A through relay RA.
// - both_ways: A `-x 127.0.0.1 -X <la>:<RB>` too, through relay RB to B's listener, so whichever
//   node reconnects first, its link runs through a relay.
// Directions: "a2b" is data from A to B (RA's down, RB's up), "b2a" the reverse.
import { readFileSync } from "node:fs";
import { freePort, RawClient, startOurs, type Spawned } from "../procs.ts";
import { Relay, type Shaper } from "../relay.ts";
import { History, nowMs, type Incarnation, type NodeName, type Sample } from "./history.ts";

export type Topology = "one_way" | "both_ways";
export type Direction = "a2b" | "b2a";

/** How long a stats request may take before the sample is skipped. */
const stats_timeout_ms = 500;
const monitor_interval_ms = 100;
/** A graceful stop gives up after 3 s without progress (link.ts); then procs.ts kills after 5 s. */
const exit_wait_ms_max = 8_000;

/** `stats replication` as a map, or null when no complete reply came in time. */
export async function replicationStats(client: RawClient, ms = stats_timeout_ms): Promise<Map<string, string> | null> {
  const reply = await client.call("stats replication\r\n", "END\r\n", ms);
  if (!reply.endsWith("END\r\n")) return null;
  const stats = new Map<string, string>();
  for (const line of reply.split("\r\n")) {
    const [tag, name, ...rest] = line.split(" ");
    if (tag === "STAT" && name) stats.set(name, rest.join(" "));
  }
  return stats;
}

export class FaultNode {
  spawned: Spawned | null = null;
  incarnation = 0;
  paused = false;
  private exiting: Promise<void> | null = null;
  /** `stop()` is ending the process (not a fault, not a crash). */
  private stopping = false;
  /** The monitor's connection to the current incarnation. */
  monitor_client: RawClient | null = null;
  monitor_incarnation = 0;

  constructor(
    readonly name: NodeName,
    readonly client_port: number,
    readonly args: string[],
    readonly env: Record<string, string>,
    private readonly history: History,
  ) {}

  get up(): boolean {
    return this.spawned !== null && this.exiting === null;
  }

  get pid(): number {
    return this.spawned?.proc.pid ?? 0;
  }

  current(): Incarnation | undefined {
    return this.history.incarnations.find((i) => i.node === this.name && i.n === this.incarnation);
  }

  /** Starts the process (same command line every time); waits for the client port if asked. */
  async start(wait: boolean): Promise<void> {
    if (this.spawned !== null) throw new Error(`${this.name} is already running`);
    this.incarnation++;
    const spawned = await startOurs(this.args, { port: this.client_port, wait, env: this.env });
    this.spawned = spawned;
    this.history.incarnations.push({
      node: this.name, n: this.incarnation, pid: spawned.proc.pid, started_ms: nowMs(), ended_ms: null,
      end: "alive", output: "", rss_kb_max: 0,
    });
    // An exit nobody asked for (no kill, SIGTERM or stop of ours in progress) is recorded at once:
    // the node is down from then on (a later step or the heal restarts it) and the checker reports it.
    void spawned.proc.exited.then(() => {
      if (this.spawned !== spawned || this.exiting !== null || this.stopping) return;
      const how = spawned.proc.signalCode ?? `code ${spawned.proc.exitCode}`;
      this.history.fault(`${this.name}#${this.incarnation} exited on its own (${how})`);
      this.paused = false;
      this.ended("exited", String(how));
    });
  }

  async kill9(): Promise<void> {
    const spawned = this.spawned;
    if (spawned === null || this.exiting !== null) return;
    this.paused = false;
    process.kill(spawned.proc.pid, "SIGKILL");
    this.exiting = spawned.proc.exited.then(() => this.ended("kill9"));
    await this.exiting;
  }

  /** SIGTERM; the exit (up to the drain's bound) is awaited by `restart`/`stop`, not here. */
  term(): void {
    const spawned = this.spawned;
    if (spawned === null || this.exiting !== null) return;
    this.paused = false;
    this.exiting = spawned.stop("SIGTERM").then((code) => {
      const output = spawned.output();
      const drained = code === 0 && output.includes("replication: cleanup complete") && !output.includes("replication: cleanup error");
      this.ended(drained ? "term_drained" : "term_undrained");
    });
  }

  private ended(end: Incarnation["end"], exit?: string): void {
    const inc = this.current();
    if (inc !== undefined && inc.ended_ms === null) {
      inc.ended_ms = nowMs();
      inc.end = end;
      if (exit !== undefined) inc.exit = exit;
      inc.output = this.spawned?.output() ?? "";
    }
    this.monitor_client?.close();
    this.monitor_client = null;
    this.spawned = null;
    this.exiting = null;
  }

  /** Waits for a SIGTERM to finish (bounded by procs.ts's SIGKILL fallback). */
  async exited(): Promise<void> {
    if (this.exiting === null) return;
    const deadline = Bun.sleep(exit_wait_ms_max).then(() => {
      throw new Error(`${this.name} did not exit within ${exit_wait_ms_max} ms of SIGTERM`);
    });
    await Promise.race([this.exiting, deadline]);
  }

  /** Restarts after a kill or a SIGTERM, without waiting for the client port. */
  async restart(): Promise<void> {
    await this.exited();
    if (this.spawned === null) await this.start(false);
  }

  pause(): void {
    if (!this.up || this.paused) return;
    if (this.signal("SIGSTOP")) this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.up) this.signal("SIGCONT");
  }

  /** Signals the current process; false (recorded) when it is gone already (its exit is recorded by `start`'s watcher). */
  private signal(signal: "SIGSTOP" | "SIGCONT"): boolean {
    try {
      process.kill(this.pid, signal);
      return true;
    } catch (error) {
      this.history.fault(`${signal} to ${this.name}#${this.incarnation} (pid ${this.pid}) failed: ${String(error)}`);
      return false;
    }
  }

  /** Records RSS (VmRSS, kB) of the current incarnation. */
  sampleRss(): void {
    const inc = this.current();
    if (inc === undefined || !this.up) return;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      if (match) inc.rss_kb_max = Math.max(inc.rss_kb_max, Number(match[1]));
    } catch {
      // exited between the check and the read
    }
  }

  /** At the end: stops by PID (SIGCONT first if stopped) and keeps the output. */
  async stop(): Promise<void> {
    const spawned = this.spawned;
    if (spawned === null) return;
    this.stopping = true;
    if (this.paused) this.resume();
    const inc = this.current();
    if (inc !== undefined && inc.ended_ms === null) inc.output = spawned.output();
    this.monitor_client?.close();
    this.monitor_client = null;
    await spawned.stop("SIGKILL");
    if (inc !== undefined) inc.output = spawned.output();
    this.spawned = null;
    this.exiting = null;
    this.stopping = false;
  }
}

export interface ClusterOptions {
  topology: Topology;
  /** REPCACHED_CLOCK_OFFSET_MS for node B (0: not set). */
  clock_offset_ms_b: number;
  /** REPCACHED_CLOCK_OFFSET_MS for node A (0 or absent: not set). */
  clock_offset_ms_a?: number;
  held_bytes_max?: number;
  extra_args: string[];
}

export class Cluster {
  private monitor_timer: ReturnType<typeof setTimeout> | null = null;
  private monitor_busy: Promise<void> | null = null;
  private monitoring = false;

  private constructor(
    readonly a: FaultNode,
    readonly b: FaultNode,
    /** RA: B's connections to A's listener. */
    readonly ra: Relay,
    /** RB: A's connections to B's listener (both_ways only). */
    readonly rb: Relay | null,
    private readonly history: History,
  ) {}

  static async start(history: History, options: ClusterOptions, live: Set<Cluster>): Promise<Cluster> {
    const la = await freePort();
    const lb = await freePort();
    const relay_options = options.held_bytes_max === undefined ? {} : { held_bytes_max: options.held_bytes_max };
    const ra = await Relay.start(la, 0, relay_options);
    const rb = options.topology === "both_ways" ? await Relay.start(lb, 0, relay_options) : null;
    const a_args = rb === null ? ["-v", "-X", String(la)] : ["-v", "-x", "127.0.0.1", "-X", `${la}:${rb.port}`];
    const b_args = ["-v", "-x", "127.0.0.1", "-X", `${lb}:${ra.port}`];
    const offsetEnv = (ms: number | undefined): Record<string, string> => ms ? { REPCACHED_CLOCK_OFFSET_MS: String(ms) } : {};
    const a_env = offsetEnv(options.clock_offset_ms_a);
    const b_env = offsetEnv(options.clock_offset_ms_b);
    const a = new FaultNode("A", await freePort(), [...a_args, ...options.extra_args], a_env, history);
    const b = new FaultNode("B", await freePort(), [...b_args, ...options.extra_args], b_env, history);
    const cluster = new Cluster(a, b, ra, rb, history);
    live.add(cluster);
    try {
      await a.start(true);
      await b.start(true);
    } catch (error) {
      // The caller never gets the cluster: stop what did start here (a node that started must
      // not outlive a schedule that ended on a harness error).
      await cluster.stop(live);
      throw error;
    }
    return cluster;
  }

  get nodes(): FaultNode[] {
    return [this.a, this.b];
  }

  get relays(): Relay[] {
    return this.rb === null ? [this.ra] : [this.ra, this.rb];
  }

  node(name: NodeName): FaultNode {
    return name === "A" ? this.a : this.b;
  }

  /** The relay shapers that carry data in one direction, whichever node connected. */
  shapers(direction: Direction): Shaper[] {
    const out: Shaper[] = [direction === "a2b" ? this.ra.down : this.ra.up];
    if (this.rb !== null) out.push(direction === "a2b" ? this.rb.up : this.rb.down);
    return out;
  }

  relaysHeldBytes(): number {
    let total = 0;
    for (const relay of this.relays) total += relay.held_bytes;
    return total;
  }

  // ---- monitor: `stats replication` and RSS every monitor_interval_ms ----

  startMonitor(): void {
    this.monitoring = true;
    const tick = () => {
      if (!this.monitoring) return;
      this.monitor_busy = this.sampleAll().finally(() => {
        this.monitor_busy = null;
        if (this.monitoring) this.monitor_timer = setTimeout(tick, monitor_interval_ms);
      });
    };
    tick();
  }

  async stopMonitor(): Promise<void> {
    this.monitoring = false;
    if (this.monitor_timer !== null) clearTimeout(this.monitor_timer);
    this.monitor_timer = null;
    if (this.monitor_busy !== null) await this.monitor_busy;
  }

  private async sampleAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.sample(node)));
  }

  /** One sample of a node; null when it is down, stopped or did not answer in time. */
  async sample(node: FaultNode): Promise<Sample | null> {
    node.sampleRss();
    if (!node.up || node.paused) return null;
    const incarnation = node.incarnation;
    if (node.monitor_client === null || node.monitor_client.closed || node.monitor_incarnation !== incarnation) {
      node.monitor_client?.close();
      node.monitor_client = await RawClient.connect(node.client_port).catch(() => null);
      node.monitor_incarnation = incarnation;
      if (node.monitor_client === null) return null;
    }
    const client = node.monitor_client;
    const sent_ms = nowMs();
    const stats = await replicationStats(client);
    if (stats === null) {
      client.close();
      if (node.monitor_client === client) node.monitor_client = null;
      return null;
    }
    const sample: Sample = {
      node: node.name, incarnation, sent_ms, received_ms: nowMs(),
      state: stats.get("state") ?? "", queue_items: Number(stats.get("queue_items") ?? NaN),
      send_pending_bytes: Number(stats.get("send_pending_bytes") ?? NaN), relays_held_bytes: this.relaysHeldBytes(),
      tombstones_dropped: Number(stats.get("tombstones_dropped") ?? 0), stats,
    };
    this.history.samples.push(sample);
    return sample;
  }

  /** Heals every relay, resumes stopped nodes, restarts nodes that are down. */
  async healAll(): Promise<void> {
    for (const relay of this.relays) {
      relay.reset();
      relay.heal();
    }
    for (const node of this.nodes) node.resume();
    for (const node of this.nodes) await node.restart();
  }

  /**
   * Waits until both nodes report `state synced`, an empty journal and nothing pending, and the
   * relays hold nothing, on two samples in a row. Returns the last samples, or null at the deadline.
   */
  /**
   * Waits until both nodes are synced with nothing queued, twice in a row, and then (with
   * `barrier`, the default) until a marker written on each node has reached the other. The
   * markers are writes: on a node whose clock is skewed they raise the other's cas counter, so
   * tests of the clock itself converge without them.
   */
  async converge(ms: number, barrier = true): Promise<{ ok: boolean; last: Array<Sample | null> }> {
    const deadline = nowMs() + ms;
    let quiet_in_a_row = 0;
    let last: Array<Sample | null> = [null, null];
    while (nowMs() < deadline) {
      last = await Promise.all(this.nodes.map((node) => this.sample(node)));
      const quiet = last.every((s) => s !== null && s.state === "synced" && s.queue_items === 0 && s.send_pending_bytes === 0) &&
        this.relaysHeldBytes() === 0;
      quiet_in_a_row = quiet ? quiet_in_a_row + 1 : 0;
      if (quiet_in_a_row >= 2 && (!barrier || (await this.barrier(deadline)))) return { ok: true, last };
      await Bun.sleep(monitor_interval_ms);
    }
    return { ok: false, last };
  }

  /**
   * Quiet stats do not show bytes still in the kernel's socket buffers (a node just resumed from
   * SIGSTOP may not have read them yet): a marker key written on each node must reach the other,
   * and everything each sent before it has then been applied (one ordered stream per direction).
   */
  private async barrier(deadline: number): Promise<boolean> {
    const tag = `barrier:${nowMs().toFixed(3)}`;
    const clients = await Promise.all(this.nodes.map((node) => RawClient.connect(node.client_port).catch(() => null)));
    try {
      if (clients.some((c) => c === null)) return false;
      for (const [i, c] of clients.entries()) {
        if ((await c!.call(`set ${tag}:${i} 0 0 1\r\n1\r\n`)) !== "STORED\r\n") return false;
      }
      for (const [i, c] of clients.entries()) {
        const other = (i + 1) % clients.length;
        for (;;) {
          if ((await c!.call(`get ${tag}:${other}\r\n`, "END\r\n")).startsWith("VALUE")) break;
          if (nowMs() > deadline) return false;
          await Bun.sleep(monitor_interval_ms / 4);
        }
      }
      return true;
    } finally {
      for (const c of clients) c?.close();
    }
  }

  /** Stops everything by PID and closes the relays (idempotent). */
  async stop(live: Set<Cluster>): Promise<void> {
    await this.stopMonitor();
    for (const node of this.nodes) await node.stop();
    for (const relay of this.relays) await relay.close();
    live.delete(this);
  }
}
