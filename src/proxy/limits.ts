// Named bounds of the proxy, with the derivation of each. Units go last.

import { get_line_bytes_max } from "../protocol/parser.ts";

/** The largest value a storage command may carry (memcached's default -I). Larger ones are answered
 *  `SERVER_ERROR object too large for cache` and their data is skipped, as memcached does. */
export const value_bytes_max = 1024 * 1024;

/** Unprocessed client input held: one whole storage command (line + the largest value + CRLF) or a
 *  long multi-get line, plus one socket read behind it (uSockets reads up to 512 KiB at once). */
export const client_input_bytes_max = value_bytes_max + get_line_bytes_max + 512 * 1024;
/** First size of a client's input stash; it doubles on demand up to client_input_bytes_max. */
export const client_input_bytes_initial = 16 * 1024;

/** Requests of one client in flight (sent upstream, reply not yet written back). Past it the proxy
 *  stops reading that client until replies drain — pipelining is bounded, never refused. */
export const client_requests_max = 1024;
/** Parts of one long get line (each ≤ the client's input bound, usually one read) routed and not
 *  yet written back: past it the proxy stops reading the line until a part is answered, so a
 *  streamed line costs a few parts of keys, tables and replies, never the line. */
export const get_line_parts_max = 4;
/** Replies a slow client has not taken yet before the proxy stops reading its requests. */
export const client_output_pause_bytes = 4 * 1024 * 1024;
/** Reply bytes held for one client — unsent, plus a reply to it still arriving from a server — past
 *  which the client is closed (counted in `stats` as clients_closed_output_bound). Pausing cannot
 *  bound this: one multi-get can name a 1 MB value thousands of times, and an upstream connection
 *  is pooled and pipelined across clients, so it is never paused for one. Half of
 *  upstream_reply_bytes_max, so a client's own reply is cut off before the shared upstream's limit
 *  would fail the connection for every client on it. A client that reads its replies is closed
 *  only by one reply (or one pipelined batch) this large. */
export const client_output_pending_bytes_max = 32 * 1024 * 1024;
/** Size of a client's reply batch buffer (taken from a shared free list per event, returned after
 *  the batch is written); a reply larger than this is written straight from where it lies. */
export const client_output_bytes = 16 * 1024;
/** Reply batch buffers kept on the free list between events (the rest are left to the GC). */
export const client_output_buffers_free_max = 256;

/** Requests queued or in flight on one backend, all its connections together. Past it a request to
 *  that backend fails over to the backup (reads) or is answered SERVER_ERROR (writes). */
export const backend_requests_max = 64 * 1024;
/** A client's first request to a server binds it to the least busy pooled connection; a new
 *  connection is opened (up to -i) only when every open one has this many requests queued. Fewer,
 *  fuller connections mean fewer writes: one socket.write per connection per event-loop turn. */
export const upstream_busy_parts_min = 32;
/** Request bytes one upstream connection holds unsent (connecting, or the socket is full). */
export const upstream_pending_bytes_max = 16 * 1024 * 1024;
/** An upstream connection's request batch buffer: requests of one event are coalesced here and
 *  written with one socket.write at the end of the event. */
export const upstream_output_bytes = 64 * 1024;
/** First size of an upstream connection's reply stash (a reply split across reads). */
export const upstream_input_bytes_initial = 16 * 1024;
/** The longest reply the proxy accepts from a backend: a multi-get of keys on one 64 KiB line (or one part of a longer one) can
 *  name ~6,000 keys; 64 MiB covers them at ~10 KiB each. A longer reply fails the request. */
export const upstream_reply_bytes_max = 64 * 1024 * 1024;
/** The most of a dropped reply (its client gone or over its output bound) an upstream connection
 *  skips in place for the other clients' requests queued behind it; past it the connection is cut
 *  and those requests fail (reads fail over to the backup). Half of client_output_pending_bytes_max:
 *  a dropped reply then costs at most that bound held, plus this much read and left to the GC (Bun
 *  hands each read over as a fresh buffer), so the proxy's memory for one client stays under
 *  48 MiB; and skipping it takes milliseconds on a LAN, so the requests behind are not stalled. */
export const upstream_discard_bytes_max = 16 * 1024 * 1024;
/** A reply line (VALUE header, status, error) longer than this is a protocol error. */
export const upstream_line_bytes_max = 2048 + 300;

/** How often timeouts and down backends are checked (the proxy's coarse clock): a probe starts at
 *  most tick_ms after it is due. */
export const tick_ms = 50;
/** The interval between probes of a down backend doubles from retry_min_ms up to retry_max_ms
 *  (--retry-min/--retry-max, by default 100 and 250 ms: see config.ts). */
export const backoff_factor = 2;

/** memcached's REALTIME_MAXDELTA: an exptime above it is an absolute unix time. */
export const exptime_relative_s_max = 60 * 60 * 24 * 30;
