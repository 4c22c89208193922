// `bun run repcached [flags]`: parse the command line (memcached 1.6 + repcached 2.2.1 flags), then
// run the server. Usage errors, -h and -V exit before anything is allocated: the modules that
// open the native library (src/native/ffi.ts, through server.ts) load only after the flags pass.

import { chownSync, writeFileSync, rmSync } from "node:fs";
import { listenAddressSplit, parseArgs, type Settings } from "./config.ts";
import type { Server } from "./server/server.ts";
import type { Replicator } from "./replication/replicator.ts";
import { NativeLibraryError } from "./native/library.ts";
import { identityAssume, identityPlan, exit_code_os_error, type IdentityPlan } from "./privileges.ts";
import { selfCommand } from "./self_command.ts";
import { startServerMetrics } from "./metrics/server_endpoint.ts";
import { delete_locks_max } from "./protocol/delete_locks.ts";
import type { ReplicationTls } from "./server/tls.ts";
import { serverSettings, tlsLoad } from "./server_setup.ts";
import type { Placement } from "./server/server.ts";
import { ThreadCounters } from "./server/thread_counters.ts";
import { SharedWords } from "./server/shared_words.ts";
import { Journal } from "./replication/journal.ts";
import { WorkerPool } from "./server/threads.ts";
import type { StatLines } from "./stats.ts";

const daemon_child_env = "REPCACHED_BUN_DAEMON_CHILD";
/** The native library is missing, stale or does not load (its one-line message says the fix). */
const exit_code_native = 1;
/** A worker thread did not start (its message says why). */
const exit_code_threads = 71;
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

/** The main thread's stat groups a -t N worker's `stats` shows beside its own (replication's). */
function mainStatGroups(server: Server): Record<string, StatLines> {
  const groups: Record<string, StatLines> = { "": server.extraStats() };
  for (const [name, lines] of server.subStats) groups[name] = lines();
  return groups;
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

/** -t N: the buffers every thread shares (threads.ts); null with -t 1. */
interface Shared {
  counters: ThreadCounters;
  words: SharedWords;
  journal_buffer: SharedArrayBuffer | null;
}

function threadsShared(settings: Settings): Shared | null {
  if (settings.threads === 1) return null;
  const r = settings.replication;
  return {
    counters: new ThreadCounters(settings.threads + 1),
    words: new SharedWords(true),
    journal_buffer: r.enabled ? Journal.sharedBuffer(r.queue_bytes_max) : null,
  };
}

/** The main thread's part with -t N: the unix socket, UDP and the store's upkeep; workers take TCP. */
function mainPlacement(shared: Shared | null): Placement | undefined {
  if (shared === null) return undefined;
  return {
    index: 0, counters: shared.counters, words: shared.words, store: null,
    tcp: false, reuse_port: false, local: true, maintain: true,
  };
}

/** -t N: the workers, each with its session on the store, before anything listens. */
async function startWorkers(settings: Settings, argv: string[], server: Server, shared: Shared | null): Promise<WorkerPool | null> {
  if (shared === null) return null;
  try {
    return await WorkerPool.start(settings.threads, {
      argv, store_owner: server.ctx.store.owner, counters: shared.counters, words: shared.words,
      journal_buffer: shared.journal_buffer,
    });
  } catch (error) {
    console.error(`failed to start worker threads: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(exit_code_threads);
  }
}

function startReplication(
  ReplicatorClass: typeof Replicator,
  server: Server,
  settings: Settings,
  tls: ReplicationTls | null,
  shared: Shared | null,
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
    threads: shared === null || shared.journal_buffer === null ? null : { words: shared.words, journal_buffer: shared.journal_buffer },
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
  const shared = threadsShared(settings);
  const server_settings = serverSettings(settings, tls.client);
  shared?.words.bindVerbosity(server_settings);
  const server = new Server(server_settings, null, mainPlacement(shared));
  shared?.words.bindDetail(server.ctx.detail);
  const workers = await startWorkers(settings, argv, server, shared);
  const replicator = startReplication(Replicator, server, settings, tls.replication, shared);
  if (workers !== null) {
    workers.statGroups = () => mainStatGroups(server);
    workers.mainConns = () => server.connsStats();
    workers.mainDetail = () => server.ctx.detail.rows();
    workers.onDetailClear = () => server.ctx.detail.clear();
    server.onDetailClear = () => workers.broadcast({ kind: "detail_clear" });
    // The main thread's own clients (unix socket, UDP) see every thread's connections and prefixes too.
    server.groups_local = true;
    server.askMainStats = (id) => workers.gatherConns((conns, detail) => server.statsArrived(id, { conns }, detail));
    // A classic peer's deferred-delete locks (taken on the main thread, released on any): every thread keeps a copy.
    const locks = server.ctx.delete_locks;
    locks.mirror = {
      locked: (key, until_s) => workers.broadcast({ kind: "lock", key, until_s }),
      released: (key) => workers.broadcast({ kind: "release", key }),
    };
    workers.onLockChange = (change) => {
      if (change.kind === "lock") locks.applyLock(change.key, change.until_s);
      else locks.applyRelease(change.key);
    };
    if (replicator !== null) workers.fetchKeys = (keys, done) => replicator.fetchKeys(keys, done);
  }
  const metrics = startServerMetrics(server, settings); // before the copy: its progress is visible
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (settings.verbosity > 0) console.error(`Signal handled: ${signal}.`);
    server.stopListening();
    await workers?.stop(); // every worker closes its listeners, connections and store session
    if (replicator !== null) await replicator.stop(); // the drain can still be watched on /metrics
    metrics?.stop();
    server.stop();
    if (settings.pid_file !== null) rmSync(settings.pid_file, { force: true });
    process.exit(0);
  };
  server.onShutdown = () => void stop("shutdown");
  if (workers !== null) workers.onShutdown = () => void stop("shutdown");
  process.on("SIGTERM", () => void stop("Terminated"));
  process.on("SIGINT", () => void stop("Interrupt"));
  // Like repcached, a node that joins a peer opens its client ports once the full copy is in.
  if (replicator !== null) await replicator.start();
  if (stopping) return;
  try {
    server.start();
    await workers?.listen();
  } catch (error) {
    console.error(`failed to listen: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(71);
  }
  dropPrivileges(identity, settings.unix_socket_path);
  if (settings.pid_file !== null) writeFileSync(settings.pid_file, `${process.pid}\n`);
}

await main(process.argv.slice(2));
