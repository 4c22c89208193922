// The relaying acceptor's framing (bench/lib/relay_frames.ts), without threads or sockets: a
// stream cut by every writer capacity comes back whole and in order, and a buffer cut at every
// byte reads its whole frames or throws, never a wrong frame.
import { describe, expect, test } from "bun:test";
import { ackBytes, capacity_min, FrameWriter, header_bytes, Kind, readFrames } from "../../bench/lib/relay_frames.ts";

interface Seen {
  id: number;
  kind: number;
  payload: number[];
}

function readAll(bytes: Uint8Array, len = bytes.length): Seen[] {
  const seen: Seen[] = [];
  readFrames(bytes, len, (id, kind, payload) => seen.push({ id, kind, payload: [...payload] }));
  return seen;
}

/** 0, 1, 2, ... mod 251: no two neighbours alike, so a shifted or dropped byte shows. */
function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed) % 251;
  return out;
}

/** Writes `data` of connection `id` through a writer of `capacity`, taking batches as it fills. */
function writeStream(capacity: number, id: number, data: Uint8Array): Uint8Array[] {
  const writer = new FrameWriter(capacity);
  const batches: Uint8Array[] = [];
  // Each pass takes at least one byte or empties a full writer: at most 2 × data.length + 1 passes.
  for (let done = 0, passes = 0; done < data.length; passes++) {
    expect(passes).toBeLessThanOrEqual(2 * data.length + 1);
    const n = writer.putData(id, data, done, data.length - done);
    if (n === 0) batches.push(new Uint8Array(writer.take()));
    done += n;
  }
  if (writer.len > 0) batches.push(new Uint8Array(writer.take()));
  return batches;
}

describe("relay frames", () => {
  test("a writer of any capacity carries a stream whole, in order, each batch within its capacity", () => {
    const data = pattern(200, 7);
    for (let capacity = capacity_min; capacity <= data.length + 2 * header_bytes; capacity++) {
      const batches = writeStream(capacity, 0xdeadbeef, data);
      const joined: number[] = [];
      for (const batch of batches) {
        expect(batch.length).toBeLessThanOrEqual(capacity);
        for (const frame of readAll(batch)) {
          expect(frame.id).toBe(0xdeadbeef);
          expect(frame.kind).toBe(Kind.DATA);
          expect(frame.payload.length).toBeGreaterThan(0);
          joined.push(...frame.payload);
        }
      }
      expect(joined).toEqual([...data]);
    }
  });

  test("every frame kind round-trips, ACK carries its u32", () => {
    const writer = new FrameWriter(1024);
    expect(writer.put(1, Kind.OPEN)).toBe(true);
    expect(writer.putData(1, pattern(5), 1, 3)).toBe(3);
    expect(writer.putAck(1, 0xfffffffe)).toBe(true);
    expect(writer.put(2, Kind.END)).toBe(true);
    expect(writer.put(3, Kind.TERMINATE)).toBe(true);
    expect(writer.put(4, Kind.CLOSE)).toBe(true);
    const frames = readAll(new Uint8Array(writer.take()));
    expect(writer.len).toBe(0);
    expect(frames.map((f) => [f.id, f.kind])).toEqual([[1, Kind.OPEN], [1, Kind.DATA], [1, Kind.ACK], [2, Kind.END], [3, Kind.TERMINATE], [4, Kind.CLOSE]]);
    expect(frames[1]!.payload).toEqual([1, 2, 3]);
    expect(ackBytes(new Uint8Array(frames[2]!.payload))).toBe(0xfffffffe);
    expect(() => ackBytes(new Uint8Array(3))).toThrow(RangeError);
  });

  test("a fixed frame goes in whole or not at all; a full writer takes no payload", () => {
    expect(() => new FrameWriter(capacity_min - 1)).toThrow(RangeError);
    const writer = new FrameWriter(capacity_min + header_bytes - 1);
    expect(writer.putAck(9, 5)).toBe(true);
    expect(writer.put(9, Kind.END)).toBe(false);
    expect(writer.putAck(9, 5)).toBe(false);
    expect(writer.putData(9, pattern(4), 0, 4)).toBe(0);
    expect(writer.len).toBe(capacity_min);
    expect(readAll(new Uint8Array(writer.take())).length).toBe(1);
  });

  test("a buffer cut at every byte reads the frames wholly before the cut, else throws", () => {
    const writer = new FrameWriter(4096);
    writer.put(5, Kind.OPEN);
    writer.putData(5, pattern(17, 3), 0, 17);
    writer.putAck(5, 17);
    writer.putData(6, pattern(1), 0, 1);
    writer.put(6, Kind.CLOSE);
    const bytes = new Uint8Array(writer.take());
    const all = readAll(bytes);
    // Where each frame ends: the cuts at which a prefix is whole.
    const ends: number[] = [];
    let at = 0;
    for (const frame of all) ends.push((at += header_bytes + frame.payload.length));
    expect(at).toBe(bytes.length);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const whole = ends.filter((end) => end <= cut).length;
      if (cut === 0 || ends.includes(cut)) expect(readAll(bytes, cut)).toEqual(all.slice(0, whole));
      else expect(() => readAll(bytes, cut)).toThrow(RangeError);
    }
    expect(() => readAll(bytes, bytes.length + 1)).toThrow(RangeError);
  });
});
