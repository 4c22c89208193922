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

/** The journal level (items or bytes) at which the gate shuts: one rule for every thread. */
export function aboveHighWater(items: number, bytes: number, items_max: number, bytes_max: number): boolean {
  return items >= Math.floor(items_max * high_water_share) || bytes >= Math.floor(bytes_max * high_water_share);
}

export interface WriteGate {
  /** Writes must wait (the connection calls `wait` and stops executing). */
  readonly shut: boolean;
  wait(resume: () => void): void;
}

export class Backpressure implements WriteGate {
  shut = false;
  private readonly waiting = new Set<() => void>();
  private readonly low_items: number;
  private readonly low_bytes: number;
  /** Writers held (since start). */
  pauses = 0;
  /** Times the gate opened because the peer took nothing for stall_ms_max. */
  stalls = 0;
  /** The peer stalled: no shutting until it takes bytes again. */
  private stalled = false;
  /** Told every time the gate shuts or opens, or the peer stalls or takes bytes again (-t N: the workers' shared words). */
  private readonly mirror: (shut: boolean, stalled: boolean) => void;

  private readonly items_max: number;
  private readonly bytes_max: number;

  constructor(items_max: number, bytes_max: number, mirror: (shut: boolean, stalled: boolean) => void = () => {}) {
    this.mirror = mirror;
    this.items_max = items_max;
    this.bytes_max = bytes_max;
    this.low_items = Math.floor(items_max * low_water_share);
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
    if (progress && this.stalled) {
      this.stalled = false;
      this.mirror(this.shut, false);
    }
    if (this.shut) {
      if (items <= this.low_items && bytes <= this.low_bytes) this.open();
      return;
    }
    if (!this.stalled && aboveHighWater(items, bytes, this.items_max, this.bytes_max)) {
      this.shut = true;
      this.mirror(true, this.stalled);
    }
  }

  /**
   * -t N: a worker shut the shared gate word itself (its pushes crossed the high-water mark
   * between two of the main thread's turns); the gate takes that state, to open it by the same
   * rule. Ignored while the peer is stalled (the word is opened again).
   */
  shutByWorker(): void {
    if (this.shut) return;
    if (this.stalled) return this.mirror(false, true);
    this.shut = true;
  }

  /** The peer took nothing for stall_ms_max while the gate was shut. */
  peerStalled(): void {
    this.stalled = true;
    this.stalls++;
    this.open();
    this.mirror(false, true);
  }

  /** Opens the gate and resumes every waiter (also when the link goes). */
  open(): void {
    this.shut = false;
    this.mirror(false, this.stalled); // also when not shut here: a worker may have shut the shared word
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}
