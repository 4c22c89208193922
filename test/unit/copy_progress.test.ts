// CopyProgress (src/replication/copy_progress.ts): when a progress line is due, and the percent.
import { expect, test } from "bun:test";
import { CopyProgress, progress_log_interval_ms, progress_log_steps } from "../../src/replication/copy_progress.ts";

test("a known total prints at each tenth at most once, and never at 100 %", () => {
  const p = new CopyProgress();
  p.start(1000, 0);
  let lines = 0;
  for (let i = 0; i < 1000; i++) {
    p.step(1, 10);
    if (p.due(1)) lines++; // the clock stands still: only the tenths make lines
  }
  expect(lines).toBe(progress_log_steps - 1);
  expect(p.percent()).toBe(99);
  p.finish(2);
  expect(p.percent()).toBe(100);
  expect(p.due(10 * progress_log_interval_ms)).toBe(false);
});

test("an unknown total prints by time only, and has no percent", () => {
  const p = new CopyProgress();
  p.start(-1, 0);
  p.step(500, 5000);
  expect(p.due(progress_log_interval_ms - 1)).toBe(false);
  expect(p.due(progress_log_interval_ms)).toBe(true);
  expect(p.due(progress_log_interval_ms + 1)).toBe(false);
  expect(p.percent()).toBe(-1);
  expect(p.line("received", 1000)).toBe("replication: marugoto progress received 500 items, 0.0 MB, 500 items/s");
});

test("an aborted copy keeps its figures and is not complete", () => {
  const p = new CopyProgress();
  p.start(100, 0);
  p.step(40, 400);
  p.abort(10);
  expect(p.running).toBe(false);
  expect(p.completed).toBe(false);
  expect(p.percent()).toBe(40);
  expect(p.items).toBe(40);
});
