// Prometheus text exposition format (version 0.0.4): one family at a time, HELP and TYPE lines,
// then its samples. Cold path (runs when scraped): strings are fine.
//
// Contract: `family(name, type, help)` opens a family; `sample(value, labels?, suffix?)` adds a
// line to the open family (suffix: `_bucket`, `_sum`, `_count` for a histogram). Label values are
// escaped (backslash, double quote, newline); a value that is not a finite number is written as
// Prometheus spells it (NaN, +Inf, -Inf). `text()` returns the whole page. Never throws.

export type MetricType = "counter" | "gauge" | "histogram" | "untyped";
export type Labels = Record<string, string | number>;

/** The Content-Type Prometheus expects for this format. */
export const exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

export class Exposition {
  private lines: string[] = [];
  private name = "";

  family(name: string, type: MetricType, help: string): this {
    this.name = name;
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    return this;
  }

  sample(value: number, labels: Labels | null = null, suffix = ""): this {
    this.lines.push(`${this.name}${suffix}${labelText(labels)} ${numberText(value)}`);
    return this;
  }

  /** A family with one sample: the common case. */
  one(name: string, type: MetricType, help: string, value: number, labels: Labels | null = null): this {
    return this.family(name, type, help).sample(value, labels);
  }

  text(): string {
    return this.lines.length === 0 ? "" : `${this.lines.join("\n")}\n`;
  }
}

function labelText(labels: Labels | null): string {
  if (labels === null) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(labels)) parts.push(`${key}="${escapeLabel(String(value))}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function numberText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
