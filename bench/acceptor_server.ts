// The relaying acceptor: the design issue 14 weighed against -t N's SO_REUSEPORT (src/server/threads.ts)
// and that was never built, built here to measure it (bench/acceptor.ts). Not a product path.
//
//   bun bench/acceptor_server.ts --workers N [repcached flags: -l 127.0.0.1 -p PORT -m 1024 -c 4096 ...]
//
// One process. The main thread opens the store (a Server that keeps its clock and reclaim, as -t
// N's main thread) and is the only thread with client sockets: it `Bun.listen`s on the client
// port, accepts, and gives each connection to the relay worker with the fewest connections (ties
// in turn). Bun cannot hand an accepted socket to a Worker, so every byte is relayed: the request
// bytes a client sends go to its worker as DATA frames (bench/lib/relay_frames.ts), the worker
// (bench/acceptor_worker.ts: a real Server and a real Connection per client over its own session
// on the store) answers with DATA frames this thread writes to the client socket.
//
// Transport: batches of frames through postMessage, the batch's ArrayBuffer in the transfer list.
// Not a SharedArrayBuffer ring: the receiving thread must be woken on its event loop either way
// (a Worker has no way to sleep on a ring and on its messages at once; Atomics.waitAsync would be
// a second wake-up path), so a ring would save one copy per batch, not the wake-up, which is the
// cost that matters here; and a transferred buffer needs no shared head/tail protocol.
//
// Batching: the frames of one event-loop turn (every client read in it) go out as one batch per
// worker, at setImmediate, or earlier when a batch fills (batch_bytes). Replies are written as
// they arrive; what a socket does not take is held (SendQueue, in order) and written on drain.
// Bounds, per client: request bytes sent to the worker and not yet acknowledged
// (inflight_bytes_max) and reply bytes its socket has not taken (backlog_bytes_max); past either,
// this thread stops reading that client until the figure is back under it. A reply already
// computed for requests in flight still arrives: the backlog exceeds its bound by at most those.
//
// Contract: prints nothing on success; exits 64 on a bad command line, 1 if a worker does not
// start. SIGTERM/SIGINT: stops listening, closes clients, stops every worker (bounded by
// stop_ms_max), closes the store, exits 0. Only what the relay needs of the server: no unix
// socket, UDP, TLS, replication or -t.
import type { Socket, TCPSocketListener } from "bun";
import { listenAddressSplit, parseArgs } from "../src/config.ts";
import { library_loaded_path } from "../src/native/library.ts";
import { serverSettings } from "../src/server_setup.ts";
import { SendQueue } from "../src/server/send_queue.ts";
import { Server } from "../src/server/server.ts";
import { SharedWords } from "../src/server/shared_words.ts";
import { ThreadCounters } from "../src/server/thread_counters.ts";
import type { FromRelayWorker, RelayWorkerInit, ToRelayWorker } from "./acceptor_worker.ts";
import {
  ackBytes, backlog_bytes_max, batch_bytes, FrameWriter, inflight_bytes_max, Kind, readFrames, type FrameKind,
} from "./lib/relay_frames.ts";

const workers_max = 16;
const step_ms_max = 10_000;
const stop_ms_max = 5_000;
const usage = "usage: bun bench/acceptor_server.ts --workers N [repcached flags]";

/** A relay worker and the frames waiting to go to it. */
interface Link {
  worker: Worker;
  writer: FrameWriter;
  /** Live clients it serves (least-connections). */
  clients: number;
}

/** A client connection of this thread, relayed to one worker. */
interface Client {
  id: number;
  socket: Socket<Client>;
  link: Link;
  /** Request bytes sent to the worker and not yet acknowledged. */
  unacked: number;
  /** Replies the socket has not taken yet, oldest first. */
  queue: SendQueue;
  /** The worker ended the connection: close once the queue is written. */
  ending: boolean;
  paused: boolean;
}

const links: Link[] = [];
const clients = new Map<number, Client>();
let id_last = 0;
let next_link = 0;
let flush_scheduled = false;

function flushLinks(): void {
  flush_scheduled = false;
  for (const link of links) flushLink(link);
}

