// How a client's command travels upstream: verbatim, except that `noreply` is removed.
//
// Contract: the proxy always asks backends for a reply (and drops it when the client said
// noreply), because memcached still answers some errors to a noreply command and an unexpected
// line would shift every later reply on a pipelined connection. `commandRange` names the bytes of
// the command line (and its data block, for storage commands): [line_start, end).

import type { Command } from "../protocol/parser.ts";
import type { Upstream } from "./upstream.ts";

const SPACE = 32;
const crlf = new Uint8Array([13, 10]);

/** Where the line stops once the trailing `noreply` token (and the spaces before it) is cut. */
function strippedLineEnd(buf: Uint8Array, cmd: Command): number {
  let stop = cmd.token_off[cmd.ntokens - 2]!;
  while (stop > cmd.line_start && buf[stop - 1] === SPACE) stop--;
  return stop;
}

/** Puts the command in buf[cmd.line_start, end) on `upstream`, without `noreply`. */
export function putCommand(upstream: Upstream, buf: Uint8Array, cmd: Command, end: number): void {
  if (!cmd.noreply) return upstream.put(buf, cmd.line_start, end - cmd.line_start);
  const stop = strippedLineEnd(buf, cmd);
  upstream.put(buf, cmd.line_start, stop - cmd.line_start);
  upstream.put(crlf, 0, 2);
  if (end > cmd.next) upstream.put(buf, cmd.next, end - cmd.next);
}

/** A copy of what putCommand would send (kept when the bytes are needed after this event). */
export function copyCommand(buf: Uint8Array, cmd: Command, end: number): Uint8Array {
  if (!cmd.noreply) return buf.slice(cmd.line_start, end);
  const stop = strippedLineEnd(buf, cmd);
  const line_len = stop - cmd.line_start;
  const data_len = end - cmd.next;
  const copy = new Uint8Array(line_len + 2 + data_len);
  copy.set(buf.subarray(cmd.line_start, stop), 0);
  copy.set(crlf, line_len);
  copy.set(buf.subarray(cmd.next, end), line_len + 2);
  return copy;
}

/** Puts a whole byte array. */
export function putBytes(upstream: Upstream, bytes: Uint8Array): void {
  upstream.put(bytes, 0, bytes.length);
}

/** Below this many bytes a copy loop beats TypedArray.set (which needs a subarray object). */
const copy_loop_bytes_max = 64;

/** Copies src[src_off, +len) to dst at dst_off. */
export function copyBytes(src: Uint8Array, src_off: number, dst: Uint8Array, dst_off: number, len: number): void {
  if (len <= copy_loop_bytes_max) {
    for (let i = 0; i < len; i++) dst[dst_off + i] = src[src_off + i]!;
    return;
  }
  dst.set(src.subarray(src_off, src_off + len), dst_off);
}
