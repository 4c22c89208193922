// A `-t N` worker thread (threads.ts): one Server over a session on the main thread's store,
// listening on the client port with SO_REUSEPORT. Its settings come from the same command line
// (server_setup.ts), its counters are its row of the shared ones, its mutations go to the shared
// replication journal (replication/thread_sink.ts).
//
// Contract: answers `init` with `ready` (or `failed`), `listen` with `listening` (or `failed`),
// `stop` with `stopped` once its listeners, connections and session are closed; posts `shutdown`
// when a client's `shutdown` command asks the process to stop.

import { parseArgs } from "../config.ts";
import { libraryReuse } from "../native/library.ts";
import { serverSettings, tlsLoad } from "../server_setup.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./threads.ts";
import type { Server } from "./server.ts";

declare const self: Worker;

let server: Server | null = null;
let read_through: { arrived(id: number): void } | null = null;

function post(message: FromWorker): void {
  self.postMessage(message);
}

async function init(message: WorkerInit): Promise<void> {
  const parsed = parseArgs(message.argv);
  if (parsed.kind !== "run") throw new Error("the worker's command line does not parse as the main thread's did");
  const settings = parsed.settings;
  const server_settings = serverSettings(settings, tlsLoad(settings).client);
  // The native library loads here, in this thread, only after the previous worker's load finished,
  // from the path the main thread loaded it from.
  if (message.library_path !== null) libraryReuse(message.library_path);
  const [{ Server }, { Store }, { ThreadCounters }, { SharedWords }, { Journal }, { ThreadSink, ThreadGate, ThreadReadThrough }] = await Promise.all([
    import("./server.ts"), import("../native/store.ts"), import("./thread_counters.ts"), import("./shared_words.ts"),
    import("../replication/journal.ts"), import("../replication/thread_sink.ts"),
  ]);
  const words = new SharedWords(true, message.words_buffer);
  words.bindVerbosity(server_settings, false);
  const store = Store.session(message.store_owner);
  const placement = {
    index: message.index, counters: new ThreadCounters(message.threads + 1, message.counters_buffer), words, store,
    tcp: true, reuse_port: true, local: false, maintain: false,
  };
  const r = settings.replication;
  const journal = message.journal_buffer === null ? null : new Journal(r.queue_items_max, r.queue_bytes_max, message.journal_buffer);
  const made = new Server(server_settings, journal === null ? null : new ThreadSink(journal, words, store), placement);
  if (journal !== null) made.ctx.write_gate = new ThreadGate(words);
  if (journal !== null && r.serve_during_copy) {
    const through = new ThreadReadThrough(words, store, (id, keys) => post({ kind: "fetch", id, keys }));
    made.ctx.read_through = through;
    read_through = through;
  }
  made.onShutdown = () => post({ kind: "shutdown" });
  made.askMainStats = (id, every_thread) => post({ kind: "stats", id, every_thread });
  made.onDetailClear = () => post({ kind: "detail_clear" });
  words.bindDetail(made.ctx.detail, false);
  made.ctx.delete_locks.mirror = {
    locked: (key, until_s) => post({ kind: "lock", key, until_s }),
    released: (key) => post({ kind: "release", key }),
  };
  server = made;
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.kind) {
    case "init":
      init(message).then(() => post({ kind: "ready" }), (error) => post({ kind: "failed", message: String(error) }));
      return;
    case "listen":
      try {
        server!.start();
        post({ kind: "listening" });
      } catch (error) {
        post({ kind: "failed", message: `failed to listen: ${String(error)}` });
      }
      return;
    case "stop":
      server?.stop();
      server = null;
      post({ kind: "stopped" });
      return;
    case "stats":
      server?.statsArrived(message.id, message.lines, message.detail);
      return;
    case "detail_clear":
      server?.ctx.detail.clear();
      return;
    case "fetched":
      read_through?.arrived(message.id);
      return;
    case "lock":
      server?.ctx.delete_locks.applyLock(message.key, message.until_s);
      return;
    case "release":
      server?.ctx.delete_locks.applyRelease(message.key);
      return;
    case "conns":
      post({ kind: "conns", id: message.id, lines: server?.connsStats() ?? [], detail: server?.ctx.detail.rows() ?? [] });
      return;
  }
};
