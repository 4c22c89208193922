// Ketama and MD5 without sockets: the digest against Bun's, the ring's shape, lookups at the edges,
// and consistency (adding a server moves only its share). Placement against a real libmemcached
// client is checked in test/integration/magent_ketama.test.ts.
import { describe, expect, test } from "bun:test";
import { md5, md5Word0 } from "../../src/proxy/md5.ts";
import { Continuum, pointName, pointsPerServer, type ServerAddress } from "../../src/proxy/ketama.ts";

function bunMd5Words(bytes: Uint8Array): number[] {
  const digest = new Bun.CryptoHasher("md5").update(bytes).digest();
  const view = new DataView(digest.buffer, digest.byteOffset, 16);
  return [0, 1, 2, 3].map((i) => view.getUint32(i * 4, true));
}

function servers(ports: number[]): ServerAddress[] {
  return ports.map((port) => ({ host: "127.0.0.1", port }));
}

describe("md5", () => {
  test("matches Bun's MD5 for every length 0..300 (block and padding edges)", () => {
    const bytes = new Uint8Array(300);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
    for (let len = 0; len <= 300; len++) {
      const input = bytes.subarray(0, len);
      expect(Array.from(md5(input, 0, len))).toEqual(bunMd5Words(input));
    }
  });

  test("digests a range in the middle of a buffer", () => {
    const text = new TextEncoder().encode("xxhello worldyy");
    expect(Array.from(md5(text, 2, 11))).toEqual(bunMd5Words(new TextEncoder().encode("hello world")));
  });

  test("known vectors (RFC 1321)", () => {
    const hex = (text: string) => {
      const words = md5(new TextEncoder().encode(text), 0, text.length);
      return Array.from(words).map((w) => [0, 8, 16, 24].map((s) => ((w >>> s) & 0xff).toString(16).padStart(2, "0")).join("")).join("");
    };
    expect(hex("")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(hex("abc")).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))
      .toBe("57edf4a22be3c955ac49da2e2107b67a");
  });

  test("the key hash is the digest's first four bytes, little-endian", () => {
    const key = new TextEncoder().encode("foo");
    expect(md5Word0(key, 0, 3)).toBe(bunMd5Words(key)[0]!);
  });

  test("rejects a range outside the buffer", () => {
    expect(() => md5(new Uint8Array(4), 2, 3)).toThrow(RangeError);
  });
});

describe("ketama ring", () => {
  test("160 points per server for equal weights, in libmemcached's float arithmetic", () => {
    for (let n = 1; n <= 24; n++) expect(pointsPerServer(n)).toBe(160);
    // C float rounding: 1/25 * 160 / 4 * 25 = 39.999996 → floor 39 → 156 points (pylibmc agrees).
    expect(pointsPerServer(25)).toBe(156);
    expect(pointsPerServer(50)).toBe(156);
    expect(pointsPerServer(26)).toBe(160);
    const ring = new Continuum(servers([1, 2, 3]));
    expect(ring.points.length).toBe(480);
    for (let i = 1; i < ring.points.length; i++) expect(ring.points[i]! >= ring.points[i - 1]!).toBe(true);
    const per_server = [0, 0, 0];
    for (const owner of ring.owners) per_server[owner]!++;
    expect(per_server).toEqual([160, 160, 160]);
  });

  test("point names: host:port-i, and host-i on the default port (as libmemcached)", () => {
    expect(pointName({ host: "10.0.0.1", port: 11212 }, 7)).toBe("10.0.0.1:11212-7");
    expect(pointName({ host: "10.0.0.1", port: 11211 }, 0)).toBe("10.0.0.1-0");
  });

  test("the points are the four words of MD5(name-i)", () => {
    const ring = new Continuum(servers([22122]));
    const words = bunMd5Words(new TextEncoder().encode("127.0.0.1:22122-0"));
    for (const w of words) expect(ring.points.includes(w)).toBe(true);
  });

  test("lookup: the first point >= hash, wrapping past the last point", () => {
    const ring = new Continuum(servers([1, 2, 3]));
    const p = ring.points;
    expect(ring.lookup(p[5]!)).toBe(ring.owners[5]!);
    expect(ring.lookup(p[5]! + 1)).toBe(ring.owners[6]!);
    expect(ring.lookup(0)).toBe(ring.owners[0]!);
    expect(ring.lookup(p[p.length - 1]! + 1)).toBe(ring.owners[0]!);
    expect(ring.lookup(0xffffffff)).toBe(p[p.length - 1] === 0xffffffff ? ring.owners[p.length - 1]! : ring.owners[0]!);
  });

  test("keys spread over the servers", () => {
    const ring = new Continuum(servers([21001, 21002, 21003]));
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[ring.serverOfKey(`key:${i}`)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(6_000);
  });

  test("adding a server moves only keys onto it", () => {
    const before = new Continuum(servers([21001, 21002, 21003]));
    const after = new Continuum(servers([21001, 21002, 21003, 21004]));
    let moved = 0;
    const keys = 20_000;
    for (let i = 0; i < keys; i++) {
      const key = `user:${i}`;
      const was = before.serverOfKey(key);
      const is = after.serverOfKey(key);
      if (was === is) continue;
      expect(is).toBe(3); // a key that moves, moves to the new server
      moved++;
    }
    expect(moved / keys).toBeGreaterThan(0.15);
    expect(moved / keys).toBeLessThan(0.35);
  });

  test("refuses an empty server list", () => {
    expect(() => new Continuum([])).toThrow(RangeError);
  });
});
