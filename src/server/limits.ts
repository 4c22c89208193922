// Named bounds of the network layer, with the derivation of each.

/** Unprocessed input a connection may hold: one read (uSockets reads up to 512 KiB at once) plus a
 *  partial multi-get line (protocol get_line_bytes_max, 64 KiB; a longer one runs in parts and
 *  keeps only its unfinished key) — beyond this it is closed. */
export const input_bytes_max = 512 * 1024 + 64 * 1024;
/** First size of a connection's input stash; it doubles on demand up to input_bytes_max. */
export const input_bytes_initial = 16 * 1024;
/** A storage command whose line + value + CRLF fit in this many bytes waits for the whole value and
 *  is stored with one call; larger values stream into a reserved item as they arrive. */
export const value_inline_bytes_max = 16 * 1024;
/** Replies queued for a slow reader before the server stops reading its requests (TCP backpressure). */
export const output_pending_bytes_max = 4 * 1024 * 1024;
/** Extra room in the shared reply buffer beyond the largest item: a VALUE line's header and END. */
export const output_headroom_bytes = 64 * 1024;
