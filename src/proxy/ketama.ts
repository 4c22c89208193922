// Ketama consistent hashing, placement-compatible with libmemcached's weighted ketama
// (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, "libketama compatible"), so a client-side ketama setup and
// the proxy put every key on the same server.
//
// Contract: `new Continuum(servers)` builds the ring once; `serverOf(buf, off, len)` maps a key's
// bytes to an index into `servers` without allocating. The construction, as libmemcached 1.0/1.1
// does it (hosts.cc, update_continuum) with every weight 1:
// - each server gets points_per_server = floor(pct * 160 / 4 * live + 1e-10) * 4 points, computed
//   in C float (pct = weight / total weight): 160 for equal weights — except where float rounding
//   lands just under 40 (25, 47, 50, 55, ... servers get 156 each; checked against pylibmc);
// - its points are 40 MD5 digests of "<host>:<port>-<i>" (i = 0..39), each giving four points (the
//   digest's four little-endian u32 words). libmemcached drops ":<port>" when the port is 11211
//   ("<host>-<i>"), and so do we;
// - the continuum is sorted by point; a key hashes to the first 4 bytes of its MD5 (little-endian);
//   its server owns the first point >= that hash, wrapping to the first point.

import { md5, md5Word0 } from "./md5.ts";

export interface ServerAddress {
  host: string;
  port: number;
}

/** libmemcached's MEMCACHED_POINTS_PER_SERVER_KETAMA and points per MD5 digest. */
export const points_per_server_ketama = 160;
export const points_per_digest = 4;
/** memcached's default port: libmemcached leaves it out of the point names. */
export const port_default = 11211;
/** A bound on the ring: 160 points × this many servers. */
export const servers_max = 4096;

const encoder = new TextEncoder();

/** The name libmemcached hashes for a server's i-th digest. */
export function pointName(server: ServerAddress, index: number): string {
  if (server.port === port_default) return `${server.host}-${index}`;
  return `${server.host}:${server.port}-${index}`;
}

/** Points of one server of `live` equally weighted ones, in libmemcached's float arithmetic. */
export function pointsPerServer(live: number): number {
  const f = Math.fround;
  const pct = f(f(1) / f(live));
  const scaled = f(f(f(pct * points_per_server_ketama) / 4) * f(live));
  return Math.floor(scaled + 0.0000000001) * 4;
}

export class Continuum {
  readonly servers: readonly ServerAddress[];
  /** Ring points, ascending. */
  readonly points: Uint32Array;
  /** owners[i]: the server index of points[i]. */
  readonly owners: Uint16Array;

  constructor(servers: readonly ServerAddress[]) {
    if (servers.length === 0) throw new RangeError("ketama: no servers");
    if (servers.length > servers_max) throw new RangeError(`ketama: more than ${servers_max} servers`);
    this.servers = servers;
    const per_server = pointsPerServer(servers.length);
    const count = per_server * servers.length;
    const values = new Uint32Array(count);
    const owners = new Uint16Array(count);
    let at = 0;
    for (let s = 0; s < servers.length; s++) {
      for (let d = 0; d < per_server / points_per_digest; d++) {
        const name = encoder.encode(pointName(servers[s]!, d));
        const words = md5(name, 0, name.length);
        for (let w = 0; w < points_per_digest; w++) {
          values[at] = words[w]!;
          owners[at] = s;
          at++;
        }
      }
    }
    if (at !== count) throw new Error("ketama: point count mismatch");
    const order = Array.from({ length: count }, (_, i) => i);
    order.sort((i, j) => values[i]! - values[j]! || owners[i]! - owners[j]!);
    this.points = new Uint32Array(count);
    this.owners = new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      this.points[i] = values[order[i]!]!;
      this.owners[i] = owners[order[i]!]!;
    }
  }

  /** The server owning the first point >= hash (wrapping). */
  lookup(hash: number): number {
    const points = this.points;
    let left = 0;
    let right = points.length;
    while (left < right) {
      const middle = (left + right) >>> 1;
      if (points[middle]! < hash) left = middle + 1;
      else right = middle;
    }
    return this.owners[right === points.length ? 0 : right]!;
  }

  /** The server of the key buf[off, off+len). */
  serverOf(buf: Uint8Array, off: number, len: number): number {
    return this.lookup(md5Word0(buf, off, len));
  }

  /** The server of a key given as text (tests, cold paths). */
  serverOfKey(key: string): number {
    const bytes = encoder.encode(key);
    return this.serverOf(bytes, 0, bytes.length);
  }
}
