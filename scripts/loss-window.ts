// The loss window of asynchronous replication on kill -9, measured.
//
//   bun scripts/loss-window.ts [--rates 5000,20000] [--runs 10] [--seed 1] [--connections 4]
//                              [--warmup-ms 1000] [--kill-spread-ms 1000] [--out FILE.json]
//                              [--control-stall-ms N]
//
// Per run: A (`-X <la>`) and B (`-x 127.0.0.1 -X <lb>:<la>`) pair directly (no relay) on
// 127.0.0.1. Clients write unique keys to A at the stated rate: `--connections` connections, each
// sent its share as one pipelined batch per ~1 ms tick; every write's acknowledgement (STORED) is
// timed. After the warm-up plus a seeded random moment within `--kill-spread-ms`, A gets SIGKILL.
// Once B has seen the link drop and applied everything that reached it, every acknowledged key is
// read back from B. Lost: acknowledged by A, missing on B. The window: how long before the kill
// the oldest lost write was sent — its acknowledgement came between then and the kill, so this
// bounds how old a lost write can be (the time we read an acknowledgement is later than when A sent
// it, and may even follow the kill, so it is reported but not used). Prints each run and
// min/median/max per rate.
//
// --control-stall-ms N checks the measurement itself: B pairs through a test relay that stops
// forwarding A's bytes N ms before the kill (and drops them at the kill), so about rate × N / 1000
// acknowledged writes must be reported lost, with a window of about N ms.
//
// Every process is stopped by PID; every wait is bounded.
import type { Socket } from "bun";
import { writeFileSync } from "node:fs";
import { freePort, RawClient, startOurs, type Spawned } from "../test/helpers/procs.ts";
import { Prng } from "../test/helpers/prng.ts";
import { Relay } from "../test/helpers/relay.ts";
import { replicationStats } from "../test/helpers/fault/cluster.ts";

interface Args {
  rates: number[];
  runs: number;
  seed: number;
  connections: number;
  warmup_ms: number;
  kill_spread_ms: number;
  control_stall_ms: number;
  out: string | null;
}

const runs_max = 1_000;
const value = "v".repeat(32);
/** Writes per tick at most (a late tick catches up, but not by more than this many ms). */
const catch_up_ms_max = 20;
/** Stop sending while this many writes wait for their acknowledgement (the server fell behind). */
const outstanding_max_s = 1;
const sync_wait_ms_max = 15_000;
const drop_wait_ms_max = 10_000;
const settle_poll_ms = 50;
const settle_wait_ms_max = 10_000;
const get_batch_keys = 200;
/** The pacer's tick; closer than spin_ms to the kill it spins instead of sleeping. */
const tick_ms = 1;
const spin_ms = 1.5;

