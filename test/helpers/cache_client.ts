// A small memcached text client for tests: one command at a time, parsed replies, bounded waits.
import { RawClient } from "./procs.ts";

export interface Item {
  flags: number;
  value: string;
  cas: string;
}

export class CacheClient {
  private constructor(readonly raw: RawClient) {}

  static async connect(port: number, host = "127.0.0.1"): Promise<CacheClient> {
    return new CacheClient(await RawClient.connect(port, host));
  }

  async command(line: string): Promise<string> {
    return (await this.raw.call(line)).trimEnd();
  }

  async set(key: string, value: string, flags = 0, exptime = 0, verb = "set"): Promise<string> {
    return await this.command(`${verb} ${key} ${flags} ${exptime} ${Buffer.byteLength(value, "latin1")}\r\n${value}\r\n`);
  }

  /** gets for many keys: a map of the hits. */
  async gets(keys: string[]): Promise<Map<string, Item>> {
    const reply = await this.raw.call(`gets ${keys.join(" ")}\r\n`, "END\r\n", 10_000);
    const items = new Map<string, Item>();
    let at = 0;
    for (;;) {
      const line_end = reply.indexOf("\r\n", at);
      const line = reply.slice(at, line_end);
      if (line === "END" || line_end < 0) break;
      const [tag, key, flags, bytes, cas] = line.split(" ");
      if (tag !== "VALUE" || !/^\d+$/.test(bytes ?? "")) throw new Error(`unexpected reply line ${JSON.stringify(line)} in ${JSON.stringify(reply.slice(0, 300))}`);
      const value = reply.slice(line_end + 2, line_end + 2 + Number(bytes));
      items.set(key!, { flags: Number(flags), value, cas: cas! });
      at = line_end + 2 + Number(bytes) + 2;
    }
    return items;
  }

  async get(key: string): Promise<Item | undefined> {
    return (await this.gets([key])).get(key);
  }

  async stats(sub = ""): Promise<Map<string, string>> {
    const reply = await this.raw.call(sub ? `stats ${sub}\r\n` : "stats\r\n", "END\r\n");
    const stats = new Map<string, string>();
    for (const line of reply.split("\r\n")) {
      const [tag, name, ...rest] = line.split(" ");
      if (tag === "STAT" && name) stats.set(name, rest.join(" "));
    }
    return stats;
  }

  close(): void {
    this.raw.close();
  }
}

/** Polls `check` until it returns true or `ms` pass; returns the last result. */
export async function eventually(check: () => Promise<boolean>, ms = 5_000, step_ms = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(step_ms);
  }
}

/** The value of `key` read with a raw client (null: absent). */
export async function valueOf(c: RawClient, key: string): Promise<string | null> {
  const text = await c.call(`get ${key}\r\n`, "END\r\n");
  if (text === "END\r\n") return null;
  const match = /^VALUE \S+ -?\d+ (\d+)\r\n/.exec(text);
  if (match === null) throw new Error(`unexpected get reply ${JSON.stringify(text)}`);
  return text.slice(match[0].length, match[0].length + Number(match[1]));
}

/** Polls `get key` on c until it returns `expected` (null: absent); throws naming the last value. */
export async function untilValue(c: RawClient, key: string, expected: string | null, ms = 5_000): Promise<void> {
  let last: string | null = null;
  const ok = await eventually(async () => (last = await valueOf(c, key)) === expected, ms);
  if (!ok) throw new Error(`${key}: expected ${JSON.stringify(expected)}, still ${JSON.stringify(last)}`);
}

/** A node's `stats replication` state ("synced", "copying", ...); "" when it has none. */
export async function replicationState(port: number): Promise<string> {
  const c = await CacheClient.connect(port);
  try {
    return (await c.stats("replication")).get("state") ?? "";
  } finally {
    c.close();
  }
}

/** Whether every node reports "synced" within `ms`. */
export async function allSynced(ports: number[], ms = 10_000): Promise<boolean> {
  return await eventually(async () => {
    for (const port of ports) if ((await replicationState(port)) !== "synced") return false;
    return true;
  }, ms, 50);
}
