// memcached's per-prefix detail stats (`stats detail on|off|dump`, `-D <char>`): counts of get,
// hit, set and delete per key prefix (the key up to the first delimiter; keys without it are not
// counted). Off by default; when on it costs a string per counted key, like memcached's own hash.
//
// Contract: `record*` are no-ops while disabled; at most `prefixes_max` prefixes are tracked (later
// new prefixes are counted in `prefixes_dropped`); `dump()` gives memcached's PREFIX lines + END.

export const prefixes_max = 4096;

interface PrefixCounts {
  get: number;
  hit: number;
  set: number;
  del: number;
}

export class PrefixStats {
  enabled: boolean;
  private readonly delimiter: number;
  private readonly prefixes = new Map<string, PrefixCounts>();
  prefixes_dropped = 0;

  constructor(enabled: boolean, delimiter: string) {
    this.enabled = enabled;
    this.delimiter = delimiter.charCodeAt(0);
  }

  private counts(buf: Uint8Array, off: number, len: number): PrefixCounts | null {
    const at = buf.subarray(off, off + len).indexOf(this.delimiter);
    if (at < 0) return null;
    const prefix = Buffer.from(buf.buffer, buf.byteOffset + off, at).toString("latin1");
    let counts = this.prefixes.get(prefix);
    if (counts === undefined) {
      if (this.prefixes.size >= prefixes_max) {
        this.prefixes_dropped++;
        return null;
      }
      counts = { get: 0, hit: 0, set: 0, del: 0 };
      this.prefixes.set(prefix, counts);
    }
    return counts;
  }

  recordGet(buf: Uint8Array, off: number, len: number, hit: boolean): void {
    if (!this.enabled) return;
    const counts = this.counts(buf, off, len);
    if (counts === null) return;
    counts.get++;
    if (hit) counts.hit++;
  }

  recordSet(buf: Uint8Array, off: number, len: number): void {
    if (!this.enabled) return;
    const counts = this.counts(buf, off, len);
    if (counts !== null) counts.set++;
  }

  recordDelete(buf: Uint8Array, off: number, len: number): void {
    if (!this.enabled) return;
    const counts = this.counts(buf, off, len);
    if (counts !== null) counts.del++;
  }

  dump(): string {
    let text = "";
    for (const [prefix, c] of this.prefixes) text += `PREFIX ${prefix} get ${c.get} hit ${c.hit} set ${c.set} del ${c.del}\r\n`;
    return text + "END\r\n";
  }

  clear(): void {
    this.prefixes.clear();
  }
}
