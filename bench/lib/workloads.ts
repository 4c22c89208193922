// The load comparison's workloads and servers, as data. Pure.
//
// Sizes: 100k keys × 100 B is ~20 MB of items; workload b's 10k keys × 5.5 KB (mean of 1–10 KB)
// is ~56 MB. Both fit any server's -m 1024 many times over, so nothing is evicted and every get
// hits: the runs measure request handling, not the cache's miss path.
import type { LoadSpec } from "./loadgen.ts";

export type ServerId = "mc1" | "mc2" | "mc4" | "ours" | "ours_t2" | "ours_t4" | "ours_peer";

/** The servers of the load comparison (workloads a–f). */
export const server_ids: readonly ServerId[] = ["mc1", "mc4", "ours", "ours_peer"];

/** The servers of the threads part: memcached and ours at -t 1, 2 and 4. */
export const threads_server_ids: readonly ServerId[] = ["mc1", "mc2", "mc4", "ours", "ours_t2", "ours_t4"];

export const server_labels: Record<ServerId, string> = {
  mc1: "memcached -t 1",
  mc2: "memcached -t 2",
  mc4: "memcached -t 4",
  ours: "ours",
  ours_t2: "ours -t 2",
  ours_t4: "ours -t 4",
  ours_peer: "ours + peer",
};

/** What a server is in the threads part: whose, with how many threads. */
export interface ThreadsServer {
  family: "memcached" | "ours";
  threads: number;
}

export const threads_servers: Partial<Record<ServerId, ThreadsServer>> = {
  mc1: { family: "memcached", threads: 1 },
  mc2: { family: "memcached", threads: 2 },
  mc4: { family: "memcached", threads: 4 },
  ours: { family: "ours", threads: 1 },
  ours_t2: { family: "ours", threads: 2 },
  ours_t4: { family: "ours", threads: 4 },
};

/** Ratios are ours ÷ this server, round by round. */
export const baseline_server: ServerId = "mc1";

export type WorkloadId = "a" | "b" | "c" | "d" | "e" | "f" | "threads_a" | "threads_c";

export interface Workload extends LoadSpec {
  id: WorkloadId;
  title: string;
  /** A few words for the chart. */
  short: string;
  servers: readonly ServerId[];
}

const keys_default = 100_000;

export const workloads: readonly Workload[] = [
  {
    id: "a",
    short: "90% get, 100 B",
    title: "90% get / 10% set, 100 B values, 200 connections, 100k keys preloaded",
    conns: 200, keys: keys_default, value_min_bytes: 100, value_max_bytes: 100,
    get_ratio: 0.9, multiget: 1, pipeline: 1, preload: true,
    servers: server_ids,
  },
  {
    id: "b",
    short: "1–10 KB, 50% get",
    title: "mcperf case: 50% get / 50% set, values uniform 1–10 KB, 100 connections, 10k keys preloaded",
    conns: 100, keys: 10_000, value_min_bytes: 1024, value_max_bytes: 10_240,
    get_ratio: 0.5, multiget: 1, pipeline: 1, preload: true,
    servers: server_ids,
  },
  {
    id: "c",
    short: "multi-get 10 × 8",
    title: "pipelined multi-get: 10 keys per get, 8 in flight per connection, 50 connections, 100 B values, 100k keys preloaded",
    conns: 50, keys: keys_default, value_min_bytes: 100, value_max_bytes: 100,
    get_ratio: 1, multiget: 10, pipeline: 8, preload: true,
    servers: server_ids,
  },
  {
    id: "d",
    short: "set-only",
    title: "set-only, 100 B values, 200 connections, 100k keys (replication peer attached to ours + peer)",
    conns: 200, keys: keys_default, value_min_bytes: 100, value_max_bytes: 100,
    get_ratio: 0, multiget: 1, pipeline: 1, preload: false,
    servers: server_ids,
  },
  {
    id: "e",
    short: "(a) over binary",
    title: "workload a in the binary protocol: 90% GETK / 10% SET, 100 B values, 200 connections, 100k keys preloaded",
    conns: 200, keys: keys_default, value_min_bytes: 100, value_max_bytes: 100,
    get_ratio: 0.9, multiget: 1, pipeline: 1, preload: true, binary: true,
    servers: server_ids,
  },
  {
    id: "f",
    short: "(a) over meta",
    title: "workload a in the meta protocol: 90% `mg <key> v k` / 10% `ms <key> 100`, 200 connections, 100k keys preloaded",
    conns: 200, keys: keys_default, value_min_bytes: 100, value_max_bytes: 100,
    get_ratio: 0.9, multiget: 1, pipeline: 1, preload: true, meta: true,
    servers: server_ids,
  },
];

/**
 * The threads part: workloads a and c with fewer connections (the same for every server), enough
 * that SO_REUSEPORT's hash gives each of 4 workers some; nothing pinned (threads need both cores).
 */
export const threads_conns = 32;

export const threads_workloads: readonly Workload[] = [
  {
    ...workloads[0]!,
    id: "threads_a",
    short: "(a) 90% get, 32 conns",
    title: `threads: workload a (90% get / 10% set, 100 B values, 100k keys preloaded) over ${threads_conns} connections`,
    conns: threads_conns,
    servers: threads_server_ids,
  },
  {
    ...workloads[2]!,
    id: "threads_c",
    short: "(c) multi-get, 32 conns",
    title: `threads: workload c (multi-get of 10 keys, 8 in flight per connection, 100 B values, 100k keys preloaded) over ${threads_conns} connections`,
    conns: threads_conns,
    servers: threads_server_ids,
  },
];

/** The RSS comparison: this many items of this size, loaded into fresh servers. */
export const rss_items = 1_000_000;
export const rss_value_bytes = 100;
export const rss_servers: readonly ServerId[] = ["mc1", "ours"];

/** Every part `--only` can name. */
export const parts = ["a", "b", "c", "d", "e", "f", "threads", "rss", "proxy", "micro"] as const;
export type Part = (typeof parts)[number];