function parseArgs(argv: string[]): Args {
  const args: Args = { rates: [5_000, 20_000], runs: 10, seed: 1, connections: 4, warmup_ms: 1_000, kill_spread_ms: 1_000, control_stall_ms: 0, out: null };
  const integer = (flag: string, text: string | undefined, min: number): number => {
    const n = Number(text);
    if (text === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--rates") args.rates = (argv[++i] ?? "").split(",").map((r) => integer(flag, r, 1));
    else if (flag === "--runs") args.runs = integer(flag, argv[++i], 1);
    else if (flag === "--seed") args.seed = integer(flag, argv[++i], 0);
    else if (flag === "--connections") args.connections = integer(flag, argv[++i], 1);
    else if (flag === "--warmup-ms") args.warmup_ms = integer(flag, argv[++i], 0);
    else if (flag === "--kill-spread-ms") args.kill_spread_ms = integer(flag, argv[++i], 0);
    else if (flag === "--control-stall-ms") args.control_stall_ms = integer(flag, argv[++i], 0);
    else if (flag === "--out") args.out = argv[++i] ?? null;
    else throw new Error(`unknown flag ${flag} (see the comment at the top of scripts/loss-window.ts)`);
  }
  if (args.runs > runs_max) throw new Error(`--runs must be at most ${runs_max}`);
  return args;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One writer connection: pipelined sets, acknowledgements matched to writes in order. */
class Writer {
  private readonly pending: number[] = [];
  private head = 0;
  private carry = "";
  closed = false;
  errors = 0;

  private constructor(private socket: Socket<Writer>, private readonly load: Load) {}

  static async connect(port: number, load: Load): Promise<Writer> {
    let writer: Writer | null = null;
    const socket = await Bun.connect<Writer>({
      hostname: "127.0.0.1", port,
      socket: {
        data: (s, chunk) => s.data.onData(chunk),
        close: (s) => { s.data.closed = true; },
        error: (s) => { s.data.closed = true; },
      },
    });
    writer = new Writer(socket, load);
    socket.data = writer;
    socket.setNoDelay(true);
    return writer;
  }

  send(seqs: number[]): void {
    if (this.closed) return;
    let text = "";
    const t = nowMs();
    for (const seq of seqs) {
      text += `set lw${seq} 0 0 ${value.length}\r\n${value}\r\n`;
      this.pending.push(seq);
      this.load.sent_ms[seq] = t;
    }
    this.socket.write(text);
  }

  private onData(chunk: Buffer): void {
    const lines = (this.carry + chunk.toString("latin1")).split("\r\n");
    this.carry = lines.pop()!;
    const t = nowMs();
    for (const line of lines) {
      const seq = this.pending[this.head++];
      if (seq === undefined) continue;
      if (line === "STORED") {
        this.load.ack_ms[seq] = t;
        this.load.acked++;
      } else {
        this.errors++;
      }
    }
  }

  close(): void {
    this.socket.terminate();
  }
}

/** The writes of one run: seq → sent and acknowledged times (0: not acknowledged). */
class Load {
  readonly sent_ms: Float64Array;
  readonly ack_ms: Float64Array;
  sent = 0;
  acked = 0;

  constructor(readonly writes_max: number) {
    this.sent_ms = new Float64Array(writes_max);
    this.ack_ms = new Float64Array(writes_max);
  }
}

interface RunResult {
  rate: number;
  seed: number;
  kill_after_ms: number;
  sent: number;
  acked: number;
  /** Acknowledgements per second over the last second before the kill. */
  acked_rate_last_s: number;
  lost: number;
  /** How long before the kill the oldest lost write was acknowledged (0 if none lost). */
  window_ack_ms: number;
  /** ... and sent. */
  window_sent_ms: number;
  /** Lost writes acknowledged before a write that B has (not a suffix of the acknowledgements). */
  holes: number;
  errors: number;
}

async function waitStats(port: number, ms: number, done: (stats: Map<string, string>) => boolean): Promise<Map<string, string> | null> {
  const deadline = Date.now() + ms;
  const client = await RawClient.connect(port);
  try {
    while (Date.now() < deadline) {
      const stats = await replicationStats(client, 1_000);
      if (stats !== null && done(stats)) return stats;
      await Bun.sleep(settle_poll_ms);
    }
    return null;
  } finally {
    client.close();
  }
}

/** The keys among `seqs` that B holds. */
async function presentOn(port: number, seqs: number[]): Promise<Set<number>> {
  const client = await RawClient.connect(port);
  const present = new Set<number>();
  try {
    for (let i = 0; i < seqs.length; i += get_batch_keys) {
      const batch = seqs.slice(i, i + get_batch_keys);
      const reply = await client.call(`get ${batch.map((s) => `lw${s}`).join(" ")}\r\n`, "END\r\n", 5_000);
      if (!reply.endsWith("END\r\n")) throw new Error(`no complete reply from B to a get of ${batch.length} keys`);
      for (const m of reply.matchAll(/^VALUE lw(\d+) /gm)) present.add(Number(m[1]));
    }
  } finally {
    client.close();
  }
  return present;
}

async function oneRun(rate: number, seed: number, args: Args): Promise<RunResult> {
  const prng = new Prng(seed);
  const kill_after_ms = args.warmup_ms + prng.next() * args.kill_spread_ms;
  const la = await freePort();
  const lb = await freePort();
  const procs: Spawned[] = [];
  const writers: Writer[] = [];
  const relay = args.control_stall_ms > 0 ? await Relay.start(la) : null;
  try {
    const a = await startOurs(["-X", String(la)]);
    procs.push(a);
    live.add(a);
    const b = await startOurs(["-x", "127.0.0.1", "-X", `${lb}:${relay?.port ?? la}`]);
    procs.push(b);
    live.add(b);
    for (const port of [a.port, b.port]) {
      if ((await waitStats(port, sync_wait_ms_max, (s) => s.get("state") === "synced")) === null) throw new Error("the pair did not sync");
    }
    const load = new Load(Math.ceil((rate * (kill_after_ms + 1_000)) / 1_000) + 1_000);
    for (let i = 0; i < args.connections; i++) writers.push(await Writer.connect(a.port, load));
    // Pace: every tick, send what the rate owes since the start, round-robin over the connections.
    // The last stretch before the kill is a spin, so the kill lands at its random moment (to the
    // microsecond), not at the pacer's 1 ms cadence right before the next batch.
    const t0 = nowMs();
    const kill_at = t0 + kill_after_ms;
    let next_writer = 0;
    const stall_at = kill_at - args.control_stall_ms;
    for (let now = t0; now < kill_at; now = nowMs()) {
      if (relay !== null && now >= stall_at && !relay.down.stalled) relay.down.stall();
      const owed = Math.min(Math.floor((rate * (now - t0)) / 1_000), load.writes_max) - load.sent;
      const budget = Math.min(owed, Math.ceil((rate * catch_up_ms_max) / 1_000));
      if (budget > 0 && load.sent - load.acked < rate * outstanding_max_s) {
        const batches: number[][] = writers.map(() => []);
        for (let n = 0; n < budget; n++) {
          batches[next_writer]!.push(load.sent++);
          next_writer = (next_writer + 1) % writers.length;
        }
        writers.forEach((w, i) => batches[i]!.length > 0 && w.send(batches[i]!));
      }
      if (kill_at - nowMs() > spin_ms) await Bun.sleep(1);
      else while (nowMs() < kill_at && nowMs() - now < tick_ms) { /* spin to the kill, or to the next tick */ }
    }
    const kill_ms = nowMs();
    process.kill(a.proc.pid, "SIGKILL");
    relay?.cut();
    await a.proc.exited;
    // Acknowledgements A sent before it died may still be in our sockets: let the writers read them.
    await Promise.all(writers.map(async (w) => {
      const deadline = Date.now() + 2_000;
      while (!w.closed && Date.now() < deadline) await Bun.sleep(5);
    }));
    // B alone: the link dropped, and nothing more arrives (received_items steady).
    let last = -1;
    const settled = await waitStats(b.port, drop_wait_ms_max + settle_wait_ms_max, (s) => {
      if (s.get("state") === "synced" || s.get("peer_connected") !== "") return false;
      const received = Number(s.get("received_items"));
      const steady = received === last;
      last = received;
      return steady;
    });
    if (settled === null) throw new Error("B did not report the link down and steady");
    const acked_seqs: number[] = [];
    for (let seq = 0; seq < load.sent; seq++) if (load.ack_ms[seq]! > 0) acked_seqs.push(seq);
    const present = await presentOn(b.port, acked_seqs);
    const lost = acked_seqs.filter((seq) => !present.has(seq));
    let newest_present_ack = 0;
    for (const seq of present) newest_present_ack = Math.max(newest_present_ack, load.ack_ms[seq]!);
    const oldest_lost_ack = lost.reduce((m, seq) => Math.min(m, load.ack_ms[seq]!), Infinity);
    const oldest_lost_sent = lost.reduce((m, seq) => Math.min(m, load.sent_ms[seq]!), Infinity);
    return {
      rate, seed, kill_after_ms, sent: load.sent, acked: load.acked,
      acked_rate_last_s: acked_seqs.filter((seq) => load.ack_ms[seq]! > kill_ms - 1_000 && load.ack_ms[seq]! <= kill_ms).length,
      lost: lost.length,
      window_ack_ms: lost.length === 0 ? 0 : Math.max(0, kill_ms - oldest_lost_ack),
      window_sent_ms: lost.length === 0 ? 0 : Math.max(0, kill_ms - oldest_lost_sent),
      holes: lost.filter((seq) => load.ack_ms[seq]! < newest_present_ack).length,
      errors: writers.reduce((n, w) => n + w.errors, 0),
    };
  } finally {
    for (const w of writers) w.close();
    await relay?.close();
    for (const p of procs) {
      await p.stop("SIGKILL");
      live.delete(p);
    }
  }
}

function stat(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

/** Processes of the run in progress: a signal stops them by PID before we exit. */
const live = new Set<Spawned>();
const stopLive = (code: number) => {
  void Promise.all([...live].map((p) => p.stop("SIGKILL"))).then(() => process.exit(code));
};
process.on("SIGINT", () => stopLive(130));
process.on("SIGTERM", () => stopLive(143));

const args = parseArgs(process.argv.slice(2));
const results: RunResult[] = [];
console.log(`loss window on kill -9: rates ${args.rates.join(", ")} sets/s, ${args.runs} runs each, ${args.connections} connections, kill at ${args.warmup_ms}..${args.warmup_ms + args.kill_spread_ms} ms` +
  (args.control_stall_ms > 0 ? `; CONTROL: A's bytes to B stopped ${args.control_stall_ms} ms before the kill` : ""));
for (const rate of args.rates) {
  for (let i = 0; i < args.runs; i++) {
    const seed = args.seed + i;
    const r = await oneRun(rate, seed, args);
    results.push(r);
    console.log(
      `rate ${rate} seed ${seed}: kill at +${r.kill_after_ms.toFixed(3)} ms, ${r.acked} acknowledged (${r.acked_rate_last_s}/s in the last second), ` +
      `lost ${r.lost} (sent ≤ ${r.window_sent_ms.toFixed(3)} ms before the kill; acknowledgement read ≤ ${r.window_ack_ms.toFixed(3)} ms before it), holes ${r.holes}, errors ${r.errors}`,
    );
  }
}
console.log("\nsummary (min / median / max over the runs):");
const summary = args.rates.map((rate) => {
  const rs = results.filter((r) => r.rate === rate);
  const lost = stat(rs.map((r) => r.lost));
  const ack = stat(rs.map((r) => r.window_ack_ms));
  const sent = stat(rs.map((r) => r.window_sent_ms));
  const achieved = stat(rs.map((r) => r.acked_rate_last_s));
  const holes = rs.reduce((n, r) => n + r.holes, 0);
  const fmt = (s: { min: number; median: number; max: number }, digits = 0) => `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;
  console.log(
    `  ${rate} sets/s (achieved ${fmt(achieved)}/s), ${rs.length} runs: lost writes ${fmt(lost)}; ` +
    `window ${fmt(sent, 3)} ms (the oldest lost write was sent, and so acknowledged, at most this long before the kill); ` +
    `runs with a loss ${rs.filter((r) => r.lost > 0).length}; holes ${holes}`,
  );
  return { rate, runs: rs.length, lost, window_ack_ms: ack, window_sent_ms: sent, achieved_per_s: achieved, holes };
});
if (args.out !== null) writeFileSync(args.out, JSON.stringify({ args, summary, results }, null, 2) + "\n");
