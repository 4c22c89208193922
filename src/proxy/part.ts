// A part: one request/reply exchange with one backend — the unit an upstream connection queues.
//
// Contract: a client request is carried by one or more parts (a multi-get by one per server, a
// write by the main server's part plus the backup's copy). When the reply arrives the upstream
// calls `owner.partDone(part, buf, off, len)`; the bytes are valid only during that call. When the
// connection fails first it calls `owner.partFailed(part, sent)`: `sent` is false when the request
// never left the proxy (the connection never opened), so a write may safely go elsewhere. A part
// with no owner is fire-and-forget (write-backs): its reply is read and dropped. While a reply is
// arriving the upstream reports its size (`held`); an owner may let it go (a client over its
// output bound), and the part becomes owner-less.
// Every part gets exactly one of the two calls, once.

import type { Backend } from "./backend.ts";

export interface PartOwner {
  partDone(part: Part, buf: Uint8Array, off: number, len: number): void;
  partFailed(part: Part, sent: boolean): void;
  /** The unfinished reply would hold `bytes` once the read just arrived is kept: false drops the
   *  owner's interest in it (the upstream then never holds it: see Upstream.drop). Absent: true. */
  partHeld?(part: Part, bytes: number): boolean;
}

export class Part {
  owner: PartOwner | null;
  /** ReplyKind: how the upstream frames this part's reply. */
  kind: number;
  /** The owner's label for the part (which group, main or backup copy, which key). */
  tag: number;
  backend: Backend;
  /** When it was queued, on the proxy's coarse clock. */
  queued_ms = 0;
  /** When it was queued, precisely (performance.now): its reply's latency is measured from it. */
  started_ms = 0;
  settled = false;

  constructor(owner: PartOwner | null, kind: number, tag: number, backend: Backend) {
    this.owner = owner;
    this.kind = kind;
    this.tag = tag;
    this.backend = backend;
  }

  /** The reply so far holds `bytes`; false once nobody wants it (the owner let it go). */
  held(bytes: number): boolean {
    const owner = this.owner;
    if (owner === null) return false;
    if (owner.partHeld === undefined || owner.partHeld(this, bytes)) return true;
    this.owner = null;
    return false;
  }

  done(buf: Uint8Array, off: number, len: number): void {
    if (this.settled) throw new Error("part settled twice");
    this.settled = true;
    this.backend.partSettled(true, this.started_ms);
    if (this.owner !== null) this.owner.partDone(this, buf, off, len);
  }

  failed(sent: boolean): void {
    if (this.settled) throw new Error("part settled twice");
    this.settled = true;
    this.backend.partSettled(false, this.started_ms);
    if (this.owner !== null) this.owner.partFailed(this, sent);
  }
}
