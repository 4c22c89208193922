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

/** One prefix's counts: prefix, get, hit, set, del. */
export type PrefixRow = [string, number, number, number, number];

/** memcached's dump: a PREFIX line per prefix, then END. */
export function dumpText(rows: PrefixRow[]): string {
  let text = "";
  for (const [prefix, get, hit, set, del] of rows) text += `PREFIX ${prefix} get ${get} hit ${hit} set ${set} del ${del}\r\n`;
  return text + "END\r\n";
}

/** Several threads' rows as one list, counts of a prefix added (first-seen order). */
export function mergeRows(lists: PrefixRow[][]): PrefixRow[] {
  const merged = new Map<string, PrefixRow>();
  for (const rows of lists) {
    for (const row of rows) {
      const into = merged.get(row[0]);
      if (into === undefined) merged.set(row[0], [...row]);
      else for (let i = 1; i < 5; i++) into[i] = (into[i] as number) + (row[i] as number);
    }
  }
  return [...merged.values()];
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
    return dumpText(this.rows());
  }

  /** Every prefix's counts (-t N: each thread's, merged by mergeRows for one dump). */
  rows(): PrefixRow[] {
    return [...this.prefixes].map(([prefix, c]) => [prefix, c.get, c.hit, c.set, c.del]);
  }

  clear(): void {
    this.prefixes.clear();
  }
}
