// Who may talk to the server and in which protocol: memcached's -B (binding protocol), -S (SASL over
// the binary protocol) and -Y (ASCII auth tokens), as the connections see them.
//
// Contract: built once at start from the settings. A text connection under -Y answers every
// command "CLIENT_ERROR unauthenticated" until a `set` whose data is "user password" from the
// file (STORED; a wrong pair "CLIENT_ERROR authentication failure", no space "CLIENT_ERROR bad
// authentication token format"), as memcached 1.6.18 does.

import type { AuthCounters, PasswordFile } from "./auth.ts";
import type { BinaryHost } from "./binary_connection.ts";

export type Binding = "auto" | "ascii" | "binary";

export interface ClientAccess {
  /** "binary": every client connection speaks binary; "auto": a first byte of 0x80 makes it so. */
  binding: Binding;
  /** Serves binary connections; null under -B ascii (0x80 is then text, as in memcached). */
  binary: BinaryHost | null;
  /** -Y: the file ASCII auth tokens are checked against; null: text needs no auth. */
  text_auth: PasswordFile | null;
  counters: AuthCounters;
}

/** The data of an authenticating `set` is at most this long (longer: refused, skipped unread). */
export const auth_token_bytes_max = 1024;

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
export const AuthReply = {
  UNAUTHENTICATED: encode("CLIENT_ERROR unauthenticated\r\n"),
  FAILURE: encode("CLIENT_ERROR authentication failure\r\n"),
  BAD_FORMAT: encode("CLIENT_ERROR bad authentication token format\r\n"),
} as const;
