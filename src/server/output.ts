// The reply buffer: one per process, filled while a connection's input batch is executed and
// handed to the socket in one write at the end of the batch (or earlier, when it fills up).
//
// Contract: `put*` never grow the buffer; callers check `room()` first or call `ensure(n)`, which
// asks the owner (the connection) to flush. Text helpers are for cold paths (stats); hot replies
// are pre-encoded constants (see protocol/replies.ts) or bytes the store copies in directly.
// `backlog_bytes` is what the owner holds unsent behind its socket, kept current by the owner while
// it has `flush` bound; a long reply (a multi-get) asks `overBacklog()` between its parts and stops
// producing while it is true (the owner resumes it when the socket drains).

import { output_pending_bytes_max } from "./limits.ts";

export class Output {
  readonly buf: Uint8Array;
  len = 0;
  /** How many times the buffer was flushed mid-batch (lets a command know its reply is still here). */
  flushes = 0;
  /** Bytes the owner holds unsent behind its socket (0 for owners that never hold any). */
  backlog_bytes = 0;
  /** Past this backlog a long reply stops before its next part (the connection's pending bound). */
  readonly backlog_bytes_max: number;
  /** Set by the connection for the duration of a batch: writes buf[0, len) out and resets len. */
  flush: () => void = () => {
    throw new Error("Output.flush called outside a batch");
  };

  constructor(capacity_bytes: number, backlog_bytes_max: number = output_pending_bytes_max) {
    if (!(backlog_bytes_max > 0)) throw new RangeError("backlog_bytes_max must be positive");
    this.buf = new Uint8Array(capacity_bytes);
    this.backlog_bytes_max = backlog_bytes_max;
  }

  /** Whether a long reply should stop before its next part and wait for the socket to drain. */
  overBacklog(): boolean {
    return this.backlog_bytes > this.backlog_bytes_max;
  }

  room(): number {
    return this.buf.length - this.len;
  }

  /** Makes room for n bytes, flushing if needed. n must not exceed the capacity. */
  ensure(n: number): void {
    if (n > this.buf.length) throw new RangeError(`reply of ${n} bytes exceeds output capacity`);
    if (this.room() < n) this.flushNow();
  }

  flushNow(): void {
    this.flushes++;
    this.flush();
  }

  put(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Copies buf[off, off+n) of another buffer (e.g. a key from the request). */
  putRange(src: Uint8Array, off: number, n: number): void {
    this.ensure(n);
    this.buf.set(src.subarray(off, off + n), this.len);
    this.len += n;
  }

  /** Latin-1 text (cold paths only: stats, errors built at run time). */
  putText(text: string): void {
    this.ensure(text.length);
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
    this.len = at;
  }
}
