// A listener on a unix socket path that appears only once it serves, for the server (-s, -a) and
// the proxy (-f).
//
// Contract: `unixListen(path, mode, handlers)` binds and listens on a fresh name beside `path`,
// sets its mode, then renames it onto `path` — so a client that sees the path can connect, and
// finds the final mode (memcached binds at the path itself: between its bind and listen a client
// is refused, and a waiter that polls for the file can land in that gap). A socket file already at
// the path (left by a run that died) is replaced, as memcached does; anything else there is refused
// with memcached's message. `stop(close_connections)` stops the listener and removes the path if it is still this
// listener's file (another process may have replaced it since). Errors: throws Error whose message
// names the path.

import type { SocketHandler, UnixSocketListener } from "bun";
import { chmodSync, lstatSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** sun_path holds 108 bytes with its terminating NUL (Linux). */
const sun_path_bytes_max = 107;

export interface UnixListener {
  readonly path: string;
  /** As a Bun listener's stop: true also closes the connections it accepted. */
  stop(close_connections: boolean): void;
}

/** Listens on `path` with file mode `mode` (0..0o777); see the contract above. */
export function unixListen<Data>(path: string, mode: number, socket: SocketHandler<Data>): UnixListener {
  if (!(mode >= 0 && mode <= 0o777)) throw new Error(`unix socket mode ${mode} out of range`);
  const existing = fileKind(path);
  if (existing === "other") throw new Error(`bind(): Address already in use: ${path}`);
  const staging = stagingPath(path);
  let listener: UnixSocketListener<Data>;
  if (staging === null) {
    // The path is too long for a staged name beside it: bind in place (memcached's way, with its gap).
    if (existing === "socket") unlinkSync(path);
    listener = Bun.listen<Data>({ unix: path, socket });
    chmodSync(path, mode);
  } else {
    rmSync(staging, { force: true });
    listener = Bun.listen<Data>({ unix: staging, socket });
    try {
      chmodSync(staging, mode);
      renameSync(staging, path); // atomic: replaces a stale socket file, never leaves the path missing
    } catch (error) {
      listener.stop(true);
      rmSync(staging, { force: true });
      throw error;
    }
  }
  const inode = statSync(path).ino;
  return {
    path,
    stop(close_connections: boolean) {
      listener.stop(close_connections);
      try {
        if (lstatSync(path).ino === inode) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

function fileKind(path: string): "absent" | "socket" | "other" {
  try {
    return lstatSync(path).isSocket() ? "socket" : "other";
  } catch {
    return "absent";
  }
}

/** A name in the path's directory (so the rename stays on one file system), or null if it will not fit sun_path. */
function stagingPath(path: string): string | null {
  const staging = join(dirname(path), `.${basename(path)}.${process.pid}`);
  if (Buffer.byteLength(staging) <= sun_path_bytes_max) return staging;
  const short = join(dirname(path), `.rc${process.pid}`);
  return Buffer.byteLength(short) <= sun_path_bytes_max ? short : null;
}
