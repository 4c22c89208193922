// The servers of the load comparison: their command lines (pure) and their lives (spawned on
// 127.0.0.1, each stopped by PID).
//
// Contract: `startServer` never throws; a server that cannot start (missing binary, exits, its port
// never opens, its replication peer never pairs) comes back as { ok: false, error } with the reason
// and the commands tried, and every process it spawned already stopped. Waits are bounded.
import { Socket, createServer, type Server } from "node:net";
import { join } from "node:path";
import { project_root } from "../../src/native/build.ts";
import { track } from "./children.ts";
import * as probe from "./probe.ts";
import type { ServerId } from "./workloads.ts";

export interface ServerEnv {
  /** Core every server is pinned to with `taskset -c`, or null for no pinning. */
  pin_cpu: number | null;
  memcached_path: string;
  bun_path: string;
  /** memcached refuses to run as root without -u. */
  as_root: boolean;
  memory_mb: number;
  connections_max: number;
}

export const server_start_timeout_ms = 30_000;
export const peer_pair_timeout_ms = 15_000;
export const peer_replicate_timeout_ms = 5_000;
const stop_grace_ms = 3_000;
const stop_kill_wait_ms = 2_000;
const output_tail_chars = 800;
const port_poll_ms = 50;

function pinned(env: ServerEnv, argv: string[]): string[] {
  return env.pin_cpu === null ? argv : ["taskset", "-c", String(env.pin_cpu), ...argv];
}

export function memcachedArgv(env: ServerEnv, port: number, threads: number): string[] {
  const argv = [
    env.memcached_path, "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", String(threads),
    "-m", String(env.memory_mb), "-c", String(env.connections_max),
  ];
  if (env.as_root) argv.push("-u", "root");
  return pinned(env, argv);
}

/** Replication flags of a node: a listener (-X port), or a node that connects to one (-x, -X). */
export type Replication = { listen_port: number } | { peer_host: string; peer_port: number };

/** Beyond the defaults: worker threads (-t, left out at 1), a checkout other than this one. */
export interface OursExtra {
  threads?: number;
  /** The checkout whose src/main.ts runs (default: this one). */
  root?: string;
}

export function oursArgv(env: ServerEnv, port: number, replication: Replication | null, pin = true, extra: OursExtra = {}): string[] {
  const argv = [
    env.bun_path, join(extra.root ?? project_root, "src", "main.ts"), "-l", "127.0.0.1", "-p", String(port),
    "-m", String(env.memory_mb), "-c", String(env.connections_max),
  ];
  if ((extra.threads ?? 1) !== 1) argv.push("-t", String(extra.threads));
  if (replication !== null && "listen_port" in replication) argv.push("-X", String(replication.listen_port));
  if (replication !== null && "peer_host" in replication) {
    argv.push("-x", replication.peer_host, "-X", String(replication.peer_port));
  }
  return pin ? pinned(env, argv) : argv;
}

/** A spawned process, its output's tail kept for error messages. Never throws: a spawn that fails reads as exited. */
export class Proc {
  readonly argv: string[];
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | null = null;
  private readonly spawn_error: string | null = null;
  private tail = "";

  constructor(argv: string[]) {
    this.argv = argv;
    try {
      this.proc = track(Bun.spawn(argv, { cwd: project_root, stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
    } catch (error) {
      this.spawn_error = `could not run ${argv[0]}: ${error instanceof Error ? error.message : String(error)}`;
      return;
    }
    void this.pump(this.proc.stdout);
    void this.pump(this.proc.stderr);
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.tail = (this.tail + decoder.decode(chunk)).slice(-output_tail_chars);
  }

  /** The process id, or null if it never started. */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** null while running, else how it ended and what it printed last. */
  exitNote(): string | null {
    if (this.proc === null) return this.spawn_error;
    if (this.proc.exitCode === null && this.proc.signalCode === null) return null;
    const how = this.proc.signalCode !== null ? `killed by ${this.proc.signalCode}` : `exited with code ${this.proc.exitCode}`;
    const said = this.tail.trim();
    return said ? `${how}: ${said}` : how;
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone (bounded). */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === null || this.exitNote() !== null) return;
    proc.kill("SIGTERM");
    const gone = await Promise.race([proc.exited.then(() => true), Bun.sleep(stop_grace_ms).then(() => false)]);
    if (gone) return;
    proc.kill("SIGKILL");
    await Promise.race([proc.exited, Bun.sleep(stop_kill_wait_ms)]);
  }
}

/** n distinct TCP ports that were free on 127.0.0.1 a moment ago (all held open until all are found). */
export async function freePorts(n: number): Promise<number[]> {
  const listeners = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
      })),
  );
  const ports = listeners.map((server) => {
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  });
  await Promise.all(listeners.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** True when something accepts a TCP connection on 127.0.0.1:port (within 1 s). */
export async function portOpen(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.connect(port, "127.0.0.1");
  });
}

