// Clients for a fault schedule: workers on each node run set, append, incr, delete, get and (rarely)
// flush_all over a small key space, one request at a time, and record every operation.
//
// Values identify the write that made them, so the checker can tell which operation a final value
// comes from: text keys (`k<i>`) hold `s<op id>.` followed by appended `a<op id>.` tokens; counter
// keys (`n<i>`) hold `<op id> * counter_base` plus whatever incr added (deltas 1..9, far fewer than
// counter_base / 9 of them per schedule).
import { RawClient } from "../procs.ts";
import { Prng } from "../prng.ts";
import { History, nowMs, type NodeName, type Op, type OpKind, type Outcome } from "./history.ts";

export const counter_base = 1_000_000;

export interface WorkloadOptions {
  text_keys: number;
  counter_keys: number;
  workers_per_node: number;
  /** A request without a complete reply after this long is recorded as unknown. */
  op_timeout_ms: number;
  think_ms_max: number;
  /** Per-kind weights; flush_all is rare. */
  weights: Record<OpKind, number>;
  /** Hard bound on operations per worker (the schedule's duration normally ends it first). */
  ops_per_worker_max: number;
}

export const workload_defaults: WorkloadOptions = {
  text_keys: 6,
  counter_keys: 2,
  workers_per_node: 2,
  op_timeout_ms: 1_000,
  think_ms_max: 8,
  weights: { set: 30, append: 10, incr: 10, delete: 16, get: 20, flush: 0.4 },
  ops_per_worker_max: 20_000,
};

export function keySpace(options: WorkloadOptions): string[] {
  const keys: string[] = [];
  for (let i = 0; i < options.text_keys; i++) keys.push(`k${i}`);
  for (let i = 0; i < options.counter_keys; i++) keys.push(`n${i}`);
  return keys;
}

export function isCounterKey(key: string): boolean {
  return key.startsWith("n");
}

/** What a worker needs of a node: its client port and the incarnation serving it now. */
export interface Target {
  readonly name: NodeName;
  readonly client_port: number;
  readonly incarnation: number;
}

interface Request {
  kind: OpKind;
  key: string;
  arg: string;
  flags: number;
  exptime_s: number;
  text: string;
}

function makeRequest(prng: Prng, options: WorkloadOptions, id: number): Request {
  const kind = prng.weighted(Object.entries(options.weights) as Array<[OpKind, number]>);
  const counter = options.counter_keys > 0 && (kind === "incr" || (kind !== "append" && prng.chance(0.25)));
  const key = counter ? `n${prng.int(0, options.counter_keys - 1)}` : `k${prng.int(0, options.text_keys - 1)}`;
  const flags = prng.int(0, 3);
  const exptime_s = prng.chance(0.2) ? prng.pick([300, 3000]) : 0;
  switch (kind) {
    case "set": {
      const value = counter ? String(id * counter_base) : `s${id}.`;
      return { kind, key, arg: value, flags, exptime_s, text: `set ${key} ${flags} ${exptime_s} ${value.length}\r\n${value}\r\n` };
    }
    case "append": {
      const token = `a${id}.`;
      return { kind, key, arg: token, flags: 0, exptime_s: 0, text: `append ${key} 0 0 ${token.length}\r\n${token}\r\n` };
    }
    case "incr": {
      const delta = String(prng.int(1, 9));
      return { kind, key, arg: delta, flags: 0, exptime_s: 0, text: `incr ${key} ${delta}\r\n` };
    }
    case "delete":
      return { kind, key, arg: "", flags: 0, exptime_s: 0, text: `delete ${key}\r\n` };
    case "flush":
      return { kind, key: "*", arg: "", flags: 0, exptime_s: 0, text: "flush_all\r\n" };
    case "get":
      return { kind, key, arg: "", flags: 0, exptime_s: 0, text: `get ${key}\r\n` };
  }
}

function complete(kind: OpKind, reply: Buffer): boolean {
  const text = reply.toString("latin1");
  return kind === "get" ? text.endsWith("END\r\n") : text.endsWith("\r\n");
}

function outcomeOf(kind: OpKind, reply: string, whole: boolean): Outcome {
  if (!whole) return "unknown";
  const line = reply.trimEnd();
  switch (kind) {
    case "set":
    case "append":
      return line === "STORED" ? "ok" : "fail";
    case "incr":
      return /^\d+$/.test(line) ? "ok" : "fail";
    case "delete":
      return line === "DELETED" ? "ok" : "fail";
    case "flush":
      return line === "OK" ? "ok" : "fail";
    case "get":
      return "ok";
  }
}

export class Workload {
  private stopping = false;
  private readonly runs: Array<Promise<void>> = [];

  constructor(
    private readonly history: History,
    private readonly options: WorkloadOptions,
    private readonly seed: number,
  ) {}

  start(targets: Target[]): void {
    let index = 0;
    for (const target of targets) {
      for (let i = 0; i < this.options.workers_per_node; i++, index++) {
        // Each worker its own stream of choices, derived from the schedule's seed.
        const prng = new Prng((Math.imul(this.seed, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) | 0);
        this.runs.push(this.worker(target, index, prng));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.runs);
  }

  private async worker(target: Target, index: number, prng: Prng): Promise<void> {
    let client: RawClient | null = null;
    let incarnation = 0;
    for (let n = 0; n < this.options.ops_per_worker_max && !this.stopping; n++) {
      if (client === null || client.closed) {
        client?.close();
        incarnation = target.incarnation;
        client = await RawClient.connect(target.client_port).catch(() => null);
        if (client === null) {
          await Bun.sleep(20);
          continue;
        }
      }
      const id = this.history.newOpId();
      const request = makeRequest(prng, this.options, id);
      const op: Op = {
        id, worker: index, node: target.name, incarnation, kind: request.kind, key: request.key, arg: request.arg,
        flags: request.flags, exptime_s: request.exptime_s, start_ms: nowMs(), end_ms: 0, reply: "", outcome: "unknown",
      };
      client.send(request.text);
      const reply = await client.readUntil((b) => complete(request.kind, b), this.options.op_timeout_ms);
      op.end_ms = nowMs();
      const whole = complete(request.kind, reply);
      op.reply = reply.toString("latin1").slice(0, 200).trimEnd();
      op.outcome = outcomeOf(request.kind, op.reply, whole);
      this.history.ops.push(op);
      if (!whole) {
        client.close();
        client = null;
      }
      const think_ms = prng.int(0, this.options.think_ms_max);
      if (think_ms > 0) await Bun.sleep(think_ms);
    }
    client?.close();
  }
}
