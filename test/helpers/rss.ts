// Test helpers for memory-bound tests: a process's resident set from /proc, a sampler that keeps
// its peak, and raw Bun sockets that never read (the kernel's buffers fill, then the server's) or
// that read and check a long reply as a stream without keeping it.
// Every wait is bounded by a deadline; nothing here starts or stops processes.
import { readFileSync } from "node:fs";

export const MiB = 1024 * 1024;

/** VmRSS of `pid` in bytes (from /proc/<pid>/status), or -1 once the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "latin1");
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match === null ? -1 : Number(match[1]) * 1024;
  } catch {
    return -1;
  }
}

/** Samples a process's RSS every `interval_ms` and keeps the peak, until stop(). */
export class RssSampler {
  readonly pid: number;
  readonly base_bytes: number;
  peak_bytes: number;
  private timer: ReturnType<typeof setInterval>;

  constructor(pid: number, interval_ms = 20) {
    this.pid = pid;
    this.base_bytes = rssBytes(pid);
    this.peak_bytes = this.base_bytes;
    this.timer = setInterval(() => this.sample(), interval_ms);
  }

  sample(): number {
    const now = rssBytes(this.pid);
    if (now > this.peak_bytes) this.peak_bytes = now;
    return now;
  }

  /** Peak growth over the starting RSS, in MiB (one decimal). */
  growthMiB(): number {
    this.sample();
    return Math.round(((this.peak_bytes - this.base_bytes) / MiB) * 10) / 10;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Waits until the RSS of `pid` has not changed by more than `slack_bytes` for `quiet_ms`, or
 * `deadline_ms` passed (a bounded wait for a server to finish reacting to a request).
 */
export async function rssSettled(pid: number, quiet_ms = 600, deadline_ms = 6_000, slack_bytes = 256 * 1024): Promise<void> {
  const deadline = Date.now() + deadline_ms;
  let last = rssBytes(pid);
  let since = Date.now();
  while (Date.now() < deadline) {
    await Bun.sleep(50);
    const now = rssBytes(pid);
    if (Math.abs(now - last) > slack_bytes) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quiet_ms) {
      return;
    }
  }
}

type RawSocket = Awaited<ReturnType<typeof Bun.connect<undefined>>>;

/** A client that sends and never reads: its socket is paused from the moment it opens. */
export class NonReader {
  closed = false;
  private socket: RawSocket | null = null;

  static async connect(port: number): Promise<NonReader> {
    const reader = new NonReader();
    reader.socket = await Bun.connect({
      hostname: "127.0.0.1", port,
      socket: {
        open: (socket) => socket.pause(),
        data: () => {},
        close: () => void (reader.closed = true),
        error: () => void (reader.closed = true),
        end: () => void (reader.closed = true),
      },
    });
    reader.socket.pause();
    return reader;
  }

  /** Writes all of `bytes` (a request line: small enough for the kernel to take). */
  send(bytes: Uint8Array): void {
    const written = this.socket!.write(bytes);
    if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
  }

  close(): void {
    this.socket?.terminate();
  }
}

/**
 * A client that reads a long reply as a stream and compares it, chunk by chunk, with what is
 * expected: `count` copies of `block`, then `tail`. Keeps no more than one chunk.
 */
export class StreamChecker {
  private readonly block: Buffer;
  private readonly count: number;
  private readonly tail: Buffer;
  private readonly total: number;
  received = 0;
  mismatch_at = -1;
  closed = false;
  private socket: RawSocket | null = null;
  private done: () => void = () => {};

  constructor(block: Buffer, count: number, tail: Buffer) {
    this.block = block;
    this.count = count;
    this.tail = tail;
    this.total = block.length * count + tail.length;
  }

  async connect(port: number): Promise<void> {
    this.socket = await Bun.connect({
      hostname: "127.0.0.1", port,
      socket: {
        data: (_socket, chunk) => this.check(chunk),
        close: () => this.finish(true),
        error: () => this.finish(true),
        end: () => this.finish(true),
      },
    });
  }

  send(bytes: Uint8Array): void {
    const written = this.socket!.write(bytes);
    if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
  }

  /** Resolves once the whole reply arrived (or the connection closed, or ms passed). */
  async complete(ms: number): Promise<boolean> {
    if (this.received >= this.total) return true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.done = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return this.received === this.total && this.mismatch_at < 0;
  }

  private check(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.mismatch_at < 0) {
      const pos = this.received;
      const in_blocks = pos < this.block.length * this.count;
      const expected = in_blocks ? this.block : this.tail;
      const off = in_blocks ? pos % this.block.length : pos - this.block.length * this.count;
      const n = Math.min(chunk.length - at, expected.length - off);
      if (n <= 0 || Buffer.compare(Buffer.from(chunk.buffer, chunk.byteOffset + at, n), expected.subarray(off, off + n)) !== 0) {
        this.mismatch_at = pos;
        break;
      }
      this.received += n;
      at += n;
    }
    if (this.received >= this.total || this.mismatch_at >= 0) this.finish(false);
  }

  private finish(closed: boolean): void {
    if (closed) this.closed = true;
    this.done();
  }

  close(): void {
    this.socket?.terminate();
  }
}
