// The handshake two repcached-bun nodes use on a replication link. A classic repcached 2.2.1 peer
// never notices it: a connector's hello is an ordinary `get` (a classic listener answers `END`
// and copies as usual), and a listener waits only briefly for a hello before treating a silent
// connector as classic.
//
//   listener  -> `get rcb1:probe\r\n`            (at accept; a classic connector answers `END`)
//   connector -> `get rcb1:hello:<node id>:<nonce>\r\n`
//   listener  -> `VALUE rcb1:hello 0 <n>\r\n<node id>:<nonce>:<proof>\r\nEND\r\n`
//   connector -> `get rcb1:auth:<proof>\r\n`
//
// The probe lets a listener tell the two kinds apart by what comes back first — `END` from a
// classic repcached (it answers a get on the replication connection, spec §2), a hello from ours —
// whatever the delay on the path, instead of guessing from a silence.
//
// A proof is "-" without a shared secret, else HMAC-SHA256(secret, role|their nonce|our nonce|our
// id), so each side proves it knows the secret for this exchange (no replay across links). A node
// with a secret pairs only with a node that proves the same secret: no dump, no writes otherwise.
// Contract: pure functions over strings; `parse*` return null for anything malformed.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const probe_line = "get rcb1:probe\r\n";
/** A classic connector's answer to the probe. */
export const probe_answer = "END\r\n";
export const hello_prefix = "get rcb1:hello:";
export const auth_prefix = "get rcb1:auth:";
export const hello_reply_prefix = "VALUE rcb1:hello 0 ";
const id_pattern = /^[0-9a-f]{16}$/;
const proof_pattern = /^(-|[0-9a-f]{64})$/;

export function newToken(): string {
  return randomBytes(8).toString("hex");
}

export interface Hello {
  node_id: string;
  nonce: string;
}

export interface HelloReply extends Hello {
  proof: string;
}

export function proofFor(secret: string | null, role: "L" | "C", their_nonce: string, our_nonce: string, our_id: string): string {
  if (secret === null) return "-";
  return createHmac("sha256", secret).update(`rcb1|${role}|${their_nonce}|${our_nonce}|${our_id}`).digest("hex");
}

export function proofValid(proof: string, expected: string): boolean {
  if (proof.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(proof), Buffer.from(expected));
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

export function encodeHelloReply(reply: HelloReply): string {
  const body = `${reply.node_id}:${reply.nonce}:${reply.proof}`;
  return `${hello_reply_prefix}${body.length}\r\n${body}\r\nEND\r\n`;
}

/** Parses the whole reply text (header line, body, END); null when malformed. */
export function parseHelloReply(text: string): HelloReply | null {
  const match = /^VALUE rcb1:hello 0 (\d+)\r\n([^\r\n]*)\r\nEND\r\n$/.exec(text);
  if (!match || Number(match[1]) !== match[2]!.length) return null;
  const [node_id, nonce, proof, ...rest] = match[2]!.split(":");
  if (rest.length !== 0 || !id_pattern.test(node_id ?? "") || !id_pattern.test(nonce ?? "")) return null;
  if (!proof_pattern.test(proof ?? "")) return null;
  return { node_id: node_id!, nonce: nonce!, proof: proof! };
}

export function encodeAuth(proof: string): string {
  return `${auth_prefix}${proof}\r\n`;
}

export function parseAuth(line: string): string | null {
  if (!line.startsWith(auth_prefix)) return null;
  const proof = line.slice(auth_prefix.length);
  return proof_pattern.test(proof) ? proof : null;
}

/** Bytes of a complete hello reply at the start of `text`, 0 if incomplete, -1 if it is not one. */
export function helloReplyLength(text: string): number {
  if (!text.startsWith(hello_reply_prefix.slice(0, Math.min(text.length, hello_reply_prefix.length)))) return -1;
  const line_end = text.indexOf("\r\n");
  if (line_end < 0) return text.length > 64 ? -1 : 0;
  const n = Number(text.slice(hello_reply_prefix.length, line_end));
  if (!Number.isInteger(n) || n < 0 || n > 256) return -1;
  const total = line_end + 2 + n + 2 + "END\r\n".length;
  return text.length >= total ? total : 0;
}