/** Waits until port accepts a connection; null on success, else why not (the process died, or time ran out). */
async function waitForPort(port: number, proc: Proc, timeout_ms: number): Promise<string | null> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    const died = proc.exitNote();
    if (died !== null) return died;
    if (await portOpen(port)) return null;
    await Bun.sleep(port_poll_ms);
  }
  return `port ${port} did not open within ${timeout_ms / 1000} s`;
}

export interface RunningServer {
  /** A ServerId, or another name a script gave it (startCommand). */
  id: string;
  port: number;
  /** The loaded process: CPU and RSS are read from it. */
  main: Proc;
  /** The replication peer, for ours + peer. */
  peer: Proc | null;
  commands: string[];
  /** null while it (and its peer) run, else why not. */
  deadNote(): string | null;
  stop(): Promise<void>;
}

export type StartResult = { ok: true; server: RunningServer } | { ok: false; error: string; commands: string[] };

export const commandText = (argv: readonly string[]): string => argv.join(" ");

function running(id: string, port: number, main: Proc, peer: Proc | null): RunningServer {
  const commands = [commandText(main.argv), ...(peer === null ? [] : [commandText(peer.argv)])];
  return {
    id, port, main, peer, commands,
    deadNote: () => {
      const main_note = main.exitNote();
      if (main_note !== null) return main_note;
      const peer_note = peer?.exitNote() ?? null;
      return peer_note === null ? null : `peer ${peer_note}`;
    },
    stop: async () => {
      await Promise.all([main.stop(), peer?.stop() ?? Promise.resolve()]);
    },
  };
}

/** One process with argv that listens on port (which argv must name): up when the port opens. */
export async function startCommand(id: string, argv: string[], port: number): Promise<StartResult> {
  const proc = new Proc(argv);
  const failed = await waitForPort(port, proc, server_start_timeout_ms);
  if (failed === null) return { ok: true, server: running(id, port, proc, null) };
  await proc.stop();
  return { ok: false, error: failed, commands: [commandText(argv)] };
}

/** Sets a key on A and waits until B serves it: null when replication works, else why not. */
async function checkReplication(port_a: number, port_b: number): Promise<string | null> {
  const key = `bench:peer_check:${process.pid}:${Date.now()}`;
  const value = String(Math.floor(Math.random() * 1e9));
  try {
    const stored = await probe.set(port_a, key, value);
    if (stored !== "STORED") return `set on A replied ${JSON.stringify(stored)}`;
    const deadline = Date.now() + peer_replicate_timeout_ms;
    while (Date.now() < deadline) {
      if ((await probe.get(port_b, key)) === value) return null;
      await Bun.sleep(100);
    }
    return `a set on A did not reach B within ${peer_replicate_timeout_ms / 1000} s`;
  } catch (error) {
    return `replication check: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Ours with a live repcached peer: node A (loaded, pinned) listens for replication on R; node B
 * (not pinned: it stands for another machine) connects to it. Up only if B's port opens and a set
 * on A shows up on B.
 */
async function startPair(env: ServerEnv): Promise<StartResult> {
  const [port_a, port_b, replication_port] = (await freePorts(3)) as [number, number, number];
  const argv_a = oursArgv(env, port_a, { listen_port: replication_port });
  const argv_b = oursArgv(env, port_b, { peer_host: "127.0.0.1", peer_port: replication_port }, false);
  const commands = [commandText(argv_a), commandText(argv_b)];
  const a = new Proc(argv_a);
  const a_failed = await waitForPort(port_a, a, server_start_timeout_ms);
  if (a_failed !== null) {
    await a.stop();
    return { ok: false, error: `node A: ${a_failed}`, commands };
  }
  const b = new Proc(argv_b);
  const b_failed = await waitForPort(port_b, b, peer_pair_timeout_ms);
  const not_replicating = b_failed === null ? await checkReplication(port_a, port_b) : null;
  const why = b_failed !== null ? `peer B: ${b_failed}` : not_replicating;
  if (why !== null) {
    await Promise.all([a.stop(), b.stop()]);
    return { ok: false, error: `no live replication peer (${why})`, commands };
  }
  return { ok: true, server: running("ours_peer", port_a, a, b) };
}

export async function startServer(id: ServerId, env: ServerEnv): Promise<StartResult> {
  try {
    return await startServerOf(id, env);
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error), commands: [] };
  }
}

async function startServerOf(id: ServerId, env: ServerEnv): Promise<StartResult> {
  switch (id) {
    case "mc1":
    case "mc2":
    case "mc4": {
      const port = await freePort();
      return await startCommand(id, memcachedArgv(env, port, Number(id.slice(2))), port);
    }
    case "ours":
    case "ours_t2":
    case "ours_t4": {
      const port = await freePort();
      const threads = id === "ours" ? 1 : Number(id.slice("ours_t".length));
      return await startCommand(id, oursArgv(env, port, null, true, { threads }), port);
    }
    case "ours_peer":
      return await startPair(env);
  }
}
