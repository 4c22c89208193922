// What a socket has not taken yet, in order. Bun's socket.write returns how many bytes it took and
// keeps none of the rest: the unsent tail is ours to hold and to write on `drain`, oldest first.
//
// Contract: `send` writes straight to the socket only when nothing is queued (so bytes never
// overtake each other) and copies whatever the socket did not take; a null socket (still
// connecting) queues everything. `flush` writes queued bytes until the socket takes no more.
// Both return the bytes the socket took, or -1 when it is closed. `bytes` is what is queued: the
// owner enforces its bound (pause reading, or drop the connection).

export interface ByteSink {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
}

export class SendQueue {
  private chunks: Uint8Array[] = [];
  private head_off = 0;
  bytes = 0;

  send(socket: ByteSink | null, buf: Uint8Array, off: number, len: number): number {
    let written = 0;
    if (socket !== null && this.bytes === 0) {
      written = socket.write(buf, off, len);
      if (written < 0) return -1;
    }
    if (written < len) {
      this.chunks.push(buf.slice(off + written, off + len));
      this.bytes += len - written;
    }
    return written;
  }

  flush(socket: ByteSink): number {
    let total = 0;
    while (this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const left = head.length - this.head_off;
      const written = socket.write(head, this.head_off, left);
      if (written < 0) return -1;
      total += written;
      this.bytes -= written;
      if (written < left) {
        this.head_off += written;
        return total;
      }
      this.chunks.shift();
      this.head_off = 0;
    }
    return total;
  }

  clear(): void {
    this.chunks = [];
    this.head_off = 0;
    this.bytes = 0;
  }
}
