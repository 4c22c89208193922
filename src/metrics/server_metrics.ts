// The server's /metrics page: memcached_exporter's metric names for the cache, repcached_* for
// replication. One source of truth: every value is read from the lines `stats` and
// `stats replication` print (src/stats.ts, replicator.detailLines), taken when scraped.
//
// Contract: `serverMetricsText(general, replication)` is pure: `general` is `stats`' lines,
// `replication` is `stats replication`'s or null (replication off). A line that is missing or
// not a number is left out of the page (never a wrong 0). Returns the exposition text.

import type { StatLines } from "../stats.ts";
import { Exposition, type MetricType } from "./exposition.ts";

type Figures = Map<string, string | number>;
/** [stat name, metric name, type, help]: one sample without labels. */
type Plain = readonly [string, string, MetricType, string];

const cache_plain: readonly Plain[] = [
  ["uptime", "memcached_uptime_seconds", "gauge", "Number of seconds since the server started."],
  ["time", "memcached_time_seconds", "gauge", "Current UNIX time according to the server."],
  ["bytes_read", "memcached_read_bytes_total", "counter", "Total number of bytes read by this server from network."],
  ["bytes_written", "memcached_written_bytes_total", "counter", "Total number of bytes sent by this server to network."],
  ["curr_connections", "memcached_current_connections", "gauge", "Current number of open connections."],
  ["max_connections", "memcached_max_connections", "gauge", "Maximum number of clients allowed."],
  ["total_connections", "memcached_connections_total", "counter", "Total number of connections opened since the server started running."],
  ["rejected_connections", "memcached_connections_rejected_total", "counter", "Total number of connections rejected at the -c limit."],
  ["bytes", "memcached_current_bytes", "gauge", "Current number of bytes used to store items."],
  ["limit_maxbytes", "memcached_limit_bytes", "gauge", "Number of bytes this server is allowed to use for storage."],
  ["curr_items", "memcached_current_items", "gauge", "Current number of items stored by this instance."],
  ["total_items", "memcached_items_total", "counter", "Total number of items stored during the life of this instance."],
  ["evictions", "memcached_items_evicted_total", "counter", "Total number of valid items removed from cache to free memory for new items."],
  ["reclaimed", "memcached_items_reclaimed_total", "counter", "Total number of times an entry was stored using memory from an expired entry."],
  ["store_too_large", "memcached_item_too_large_total", "counter", "The number of times an item exceeded the max-item-size when being stored."],
  ["store_no_memory", "memcached_item_no_memory_total", "counter", "The number of times an item could not be stored due to no more memory."],
  ["accepting_conns", "memcached_accepting_connections", "gauge", "The server is currently accepting new connections."],
];

/** memcached_exporter's commands_total: <op>_hits / <op>_misses as status hit / miss. */
const hit_miss_commands = ["get", "delete", "incr", "decr", "cas", "touch"] as const;

export const replication_states = ["down", "listening", "connecting", "handshake", "copying", "synced"] as const;

const replication_plain: readonly Plain[] = [
  ["queue_items", "repcached_queue_items", "gauge", "Journal entries waiting to be sent to the peer."],
  ["queue_items_max", "repcached_queue_items_max", "gauge", "Journal bound in entries (-q)."],
  ["queue_bytes", "repcached_queue_bytes", "gauge", "Journal bytes waiting to be sent to the peer."],
  ["queue_bytes_max", "repcached_queue_bytes_max", "gauge", "Journal bound in bytes (--replication-queue-bytes)."],
  ["send_pending_bytes", "repcached_send_pending_bytes", "gauge", "Encoded bytes the peer's socket has not taken yet."],
  ["sent_bytes", "repcached_sent_bytes_total", "counter", "Bytes the peer's socket has taken."],
  ["sent_items", "repcached_sent_items_total", "counter", "Messages (items, deletes, flushes) sent to the peer."],
  ["received_items", "repcached_received_items_total", "counter", "Messages applied from the peer."],
  ["pairings", "repcached_pairings_total", "counter", "Handshakes completed with a peer."],
  ["link_drops", "repcached_link_drops_total", "counter", "Replication links dropped after carrying data."],
  ["queue_overflows", "repcached_queue_overflows_total", "counter", "Journal overflows (each drops the link)."],
  ["full_copies_sent", "repcached_full_copies_sent_total", "counter", "Full copies (marugoto) sent to the peer."],
  ["full_copies_received", "repcached_full_copies_received_total", "counter", "Full copies (marugoto) received from the peer."],
  ["last_full_copy_items", "repcached_last_full_copy_items", "gauge", "Items in the last full copy sent."],
  ["copy_items_sent", "repcached_copy_items_sent", "gauge", "Items of the running (else the last) full copy sent so far."],
  ["copy_bytes_sent", "repcached_copy_bytes_sent", "gauge", "Bytes of the running (else the last) full copy sent so far."],
  ["copy_items_planned", "repcached_copy_items_planned", "gauge", "Items (and tombstones) the store held when our running (else last) copy began."],
  ["copy_items_received", "repcached_copy_items_received", "gauge", "Items of the peer's running (else last) full copy received so far."],
  ["backpressure", "repcached_backpressure", "gauge", "1 while clients that write are held by a full journal."],
  ["backpressure_pauses", "repcached_backpressure_pauses_total", "counter", "Times the write gate shut."],
  ["backpressure_stalls", "repcached_backpressure_stalls_total", "counter", "Times a stalled peer opened the write gate."],
  ["auth_failures", "repcached_auth_failures_total", "counter", "Peers that failed the shared-secret proof."],
  ["tls_failures", "repcached_tls_failures_total", "counter", "Peers refused by replication TLS."],
  ["drain_timeouts", "repcached_drain_timeouts_total", "counter", "Graceful stops that could not send everything."],
  ["tombstones", "repcached_tombstones", "gauge", "Deleted keys kept as versions (tombstones) in the store."],
  ["tombstones_dropped", "repcached_tombstones_dropped_total", "counter", "Tombstones evicted for memory."],
  ["tombstones_sent", "repcached_tombstones_sent_total", "counter", "Tombstones sent to the peer."],
  ["tombstones_received", "repcached_tombstones_received_total", "counter", "Tombstones received from the peer."],
  ["tombstones_applied", "repcached_tombstones_applied_total", "counter", "Versions the peer's tombstones and flushes removed here."],
];

