// Result tables: number formatting, one workload's rows as cells, and two renderings of cells
// (aligned plain text for the terminal, GitHub markdown for the results file). Pure.
import type { Spread } from "./stats.ts";
import type { Row } from "./summary.ts";

export const none = "—";

export function fmtInt(n: number | null): string {
  return n === null ? none : Math.round(n).toLocaleString("en-US");
}

export function fmtFixed(n: number | null, digits: number): string {
  return n === null ? none : n.toFixed(digits);
}

export function fmtMiB(bytes: number | null): string {
  return bytes === null ? none : (bytes / (1024 * 1024)).toFixed(1);
}

export function fmtPercent(share: number | null): string {
  return share === null ? none : `${Math.round(share * 100)}%`;
}

/** "0.85 (0.80–0.91)": median, then range over rounds; one round shows the median alone. */
export function fmtSpread(s: Spread | null, digits = 2): string {
  if (s === null) return none;
  const m = s.median.toFixed(digits);
  if (s.min === s.max) return m;
  return `${m} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** One line, at most max_chars: for reasons printed inside a table. */
export function oneLine(text: string, max_chars: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max_chars ? flat : `${flat.slice(0, max_chars - 1)}…`;
}

export interface Cells {
  headers: string[];
  /** Which columns hold numbers (right-aligned). */
  numeric: boolean[];
  rows: string[][];
}

export function rowCells(
  rows: readonly Row[],
  label: (server: string) => string,
  baseline: string,
  reason_chars_max: number,
): Cells {
  const headers = [
    "server", "ops/s", "keys/s", "p50 µs", "p99 µs", "p99.9 µs", "server CPU s", "server cores",
    "CPU µs/op", "server RSS MiB", "mcload CPU", "other cores", "get hits", `÷ ${label(baseline)}`, "note",
  ];
  const numeric = headers.map((_, i) => i > 0 && i < headers.length - 1);
  const cells = rows.map((row) => {
    const notes: string[] = [];
    if (row.rounds_ok < row.rounds) notes.push(`${row.rounds_ok}/${row.rounds} rounds ok`);
    if (row.errors > 0) notes.push(`${fmtInt(row.errors)} request errors`);
    if (row.peer_cpu_s !== null) notes.push(`peer CPU ${row.peer_cpu_s.toFixed(2)} s`);
    if (row.error !== null) notes.push(`${row.rounds_ok === 0 ? "failed" : "last failure"}: ${oneLine(row.error, reason_chars_max)}`);
    const ratio = row.server === baseline ? (row.rounds_ok > 0 ? "1 (baseline)" : none) : fmtSpread(row.ratio);
    return [
      label(row.server),
      fmtInt(row.ops_per_s?.median ?? null),
      fmtInt(row.keys_per_s),
      fmtInt(row.p50_us),
      fmtInt(row.p99_us),
      fmtInt(row.p999_us),
      fmtFixed(row.server_cpu_s, 2),
      fmtFixed(row.server_cores, 2),
      fmtFixed(row.cpu_us_per_op, 2),
      fmtMiB(row.rss_bytes),
      fmtPercent(row.client_cpu_share),
      fmtFixed(row.background_cores, 2),
      row.hit_ratio === null ? none : `${(row.hit_ratio * 100).toFixed(row.hit_ratio === 1 ? 0 : 1)}%`,
      ratio,
      notes.join("; "),
    ];
  });
  return { headers, numeric, rows: cells };
}

/** Columns padded to a common width; numbers right-aligned. */
export function renderText(cells: Cells): string {
  const all = [cells.headers, ...cells.rows];
  const widths = cells.headers.map((_, col) => Math.max(...all.map((row) => [...(row[col] ?? "")].length)));
  const pad = (text: string, col: number) => {
    const gap = " ".repeat(widths[col]! - [...text].length);
    return cells.numeric[col] ? gap + text : text + gap;
  };
  const line = (row: string[]) => row.map((text, col) => pad(text, col)).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(cells.headers), rule, ...cells.rows.map(line)].join("\n");
}

const escapeCell = (text: string) => text.replace(/\|/g, "\\|");

export function renderMarkdown(cells: Cells): string {
  const line = (row: string[]) => `| ${row.map(escapeCell).join(" | ")} |`;
  const rule = `|${cells.numeric.map((n) => (n ? "---:" : "---")).join("|")}|`;
  return [line(cells.headers), rule, ...cells.rows.map(line)].join("\n");
}
