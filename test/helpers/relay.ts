// A TCP relay the tests control: cut and heal a replication link without killing either node, and
// shape its timing per direction.
//
// Directions: `up` carries what the connecting side (client) sends to the target, `down` what the
// target sends back. Each direction has one Shaper, applied to every relayed connection:
// - delay(ms): each chunk is delivered ms after it arrived (order kept);
// - coalesce(ms): the first chunk opens a window of ms; everything arriving in it is delivered as
//   ONE write when it closes;
// - split(bytes): every delivery is written in pieces of at most that many bytes, with a pause
//   (`split_gap_ms`) between pieces so the receiver reads them separately;
// - jitter(ms_max, seed): a seeded random extra delay in [0, ms_max) per chunk. Byte order within a
//   connection is always kept (TCP never reorders): a chunk is never due before the one ahead of it.
//   "Reordering" means timing relative to the other direction and to other events;
// - stall() / resume(): stop forwarding, keep the sockets open; resume delivers what was held;
// - reset(): back to pass-through (and resumed);
// - tap: when set, sees every chunk read in this direction, before any shaping (what an on-path
//   host sees).
// inject(direction, bytes) writes bytes into every live connection in that direction, between two
// deliveries (what an on-path host could add).
// The relay as a whole: cut() destroys every relayed connection (held bytes are dropped) and
// refuses new ones until heal(); stall()/resume()/reset() act on both directions; close() stops it.
//
// Bounded: each direction of each connection holds at most `held_bytes_max` bytes plus the one
// read chunk that crossed the bound; past it the relay stops reading that side (TCP backpressure
// reaches the sender) until the held bytes drop below the bound again. Every wait is on a timer, a
// drain, or a wake-up from the controls; nothing grows without bound.
import { createServer, Socket, type Server } from "node:net";
import { Prng } from "./prng.ts";

/** Default bound on bytes held per direction of one connection. */
export const held_bytes_max_default = 4 * 1024 * 1024;
/** Pause between the pieces of a split delivery. */
export const split_gap_ms_default = 1;

export type DirectionName = "up" | "down";

/** The timing rules of one direction; shared by every connection of the relay. */
export class Shaper {
  delay_ms = 0;
  coalesce_ms = 0;
  split_bytes = 0;
  split_gap_ms = split_gap_ms_default;
  jitter_ms_max = 0;
  stalled = false;
  /** Sees every chunk read in this direction (see the file comment); null: none. */
  tap: ((chunk: Buffer) => void) | null = null;
  /** Largest number of bytes any pipe of this direction held at once. */
  held_bytes_peak = 0;
  /** How many times a pipe of this direction stopped reading because it held too much. */
  backpressure_pauses = 0;
  private prng = new Prng(1);
  /** Pipes to wake when the rules change (resume, shorter delay). */
  readonly pipes = new Set<Pipe>();

  constructor(readonly name: DirectionName) {}

  delay(ms: number): this {
    assertNonNegative("delay ms", ms);
    this.delay_ms = ms;
    return this.changed();
  }

  coalesce(ms: number): this {
    assertNonNegative("coalesce ms", ms);
    this.coalesce_ms = ms;
    return this.changed();
  }

  split(bytes: number, gap_ms = split_gap_ms_default): this {
    assertNonNegative("split bytes", bytes);
    assertNonNegative("split gap ms", gap_ms);
    this.split_bytes = Math.floor(bytes);
    this.split_gap_ms = gap_ms;
    return this.changed();
  }

  jitter(ms_max: number, seed = 1): this {
    assertNonNegative("jitter ms", ms_max);
    this.jitter_ms_max = ms_max;
    this.prng = new Prng(seed);
    return this.changed();
  }

  stall(): this {
    this.stalled = true;
    return this;
  }

  resume(): this {
    this.stalled = false;
    return this.changed();
  }

  /** Pass-through again: no delay, no coalescing, no split, no jitter, not stalled. */
  reset(): this {
    this.delay_ms = this.coalesce_ms = this.split_bytes = this.jitter_ms_max = 0;
    this.split_gap_ms = split_gap_ms_default;
    this.stalled = false;
    return this.changed();
  }

  /** Extra delay for the next chunk: delay plus seeded jitter. */
  chunkDelayMs(): number {
    const jitter = this.jitter_ms_max > 0 ? this.prng.next() * this.jitter_ms_max : 0;
    return this.delay_ms + jitter;
  }

