// Test helpers: free ports, spawned servers (ours, the classic repcached emulator, Debian's memcached or
// yrmcds) on 127.0.0.1, raw sockets.
// Every wait is bounded (`wait_ms_max`), every process is stopped by PID in `stop()`.
import { createServer, Socket } from "node:net";
import { join } from "node:path";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

export const project_root = join(import.meta.dir, "..", "..");
export const bun_path = process.execPath;
const wait_ms_max = 15_000;

/** Ports this test process handed out lately: the kernel may offer a just-closed port again. */
const recent_ports: number[] = [];
const recent_ports_max = 256;
/** Tries before giving up on a port not handed out lately. */
const free_port_tries_max = 64;

/**
 * A TCP port that was free on 127.0.0.1 a moment ago and that this process has not handed out
 * among its last `recent_ports_max` (two calls in a row got the same port once: a -X port equal
 * to the client port).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < free_port_tries_max; attempt++) {
    const port = await ephemeralPort();
    if (recent_ports.includes(port)) continue;
    recent_ports.push(port);
    if (recent_ports.length > recent_ports_max) recent_ports.shift();
    return port;
  }
  throw new Error(`no fresh free port in ${free_port_tries_max} tries`);
}

async function ephemeralPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether every thread of `pid` is stopped (state T or t in /proc). */
export function allThreadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => / [Tt] /.test(readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1").replace(/^.*\)/, ")")));
}

/**
 * SIGSTOP, then waits (bounded) until every thread has stopped: kill(SIGSTOP) returns before a
 * thread running on another core has stopped, and such a thread may still answer a request.
 */