function flushLink(link: Link): void {
  if (link.writer.len === 0) return;
  const batch = link.writer.take();
  link.worker.postMessage(batch, [batch]);
}

function flushSoon(): void {
  if (flush_scheduled) return;
  flush_scheduled = true;
  setImmediate(flushLinks);
}

function putFrame(link: Link, id: number, kind: FrameKind): void {
  if (!link.writer.put(id, kind)) {
    flushLink(link);
    link.writer.put(id, kind);
  }
  flushSoon();
}

/** The worker with the fewest clients, looking from the one after the last chosen (ties go in turn). */
function chooseLink(): Link {
  let best = links[next_link % links.length]!;
  for (let i = 1; i < links.length; i++) {
    const link = links[(next_link + i) % links.length]!;
    if (link.clients < best.clients) best = link;
  }
  next_link = (links.indexOf(best) + 1) % links.length;
  return best;
}

/** A u32 id no live client has (ids wrap; at most clients.size + 1 tries). */
function newId(): number {
  for (let tries = 0; tries <= clients.size; tries++) {
    id_last = id_last === 0xffff_ffff ? 1 : id_last + 1;
    if (!clients.has(id_last)) return id_last;
  }
  throw new Error("no free connection id");
}

/** Stops or resumes reading a client as its bounds say. */
function steer(client: Client): void {
  const over = client.unacked > inflight_bytes_max || client.queue.bytes > backlog_bytes_max;
  if (over === client.paused) return;
  client.paused = over;
  if (over) client.socket.pause();
  else client.socket.resume();
}

function onOpen(socket: Socket<Client>): void {
  socket.setNoDelay(true);
  const link = chooseLink();
  const client: Client = { id: newId(), socket, link, unacked: 0, queue: new SendQueue(), ending: false, paused: false };
  socket.data = client;
  clients.set(client.id, client);
  link.clients++;
  putFrame(link, client.id, Kind.OPEN);
}

/** A client's request bytes, into its worker's batch (cut across batches when it fills). */
function onData(socket: Socket<Client>, chunk: Uint8Array): void {
  const client = socket.data;
  if (client === undefined || !clients.has(client.id)) return;
  const writer = client.link.writer;
  // Each pass takes at least one byte (a flushed writer has room): at most chunk.length passes.
  for (let done = 0; done < chunk.length;) {
    const n = writer.putData(client.id, chunk, done, chunk.length - done);
    if (n === 0) flushLink(client.link);
    done += n;
  }
  client.unacked += chunk.length;
  steer(client);
  flushSoon();
}

function onDrain(socket: Socket<Client>): void {
  const client = socket.data;
  if (client === undefined || !clients.has(client.id)) return;
  if (client.queue.flush(socket) < 0) return;
  if (client.queue.bytes === 0 && client.ending) return void socket.end();
  steer(client);
}

/** The client is gone (closed by either side): its worker drops the Connection. */
function onClose(socket: Socket<Client>): void {
  const client = socket.data;
  if (client === undefined || !clients.delete(client.id)) return;
  client.link.clients--;
  client.queue.clear();
  putFrame(client.link, client.id, Kind.CLOSE);
}

/** A worker's frame: a reply to write, an end, an acknowledgement. Frames of gone clients are dropped. */
function onWorkerFrame(id: number, kind: number, payload: Uint8Array): void {
  const client = clients.get(id);
  if (client === undefined) return;
  switch (kind) {
    case Kind.DATA:
      if (client.queue.send(client.socket, payload, 0, payload.length) >= 0) steer(client);
      return;
    case Kind.ACK:
      client.unacked -= ackBytes(payload);
      return steer(client);
    case Kind.END:
      client.ending = true;
      if (client.queue.bytes === 0) client.socket.end();
      return;
    case Kind.TERMINATE:
      return client.socket.terminate();
    default:
      throw new Error(`acceptor: frame kind ${kind} from a worker`);
  }
}

function onWorkerBatch(buffer: ArrayBuffer): void {
  const bytes = new Uint8Array(buffer);
  readFrames(bytes, bytes.length, onWorkerFrame);
}

