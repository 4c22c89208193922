// memcached binary protocol frames for tests: encode a request, decode responses, and a raw client
// that waits for a number of response frames (or the server's close). Test-only: independent of
// src/protocol, so the tests check the server against the format, not against itself.
import { RawClient } from "./procs.ts";

export const header_bytes = 24;

export const Op = {
  GET: 0x00, SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, INCREMENT: 0x05, DECREMENT: 0x06,
  QUIT: 0x07, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, VERSION: 0x0b, GETK: 0x0c, GETKQ: 0x0d,
  APPEND: 0x0e, PREPEND: 0x0f, STAT: 0x10, SETQ: 0x11, ADDQ: 0x12, REPLACEQ: 0x13, DELETEQ: 0x14,
  INCREMENTQ: 0x15, DECREMENTQ: 0x16, QUITQ: 0x17, FLUSHQ: 0x18, APPENDQ: 0x19, PREPENDQ: 0x1a,
  VERBOSITY: 0x1b, TOUCH: 0x1c, GAT: 0x1d, GATQ: 0x1e, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21,
  SASL_STEP: 0x22, GATK: 0x23, GATKQ: 0x24,
} as const;

export interface Request {
  opcode: number;
  key?: string | Uint8Array;
  extras?: Uint8Array;
  value?: string | Uint8Array;
  cas?: bigint;
  opaque?: number;
  magic?: number;
  datatype?: number;
  vbucket?: number;
  /** Overrides the computed lengths (bad-input tests). */
  keylen?: number;
  extlen?: number;
  bodylen?: number;
}

const bytesOf = (v: string | Uint8Array | undefined): Uint8Array =>
  v === undefined ? new Uint8Array(0) : typeof v === "string" ? Buffer.from(v, "latin1") : v;

export function frame(r: Request): Buffer {
  const key = bytesOf(r.key);
  const extras = r.extras ?? new Uint8Array(0);
  const value = bytesOf(r.value);
  const body = extras.length + key.length + value.length;
  const buf = Buffer.alloc(header_bytes + body);
  buf[0] = r.magic ?? 0x80;
  buf[1] = r.opcode;
  buf.writeUInt16BE(r.keylen ?? key.length, 2);
  buf[4] = r.extlen ?? extras.length;
  buf[5] = r.datatype ?? 0;
  buf.writeUInt16BE(r.vbucket ?? 0, 6);
  buf.writeUInt32BE(r.bodylen ?? body, 8);
  buf.writeUInt32BE(r.opaque ?? 0, 12);
  buf.writeBigUInt64BE(r.cas ?? 0n, 16);
  buf.set(extras, header_bytes);
  buf.set(key, header_bytes + extras.length);
  buf.set(value, header_bytes + extras.length + key.length);
  return buf;
}

/** Extras of set/add/replace: flags, exptime. */
export function storeExtras(flags: number, exptime: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags >>> 0, 0);
  b.writeUInt32BE(exptime >>> 0, 4);
  return b;
}

/** Extras of incr/decr: delta, initial, exptime. */
export function deltaExtras(delta: bigint, initial: bigint, exptime: number): Uint8Array {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(exptime >>> 0, 16);
  return b;
}

/** Extras of touch/gat/flush/verbosity: one u32. */
export function u32Extras(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export interface Response {
  magic: number;
  opcode: number;
  status: number;
  datatype: number;
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
}

/** Whole response frames at the start of buf, and how many bytes they took. */
export function parseFrames(buf: Buffer): { frames: Response[]; used: number } {
  const frames: Response[] = [];
  let at = 0;
  while (buf.length - at >= header_bytes) {
    const keylen = buf.readUInt16BE(at + 2);
    const extlen = buf[at + 4]!;
    const bodylen = buf.readUInt32BE(at + 8);
    if (buf.length - at < header_bytes + bodylen) break;
    const body = at + header_bytes;
    frames.push({
      magic: buf[at]!, opcode: buf[at + 1]!, datatype: buf[at + 5]!, status: buf.readUInt16BE(at + 6),
      opaque: buf.readUInt32BE(at + 12), cas: buf.readBigUInt64BE(at + 16),
      extras: buf.subarray(body, body + extlen), key: buf.subarray(body + extlen, body + extlen + keylen),
      value: buf.subarray(body + extlen + keylen, body + bodylen),
    });
    at = body + bodylen;
  }
  return { frames, used: at };
}

/** A raw socket speaking binary frames. */
export class BinaryClient {
  readonly raw: RawClient;
  private constructor(raw: RawClient) {
    this.raw = raw;
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<BinaryClient> {
    return new BinaryClient(await RawClient.connect(port, host));
  }

  send(...requests: Array<Request | Uint8Array>): void {
    this.raw.send(Buffer.concat(requests.map((r) => (r instanceof Uint8Array ? r : frame(r)))));
  }

  /** Waits for `count` response frames (or a close, or ms); returns the frames and any trailing bytes. */
  async read(count: number, ms = 5_000): Promise<{ frames: Response[]; rest: Buffer; closed: boolean }> {
    const bytes = await this.raw.readUntil((b) => parseFrames(b).frames.length >= count, ms);
    const { frames, used } = parseFrames(bytes);
    return { frames, rest: bytes.subarray(used), closed: this.raw.closed };
  }

  /** Sends the requests and reads `count` frames (default: one per request). */
  async call(requests: Request[], count = requests.length, ms = 5_000): Promise<Response[]> {
    this.send(...requests);
    return (await this.read(count, ms)).frames;
  }

  close(): void {
    this.raw.close();
  }
}
