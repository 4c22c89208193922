import { describe, expect, test } from "bun:test";
import { InputStash } from "../../src/server/stash.ts";

describe("InputStash", () => {
  test("appends, grows by doubling, consumes from the front, and refuses past its bound", () => {
    const stash = new InputStash(4, 16);
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(stash.append(bytes, 0, 3)).toBe(true);
    expect(stash.bytes!.length).toBe(4);
    expect(stash.append(bytes, 3, 10)).toBe(true);
    expect(stash.len).toBe(10);
    expect(stash.bytes!.length).toBe(16);
    expect([...stash.bytes!.subarray(0, 10)]).toEqual([...bytes]);
    expect(stash.append(bytes, 0, 7)).toBe(false); // 17 > 16: nothing appended
    expect(stash.len).toBe(10);
    stash.consumed(4);
    expect([...stash.bytes!.subarray(0, stash.len)]).toEqual([5, 6, 7, 8, 9, 10]);
    stash.consumed(6);
    expect(stash.len).toBe(0);
    expect(stash.bytes).toBe(null); // a grown buffer is given back once empty
    stash.append(bytes, 0, 2);
    stash.clear();
    expect(stash.len).toBe(0);
  });
});
