// The framing of the relaying acceptor (bench/acceptor_server.ts): the bytes of many client
// connections batched into one buffer that crosses between the acceptor thread and a worker. Pure.
//
// A frame is a 9-byte header — connection id (u32 LE), kind (u8), payload length (u32 LE) — then
// the payload. Acceptor → worker: OPEN (no payload), DATA (request bytes), CLOSE (the client went
// away). Worker → acceptor: DATA (reply bytes), END (close once the replies before it are
// written), TERMINATE (close now), ACK (a u32 payload: request bytes of that connection the
// worker has consumed; the acceptor's in-flight bound counts them back).
//
// Contract: `FrameWriter` packs frames into its one buffer of `capacity` bytes. `put` and `putAck`
// add a frame whole or not at all (false: flush first); `putData` adds as much of a payload as
// fits, as one DATA frame, and returns how many payload bytes it took (0: flush first) — a stream
// may be cut anywhere. `take` copies the frames out into a fresh ArrayBuffer of their exact size
// (for postMessage's transfer list) and empties the writer. `readFrames` walks a buffer's frames
// in order and throws on a truncated frame (a bug of ours, never input from a client).

export const Kind = { OPEN: 1, DATA: 2, CLOSE: 3, END: 4, TERMINATE: 5, ACK: 6 } as const;
export type FrameKind = (typeof Kind)[keyof typeof Kind];

export const header_bytes = 9;
export const ack_payload_bytes = 4;
/** The smallest writer that can carry every frame (an ACK is the largest fixed one). */
export const capacity_min = header_bytes + ack_payload_bytes;

/** One batch of frames, either way (the acceptor's writers and, through init, the workers'). */
export const batch_bytes = 64 * 1024;
/** A client's request bytes sent to its worker and not yet acknowledged, before the acceptor stops reading it. */
export const inflight_bytes_max = 256 * 1024;
/** A client's reply bytes its socket has not taken, before the acceptor stops reading it. */
export const backlog_bytes_max = 256 * 1024;

export class FrameWriter {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  len = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < capacity_min) throw new RangeError(`frame writer capacity ${capacity} < ${capacity_min}`);
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  private header(id: number, kind: FrameKind, payload_len: number): void {
    this.view.setUint32(this.len, id >>> 0, true);
    this.view.setUint8(this.len + 4, kind);
    this.view.setUint32(this.len + 5, payload_len, true);
    this.len += header_bytes;
  }

  /** A frame without payload (OPEN, CLOSE, END, TERMINATE), whole or not at all. */
  put(id: number, kind: FrameKind): boolean {
    if (this.len + header_bytes > this.buf.length) return false;
    this.header(id, kind, 0);
    return true;
  }

  /** An ACK of `consumed` request bytes of connection `id`, whole or not at all. */
  putAck(id: number, consumed: number): boolean {
    if (this.len + header_bytes + ack_payload_bytes > this.buf.length) return false;
    this.header(id, Kind.ACK, ack_payload_bytes);
    this.view.setUint32(this.len, consumed >>> 0, true);
    this.len += ack_payload_bytes;
    return true;
  }

  /** As much of data[off, off + len) as fits, as one DATA frame; returns the payload bytes taken. */
  putData(id: number, data: Uint8Array, off: number, len: number): number {
    const room = this.buf.length - this.len - header_bytes;
    if (room <= 0 || len <= 0) return 0;
    const n = Math.min(room, len);
    this.header(id, Kind.DATA, n);
    this.buf.set(data.subarray(off, off + n), this.len);
    this.len += n;
    return n;
  }

  /** The frames so far, copied into an ArrayBuffer of their size; the writer is empty after. */
  take(): ArrayBuffer {
    const out = this.buf.slice(0, this.len).buffer;
    this.len = 0;
    return out;
  }
}

/** Calls `each` for every frame of bytes[0, len), in order; throws on a truncated frame. */
export function readFrames(bytes: Uint8Array, len: number, each: (id: number, kind: number, payload: Uint8Array) => void): void {
  if (len > bytes.length) throw new RangeError(`readFrames: ${len} bytes asked of a ${bytes.length}-byte buffer`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  // Each pass consumes at least header_bytes: at most len / header_bytes passes.
  while (at < len) {
    if (at + header_bytes > len) throw new RangeError(`truncated frame header at ${at} of ${len}`);
    const id = view.getUint32(at, true);
    const kind = view.getUint8(at + 4);
    const payload_len = view.getUint32(at + 5, true);
    const start = at + header_bytes;
    if (start + payload_len > len) throw new RangeError(`frame at ${at} claims ${payload_len} payload bytes, ${len - start} left`);
    each(id, kind, bytes.subarray(start, start + payload_len));
    at = start + payload_len;
  }
}

/** The u32 an ACK frame carries. */
export function ackBytes(payload: Uint8Array): number {
  if (payload.length !== ack_payload_bytes) throw new RangeError(`ACK payload of ${payload.length} bytes`);
  return new DataView(payload.buffer, payload.byteOffset, ack_payload_bytes).getUint32(0, true);
}