  /** A short description, for logs of a fault schedule. */
  describe(): string {
    const parts: string[] = [];
    if (this.stalled) parts.push("stalled");
    if (this.delay_ms > 0) parts.push(`delay ${this.delay_ms}ms`);
    if (this.coalesce_ms > 0) parts.push(`coalesce ${this.coalesce_ms}ms`);
    if (this.split_bytes > 0) parts.push(`split ${this.split_bytes}B`);
    if (this.jitter_ms_max > 0) parts.push(`jitter <${this.jitter_ms_max}ms`);
    return parts.length > 0 ? parts.join(", ") : "pass-through";
  }

  private changed(): this {
    for (const pipe of this.pipes) pipe.wake();
    return this;
  }
}

interface Held {
  chunks: Buffer[];
  bytes: number;
  due_ms: number;
  /** Coalescing: chunks arriving before due_ms join this delivery. */
  open: boolean;
}

/** One direction of one relayed connection: reads `from`, holds, writes `to` by the Shaper's rules. */
class Pipe {
  private queue: Held[] = [];
  held_bytes = 0;
  private paused = false;
  private source_ended = false;
  closed = false;
  private finished = false;
  private waker: (() => void) | null = null;
  private last_due_ms = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly shaper: Shaper,
    private readonly held_bytes_max: number,
    private readonly onFinished: () => void,
  ) {
    shaper.pipes.add(this);
    from.on("data", (chunk: Buffer) => this.onChunk(chunk));
    from.on("end", () => {
      this.source_ended = true;
      this.wake();
    });
    void this.run();
  }

  private onChunk(chunk: Buffer): void {
    if (this.closed) return;
    this.shaper.tap?.(chunk);
    const now = performance.now();
    const last = this.queue[this.queue.length - 1];
    if (this.shaper.coalesce_ms > 0 && last !== undefined && last.open && now < last.due_ms) {
      last.chunks.push(chunk);
      last.bytes += chunk.length;
    } else {
      const wait_ms = this.shaper.coalesce_ms + this.shaper.chunkDelayMs();
      // Never due before the chunk ahead of it: bytes stay in order.
      const due_ms = Math.max(now + wait_ms, this.last_due_ms);
      this.last_due_ms = due_ms;
      this.queue.push({ chunks: [chunk], bytes: chunk.length, due_ms, open: this.shaper.coalesce_ms > 0 });
    }
    this.held_bytes += chunk.length;
    if (this.held_bytes > this.shaper.held_bytes_peak) this.shaper.held_bytes_peak = this.held_bytes;
    if (this.held_bytes >= this.held_bytes_max && !this.paused) {
      this.paused = true;
      this.shaper.backpressure_pauses++;
      this.from.pause();
    }
    this.wake();
  }

  /** The source closed or reset: deliver what is held, then end the destination. */
  sourceGone(): void {
    this.source_ended = true;
    this.wake();
  }

  wake(): void {
    const waker = this.waker;
    this.waker = null;
    if (waker !== null) waker();
  }

  /** Resolves on wake() or after ms (no timer when ms is Infinity). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => this.wake(), Math.max(0, ms)) : null;
      this.waker = () => {
        if (timer !== null) clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const head = this.queue[0];
      if (head === undefined) {
        if (this.source_ended) break;
        await this.sleep(Infinity);
        continue;
      }
      if (this.shaper.stalled) {
        await this.sleep(Infinity);
        continue;
      }
      const wait_ms = head.due_ms - performance.now();
      if (wait_ms > 0) {
        await this.sleep(wait_ms);
        continue;
      }
      head.open = false;
      this.queue.shift();
      const bytes = head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks, head.bytes);
      await this.deliver(bytes);
      this.held_bytes -= head.bytes;
      if (this.paused && this.held_bytes < this.held_bytes_max && !this.closed) {
        this.paused = false;
        this.from.resume();
      }
    }
    if (!this.closed) this.to.end();
    this.finish();
  }

  /** Writes bytes whole, or in split pieces with a pause between; waits for drain when needed. */
  private async deliver(bytes: Buffer): Promise<void> {
    const piece_max = this.shaper.split_bytes > 0 ? this.shaper.split_bytes : bytes.length;
    for (let at = 0; at < bytes.length && !this.closed; ) {
      const end = Math.min(bytes.length, at + piece_max);
      const flushed = this.to.write(end - at === bytes.length ? bytes : bytes.subarray(at, end));
      at = end;
      if (!flushed) await this.drained();
      if (at < bytes.length && this.shaper.split_bytes > 0) await this.sleep(this.shaper.split_gap_ms);
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.to.off("drain", done);
        this.to.off("close", done);
        resolve();
      };
      this.to.on("drain", done);
      this.to.on("close", done);
    });
  }

  /** Writes bytes to the destination now, between two deliveries (an on-path host adding bytes). */
  inject(bytes: Buffer): void {
    if (!this.closed) this.to.write(bytes);
  }

  /** Drops what is held and stops; the connection is being torn down. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.held_bytes = 0;
    this.wake();
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.shaper.pipes.delete(this);
    this.onFinished();
  }
}

export interface RelayOptions {
  /** Bound on bytes held per direction of one connection (see the file comment). */
  held_bytes_max?: number;
}

