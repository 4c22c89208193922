// Order statistics over a benchmark's rounds. Pure.
//
// Contract: every function takes plain arrays and never mutates them. An empty input gives null
// (there is no median of nothing); callers render null as "n/a".

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The median: the middle value, or the mean of the two middle values. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid]!;
  return (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median and range (smallest, largest) of the values. */
export function spread(values: readonly number[]): Spread | null {
  const m = median(values);
  if (m === null) return null;
  let min = values[0]!;
  let max = values[0]!;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { median: m, min, max };
}

/**
 * Per-round ratios value ÷ baseline, paired by round number. A round where either side is
 * missing, or the baseline is not positive, gives no ratio: drift cancels only within a round.
 */
export function ratiosByRound(
  values: ReadonlyMap<number, number>,
  baseline: ReadonlyMap<number, number>,
): number[] {
  const ratios: number[] = [];
  const rounds = [...values.keys()].sort((a, b) => a - b);
  for (const round of rounds) {
    const base = baseline.get(round);
    if (base === undefined || !(base > 0)) continue;
    ratios.push(values.get(round)! / base);
  }
  return ratios;
}
