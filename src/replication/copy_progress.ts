// Progress of one full copy (marugoto), sent or received: items, bytes, rate, percent of the
// total when known, and when to print a progress line.
//
// Contract: `start(total_items)` (−1: total unknown) at the copy's start; `step(items, bytes)` as
// it goes (O(1), no allocation); `due(now_ms)` says whether a progress line should be printed now
// and, when it does, remembers that it was: at each tenth of a known total
// (`progress_log_steps`), or after `progress_log_interval_ms` without a line — so a copy prints at
// most 9 + its duration / that interval lines. `finish()` marks it done (percent 100). `line()`
// formats the `-v` line; `percent()` is −1 while the total is unknown. `abort()`: the link dropped.

/** A progress line at every tenth of the known total... */
export const progress_log_steps = 10;
/** ...and at least this often while a copy runs (unknown total, or a slow peer). */
export const progress_log_interval_ms = 5_000;

export class CopyProgress {
  running = false;
  /** The last copy reached its end (false while running, or when its link dropped first). */
  completed = false;
  items = 0;
  bytes = 0;
  /** Items the copy is expected to hold (the sender's count at its start); −1: unknown. */
  total = -1;
  started_ms = 0;
  ended_ms = 0;
  private logged_ms = 0;
  private logged_step = 0;

  start(total_items: number, now_ms: number): void {
    this.running = true;
    this.completed = false;
    this.items = this.bytes = 0;
    this.total = total_items;
    this.started_ms = this.logged_ms = now_ms;
    this.ended_ms = 0;
    this.logged_step = 0;
  }

  step(items: number, bytes: number): void {
    this.items += items;
    this.bytes += bytes;
  }

  finish(now_ms: number): void {
    if (!this.running) return;
    this.running = false;
    this.completed = true;
    this.ended_ms = now_ms;
  }

  /** The link dropped before the copy's end: the figures stay as they were. */
  abort(now_ms: number): void {
    if (!this.running) return;
    this.running = false;
    this.ended_ms = now_ms;
  }

  /** Whether a line is due now (and, if so, counts it as printed). */
  due(now_ms: number): boolean {
    if (!this.running) return false;
    const step = this.total > 0 ? Math.floor((this.items * progress_log_steps) / this.total) : 0;
    const by_step = step > this.logged_step && step < progress_log_steps;
    if (!by_step && now_ms - this.logged_ms < progress_log_interval_ms) return false;
    this.logged_step = Math.max(this.logged_step, step);
    this.logged_ms = now_ms;
    return true;
  }

  /** Percent of the total (0..100), 100 once finished, −1 while the total is unknown. */
  percent(): number {
    if (this.completed) return 100;
    if (this.total < 0) return -1;
    if (this.total === 0) return 0;
    return Math.min(99, Math.floor((this.items * 100) / this.total));
  }

  /** Items per second since the start. */
  rate(now_ms: number): number {
    const elapsed_ms = (this.running ? now_ms : this.ended_ms) - this.started_ms;
    return elapsed_ms > 0 ? Math.round((this.items * 1000) / elapsed_ms) : 0;
  }

  /** `replication: marugoto progress <verb> 12000/50000 items (24%), 1.2 MB, 60000 items/s`. */
  line(verb: "sent" | "received", now_ms: number): string {
    const percent = this.percent();
    const of = this.total >= 0 ? `${this.items}/${this.total} items` : `${this.items} items`;
    const share = percent >= 0 ? ` (${percent}%)` : "";
    const mb = (this.bytes / 1_000_000).toFixed(1);
    return `replication: marugoto progress ${verb} ${of}${share}, ${mb} MB, ${this.rate(now_ms)} items/s`;
  }
}
