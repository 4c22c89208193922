// A worker of bench/acceptor_server.ts (the relaying acceptor): the real request path — one
// src/server Server over its own session on the acceptor's store, and a real Connection per
// relayed client — fed with the bytes the acceptor thread reads, its replies sent back the same way.
//
// Contract: answers `init` with `ready` (or `failed`); then every ArrayBuffer it is sent is a batch
// of frames (bench/lib/relay_frames.ts): OPEN makes a Connection (counted against -c as
// Server.accept does; over it the client is answered "ERROR Too many open connections" and
// ended), DATA feeds it and is acknowledged (an ACK frame per DATA frame), CLOSE drops it. The
// replies (DATA), END/TERMINATE for connections it closed and the ACKs go back in one batch per
// batch received; what a Connection writes outside a batch (the idle kicker's close) goes at the
// next turn of the event loop. `stop` closes every connection and the session and is answered
// `stopped`. Bounded: a batch out is at most batch_bytes (init); more is sent as further batches.
import { parseArgs } from "../src/config.ts";
import { libraryReuse } from "../src/native/library.ts";
import { serverSettings } from "../src/server_setup.ts";
import type { Connection, SocketLike } from "../src/server/connection.ts";
import type { Server } from "../src/server/server.ts";
import type { WorkerInit } from "../src/server/threads.ts";
import { FrameWriter, Kind, readFrames, type FrameKind } from "./lib/relay_frames.ts";

declare const self: Worker;

/** What a -t N worker gets (src/server/threads.ts), without replication's journal, plus the frame batch size. */
export type RelayWorkerInit = Omit<WorkerInit, "journal_buffer"> & { batch_bytes: number };

export type ToRelayWorker = RelayWorkerInit | { kind: "stop" } | ArrayBuffer;
export type FromRelayWorker = { kind: "ready" } | { kind: "failed"; message: string } | { kind: "stopped" } | ArrayBuffer;

let server: Server | null = null;
let ConnectionClass: typeof Connection | null = null;
let out: FrameWriter | null = null;
/** Inside onBatch: its end flushes. Outside: a write schedules a flush (flush_scheduled). */
let in_batch = false;
let flush_scheduled = false;
const conns = new Map<number, Connection>();
const too_many = new TextEncoder().encode("ERROR Too many open connections\r\n");

function flush(): void {
  if (out === null || out.len === 0) return;
  const batch = out.take();
  self.postMessage(batch, [batch]);
}

function flushSoon(): void {
  if (in_batch || flush_scheduled) return;
  flush_scheduled = true;
  setImmediate(() => {
    flush_scheduled = false;
    flush();
  });
}

function putFrame(id: number, kind: FrameKind): void {
  if (!out!.put(id, kind)) {
    flush();
    out!.put(id, kind);
  }
  flushSoon();
}

function putAck(id: number, consumed: number): void {
  if (!out!.putAck(id, consumed)) {
    flush();
    out!.putAck(id, consumed);
  }
}

/** The Connection's socket: what it writes goes into the outgoing batch, whole. */
class RelaySocket implements SocketLike {
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 0;
  readonly localAddress = "127.0.0.1";
  readonly localPort = 0;
  private closed = false;
  constructor(readonly id: number) {}

  /** Takes everything: each pass moves at least one byte (a flushed writer has room), so at most byteLength passes. */
  write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    if (this.closed) return -1;
    let done = 0;
    while (done < byteLength) {
      const n = out!.putData(this.id, data, byteOffset + done, byteLength - done);
      if (n === 0) flush();
      done += n;
    }
    flushSoon();
    return byteLength;
  }

  // The acceptor bounds what it relays (request bytes in flight, its own unsent replies), so a
  // worker never holds a reply the relay does not take: nothing here needs to stop reading.
  pause(): void {}
  resume(): void {}

  end(): void {
    if (this.closed) return;
    this.closed = true;
    putFrame(this.id, Kind.END);
  }

  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    putFrame(this.id, Kind.TERMINATE);
  }
}

function open(id: number): void {
  const s = server!;
  s.figures.total_connections++;
  if (!s.placement.words.connectionTake(s.settings.connections_max)) {
    s.figures.rejected_connections++;
    const socket = new RelaySocket(id);
    socket.write(too_many);
    socket.end();
    return;
  }
  const conn = new ConnectionClass!(new RelaySocket(id), s, s.placement.words.connectionId());
  conns.set(id, conn);
  s.connections.add(conn);
  s.figures.curr_connections = s.connections.size;
}

function close(id: number): void {
  const conn = conns.get(id);
  if (conn === undefined) return;
  conns.delete(id);
  const s = server!;
  conn.onClose();
  s.connections.delete(conn);
  s.figures.curr_connections = s.connections.size;
  s.placement.words.connectionGive();
}

function onFrame(id: number, kind: number, payload: Uint8Array): void {
  switch (kind) {
    case Kind.OPEN:
      return open(id);
    case Kind.DATA:
      conns.get(id)?.onData(payload);
      return putAck(id, payload.length);
    case Kind.CLOSE:
      return close(id);
    default:
      throw new Error(`relay worker: frame kind ${kind} from the acceptor`);
  }
}

function onBatch(buffer: ArrayBuffer): void {
  const bytes = new Uint8Array(buffer);
  in_batch = true;
  try {
    readFrames(bytes, bytes.length, onFrame);
  } finally {
    in_batch = false;
  }
  flush();
}

async function init(message: RelayWorkerInit): Promise<void> {
  const parsed = parseArgs(message.argv);
  if (parsed.kind !== "run") throw new Error("the worker's command line does not parse");
  const server_settings = serverSettings(parsed.settings, null);
  // The library loads here, only after the previous worker's load finished (as src/server/worker.ts).
  if (message.library_path !== null) libraryReuse(message.library_path);
  const [{ Server }, { Connection }, { Store }, { ThreadCounters }, { SharedWords }] = await Promise.all([
    import("../src/server/server.ts"), import("../src/server/connection.ts"), import("../src/native/store.ts"),
    import("../src/server/thread_counters.ts"), import("../src/server/shared_words.ts"),
  ]);
  const words = new SharedWords(true, message.words_buffer);
  words.bindVerbosity(server_settings, false);
  const placement = {
    index: message.index, counters: new ThreadCounters(message.threads + 1, message.counters_buffer), words,
    store: Store.session(message.store_owner), tcp: false, reuse_port: false, local: false, maintain: false,
  };
  server = new Server(server_settings, null, placement);
  server.start(); // no listener (tcp: false, local: false): its clock tick only
  ConnectionClass = Connection;
  out = new FrameWriter(message.batch_bytes);
}

self.onmessage = (event: MessageEvent<ToRelayWorker>) => {
  const message = event.data;
  if (message instanceof ArrayBuffer) return onBatch(message);
  if (message.kind === "init") {
    init(message).then(() => self.postMessage({ kind: "ready" }), (error) => self.postMessage({ kind: "failed", message: String(error) }));
    return;
  }
  if (message.kind === "stop") {
    for (const id of [...conns.keys()]) close(id);
    server?.stop();
    server = null;
    self.postMessage({ kind: "stopped" });
  }
};
