import { describe, expect, test } from "bun:test";
import { exptimeFrom, StagingBudget } from "../../src/server/staging.ts";

describe("staging", () => {
  test("the budget takes up to bytes_max, refuses past it, and takes again once given back", () => {
    const budget = new StagingBudget(100);
    expect(budget.take(60)).toBe(true);
    expect(budget.take(41)).toBe(false);
    expect(budget.used_bytes).toBe(60);
    expect(budget.take(40)).toBe(true);
    budget.give(60);
    expect(budget.take(60)).toBe(true);
    budget.give(100);
    expect(budget.used_bytes).toBe(0);
    expect(() => budget.give(1)).toThrow();
  });

  test("exptimeFrom: a relative exptime becomes the unix time it names at the command line", () => {
    const now_s = 1_700_000_000;
    expect(exptimeFrom(0, now_s)).toBe(0);
    expect(exptimeFrom(-1, now_s)).toBe(-1);
    expect(exptimeFrom(10, now_s)).toBe(now_s + 10);
    expect(exptimeFrom(2_592_000, now_s)).toBe(now_s + 2_592_000);
    expect(exptimeFrom(2_592_001, now_s)).toBe(2_592_001); // already absolute
    expect(exptimeFrom(2_592_000, 2 ** 31 - 10)).toBe(2 ** 31 - 1);
  });
});
