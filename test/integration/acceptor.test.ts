// The relaying acceptor of bench/acceptor.ts (bench/acceptor_server.ts, 2 workers): a real process on
// 127.0.0.1, real sockets. Connections are spread over both workers (least-connections: 2 and 2 of
// 4, seen in `stats threads`) and see one cache; a value larger than a frame batch and than the
// in-flight bound crosses whole both ways; a request written one byte at a time is answered as if
// sent at once; `quit` closes the client (the worker's END); SIGTERM ends the process with 0.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Socket } from "node:net";
import { join } from "node:path";
import { backlog_bytes_max, batch_bytes, inflight_bytes_max } from "../../bench/lib/relay_frames.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { bun_path, freePort, project_root, RawClient, waitForPort } from "../helpers/procs.ts";

const test_ms_max = 30_000;
const stop_ms_max = 10_000;
const workers = 2;
const clients_count = 4;
/** Larger than a batch and than both per-client bounds: it is cut into frames, and reading pauses and resumes. */
const big_bytes = Math.max(batch_bytes, inflight_bytes_max, backlog_bytes_max) + 50_000;

/** Per-thread figures from `stats threads` (thread 0 is the acceptor's main thread). */
async function threadStat(client: RawClient, name: string): Promise<Map<number, number>> {
  const reply = await client.call("stats threads\r\n", "END\r\n");
  const by_thread = new Map<number, number>();
  for (const m of reply.matchAll(new RegExp(`STAT (\\d+):${name} (\\d+)\\r\\n`, "g"))) by_thread.set(Number(m[1]), Number(m[2]));
  return by_thread;
}

/** Writes `text` one byte per write, each handed to the kernel before the next (TCP may still merge some). */
async function sendByteByByte(socket: Socket, text: string): Promise<void> {
  for (const byte of Buffer.from(text, "latin1")) {
    await new Promise<void>((resolve, reject) => socket.write(Buffer.of(byte), (error) => (error ? reject(error) : resolve())));
  }
}

describe("relaying acceptor, 2 workers", () => {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  let port = 0;
  let output = "";
  const clients: CacheClient[] = [];

  beforeAll(async () => {
    port = await freePort();
    proc = Bun.spawn([bun_path, join(project_root, "bench", "acceptor_server.ts"), "--workers", String(workers), "-l", "127.0.0.1", "-p", String(port), "-m", "64"], {
      cwd: project_root, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    void new Response(proc.stderr).text().then((text) => (output += text));
    await waitForPort(port);
    for (let i = 0; i < clients_count; i++) clients.push(await CacheClient.connect(port));
  }, test_ms_max);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  }, test_ms_max);

  test("connections are spread over both workers and see one cache", async () => {
    // waitForPort's probe connection was counted and closed: wait until only ours remain.
    let conns = new Map<number, number>();
    expect(await eventually(async () => {
      conns = await threadStat(clients[0]!.raw, "curr_connections");
      return conns.get(1) === clients_count / workers && conns.get(2) === clients_count / workers;
    })).toBe(true);
    expect(conns.get(0)).toBe(0);
    for (const [i, c] of clients.entries()) expect(await c.set(`k${i}`, `value of ${i}`, i)).toBe("STORED");
    for (const reader of clients) {
      for (let i = 0; i < clients.length; i++) expect(await reader.get(`k${i}`)).toMatchObject({ value: `value of ${i}`, flags: i });
    }
    const sets = await threadStat(clients[0]!.raw, "cmd_set");
    expect(sets.get(1)! > 0 && sets.get(2)! > 0).toBe(true);
  }, test_ms_max);

  test("a value larger than a frame batch and the in-flight bound crosses whole, both ways, on each worker", async () => {
    let value = "";
    for (let i = 0; i < big_bytes; i++) value += String.fromCharCode(33 + ((i * 7 + (i >> 9)) % 90));
    expect(await clients[0]!.set("big", value)).toBe("STORED");
    for (const c of clients) expect((await c.get("big"))?.value === value).toBe(true);
    expect(await clients[1]!.set("big2", value.slice(1) + "!")).toBe("STORED");
    expect((await clients[2]!.get("big2"))?.value === value.slice(1) + "!").toBe(true);
  }, test_ms_max);

  test("a request sent one byte at a time is answered as if sent at once", async () => {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
      socket.connect(port, "127.0.0.1");
    });
    socket.setNoDelay(true);
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    try {
      await sendByteByByte(socket, "set split 3 0 5\r\nhello\r\nget split k0\r\n");
      const expected = "STORED\r\nVALUE split 3 5\r\nhello\r\nVALUE k0 0 10\r\nvalue of 0\r\nEND\r\n";
      expect(await eventually(async () => received.length >= expected.length)).toBe(true);
      expect(received).toBe(expected);
    } finally {
      socket.destroy();
    }
    expect((await clients[3]!.get("split"))?.value).toBe("hello");
  }, test_ms_max);

  test("quit closes the client; SIGTERM ends the process with 0", async () => {
    const c = await RawClient.connect(port);
    c.send("quit\r\n");
    expect(await c.waitClosed()).toBe(true);
    proc.kill("SIGTERM");
    const code = await Promise.race([proc.exited, Bun.sleep(stop_ms_max).then(() => "still running")]);
    expect(code, output).toBe(0);
  }, test_ms_max);
});
