// A client request in flight: the slot a reply fills, in the client's order.
//
// Contract: a request is pushed on its client's queue when it is routed and `finish`ed exactly once
// with its reply bytes (valid only during the call: the client copies what it cannot write yet).
// Replies reach the client in request order whatever order the backends answer in. A noreply
// request still holds its place (so the client's pipeline stays bounded) but writes nothing.
// Parts that settle after the request finished are ignored (`finished`).

import type { PartOwner, Part } from "./part.ts";
import type { Affinity } from "./backend.ts";
import { ClientErrorText } from "../protocol/parser.ts";

/** What a request needs from its client connection. */
export interface ReplyQueue extends Affinity {
  complete(request: Request, buf: Uint8Array, off: number, len: number): void;
  /** Whether the client may hold `bytes` more of a reply still arriving; false: it was closed over
   *  its output bound (the reply is to be dropped). */
  holding(bytes: number): boolean;
}

const encoder = new TextEncoder();
export const encode = (text: string): Uint8Array => encoder.encode(text);

export const ProxyReply = {
  OK: encode("OK\r\n"),
  END: encode("END\r\n"),
  ERROR: encode("ERROR\r\n"),
  MN: encode("MN\r\n"),
  STORED: encode("STORED\r\n"),
  CRLF: encode("\r\n"),
  BAD_DATA_CHUNK: encode("CLIENT_ERROR bad data chunk\r\n"),
  TOO_LARGE: encode("SERVER_ERROR object too large for cache\r\n"),
  TOO_MANY_CONNECTIONS: encode("ERROR Too many open connections\r\n"),
  /** Neither the key's server nor its backup can take the request now. */
  UNAVAILABLE: encode("SERVER_ERROR no server available for this key\r\n"),
  /** The server failed after the request was sent: whether it was applied is unknown. */
  FAILED: encode("SERVER_ERROR server failed before replying\r\n"),
} as const;

export const client_error_replies = ClientErrorText.map((text) => encode(text + "\r\n"));

export abstract class Request implements PartOwner {
  readonly client: ReplyQueue;
  readonly noreply: boolean;
  /** The reply was handed to the client (or dropped, for noreply). */
  finished = false;
  /** Set by the client: the reply is in `reply` (it arrived before the requests ahead of it). */
  done = false;
  reply: Uint8Array | null = null;

  constructor(client: ReplyQueue, noreply: boolean) {
    this.client = client;
    this.noreply = noreply;
  }

  finish(buf: Uint8Array, off: number, len: number): void {
    if (this.finished) return;
    this.finished = true;
    this.client.complete(this, buf, off, len);
  }

  finishWith(bytes: Uint8Array): void {
    this.finish(bytes, 0, bytes.length);
  }

  /** Called once, in the client's order, just before its reply is written; false: write nothing. */
  takesItsTurn(): boolean {
    return true;
  }

  abstract partDone(part: Part, buf: Uint8Array, off: number, len: number): void;
  abstract partFailed(part: Part, sent: boolean): void;
}

/** A reply the proxy composes itself, queued behind requests still in flight. */
export class LocalRequest extends Request {
  partDone(): void {
    throw new Error("a local request has no parts");
  }

  partFailed(): void {
    throw new Error("a local request has no parts");
  }
}