export async function pauseProcess(pid: number, ms = wait_ms_max): Promise<void> {
  process.kill(pid, "SIGSTOP");
  const deadline = Date.now() + ms;
  while (!allThreadsStopped(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${ms} ms`);
    await Bun.sleep(1);
  }
}

export async function waitForPort(port: number, ms = wait_ms_max, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => { socket.destroy(); resolve(true); });
      socket.once("error", () => { socket.destroy(); resolve(false); });
      socket.connect(port, host);
    });
    if (ok) return;
    await Bun.sleep(25);
  }
  throw new Error(`port ${port} did not open within ${ms} ms`);
}

export interface Spawned {
  port: number;
  /** The address its client port listens on (127.0.0.1 unless started on another loopback address). */
  host: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process has printed on stdout+stderr so far. */
  output(): string;
  stop(signal?: NodeJS.Signals | number): Promise<number | null>;
}

function collect(proc: Bun.Subprocess<"ignore", "pipe", "pipe">): () => string {
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return () => text;
}

async function spawnOn(cmd: string[], port: number, wait = true, env?: Record<string, string>, host = "127.0.0.1"): Promise<Spawned> {
  const proc = Bun.spawn(cmd, {
    stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: project_root,
    env: env === undefined ? undefined : { ...process.env, ...env },
  });
  const output = collect(proc);
  const stop = async (signal: NodeJS.Signals | number = "SIGTERM") => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    const code = await proc.exited;
    clearTimeout(timer);
    return code;
  };
  if (wait) {
    try {
      await waitForPort(port, wait_ms_max, host);
    } catch (error) {
      await stop("SIGKILL");
      throw new Error(`${cmd.join(" ")} did not start: ${String(error)}\n${output()}`);
    }
  }
  return { port, host, proc, output, stop };
}

/**
 * REPCACHED_TEST_THREADS=N runs every server startOurs starts without its own -t at -t N (.ci/run
 * runs a subset of the suites so, at -t 4: protocol, limits, replication, UDP).
 */
export const test_threads_env = "REPCACHED_TEST_THREADS";

/** The -t startOurs gives servers started without their own (1 unless REPCACHED_TEST_THREADS says). */
export const test_threads = Number(process.env[test_threads_env] || "1");

function threadsArgs(args: string[]): string[] {
  const threads = process.env[test_threads_env];
  if (threads === undefined || threads === "" || args.includes("-t") || args.some((a) => a.startsWith("--threads"))) return [];
  return ["-t", threads];
}

/**
 * Starts our server (`bun src/main.ts`) on 127.0.0.1 with extra flags; waits for the port (unless
 * `wait: false`). `env` adds variables to the inherited environment.
 */
export async function startOurs(
  args: string[] = [], opts: { port?: number; wait?: boolean; env?: Record<string, string>; host?: string } = {},
): Promise<Spawned> {
  const port = opts.port ?? (await freePort());
  const host = opts.host ?? "127.0.0.1";
  const cmd = [bun_path, join(project_root, "src", "main.ts"), "-l", host, "-p", String(port), ...threadsArgs(args), ...args];
  return await spawnOn(cmd, port, opts.wait ?? true, opts.env, host);
}

/** Starts our proxy (`bun src/magent.ts -D`, in the foreground) on 127.0.0.1; waits for the port. */
export async function startMagent(args: string[] = [], opts: { port?: number } = {}): Promise<Spawned> {
  const port = opts.port ?? (await freePort());
  const cmd = [bun_path, join(project_root, "src", "magent.ts"), "-D", "-l", "127.0.0.1", "-p", String(port), ...args];
  return await spawnOn(cmd, port);
}

/** The classic repcached 2.2.1 emulator (a test tool: test/helpers/classic_repcached.ts). */
export const classic_path = join(project_root, "test", "helpers", "classic_repcached.ts");

/**
 * Starts the classic repcached 2.2.1 emulator on 127.0.0.1 with extra flags (-x, -X, -v, ...).
 * Waits for its client port unless `wait: false` (a -x node opens it only after the peer's full copy).
 */
export async function startClassic(args: string[] = [], opts: { port?: number; wait?: boolean; host?: string } = {}): Promise<Spawned> {
  const port = opts.port ?? (await freePort());
  const host = opts.host ?? "127.0.0.1";
  const cmd = [bun_path, classic_path, "-l", host, "-p", String(port), ...args];
  return await spawnOn(cmd, port, opts.wait ?? true, undefined, host);
}

export const memcached_path = "/usr/bin/memcached";
export function haveMemcached(): boolean {
  return existsSync(memcached_path);
}

/** Starts Debian's stock memcached on 127.0.0.1 (as root it needs -u). */
export async function startMemcached(args: string[] = [], opts: { port?: number } = {}): Promise<Spawned> {
  if (!haveMemcached()) throw new Error(`${memcached_path} missing: the test preload should have installed it`);
  const port = opts.port ?? (await freePort());
  const user = process.getuid?.() === 0 ? ["-u", "root"] : [];
  const cmd = [memcached_path, "-l", "127.0.0.1", "-p", String(port), "-U", "0", ...user, ...args];
  return await spawnOn(cmd, port);
}

export const yrmcds_path = "/usr/sbin/yrmcdsd";

/**
 * Starts Debian's yrmcds (a memcached-protocol server without memcached 1.6's meta commands) on
 * 127.0.0.1, configured by a file in a fresh temporary directory (its ports: the client port,
 * replication and counter ports next to it).
 */
export async function startYrmcds(opts: { port?: number } = {}): Promise<Spawned> {
  if (!existsSync(yrmcds_path)) throw new Error(`${yrmcds_path} missing: the test preload should have installed it`);
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "yrmcds-"));
  const user = process.getuid?.() === 0 ? "root" : (process.env.USER ?? "nobody");
  const config = [
    `user = ${user}`, `group = ${user}`, "virtual_ip = 127.0.0.1", `port = ${port}`,
    `repl_port = ${await freePort()}`, "max_connections = 1000", `temp_dir = "${dir}"`,
    "log.threshold = warning", `log.file = "${join(dir, "yrmcds.log")}"`, "buckets = 100000",
    "max_data_size = 1M", "heap_data_limit = 256K", "repl_buffer_size = 30", "secure_erase = false",
    "lock_memory = false", "memory_limit = 64M", "workers = 2", "gc_interval = 10", "slave_timeout = 10",
    "counter.enable = false", `counter.port = ${await freePort()}`, "counter.max_connections = 0",
    "counter.buckets = 1000", "counter.stat_interval = 86400",
  ].join("\n");
  writeFileSync(join(dir, "yrmcds.conf"), config + "\n");
  const spawned = await spawnOn([yrmcds_path, "-f", join(dir, "yrmcds.conf")], port);
  const stopProcess = spawned.stop;
  const stop = async (signal?: NodeJS.Signals | number) => {
    const code = await stopProcess(signal);
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  return { ...spawned, stop };
}

/** A raw TCP client that collects every byte the server sends. */
export class RawClient {
  private socket: Socket;
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  /** The client's own port (what the server's `stats conns` shows as the connection's addr). */
  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    socket.on("close", () => { this.closed = true; this.wake(); });
    socket.on("error", () => { this.closed = true; this.wake(); });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
      socket.connect(port, host);
    });
    socket.setNoDelay(true);
    return new RawClient(socket);
  }

  /** A client of a unix domain socket (-s). */
  static async connectUnix(path: string): Promise<RawClient> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
      socket.connect(path);
    });
    return new RawClient(socket);
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Waits until `done(received)` is true (or the socket closes, or ms pass); returns and clears what arrived. */
  async readUntil(done: (received: Buffer) => boolean, ms = 5_000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (!done(this.received) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    const out = this.received;
    this.received = Buffer.alloc(0);
    return out;
  }

  /** Reads until the buffer ends with `suffix` (default "\r\n"), as latin1 text. */
  async readText(suffix = "\r\n", ms = 5_000): Promise<string> {
    const bytes = await this.readUntil((b) => b.length >= suffix.length && b.toString("latin1").endsWith(suffix), ms);
    return bytes.toString("latin1");
  }

  /** Sends `request` and reads until the reply ends with `suffix`. */
  async call(request: string, suffix = "\r\n", ms = 5_000): Promise<string> {
    this.send(request);
    return await this.readText(suffix, ms);
  }

  /** Resolves when the server closes the connection, or after ms (returns whether it closed). */
  async waitClosed(ms = 5_000): Promise<boolean> {
    await this.readUntil(() => false, ms);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
