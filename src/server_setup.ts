// The Server's settings from the parsed command line, and the files they name (TLS certificates,
// password files), read once. main.ts calls it before anything is allocated; a -t N worker
// (server/worker.ts) calls it again from the same command line, so every thread runs the same
// settings without sending functions or class instances between threads.

import { PasswordFile } from "./server/auth.ts";
import type { Settings } from "./config.ts";
import { settingsStats, version_string } from "./config.ts";
import type { ServerSettings } from "./server/server.ts";
import { TlsLoadError, tlsClientOptions, tlsReplicationOptions, type ClientTls, type ReplicationTls } from "./server/tls.ts";

/** Evicted keys kept between two replication pump turns (a pump turn drains them all). */
const eviction_log_keys_max = 65_536;

export interface TlsLoaded {
  client: ClientTls | null;
  replication: ReplicationTls | null;
}

/** Reads the TLS files once, before anything is allocated; exits 64 with memcached's message. */
export function tlsLoad(s: Settings): TlsLoaded {
  try {
    return {
      client: s.tls.enabled ? tlsClientOptions(s.tls) : null,
      replication: s.replication.tls.cert_path !== null ? tlsReplicationOptions(s.replication.tls) : null,
    };
  } catch (error) {
    if (!(error instanceof TlsLoadError)) throw error;
    console.error(error.message);
    process.exit(64);
  }
}

/** -S / -Y: reads the password files once at start; exits 1 when one cannot be read (memcached: -Y). */
function authLoad(s: Settings): { sasl: PasswordFile | null; text_auth: PasswordFile | null } {
  try {
    return {
      sasl: s.sasl_enabled && s.sasl_pwdb_path !== null ? PasswordFile.load(s.sasl_pwdb_path) : null,
      text_auth: s.auth_file_path !== null ? PasswordFile.load(s.auth_file_path) : null,
    };
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}

export function serverSettings(s: Settings, tls: ClientTls | null): ServerSettings {
  const auth = authLoad(s);
  return {
    tls,
    binding_protocol: s.binding_protocol,
    sasl: auth.sasl,
    text_auth: auth.text_auth,
    tcp_port: s.tcp_port,
    udp_port: s.udp_port,
    requests_per_event_max: s.requests_per_event_max,
    listen_addresses: s.listen_addresses,
    unix_socket_path: s.unix_socket_path,
    unix_socket_mask: s.unix_socket_mask,
    backlog: s.backlog,
    connections_max: s.connections_max,
    memory_bytes_max: s.memory_bytes_max,
    item_size_max: s.item_size_max,
    chunk_size_min: s.chunk_size_min,
    growth_factor: s.growth_factor,
    evictions_disabled: s.evictions_disabled,
    cas_enabled: s.cas_enabled,
    flush_enabled: s.flush_enabled,
    idle_timeout_s: s.extras.idle_timeout_s,
    verbosity: s.verbosity,
    threads: s.threads,
    shutdown_enabled: s.shutdown_enabled,
    version: version_string,
    stats_detail_enabled: s.stats_detail_enabled,
    stats_prefix_delimiter: s.stats_prefix_delimiter,
    settingsStats: (live) => settingsStats(s, live),
    sweep_items_per_tick: 10_000,
    eviction_log_max: s.replication.enabled && s.replication.propagate_evictions ? eviction_log_keys_max : 0,
  };
}

