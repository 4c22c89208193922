// A tiny memcached text-protocol client for the harness's checks (is the peer replicating? how
// many items are stored?), not for load. Every request is bounded in time.
//
// Contract: `parseStats` is pure. `request` resolves with the reply text once `done(reply)` holds,
// or rejects after timeout_ms or when the connection fails; it always closes its socket.
import { Socket } from "node:net";

/** `STAT name value` lines of a `stats` reply, by name. */
export function parseStats(reply: string): Map<string, string> {
  const stats = new Map<string, string>();
  for (const line of reply.split("\r\n")) {
    const match = /^STAT (\S+) (.*)$/.exec(line);
    if (match !== null) stats.set(match[1]!, match[2]!);
  }
  return stats;
}

export async function request(
  port: number,
  text: string,
  done: (reply: string) => boolean,
  timeout_ms: number,
): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = "";
    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === null) resolve(reply);
      else reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`no complete reply from port ${port} within ${timeout_ms} ms`)), timeout_ms);
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      if (done(reply)) finish(null);
    });
    socket.once("error", (error) => finish(error));
    socket.once("close", () => finish(new Error(`port ${port} closed the connection after ${JSON.stringify(reply.slice(0, 80))}`)));
    socket.connect(port, "127.0.0.1", () => socket.write(text, "latin1"));
  });
}

const ends = (suffix: string) => (reply: string) => reply.endsWith(suffix);

export async function stats(port: number, timeout_ms = 5_000): Promise<Map<string, string>> {
  return parseStats(await request(port, "stats\r\n", ends("END\r\n"), timeout_ms));
}

export async function set(port: number, key: string, value: string, timeout_ms = 5_000): Promise<string> {
  const reply = await request(port, `set ${key} 0 0 ${value.length}\r\n${value}\r\n`, ends("\r\n"), timeout_ms);
  return reply.trim();
}

/** The value stored under key, or null when the server has none. */
export async function get(port: number, key: string, timeout_ms = 5_000): Promise<string | null> {
  const reply = await request(port, `get ${key}\r\n`, ends("END\r\n"), timeout_ms);
  const match = /^VALUE \S+ \d+ \d+\r\n([\s\S]*?)\r\nEND\r\n$/.exec(reply);
  return match === null ? null : match[1]!;
}
