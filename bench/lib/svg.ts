// A hand-written SVG chart of the load comparison: one panel per workload (each with its own
// y axis, since workloads differ in scale), one bar per server (median ops/s) with a whisker over
// the rounds' range, the ratio to the baseline above each. No dependencies. Pure.

export interface ChartBar {
  /** Index into ChartSpec.series: the server, its legend entry and colour. */
  series: number;
  /** Median ops/s, or null when the server has no figures (drawn as an empty outline, "n/a"). */
  value: number | null;
  /** Smallest and largest over the rounds: a whisker, drawn when they differ. */
  range?: { min: number; max: number };
  /** Text above the bar, e.g. "0.85×". */
  label: string;
}

export interface ChartPanel {
  title: string;
  bars: ChartBar[];
}

export interface ChartSpec {
  title: string;
  /** Lines under the title; one that starts with "warning:" is drawn in red. */
  subtitle: string[];
  y_label: string;
  series: string[];
  panels: ChartPanel[];
}

const palette = ["#4e79a7", "#a0cbe8", "#f28e2b", "#e15759", "#59a14f", "#b07aa1"];
const font = "font-family=\"Helvetica, Arial, sans-serif\"";
const bar_width = 34;
const bar_gap = 10;
const axis_width = 58;
const panel_gap = 28;
const plot_height = 250;
const subtitle_line_px = 16;
const min_width = 640;
const label_headroom = 1.08;
const whisker_cap_px = 5;
/** Rough width of a character of 12 px Helvetica, to size the picture to its subtitle. */
const char_px = 6.3;
const margin = 20;
const ticks_wanted = 4;

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round tick values from 0 to at least max, about `wanted` steps of 1, 2, 2.5 or 5 × 10^k. */
export function niceTicks(max: number, wanted = ticks_wanted): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return ticks;
}

/** 1234567 → "1.23M", 98000 → "98k". */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  const trim = (x: number) => Number(x.toPrecision(3)).toString();
  if (abs >= 1e6) return `${trim(n / 1e6)}M`;
  if (abs >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

function panelWidth(panel: ChartPanel): number {
  return axis_width + panel.bars.length * bar_width + (panel.bars.length + 1) * bar_gap;
}

function renderPanel(panel: ChartPanel, x0: number, top: number): string[] {
  const out: string[] = [];
  const max = Math.max(0, ...panel.bars.map((b) => Math.max(b.value ?? 0, b.range?.max ?? 0)));
  // Headroom for the label above the tallest bar.
  const ticks = niceTicks(max * label_headroom);
  const y_max = ticks[ticks.length - 1]!;
  const plot_x = x0 + axis_width;
  const plot_w = panelWidth(panel) - axis_width;
  const y = (v: number) => top + plot_height - (v / y_max) * plot_height;
  out.push(`<text x="${plot_x + plot_w / 2}" y="${top - 16}" text-anchor="middle" font-size="13" font-weight="bold" ${font}>${escapeXml(panel.title)}</text>`);
  for (const tick of ticks) {
    const ty = y(tick).toFixed(1);
    out.push(`<line x1="${plot_x}" y1="${ty}" x2="${plot_x + plot_w}" y2="${ty}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${plot_x - 6}" y="${ty}" dy="4" text-anchor="end" font-size="11" fill="#555" ${font}>${compactNumber(tick)}</text>`);
  }
  out.push(`<line x1="${plot_x}" y1="${top}" x2="${plot_x}" y2="${top + plot_height}" stroke="#888"/>`);
  out.push(`<line x1="${plot_x}" y1="${top + plot_height}" x2="${plot_x + plot_w}" y2="${top + plot_height}" stroke="#888"/>`);
  panel.bars.forEach((bar, i) => {
    const bx = plot_x + bar_gap + i * (bar_width + bar_gap);
    const color = palette[bar.series % palette.length]!;
    const cx = (bx + bar_width / 2).toFixed(1);
    if (bar.value === null) {
      const h = 24;
      out.push(`<rect x="${bx}" y="${top + plot_height - h}" width="${bar_width}" height="${h}" fill="none" stroke="${color}" stroke-dasharray="3 2"/>`);
      out.push(`<text x="${cx}" y="${top + plot_height - h - 5}" text-anchor="middle" font-size="11" fill="#888" ${font}>n/a</text>`);
      return;
    }
    const by = y(bar.value);
    const h = top + plot_height - by;
    const range = bar.range !== undefined && bar.range.min !== bar.range.max ? bar.range : null;
    const tip = `${compactNumber(bar.value)} ops/s${range === null ? "" : ` (${compactNumber(range.min)}–${compactNumber(range.max)})`}`;
    out.push(`<rect x="${bx}" y="${by.toFixed(1)}" width="${bar_width}" height="${h.toFixed(1)}" fill="${color}"><title>${escapeXml(tip)}</title></rect>`);
    let label_y = by;
    if (range !== null) {
      const [y_lo, y_hi] = [y(range.min).toFixed(1), y(range.max).toFixed(1)];
      const [c_lo, c_hi] = [(bx + bar_width / 2 - whisker_cap_px).toFixed(1), (bx + bar_width / 2 + whisker_cap_px).toFixed(1)];
      out.push(`<path d="M${cx} ${y_lo}V${y_hi}M${c_lo} ${y_lo}H${c_hi}M${c_lo} ${y_hi}H${c_hi}" stroke="#333" stroke-width="1.2" fill="none"/>`);
      label_y = Math.min(by, y(range.max));
    }
    if (bar.label) {
      out.push(`<text x="${cx}" y="${(label_y - 5).toFixed(1)}" text-anchor="middle" font-size="11" font-weight="bold" fill="#333" ${font}>${escapeXml(bar.label)}</text>`);
    }
  });
  return out;
}

export function renderChart(spec: ChartSpec): string {
  const panels_width = spec.panels.reduce((sum, p) => sum + panelWidth(p), 0) + panel_gap * Math.max(0, spec.panels.length - 1);
  const text_width = Math.max(0, ...spec.subtitle.map((line) => line.length * char_px));
  const width = Math.ceil(Math.max(margin * 2 + panels_width, margin * 2 + text_width, min_width));
  const top = 42 + spec.subtitle.length * subtitle_line_px + 40;
  const legend_y = top + plot_height + 34;
  const height = legend_y + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${margin}" y="24" font-size="16" font-weight="bold" ${font}>${escapeXml(spec.title)}</text>`,
    ...spec.subtitle.map((line, i) =>
      `<text x="${margin}" y="${44 + i * subtitle_line_px}" font-size="12" fill="${line.startsWith("warning:") ? "#b00020" : "#555"}" ${font}>${escapeXml(line)}</text>`),
    `<text transform="translate(12 ${top + plot_height / 2}) rotate(-90)" text-anchor="middle" font-size="11" fill="#555" ${font}>${escapeXml(spec.y_label)}</text>`,
  ];
  let x = margin;
  for (const panel of spec.panels) {
    out.push(...renderPanel(panel, x, top));
    x += panelWidth(panel) + panel_gap;
  }
  let lx = margin + axis_width;
  spec.series.forEach((name, i) => {
    out.push(`<rect x="${lx}" y="${legend_y - 10}" width="12" height="12" fill="${palette[i % palette.length]}"/>`);
    out.push(`<text x="${lx + 17}" y="${legend_y}" font-size="12" ${font}>${escapeXml(name)}</text>`);
    lx += 17 + name.length * 7 + 22;
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
