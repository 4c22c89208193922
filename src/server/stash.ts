// The unprocessed tail of a connection's input: bytes are copied here only when a command (or a
// reply, for the proxy's upstreams) is split across reads. Everything else is parsed in place on
// the chunk Bun hands over.
//
// Contract: `append` copies buf[from, to) after what is held, growing by doubling from
// `bytes_initial` up to `bytes_max`; it returns false (and appends nothing) past `bytes_max` —
// the owner then closes the connection. `consumed(n)` drops the first n bytes and gives a grown
// buffer back once it is empty. `bytes` is null until something was appended.

export class InputStash {
  readonly bytes_initial: number;
  readonly bytes_max: number;
  bytes: Uint8Array | null = null;
  len = 0;

  constructor(bytes_initial: number, bytes_max: number) {
    if (!(bytes_initial > 0) || !(bytes_max >= bytes_initial)) throw new RangeError("stash bounds");
    this.bytes_initial = bytes_initial;
    this.bytes_max = bytes_max;
  }

  append(buf: Uint8Array, from: number, to: number): boolean {
    const need = this.len + (to - from);
    if (need > this.bytes_max) return false;
    if (this.bytes === null || this.bytes.length < need) {
      let size = this.bytes === null ? this.bytes_initial : this.bytes.length;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.bytes_max));
      if (this.bytes !== null) grown.set(this.bytes.subarray(0, this.len));
      this.bytes = grown;
    }
    this.bytes.set(buf.subarray(from, to), this.len);
    this.len = need;
    return true;
  }

  consumed(n: number): void {
    const bytes = this.bytes;
    if (bytes === null || n === 0) return;
    bytes.copyWithin(0, n, this.len);
    this.len -= n;
    if (this.len === 0 && bytes.length > this.bytes_initial) this.bytes = null;
  }

  clear(): void {
    this.bytes = null;
    this.len = 0;
  }
}