export class Relay {
  private server: Server;
  private sockets = new Set<Socket>();
  private pipes = new Set<Pipe>();
  private cut_now = false;
  readonly up = new Shaper("up");
  readonly down = new Shaper("down");
  readonly held_bytes_max: number;
  port = 0;
  connections = 0;

  private constructor(target_port: number, options: RelayOptions) {
    this.held_bytes_max = options.held_bytes_max ?? held_bytes_max_default;
    if (!(this.held_bytes_max > 0)) throw new Error(`held_bytes_max must be positive, got ${this.held_bytes_max}`);
    this.server = createServer((client) => this.accept(client, target_port));
  }

  static async start(target_port: number, port = 0, options: RelayOptions = {}): Promise<Relay> {
    const relay = new Relay(target_port, options);
    await new Promise<void>((resolve) => relay.server.listen(port, "127.0.0.1", () => resolve()));
    const address = relay.server.address();
    relay.port = typeof address === "object" && address ? address.port : 0;
    return relay;
  }

  private accept(client: Socket, target_port: number): void {
    if (this.cut_now) return void client.destroy();
    this.connections++;
    client.setNoDelay(true);
    const upstream = new Socket();
    this.sockets.add(client);
    this.sockets.add(upstream);
    let finished = 0;
    const pipes: Pipe[] = [];
    const drop = () => {
      for (const pipe of pipes) {
        pipe.close();
        this.pipes.delete(pipe);
      }
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // Both directions ended cleanly (FIN after the held bytes went out): tear down.
    const onFinished = () => {
      if (++finished === 2) drop();
    };
    // The client may send before the upstream connects: its pipe holds the bytes until then
    // (writes to a connecting node:net socket are queued by the socket itself).
    const up = new Pipe(client, upstream, this.up, this.held_bytes_max, onFinished);
    const down = new Pipe(upstream, client, this.down, this.held_bytes_max, onFinished);
    pipes.push(up, down);
    for (const pipe of pipes) this.pipes.add(pipe);
    // A side that closes or resets: bytes it sent before are already "in the network" and still go.
    const client_gone = () => this.closedSide(client, up, down, drop);
    const upstream_gone = () => this.closedSide(upstream, down, up, drop);
    client.on("error", client_gone).on("close", client_gone);
    upstream.on("error", upstream_gone).on("close", upstream_gone);
    upstream.connect(target_port, "127.0.0.1", () => upstream.setNoDelay(true));
  }

  /**
   * One side closed (or reset). Its outgoing bytes (`from_it`) may still be held: they are delivered (TCP
   * would deliver them too) and then the other side is ended; bytes toward it (`to_it`) are moot.
   */
  private closedSide(side: Socket, from_it: Pipe, to_it: Pipe, drop: () => void): void {
    this.sockets.delete(side);
    to_it.close();
    from_it.sourceGone();
    if (from_it.closed || from_it.held_bytes === 0) drop();
  }

  /** Bytes held right now, over every connection and both directions. */
  get held_bytes(): number {
    let total = 0;
    for (const pipe of this.pipes) total += pipe.closed ? 0 : pipe.held_bytes;
    return total;
  }

  cut(): void {
    this.cut_now = true;
    for (const pipe of this.pipes) pipe.close();
    this.pipes.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cut_now = false;
  }

  stall(): void {
    this.up.stall();
    this.down.stall();
  }

  resume(): void {
    this.up.resume();
    this.down.resume();
  }

  /** Both directions back to pass-through (does not heal a cut). */
  reset(): void {
    this.up.reset();
    this.down.reset();
  }

  /** Writes bytes into every live connection in `direction`; returns how many got them. */
  inject(direction: DirectionName, bytes: Buffer): number {
    const shaper = this.shaper(direction);
    let count = 0;
    for (const pipe of shaper.pipes) {
      if (pipe.closed) continue;
      pipe.inject(bytes);
      count++;
    }
    return count;
  }

  shaper(direction: DirectionName): Shaper {
    return direction === "up" ? this.up : this.down;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function assertNonNegative(what: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`${what} must be a finite number >= 0, got ${value}`);
}
