// The re-pair: what one replication link does between its handshake and `synced`, written down in
// one place as a pure state machine (no I/O). link.ts and replicator.ts drive it; the unit test
// steps it through every order of events.
//
// A classic repcached 2.2.1 peer (spec §1, §5): only the listener sends a full copy; the
// connector sends none and waits for the listener's (`marugoto_end`). Arrival order decides.
//
// Two repcached-bun nodes: both send a full copy and both wait for the other's.
//   1. `rcb1_flush_before <floor>` first, if the node ever ran an immediate flush_all while
//      replicating (the peer drops everything older and fences older versions from then on);
//   2. every item *and every tombstone* from the store's cursor, as `rep` and `rcb1_tomb` lines,
//      between live journal entries (a copy step never overtakes a journal entry), then
//      `marugoto_end`. The receiver keeps, per key, the version with the higher cas
//      (REP_IF_NEWER for values, `tomb` for deletes).
//
// Why the order and chunking of the bytes cannot matter: on each node every key holds exactly one
// version — a value or a tombstone (native/cache.zig), each with the cas of the write or delete
// that made it — and each node applies "keep the higher cas" to every version it receives, in
// copies and live traffic alike (a tie, possible between nodes that minted before they paired and
// settled their parity bits, is broken alike everywhere: tombstone, then greater bytes, flags). Keeping the maximum is commutative, associative and idempotent,
// so once each node has received the other's versions both hold the same one per key, whatever
// arrived first. A delete is a tombstone with a cas above every version its node had seen, so an
// older copy of the key from the other side is refused whenever it arrives; a write made after
// the delete (higher cas) wins on both. Tombstones do not expire while the node is out of sync
// (`keep_tombstones`), so a delete made during a cut is still there to send and to fence when the
// link comes back.
//
// Invariant (test/integration/replication.test.ts, with a relay that coalesces, delays and splits
// the byte stream): after a re-pair, a key deleted on either side while they were apart is absent
// on both unless a write of it with a higher cas exists; likewise every key older than an
// immediate flush_all made while apart. "Higher cas" is "later by the nodes' wall clocks" (cas =
// ms << 10 with the node's parity), so the order of two writes made less than the clock skew
// apart on different nodes is decided by the skewed clocks (README: clock skew).

export const Phase = { HANDSHAKE: "handshake", COPYING: "copying", SYNCED: "synced", CLOSED: "closed" } as const;
export type PhaseName = (typeof Phase)[keyof typeof Phase];
export type PeerKind = "classic" | "ours";
export type Role = "accepted" | "connected";

export class Resync {
  phase: PhaseName = Phase.HANDSHAKE;
  kind: PeerKind | null = null;
  /** We stream a full copy to the peer. */
  send_copy = false;
  /** We wait for the peer's full copy (its `marugoto_end`). */
  expect_peer_copy = false;
  copy_sent = false;
  peer_copy_in = false;

  /** The handshake is over: returns whether we send a full copy. */
  begin(kind: PeerKind, role: Role): boolean {
    if (this.phase !== Phase.HANDSHAKE) throw new Error(`resync: begin in phase ${this.phase}`);
    this.kind = kind;
    this.send_copy = kind === "ours" || role === "accepted";
    this.expect_peer_copy = kind === "ours" || role === "connected";
    this.phase = Phase.COPYING;
    this.settle();
    return this.send_copy;
  }

  /** Our `marugoto_end` is in the send buffer. */
  copySent(): void {
    if (!this.send_copy || this.phase === Phase.CLOSED) throw new Error("resync: copySent without a copy");
    this.copy_sent = true;
    this.settle();
  }

  /** The peer's `marugoto_end` arrived; returns true the first time (a classic peer may repeat it). */
  peerCopyIn(): boolean {
    if (this.phase === Phase.HANDSHAKE || this.phase === Phase.CLOSED || this.peer_copy_in) return false;
    this.peer_copy_in = true;
    this.settle();
    return true;
  }

  close(): void {
    this.phase = Phase.CLOSED;
  }

  /** Tombstones expire only once both copies are done: until then a delete must still fence. */
  get keep_tombstones(): boolean {
    return this.phase !== Phase.SYNCED;
  }

  /** A joining node may serve clients once the copy it waits for is in (repcached's rule). */
  get peer_data_in(): boolean {
    return !this.expect_peer_copy || this.peer_copy_in;
  }

  private settle(): void {
    if (this.phase !== Phase.COPYING) return;
    const ours_done = !this.send_copy || this.copy_sent;
    const theirs_done = !this.expect_peer_copy || this.peer_copy_in;
    if (ours_done && theirs_done) this.phase = Phase.SYNCED;
  }
}
