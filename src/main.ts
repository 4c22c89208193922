// `bun run repcached [flags]`: parse the command line (memcached 1.6 + repcached 2.2.1 flags), then
// run the server. Usage errors, -h and -V exit before anything is allocated: the modules that
// open the native library (src/native/ffi.ts, through server.ts) load only after the flags pass.

import { chownSync, writeFileSync, rmSync } from "node:fs";
import { PasswordFile } from "./server/auth.ts";
import { listenAddressSplit, parseArgs, settingsStats, version_string, type Settings } from "./config.ts";
import type { Server, ServerSettings } from "./server/server.ts";
import type { Replicator } from "./replication/replicator.ts";
import { NativeLibraryError } from "./native/library.ts";
import { identityAssume, identityPlan, exit_code_os_error, type IdentityPlan } from "./privileges.ts";
import { selfCommand } from "./self_command.ts";
import { startServerMetrics } from "./metrics/server_endpoint.ts";
import { delete_locks_max } from "./protocol/delete_locks.ts";
import { TlsLoadError, tlsClientOptions, tlsReplicationOptions, type ClientTls, type ReplicationTls } from "./server/tls.ts";

const daemon_child_env = "REPCACHED_BUN_DAEMON_CHILD";
/** The native library is missing, stale or does not load (its one-line message says the fix). */
const exit_code_native = 1;
/** Evicted keys kept between two replication pump turns (a pump turn drains them all). */
const eviction_log_keys_max = 65_536;
/** Test-only: skews the replication clock (wall-clock cas) by this many ms. Not a flag: no user sets it. */
const clock_offset_env = "REPCACHED_CLOCK_OFFSET_MS";
/** The largest skew the variable may inject (a day). */
const clock_offset_ms_max = 86_400_000;

/** REPCACHED_CLOCK_OFFSET_MS, checked; exits 64 naming the variable when it is not a whole number in range. */
function clockOffsetMs(): number {
  const text = process.env[clock_offset_env];
  if (text === undefined || text === "") return 0;
  const value = Number(text);
  if (!Number.isInteger(value) || Math.abs(value) > clock_offset_ms_max) {
    console.error(`${clock_offset_env} must be a whole number of ms within ±${clock_offset_ms_max}: ${text}`);
    process.exit(64);
  }
  console.error(`warning: ${clock_offset_env}=${value}: the replication clock is skewed (testing only)`);
  return value;
}

interface TlsLoaded {
  client: ClientTls | null;
  replication: ReplicationTls | null;
}

