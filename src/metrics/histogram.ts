// A latency histogram with fixed buckets: recording is a few comparisons and one increment, no
// allocation; the cumulative counts Prometheus wants are computed when scraped.
//
// Contract: `record(ms)` counts one observation (a negative or NaN one counts in the first
// bucket); `cumulative()` returns, per upper bound in `latency_buckets_s`, the observations at or
// below it, then the total (+Inf). `sum_s` and `count` follow Prometheus' _sum and _count.

/** Upper bounds in seconds: 0.1 ms to 2.5 s, a fixed count (`latency_buckets_s.length`). */
export const latency_buckets_s: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const bounds_ms = Float64Array.from(latency_buckets_s, (s) => s * 1000);

export class LatencyHistogram {
  /** Per bucket (not cumulative); the last slot counts what is above every bound. */
  private readonly counts = new Float64Array(bounds_ms.length + 1);
  sum_s = 0;
  count = 0;

  record(ms: number): void {
    let i = 0;
    while (i < bounds_ms.length && ms > bounds_ms[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum_s += ms > 0 ? ms / 1000 : 0;
  }

  cumulative(): number[] {
    const out: number[] = [];
    let running = 0;
    for (const n of this.counts) out.push((running += n));
    return out;
  }
}
