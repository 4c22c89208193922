// The handshake two repcached-bun nodes use on a replication link. A classic repcached 2.2.1 peer
// never notices it: every message it could see is an ordinary `get` (it answers `END`) or a
// `VALUE` reply (which it never gets: a classic listener does not answer our hello with one).
//
//   listener  -> `get rcb1:probe\r\n`            (at accept; a classic connector answers `END`)
//   connector -> `get rcb1:hello:<node id>:<nonce>\r\n`
//   listener  -> `VALUE rcb1:hello 0 <n>\r\n<node id>:<nonce>\r\nEND\r\n`
//   connector -> `get rcb1:auth:<proof C>\r\n`
//   listener  -> `VALUE rcb1:auth 0 <n>\r\n<proof L>\r\nEND\r\n`   (only once proof C is right)
//
// The probe lets a listener tell the two kinds apart by what comes back first — `END` from a
// classic repcached (it answers a get on the replication connection, spec §2), a hello from ours —
// whatever the delay on the path, instead of guessing from a silence.
//
// A proof is "-" without a shared secret, else HMAC-SHA256(secret, "rcb1|" role | the other's
// nonce | own nonce | own id): each side proves it knows the secret for this exchange (fresh
// nonces: no replay). The listener sends nothing derived from the secret before the connector has
// proved itself, so a stranger that merely connects learns nothing; the connector's proof goes to
// whoever holds the peer's port, which is why the secret must carry at least 128 random bits
// (`secretWeakness`): a captured proof then gives no practical way back to the secret. A node with
// a secret pairs only with a node that proves the same secret: no dump, no writes otherwise.
// Contract: pure functions over strings; `parse*` return null for anything malformed.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const probe_line = "get rcb1:probe\r\n";
/** A classic connector's answer to the probe. */
export const probe_answer = "END\r\n";
export const hello_prefix = "get rcb1:hello:";
export const auth_prefix = "get rcb1:auth:";
const id_pattern = /^[0-9a-f]{16}$/;
const proof_pattern = /^(-|[0-9a-f]{64})$/;
/** A secret must carry at least this many random bits. */
export const secret_bits_min = 128;
/** At least this many distinct characters (weeds out repeated patterns that would pass on length). */
const secret_distinct_chars_min = 8;

export function newToken(): string {
  return randomBytes(8).toString("hex");
}

export interface Hello {
  node_id: string;
  nonce: string;
}

export function proofFor(secret: string | null, role: "L" | "C", their_nonce: string, our_nonce: string, our_id: string): string {
  if (secret === null) return "-";
  return createHmac("sha256", secret).update(`rcb1|${role}|${their_nonce}|${our_nonce}|${our_id}`).digest("hex");
}

export function proofValid(proof: string, expected: string): boolean {
  if (proof.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(proof), Buffer.from(expected));
}

/**
 * Why a secret is too weak (null: strong enough). The stated rule: at least 128 random bits
 * written as 32 or more hex digits, or 22 or more base64 (or base64url) characters, with at
 * least 8 distinct characters — e.g. `openssl rand -hex 16` or `openssl rand -base64 24`.
 */
export function secretWeakness(secret: string): string | null {
  const how = "use at least 128 random bits, e.g. the output of `openssl rand -hex 16` (32 hex digits) or `openssl rand -base64 24`";
  const distinct = new Set(secret).size;
  const hex = /^[0-9a-fA-F]+$/.test(secret);
  const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(secret);
  const bits = hex ? secret.length * 4 : base64 ? secret.replace(/=+$/, "").length * 6 : 0;
  if (bits < secret_bits_min) {
    return `the replication secret is too weak (${secret.length} characters): ${how}`;
  }
  if (distinct < secret_distinct_chars_min) return `the replication secret is too weak (${distinct} distinct characters): ${how}`;
  return null;
}

export function encodeHello(hello: Hello): string {
  return `${hello_prefix}${hello.node_id}:${hello.nonce}\r\n`;
}

export function parseHello(line: string): Hello | null {
  if (!line.startsWith(hello_prefix)) return null;
  const [node_id, nonce, ...rest] = line.slice(hello_prefix.length).split(":");
  if (rest.length !== 0 || !id_pattern.test(node_id ?? "") || !id_pattern.test(nonce ?? "")) return null;
  return { node_id: node_id!, nonce: nonce! };
}

/** `VALUE rcb1:<name> 0 <n>\r\n<body>\r\nEND\r\n`: how the listener answers the connector's gets. */
function encodeValue(name: string, body: string): string {
  return `VALUE rcb1:${name} 0 ${body.length}\r\n${body}\r\nEND\r\n`;
}

/**
 * The body of a complete `VALUE rcb1:<name>` reply at the start of `text` and its length in
 * bytes; null while incomplete; "bad" when `text` is not (the start of) one.
 */
export function valueReply(text: string, name: string): { body: string; length: number } | null | "bad" {
  const prefix = `VALUE rcb1:${name} 0 `;
  if (!text.startsWith(prefix.slice(0, Math.min(text.length, prefix.length)))) return "bad";
  const line_end = text.indexOf("\r\n");
  if (line_end < 0) return text.length > 64 ? "bad" : null;
  const n = Number(text.slice(prefix.length, line_end));
  if (!Number.isInteger(n) || n < 0 || n > 256) return "bad";
  const length = line_end + 2 + n + 2 + "END\r\n".length;
  if (text.length < length) return null;
  if (text.slice(line_end + 2 + n, length) !== "\r\nEND\r\n") return "bad";
  return { body: text.slice(line_end + 2, line_end + 2 + n), length };
}

export function encodeHelloReply(hello: Hello): string {
  return encodeValue("hello", `${hello.node_id}:${hello.nonce}`);
}

export function parseHelloBody(body: string): Hello | null {
  const [node_id, nonce, ...rest] = body.split(":");
  if (rest.length !== 0 || !id_pattern.test(node_id ?? "") || !id_pattern.test(nonce ?? "")) return null;
  return { node_id: node_id!, nonce: nonce! };
}

export function encodeAuth(proof: string): string {
  return `${auth_prefix}${proof}\r\n`;
}

export function parseAuth(line: string): string | null {
  if (!line.startsWith(auth_prefix)) return null;
  const proof = line.slice(auth_prefix.length);
  return proof_pattern.test(proof) ? proof : null;
}

export function encodeAuthReply(proof: string): string {
  return encodeValue("auth", proof);
}

export function parseProof(body: string): string | null {
  return proof_pattern.test(body) ? body : null;
}
