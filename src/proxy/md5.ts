// MD5 (RFC 1321) over a byte range, without allocating: ketama hashes every key of every request.
//
// Contract: `md5(buf, off, len)` digests buf[off, off+len) into `md5_words` — the 16-byte digest as
// four little-endian u32 words (digest bytes 0..3 are word 0, and so on). The result is valid until
// the next call. `md5Word0` returns just word 0, which is libmemcached's MD5 key hash.

/** The digest of the last `md5` call: four little-endian u32 words. */
export const md5_words = new Uint32Array(4);

const block_bytes = 64;
/** The padded tail: at most one partial block plus 0x80, zeros and the 8-byte length → two blocks. */
const tail = new Uint8Array(2 * block_bytes);
const x = new Int32Array(16);

const shifts = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];
const sines = new Int32Array(64);
for (let i = 0; i < 64; i++) sines[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;
const shift = new Int32Array(shifts);

let a0 = 0;
let b0 = 0;
let c0 = 0;
let d0 = 0;

function loadBlock(buf: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const p = at + i * 4;
    x[i] = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
  }
}

/** One 64-byte block (already in `x`) folded into the state. */
function compress(): void {
  let a = a0;
  let b = b0;
  let c = c0;
  let d = d0;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const sum = (a + f + sines[i]! + x[g]!) | 0;
    const s = shift[i]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  a0 = (a0 + a) | 0;
  b0 = (b0 + b) | 0;
  c0 = (c0 + c) | 0;
  d0 = (d0 + d) | 0;
}

export function md5(buf: Uint8Array, off: number, len: number): Uint32Array {
  if (off < 0 || len < 0 || off + len > buf.length) throw new RangeError("md5: range outside the buffer");
  a0 = 0x67452301;
  b0 = 0xefcdab89 | 0;
  c0 = 0x98badcfe | 0;
  d0 = 0x10325476;
  const whole_end = off + len - (len % block_bytes);
  for (let at = off; at < whole_end; at += block_bytes) {
    loadBlock(buf, at);
    compress();
  }
  const rest = off + len - whole_end;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = buf[whole_end + i]!;
  tail[rest] = 0x80;
  const tail_bytes = rest < 56 ? block_bytes : 2 * block_bytes;
  const bits_lo = (len * 8) >>> 0;
  const bits_hi = Math.floor(len / 0x20000000);
  writeU32(tail, tail_bytes - 8, bits_lo);
  writeU32(tail, tail_bytes - 4, bits_hi);
  for (let at = 0; at < tail_bytes; at += block_bytes) {
    loadBlock(tail, at);
    compress();
  }
  md5_words[0] = a0;
  md5_words[1] = b0;
  md5_words[2] = c0;
  md5_words[3] = d0;
  return md5_words;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = (value >>> 8) & 0xff;
  buf[at + 2] = (value >>> 16) & 0xff;
  buf[at + 3] = (value >>> 24) & 0xff;
}

/** libmemcached's MD5 key hash: the digest's first four bytes, little-endian. */
export function md5Word0(buf: Uint8Array, off: number, len: number): number {
  return md5(buf, off, len)[0]!;
}
