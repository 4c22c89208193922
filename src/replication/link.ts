// One replication link: a socket to one peer, its handshake, and its re-pair state (resync.ts).
//
// Contract: a Link is made for every accepted or connected replication socket. Until it runs it
// reads the handshake (handshake.ts): as a listener it sends its probe and takes the connector
// for ours if a hello comes back, for a classic repcached if `END` (or anything else) does, or if
// nothing does for `silence_classic_ms`; as a connector it sends its hello and reads the reply
// (anything else: a classic listener). Then it tells its owner `paired(kind, rest)` —
// `rest` is what followed the handshake in the same read — or `failed(reason)`; it never does
// both, and does nothing once closed. It assumes nothing about other links: the owner decides
// which links live (replicator.ts).

import type { Socket } from "bun";
import type { Connection } from "../server/connection.ts";
import { Resync, type PeerKind, type Role } from "./resync.ts";
import {
  encodeAuth, encodeAuthReply, encodeHello, encodeHelloReply, hello_prefix, newToken, parseAuth, parseHello,
  parseHelloBody, parseProof, probe_answer, probe_line, proofFor, proofValid, valueReply,
} from "./handshake.ts";

export const handshake_timeout_ms = 5_000;
/**
 * How long a listener waits for any answer to its probe before treating a silent connector as
 * classic (a real repcached answers `END` at once; this is for one that does not).
 */
export const silence_classic_ms = handshake_timeout_ms;
/** A handshake line longer than this is not ours (and not a hello). */
const handshake_bytes_max = 1024;

export interface LinkOwner {
  readonly node_id: string;
  readonly secret: string | null;
  /** The handshake is over: the link now carries `kind`'s protocol; `rest` followed it. */
  paired(link: Link, kind: PeerKind, rest: string): void;
  /** The handshake failed (`auth`: the peer could not prove the secret); the owner drops the link. */
  failed(link: Link, reason: string, auth: boolean): void;
}

export type LinkSocket = Socket<Link>;

export class Link {
  readonly socket: LinkSocket;
  readonly role: Role;
  private readonly owner: LinkOwner;
  readonly resync = new Resync();
  running = false;
  closed = false;
  peer_id = "";
  /** The peer's inbound stream once running (rep, delete, marugoto_end, ...). */
  inbound: Connection | null = null;
  copy_items = 0;
  copy_started_ms = 0;
  private kind: PeerKind | null = null;
  private text = "";
  private readonly our_nonce = newToken();
  private peer_nonce = "";
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The connector has passed over our kind's probe (or seen that the listener sent none). */
  private probe_skipped = false;

  constructor(socket: LinkSocket, role: Role, owner: LinkOwner) {
    this.socket = socket;
    this.role = role;
    this.owner = owner;
    if (role === "accepted") {
      socket.write(probe_line);
      this.arm(silence_classic_ms, () => this.helloTimeout());
    } else {
      socket.write(encodeHello({ node_id: owner.node_id, nonce: this.our_nonce }));
      this.arm(handshake_timeout_ms, () => this.fail("replication: handshake timeout"));
    }
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get mode(): PeerKind | null {
    return this.kind;
  }

  /** Handshake bytes (the owner routes a running link's bytes to `inbound`). */
  onHandshakeData(chunk: Uint8Array): void {
    if (this.closed || this.running) return;
    this.text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString("latin1");
    if (this.role === "accepted") this.listenerStep();
    else this.connectorStep();
  }

  close(): void {
    this.closed = true;
    this.resync.close();
    this.disarm();
  }

  private arm(ms: number, fire: () => void): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = null;
      fire();
    }, ms);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private helloTimeout(): void {
    if (this.closed || this.running || this.kind !== null) return;
    this.begin("classic", this.text);
  }

  private listenerStep(): void {
    if (this.kind === null) {
      if (this.text.startsWith(probe_answer)) return this.begin("classic", this.text.slice(probe_answer.length));
      if (probe_answer.startsWith(this.text)) return; // part of a classic peer's answer
      const line_end = this.text.indexOf("\r\n");
      if (line_end < 0) {
        if (this.text.length > handshake_bytes_max || !hello_prefix.startsWith(this.text.slice(0, hello_prefix.length))) this.begin("classic", this.text);
        return;
      }
      const hello = parseHello(this.text.slice(0, line_end));
      if (hello === null) return this.begin("classic", this.text);
      if (hello.node_id === this.owner.node_id) return this.fail("replication: connected to myself");
      this.kind = "ours";
      this.peer_id = hello.node_id;
      this.peer_nonce = hello.nonce;
      this.text = this.text.slice(line_end + 2);
      // Nothing derived from the secret goes out before the connector has proved itself.
      this.socket.write(encodeHelloReply({ node_id: this.owner.node_id, nonce: this.our_nonce }));
      this.arm(handshake_timeout_ms, () => this.fail("replication: handshake timeout"));
    }
    const line_end = this.text.indexOf("\r\n");
    if (line_end < 0) {
      if (this.text.length > handshake_bytes_max) this.fail("replication: bad auth line");
      return;
    }
    const proof = parseAuth(this.text.slice(0, line_end));
    const expected = proofFor(this.owner.secret, "C", this.our_nonce, this.peer_nonce, this.peer_id);
    if (proof === null || !proofValid(proof, expected)) return this.failAuth();
    this.socket.write(encodeAuthReply(proofFor(this.owner.secret, "L", this.peer_nonce, this.our_nonce, this.owner.node_id)));
    this.begin("ours", this.text.slice(line_end + 2));
  }

  /** The connector: the hello reply (or a classic listener's stream), then the listener's proof. */
  private connectorStep(): void {
    if (!this.probe_skipped) {
      if (this.text.length < probe_line.length && probe_line.startsWith(this.text)) return; // part of a probe
      if (this.text.startsWith(probe_line)) this.text = this.text.slice(probe_line.length);
      this.probe_skipped = true;
    }
    if (this.kind === null) {
      const reply = valueReply(this.text, "hello");
      if (reply === null) return;
      if (reply === "bad") return this.begin("classic", this.text);
      const hello = parseHelloBody(reply.body);
      if (hello === null) return this.fail("replication: malformed hello reply");
      if (hello.node_id === this.owner.node_id) return this.fail("replication: connected to myself");
      this.kind = "ours";
      this.peer_id = hello.node_id;
      this.peer_nonce = hello.nonce;
      this.text = this.text.slice(reply.length);
      this.socket.write(encodeAuth(proofFor(this.owner.secret, "C", hello.nonce, this.our_nonce, this.owner.node_id)));
    }
    const reply = valueReply(this.text, "auth");
    if (reply === null) return;
    if (reply === "bad") return this.failAuth();
    const proof = parseProof(reply.body);
    const expected = proofFor(this.owner.secret, "L", this.our_nonce, this.peer_nonce, this.peer_id);
    if (proof === null || !proofValid(proof, expected)) return this.failAuth();
    this.begin("ours", this.text.slice(reply.length));
  }

  private begin(kind: PeerKind, rest: string): void {
    if (kind === "classic" && this.owner.secret !== null) return this.failAuth(); // a classic peer cannot prove it
    this.disarm();
    this.kind = kind;
    this.running = true;
    this.text = "";
    this.owner.paired(this, kind, rest);
  }

  private failAuth(): void {
    this.owner.failed(this, "replication: peer failed authentication (replication secret)", true);
  }

  private fail(reason: string): void {
    this.owner.failed(this, reason, false);
  }
}
