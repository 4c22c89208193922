// MD5 over a byte range, for ketama (every key of every request is hashed).
//
// Contract: `md5(buf, off, len)` digests buf[off, off+len) into `md5_words` — the 16-byte digest as
// four little-endian u32 words (digest bytes 0..3 are word 0, and so on) — and returns it; valid
// until the next call. `md5Word0` returns just word 0, which is libmemcached's MD5 key hash.
//
// Bun's native MD5 into a reused buffer (Bun.MD5.hash(input, hashInto)): about 190–205 ns a key
// against 314–328 ns for the hand-written JS it replaced, with the same digests (test/unit/ketama.test.ts).

/** The digest of the last `md5` call: four little-endian u32 words. */
export const md5_words = new Uint32Array(4);
const digest_bytes = new Uint8Array(md5_words.buffer);
// The words are read in the machine's byte order: little-endian (x86-64, aarch64).
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("md5.ts assumes a little-endian machine");

export function md5(buf: Uint8Array, off: number, len: number): Uint32Array {
  if (off < 0 || len < 0 || off + len > buf.length) throw new RangeError("md5: range outside the buffer");
  Bun.MD5.hash(buf.subarray(off, off + len), digest_bytes);
  return md5_words;
}

export function md5Word0(buf: Uint8Array, off: number, len: number): number {
  return md5(buf, off, len)[0]!;
}