export function serverMetricsText(general: StatLines, replication: StatLines | null): string {
  const out = new Exposition();
  const stats = new Map(general);
  out.one("memcached_up", "gauge", "Could the memcached server be reached.", 1);
  out.one("memcached_version", "gauge", "The version of this memcached server.", 1, { version: String(stats.get("version") ?? "") });
  cpuSeconds(out, stats);
  plainFamilies(out, stats, cache_plain);
  commands(out, stats);
  if (replication !== null) replicationFamilies(out, new Map(replication));
  return out.text();
}

function numberOf(stats: Figures, name: string): number | null {
  const raw = stats.get(name);
  if (raw === undefined || raw === "") return null;
  const value = Number(raw);
  return Number.isFinite(value) ? value : null;
}

function plainFamilies(out: Exposition, stats: Figures, table: readonly Plain[]): void {
  for (const [stat, name, type, help] of table) {
    const value = numberOf(stats, stat);
    if (value !== null) out.one(name, type, help, value);
  }
}

/** rusage_user / rusage_system are printed as seconds.microseconds. */
function cpuSeconds(out: Exposition, stats: Figures): void {
  const user = numberOf(stats, "rusage_user");
  const system = numberOf(stats, "rusage_system");
  if (user !== null) out.one("memcached_process_user_cpu_seconds_total", "counter", "Accumulated user time for this process.", user);
  if (system !== null) out.one("memcached_process_system_cpu_seconds_total", "counter", "Accumulated system time for this process.", system);
}

/** As memcached_exporter: set = cmd_set less the cas commands (memcached counts those in cmd_set too). */
function commands(out: Exposition, stats: Figures): void {
  out.family("memcached_commands_total", "counter", "Total number of all requests broken down by command (get, set, etc.) and status.");
  for (const op of hit_miss_commands) {
    out.sample(numberOf(stats, `${op}_hits`) ?? 0, { command: op, status: "hit" });
    out.sample(numberOf(stats, `${op}_misses`) ?? 0, { command: op, status: "miss" });
  }
  out.sample(numberOf(stats, "cas_badval") ?? 0, { command: "cas", status: "badval" });
  out.sample(numberOf(stats, "cmd_flush") ?? 0, { command: "flush", status: "hit" });
  const cas = ["cas_hits", "cas_misses", "cas_badval"].reduce((sum, name) => sum + (numberOf(stats, name) ?? 0), 0);
  out.sample(Math.max(0, (numberOf(stats, "cmd_set") ?? 0) - cas), { command: "set", status: "hit" });
}

function replicationFamilies(out: Exposition, stats: Figures): void {
  const state = String(stats.get("state") ?? "");
  out.family("repcached_state", "gauge", "Replication link state: 1 for the current one.");
  for (const name of replication_states) out.sample(name === state ? 1 : 0, { state: name });
  out.one("repcached_peer_info", "gauge", "The replication peer: configured address, connected address, kind and role.", 1, {
    peer: String(stats.get("peer") ?? ""), peer_connected: String(stats.get("peer_connected") ?? ""),
    peer_kind: String(stats.get("peer_kind") ?? ""), role: String(stats.get("role") ?? ""),
  });
  plainFamilies(out, stats, replication_plain);
  seconds(out, stats, "lag_ms", "repcached_lag_seconds",
    "0 while nothing waits for the peer; else the time since the peer last took bytes (or since data started waiting).");
  seconds(out, stats, "last_full_copy_ms", "repcached_last_full_copy_seconds", "Duration of the last full copy sent.");
  const percent = numberOf(stats, "copy_percent");
  if (percent !== null && percent >= 0) {
    out.one("repcached_copy_ratio", "gauge", "Share (0..1) of the running (else last) full copy sent, by the item count at its start.", percent / 100);
  }
}

function seconds(out: Exposition, stats: Figures, stat: string, name: string, help: string): void {
  const ms = numberOf(stats, stat);
  if (ms !== null) out.one(name, "gauge", help, ms / 1000);
}
