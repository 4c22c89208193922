// The exposition writer and the latency histogram (src/metrics/): pure, no sockets.
import { expect, test } from "bun:test";
import { Exposition, escapeLabel, numberText } from "../../src/metrics/exposition.ts";
import { LatencyHistogram, latency_buckets_s } from "../../src/metrics/histogram.ts";
import { serverMetricsText } from "../../src/metrics/server_metrics.ts";

test("label values are escaped; special numbers are spelled as Prometheus does", () => {
  expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  expect(numberText(NaN)).toBe("NaN");
  expect(numberText(Infinity)).toBe("+Inf");
  const text = new Exposition().one("x_total", "counter", "help", 3, { k: 'v"' }).text();
  expect(text).toBe('# HELP x_total help\n# TYPE x_total counter\nx_total{k="v\\""} 3\n');
});

test("the histogram counts each observation once, in the first bucket that holds it", () => {
  const h = new LatencyHistogram();
  h.record(0.05); // 50 µs: the first bucket
  h.record(3); // 3 ms: le 0.005
  h.record(10_000); // 10 s: above every bound
  const cumulative = h.cumulative();
  expect(cumulative.length).toBe(latency_buckets_s.length + 1);
  expect(cumulative[0]).toBe(1);
  expect(cumulative[latency_buckets_s.indexOf(0.005)]).toBe(2);
  expect(cumulative[latency_buckets_s.length - 1]).toBe(2);
  expect(cumulative[latency_buckets_s.length]).toBe(3);
  expect(h.count).toBe(3);
  expect(h.sum_s).toBeCloseTo(10.00305, 6);
});

test("a stat that is missing or not a number is left out, never shown as 0", () => {
  const text = serverMetricsText([["version", "1.6.18"], ["curr_items", "x"], ["bytes", 5]], null);
  expect(text).not.toContain("memcached_current_items");
  expect(text).toContain("memcached_current_bytes 5\n");
});
