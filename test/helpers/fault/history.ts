// What a fault schedule records: client operations with their replies and times, the nodes'
// process incarnations, monitor samples of `stats replication`, and the faults as they happened.
// Times are wall-clock ms (fractional) from `nowMs()`; reports print them relative to the start.

export type NodeName = "A" | "B";
export type OpKind = "set" | "append" | "incr" | "delete" | "flush" | "get";

/**
 * ok: the node replied and the reply says the mutation happened (STORED, DELETED, OK, a number);
 * fail: it did not happen (an error or "not done" reply: NOT_STORED, NOT_FOUND, CLIENT_ERROR);
 * unknown: the request was sent but no complete reply came (timeout, closed): it may have happened.
 */
export type Outcome = "ok" | "fail" | "unknown";

export interface Op {
  id: number;
  worker: number;
  node: NodeName;
  /** Which process of that node served it (1 = the first start). */
  incarnation: number;
  kind: OpKind;
  /** The key; "*" for flush_all. */
  key: string;
  /** set: the stored value; append: the appended token; incr: the delta. */
  arg: string;
  flags: number;
  exptime_s: number;
  start_ms: number;
  end_ms: number;
  reply: string;
  outcome: Outcome;
}

/** How a process ended; "exited": on its own, not by the schedule (a crash; `exit` says how). */
export type EndKind = "alive" | "kill9" | "term_drained" | "term_undrained" | "exited";

export interface Incarnation {
  node: NodeName;
  n: number;
  pid: number;
  started_ms: number;
  ended_ms: number | null;
  end: EndKind;
  /** For "exited": the exit code or signal. */
  exit?: string;
  /** Everything the process printed. */
  output: string;
  rss_kb_max: number;
}

export interface Sample {
  node: NodeName;
  incarnation: number;
  /** When the stats request was sent and when its reply came. */
  sent_ms: number;
  received_ms: number;
  state: string;
  queue_items: number;
  send_pending_bytes: number;
  /** Bytes every relay held when the reply came. */
  relays_held_bytes: number;
  tombstones_dropped: number;
  /** The whole reply (for reports). */
  stats: Map<string, string>;
}

export interface FaultRecord {
  at_ms: number;
  text: string;
}

export class History {
  readonly ops: Op[] = [];
  readonly incarnations: Incarnation[] = [];
  readonly samples: Sample[] = [];
  readonly faults: FaultRecord[] = [];
  private next_op_id = 1;

  /** Reports print times relative to this (the schedule's start once it begins). */
  constructor(public t0_ms: number) {}

  newOpId(): number {
    return this.next_op_id++;
  }

  fault(text: string): void {
    this.faults.push({ at_ms: nowMs(), text });
  }

  rel(ms: number): string {
    return `+${(ms - this.t0_ms).toFixed(1)}`;
  }

  formatOp(op: Op): string {
    const arg = op.kind === "set" ? ` ${op.arg} f${op.flags} e${op.exptime_s}` : op.arg === "" ? "" : ` ${op.arg}`;
    const key = op.kind === "flush" ? "" : ` ${op.key}`;
    return `op ${op.id} ${this.rel(op.start_ms)}..${this.rel(op.end_ms)} ${op.node}#${op.incarnation} w${op.worker} ` +
      `${op.kind}${key}${arg} -> ${JSON.stringify(op.reply)} (${op.outcome})`;
  }

  formatFault(f: FaultRecord): string {
    return `${this.rel(f.at_ms)} ms  ${f.text}`;
  }
}

/** Wall-clock ms with sub-ms resolution (comparable across the harness's own records). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
