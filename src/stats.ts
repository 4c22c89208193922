// `stats`, `stats items`, `stats slabs`, `stats sizes`, `stats conns` in memcached 1.6's field names
// and order, so memcstat, memcached-tool and memcached_exporter read them unchanged.
//
// Contract: pure formatting. Callers pass the numbers (store counters, server counters); each
// function returns the reply lines (without END) as [name, value] pairs. Cold path: strings are fine.

export type StatLines = Array<[string, string | number]>;

export interface ServerFigures {
  pid: number;
  uptime_s: number;
  time_s: number;
  version: string;
  rusage_user_us: number;
  rusage_system_us: number;
  connections_max: number;
  curr_connections: number;
  total_connections: number;
  rejected_connections: number;
  connection_structures: number;
  cmd_get: number;
  cmd_set: number;
  cmd_flush: number;
  cmd_touch: number;
  bytes_read: number;
  bytes_written: number;
  threads: number;
  store_too_large: number;
  store_no_memory: number;
  auth_cmds?: number;
  auth_errors?: number;
  /** Connections closed by -o idle_timeout; null when it is off (memcached then prints no line). */
  idle_kicks: number | null;
}

/** memcached prints rusage as seconds.microseconds with six digits. */
export function secondsDotMicros(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  const frac = Math.floor(micros % 1_000_000);
  return `${whole}.${String(frac).padStart(6, "0")}`;
}

const store_counters_in_order = [
  "get_hits", "get_misses", "get_expired", "get_flushed", "delete_misses", "delete_hits",
  "incr_misses", "incr_hits", "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval",
  "touch_hits", "touch_misses",
] as const;

const item_counters_in_order = [
  "bytes", "curr_items", "total_items", "slab_global_page_pool", "expired_unfetched", "evicted_unfetched",
  "evicted_active", "evictions", "reclaimed", "crawler_reclaimed", "crawler_items_checked",
  "lrutail_reflocked", "moves_to_cold", "moves_to_warm", "moves_within_lru", "direct_reclaims",
  "lru_bumps_dropped",
] as const;

function pick(store: Record<string, number>, name: string): number {
  return store[name] ?? 0;
}

export function generalStats(s: ServerFigures, store: Record<string, number>, extra: StatLines): StatLines {
  const lines: StatLines = [
    ["pid", s.pid], ["uptime", s.uptime_s], ["time", s.time_s], ["version", s.version],
    ["libevent", "none"], ["pointer_size", 64],
    ["rusage_user", secondsDotMicros(s.rusage_user_us)], ["rusage_system", secondsDotMicros(s.rusage_system_us)],
    ["max_connections", s.connections_max], ["curr_connections", s.curr_connections],
    ["total_connections", s.total_connections], ["rejected_connections", s.rejected_connections],
    ["connection_structures", s.connection_structures], ["response_obj_oom", 0], ["response_obj_count", 1],
    ["response_obj_bytes", 0], ["read_buf_count", 0], ["read_buf_bytes", 0], ["read_buf_bytes_free", 0],
    ["read_buf_oom", 0], ["reserved_fds", 20],
    ["cmd_get", s.cmd_get], ["cmd_set", s.cmd_set], ["cmd_flush", s.cmd_flush], ["cmd_touch", s.cmd_touch],
    ["cmd_meta", 0],
  ];
  for (const name of store_counters_in_order) lines.push([name, pick(store, name)]);
  lines.push(
    ["store_too_large", s.store_too_large], ["store_no_memory", s.store_no_memory],
    ["auth_cmds", s.auth_cmds ?? 0], ["auth_errors", s.auth_errors ?? 0],
  );
  if (s.idle_kicks !== null) lines.push(["idle_kicks", s.idle_kicks]);
  lines.push(
    ["bytes_read", s.bytes_read], ["bytes_written", s.bytes_written],
    ["limit_maxbytes", pick(store, "limit_maxbytes")], ["accepting_conns", 1], ["listen_disabled_num", 0],
    ["time_in_listen_disabled_us", 0], ["threads", s.threads], ["conn_yields", 0],
    ["hash_power_level", pick(store, "hash_power_level")], ["hash_bytes", pick(store, "hash_bytes")],
    ["hash_is_expanding", 0], ["slab_reassign_rescues", 0], ["slab_reassign_chunk_rescues", 0],
    ["slab_reassign_evictions_nomem", 0], ["slab_reassign_inline_reclaim", 0], ["slab_reassign_busy_items", 0],
    ["slab_reassign_busy_deletes", 0], ["slab_reassign_running", 0], ["slabs_moved", 0],
    ["lru_crawler_running", 0], ["lru_crawler_starts", 0], ["lru_maintainer_juggles", 0], ["malloc_fails", 0],
    ["log_worker_dropped", 0], ["log_worker_written", 0], ["log_watcher_skipped", 0], ["log_watcher_sent", 0],
    ["log_watchers", 0], ["unexpected_napi_ids", 0], ["round_robin_fallback", 0],
  );
  for (const name of item_counters_in_order) lines.push([name, pick(store, name)]);
  for (const line of extra) lines.push(line);
  return lines;
}

const item_class_fields = [
  "number", "number_hot", "number_warm", "number_cold", "age_hot", "age_warm", "age", "mem_requested",
  "evicted", "evicted_nonzero", "evicted_time", "outofmemory", "tailrepairs", "reclaimed",
  "expired_unfetched", "evicted_unfetched", "evicted_active", "crawler_reclaimed", "crawler_items_checked",
  "lrutail_reflocked", "moves_to_cold", "moves_to_warm", "moves_within_lru", "direct_reclaims",
  "hits_to_hot", "hits_to_warm", "hits_to_cold", "hits_to_temp",
] as const;

/** Items of one class all sit in our single LRU; memcached's hot/warm/cold split is reported as cold. */
function itemClassValue(cls: Record<string, number>, name: string): number {
  if (name === "number_cold") return pick(cls, "number");
  if (name === "hits_to_cold") return pick(cls, "get_hits");
  return pick(cls, name);
}

export interface ClassFigures {
  id: number;
  stats: Record<string, number>;
}

export function itemsStats(classes: ClassFigures[]): StatLines {
  const lines: StatLines = [];
  for (const cls of classes) {
    if (pick(cls.stats, "number") === 0 && pick(cls.stats, "evicted") === 0) continue;
    for (const name of item_class_fields) lines.push([`items:${cls.id}:${name}`, itemClassValue(cls.stats, name)]);
  }
  return lines;
}

const slab_class_fields = [
  "chunk_size", "chunks_per_page", "total_pages", "total_chunks", "used_chunks", "free_chunks",
  "free_chunks_end", "get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits",
  "cas_badval", "touch_hits",
] as const;

export function slabsStats(classes: ClassFigures[], total_malloced: number): StatLines {
  const lines: StatLines = [];
  let active = 0;
  for (const cls of classes) {
    if (pick(cls.stats, "total_pages") === 0) continue;
    active++;
    for (const name of slab_class_fields) lines.push([`${cls.id}:${name}`, pick(cls.stats, name)]);
  }
  lines.push(["active_slabs", active], ["total_malloced", total_malloced]);
  return lines;
}

export function formatStats(lines: StatLines): string {
  let text = "";
  for (const [name, value] of lines) text += `STAT ${name} ${value}\r\n`;
  return text + "END\r\n";
}

/** Whether `stats <args>` (text: the words after "stats", one space apart; binary: the key) shows every thread's state. */
export function statsGathersThreads(args: string): boolean {
  return args === "conns" || args === "detail dump";
}
