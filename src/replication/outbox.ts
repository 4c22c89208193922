// The replication send buffer: bytes encoded for the peer, in order, until the socket takes them.
//
// Contract: one fixed buffer allocated at start (`bytes_max`). Encoders write at `tail` (after
// `makeRoom`) and advance it; `write` hands [head, tail) to the socket and keeps what it did not
// take, to be written on drain — in order, never dropped, never grown. `pending()` is what waits
// for the socket; the pump stops encoding while it is at or above `window_bytes`, so TCP
// backpressure reaches the journal. `clear` forgets everything (the link is gone).

export interface WritableSocket {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
}

export class Outbox {
  readonly buf: Uint8Array;
  readonly window_bytes: number;
  head = 0;
  tail = 0;
  /** Bytes the socket has taken since start. */
  written_bytes = 0;

  /**
   * `message_bytes_max`: the largest single message (a `rep` line with the largest value); the
   * buffer holds the window plus two of those, so an encoder never runs out of room.
   */
  constructor(window_bytes: number, message_bytes_max: number) {
    if (!(window_bytes > 0) || !(message_bytes_max > 0)) throw new RangeError("outbox bounds must be positive");
    this.window_bytes = window_bytes;
    this.buf = new Uint8Array(window_bytes + 2 * message_bytes_max);
  }

  pending(): number {
    return this.tail - this.head;
  }

  /** Room left after tail. */
  room(): number {
    return this.buf.length - this.tail;
  }

  /** Moves the unsent bytes to the front when less than half the buffer is left after them. */
  makeRoom(): void {
    if (this.head === 0 || this.room() >= this.buf.length / 2) return;
    this.buf.copyWithin(0, this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }

  putText(text: string): void {
    let at = this.tail;
    for (let i = 0; i < text.length; i++) this.buf[at++] = text.charCodeAt(i);
    this.tail = at;
  }

  /** Writes what is pending; returns false when the socket is gone. */
  write(socket: WritableSocket): boolean {
    const n = this.pending();
    if (n === 0) return true;
    const written = socket.write(this.buf, this.head, n);
    if (written < 0) return false;
    this.written_bytes += written;
    this.head += written;
    if (this.head === this.tail) this.head = this.tail = 0;
    return true;
  }

  clear(): void {
    this.head = this.tail = 0;
  }
}