/** Resolves at the worker's next `kind` message; rejects on `failed`, an error, or after ms. */
function next(worker: Worker, kind: "ready" | "stopped", ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    };
    const onMessage = (event: MessageEvent<FromRelayWorker>) => {
      const m = event.data;
      if (m instanceof ArrayBuffer) return;
      if (m.kind === kind) (done(), resolve());
      else if (m.kind === "failed") (done(), reject(new Error(m.message)));
    };
    const onError = (event: ErrorEvent) => (done(), reject(new Error(event.message)));
    const timer = setTimeout(() => (done(), reject(new Error(`relay worker did not answer "${kind}" within ${ms} ms`))), ms);
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}

/** Starts worker `index` and waits until its library is loaded and its session open (then the next may start). */
async function spawnLink(index: number, threads: number, argv: string[], server: Server, counters: ThreadCounters, words: SharedWords): Promise<void> {
  const worker = new Worker(new URL("./acceptor_worker.ts", import.meta.url).href);
  const link: Link = { worker, writer: new FrameWriter(batch_bytes), clients: 0 };
  links.push(link);
  const ready = next(worker, "ready", step_ms_max);
  const init: RelayWorkerInit = {
    kind: "init", index, threads, argv, store_owner: server.ctx.store.owner, library_path: library_loaded_path,
    counters_buffer: counters.buffer as SharedArrayBuffer, words_buffer: words.buffer as SharedArrayBuffer, batch_bytes,
  };
  worker.postMessage(init satisfies ToRelayWorker);
  await ready;
  worker.addEventListener("message", (event: MessageEvent<FromRelayWorker>) => {
    if (event.data instanceof ArrayBuffer) onWorkerBatch(event.data);
  });
}

async function stopLinks(): Promise<void> {
  await Promise.allSettled(links.map((link) => {
    const stopped = next(link.worker, "stopped", stop_ms_max);
    link.worker.postMessage({ kind: "stop" } satisfies ToRelayWorker);
    return stopped;
  }));
  for (const link of links) link.worker.terminate();
  links.length = 0;
}

/** `--workers N` then the server's own flags, or why not. */
function parseCli(argv: readonly string[]): { workers: number; rest: string[] } | string {
  if (argv[0] !== "--workers" || argv.length < 2) return usage;
  const workers = Number(argv[1]);
  if (!/^\d+$/.test(argv[1]!) || workers < 1 || workers > workers_max) return `--workers ${argv[1]}: expected 1..${workers_max}\n${usage}`;
  return { workers, rest: argv.slice(2) };
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (typeof cli === "string") return (console.error(cli), process.exit(64));
  const parsed = parseArgs(cli.rest);
  if (parsed.kind !== "run") return (console.error(parsed.kind === "error" ? parsed.message : usage), process.exit(64));
  const settings = parsed.settings;
  const counters = new ThreadCounters(cli.workers + 1);
  const words = new SharedWords(true);
  const server_settings = serverSettings(settings, null);
  words.bindVerbosity(server_settings);
  const server = new Server(server_settings, null, {
    index: 0, counters, words, store: null, tcp: false, reuse_port: false, local: false, maintain: true,
  });
  words.bindDetail(server.ctx.detail);
  server.start(); // the store's clock and reclaim; no listener of its own
  try {
    for (let index = 1; index <= cli.workers; index++) await spawnLink(index, cli.workers, cli.rest, server, counters, words);
  } catch (error) {
    console.error(`relay workers did not start: ${error instanceof Error ? error.message : String(error)}`);
    await stopLinks();
    server.stop();
    process.exit(1);
  }
  const host = listenAddressSplit(settings.listen_addresses[0] ?? "127.0.0.1")?.host ?? "127.0.0.1";
  const listener: TCPSocketListener<Client> = Bun.listen<Client>({
    hostname: host, port: settings.tcp_port,
    socket: { open: onOpen, data: onData, drain: onDrain, close: onClose, error: onClose },
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    listener.stop(true);
    await stopLinks();
    server.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

await main();