/** Reads the TLS files once, before anything is allocated; exits 64 with memcached's message. */
function tlsLoad(s: Settings): TlsLoaded {
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

function serverSettings(s: Settings, tls: ClientTls | null): ServerSettings {
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

/** -d: start a detached copy of ourselves and return (memcached forks; Bun cannot). */
function daemonize(): never {
  const child = Bun.spawn(selfCommand(), {
    env: { ...process.env, [daemon_child_env]: "1" },
    stdio: ["ignore", "ignore", "ignore"],
    detached: true,
  });
  child.unref();
  process.exit(0);
}

/** -u: the user is looked up before anything is allocated (src/privileges.ts); exits as memcached. */
function identityCheck(user: string | null): IdentityPlan {
  const plan = identityPlan(user, process.getuid?.() ?? null);
  if (plan.kind === "error") {
    console.error(plan.message);
    process.exit(plan.exit_code);
  }
  if (plan.kind === "stay" && plan.warning !== null) console.error(plan.warning);
  return plan;
}

/**
 * -u, once every socket is bound. The unix socket (-s) is handed to the user first: memcached
 * creates it after the switch, so the user owns it.
 */
function dropPrivileges(plan: IdentityPlan, unix_socket_path: string | null): void {
  if (plan.kind !== "switch") return;
  if (unix_socket_path !== null) chownSync(unix_socket_path, plan.identity.uid, plan.identity.gid);
  const failure = identityAssume(plan.identity);
  if (failure === null) return;
  console.error(failure);
  process.exit(exit_code_os_error);
}

/** The modules that open the native library; exits with its one-line message when it cannot. */
async function serverModules(): Promise<{ Server: typeof Server; Replicator: typeof Replicator }> {
  try {
    const [server, replication] = await Promise.all([import("./server/server.ts"), import("./replication/replicator.ts")]);
    return { Server: server.Server, Replicator: replication.Replicator };
  } catch (error) {
    if (!(error instanceof NativeLibraryError)) throw error;
    console.error(error.message);
    process.exit(exit_code_native);
  }
}

function startReplication(
  ReplicatorClass: typeof Replicator,
  server: Server,
  settings: Settings,
  tls: ReplicationTls | null,
): Replicator | null {
  const r = settings.replication;
  if (!r.enabled) return null;
  const replicator = new ReplicatorClass(server, {
    peer_host: r.peer_host,
    listen_port: r.listen_port,
    connect_port: r.connect_port,
    listen_hosts: settings.listen_addresses.map((entry) => listenAddressSplit(entry)?.host ?? entry),
    queue_items_max: r.queue_items_max,
    queue_bytes_max: r.queue_bytes_max,
    secret: r.secret,
    propagate_evictions: r.propagate_evictions,
    serve_during_copy: r.serve_during_copy,
    tls,
    clock_offset_ms: clockOffsetMs(),
    verbosity: () => server.settings.verbosity,
  });
  server.ctx.mutations = replicator;
  server.ctx.write_gate = replicator.gate;
  if (r.serve_during_copy) server.ctx.read_through = replicator;
  server.extraStats = () => replicator.statsLines();
  const locks = server.ctx.delete_locks; // a classic peer's deferred deletes (protocol/delete_locks.ts)
  server.subStats.set("replication", () => [
    ...replicator.detailLines(), ["delete_locks", locks.size], ["delete_locks_max", delete_locks_max],
    ["delete_locks_taken", locks.taken], ["delete_locks_dropped", locks.dropped],
  ]);
  return replicator;
}

async function main(argv: string[]): Promise<void> {
  const parsed = parseArgs(argv);
  if (parsed.kind === "error") {
    console.error(parsed.message);
    process.exit(parsed.exit_code);
  }
  if (parsed.kind !== "run") {
    console.log(parsed.text);
    process.exit(0);
  }
  const settings = parsed.settings;
  // Always printed (not only with -v): a flag accepted without effect must not pass unnoticed.
  // `stats settings` repeats them (warning_<n>).
  for (const warning of settings.warnings) console.error(`WARNING: ${warning}`);
  const identity = identityCheck(settings.user);
  const tls = tlsLoad(settings);
  if (settings.daemonize && !process.env[daemon_child_env]) daemonize();
  const { Server, Replicator } = await serverModules();
  const server = new Server(serverSettings(settings, tls.client));
  const replicator = startReplication(Replicator, server, settings, tls.replication);
  const metrics = startServerMetrics(server, settings); // before the copy: its progress is visible
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (settings.verbosity > 0) console.error(`Signal handled: ${signal}.`);
    server.stopListening();
    if (replicator !== null) await replicator.stop(); // the drain can still be watched on /metrics
    metrics?.stop();
    server.stop();
    if (settings.pid_file !== null) rmSync(settings.pid_file, { force: true });
    process.exit(0);
  };
  server.onShutdown = () => void stop("shutdown");
  process.on("SIGTERM", () => void stop("Terminated"));
  process.on("SIGINT", () => void stop("Interrupt"));
  // Like repcached, a node that joins a peer opens its client ports once the full copy is in.
  if (replicator !== null) await replicator.start();
  if (stopping) return;
  try {
    server.start();
  } catch (error) {
    console.error(`failed to listen: ${String(error)}`);
    process.exit(71);
  }
  dropPrivileges(identity, settings.unix_socket_path);
  if (settings.pid_file !== null) writeFileSync(settings.pid_file, `${process.pid}\n`);
}

await main(process.argv.slice(2));
