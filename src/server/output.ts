// The reply buffer: one per process, filled while a connection's input batch is executed and
// handed to the socket in one write at the end of the batch (or earlier, when it fills up).
//
// Contract: `put*` never grow the buffer; callers check `room()` first or call `ensure(n)`, which
// asks the owner (the connection) to flush. Text helpers are for cold paths (stats); hot replies
// are pre-encoded constants (see protocol/replies.ts) or bytes the store copies in directly.

export class Output {
  readonly buf: Uint8Array;
  len = 0;
  /** How many times the buffer was flushed mid-batch (lets a command know its reply is still here). */
  flushes = 0;
  /** Set by the connection for the duration of a batch: writes buf[0, len) out and resets len. */
  flush: () => void = () => {
    throw new Error("Output.flush called outside a batch");
  };

  constructor(capacity_bytes: number) {
    this.buf = new Uint8Array(capacity_bytes);
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
