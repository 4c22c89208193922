// Backpressure from the replication journal to the clients that write (instead of a full copy).
//
// Contract: the gate is shut while the journal is above its high-water mark AND the peer is
// taking bytes; connections that are about to execute a write then wait (`wait`, their input
// stays in their stash and their socket is paused) until the journal is back under its
// low-water mark, when `open` resumes every waiter in arrival order. A peer that takes nothing for
// `stall_ms_max` opens the gate at once and keeps it open until it takes bytes again: clients are
// never held longer than that by a stopped or cut peer (the journal then overflows as before:
// link dropped, repaired by the re-pair's full copy). Readers are never held; UDP writers cannot
// be (they count toward the journal as before). At most one waiter per connection
// (connections_max bounds the set).

/** How long the peer may take no bytes while the gate is shut before it opens anyway. */
export const stall_ms_max = 1_000;
/** Shut at this share of the journal's bounds (items or bytes) ... */
const high_water_share = 0.5;
/** ... and open again below this share. */
const low_water_share = 0.25;

export interface WriteGate {
  /** Writes must wait (the connection calls `wait` and stops executing). */
  readonly shut: boolean;
  wait(resume: () => void): void;
}

export class Backpressure implements WriteGate {
  shut = false;
  private readonly waiting = new Set<() => void>();
  private readonly high_items: number;
  private readonly low_items: number;
  private readonly high_bytes: number;
  private readonly low_bytes: number;
  /** Writers held (since start). */
  pauses = 0;
  /** Times the gate opened because the peer took nothing for stall_ms_max. */
  stalls = 0;
  /** The peer stalled: no shutting until it takes bytes again. */
  private stalled = false;
  /** Told every time the gate shuts or opens (-t N: the workers' shared gate word). */
  private readonly mirror: (shut: boolean) => void;

  constructor(items_max: number, bytes_max: number, mirror: (shut: boolean) => void = () => {}) {
    this.mirror = mirror;
    this.high_items = Math.floor(items_max * high_water_share);
    this.low_items = Math.floor(items_max * low_water_share);
    this.high_bytes = Math.floor(bytes_max * high_water_share);
    this.low_bytes = Math.floor(bytes_max * low_water_share);
  }

  get waiters(): number {
    return this.waiting.size;
  }

  wait(resume: () => void): void {
    this.waiting.add(resume);
    this.pauses++;
  }

  /**
   * After the journal changed: shut above the high-water mark (unless the peer has stalled),
   * open below the low-water mark. `progress`: the peer took bytes since the last call.
   */
  update(items: number, bytes: number, progress: boolean): void {
    if (progress) this.stalled = false;
    if (this.shut) {
      if (items <= this.low_items && bytes <= this.low_bytes) this.open();
      return;
    }
    if (!this.stalled && (items >= this.high_items || bytes >= this.high_bytes)) {
      this.shut = true;
      this.mirror(true);
    }
  }

  /** The peer took nothing for stall_ms_max while the gate was shut. */
  peerStalled(): void {
    this.stalled = true;
    this.stalls++;
    this.open();
  }

  /** Opens the gate and resumes every waiter (also when the link goes). */
  open(): void {
    if (this.shut) this.mirror(false);
    this.shut = false;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}
