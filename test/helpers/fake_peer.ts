// Test helper: a scripted fake repcached 2.2.1 peer on 127.0.0.1 (a plain TCP socket that speaks
// repcached's replication bytes), plus a splitter for the replication stream.
// Every wait is bounded; nothing here spawns processes.
import { createServer, Socket, type Server } from "node:net";

/** One complete replication message as it appeared on the wire (latin1 text, CRLFs included). */
export type Message = string;

/**
 * Splits a repcached replication stream into complete messages:
 * `rep <key> <flags> <exptime> <bytes> <cas>\r\n<data>\r\n`, or any other single line
 * (`delete ...`, `flush_all ...`, `marugoto_end`, `get ...`). The unfinished tail is left in `rest`.
 */
export function splitMessages(text: string): { messages: Message[]; rest: string } {
  const messages: Message[] = [];
  let at = 0;
  for (;;) {
    const line_end = text.indexOf("\r\n", at);
    if (line_end < 0) break;
    const line = text.slice(at, line_end);
    let end = line_end + 2;
    if (line.startsWith("rep ")) {
      const tokens = line.split(" ");
      const bytes = Number(tokens[4]);
      if (tokens.length !== 6 || !Number.isInteger(bytes) || bytes < 0) {
        throw new Error(`malformed rep line ${JSON.stringify(line)}`);
      }
      end = line_end + 2 + bytes + 2;
      if (text.length < end) break;
    }
    messages.push(text.slice(at, end));
    at = end;
  }
  return { messages, rest: text.slice(at) };
}

/** A fake classic peer's end of a replication connection: collects every byte it receives. */
export class FakePeer {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  /** Every byte ever received (readers consume `received`; this keeps the whole history). */
  all = "";
  private probe_done = false;
  private probe_skip = 0;
  /** This peer answered a repcached-bun listener's probe with `END`. */
  probe_answered = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.answerProbe();
      this.all += chunk.toString("latin1");
      if (this.probe_skip > 0) {
        this.all = this.all.slice(this.probe_skip);
        this.probe_skip = 0;
      }
      this.wake();
    });
    socket.on("close", () => { this.closed = true; this.wake(); });
    socket.on("error", () => { this.closed = true; this.wake(); });
  }

  /**
   * A repcached-bun listener's first line is `get rcb1:probe`; like a real repcached 2.2.1 (which
   * answers a get on the replication connection), this peer answers `END`. The probe is passed
   * over, so `received` and `all` hold the replication stream itself.
   */
  private answerProbe(): void {
    if (this.probe_done) return;
    const probe = "get rcb1:probe\r\n";
    const text = this.received.toString("latin1");
    if (text.length < probe.length && probe.startsWith(text)) return;
    this.probe_done = true;
    if (!text.startsWith(probe)) return;
    this.received = this.received.subarray(probe.length);
    this.probe_skip = probe.length;
    this.send("END\r\n");
    this.probe_answered = true;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Connects to a replication listen port, as repcached started with -x does; sends nothing. */
  static async connect(port: number, ms = 5_000): Promise<FakePeer> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${port} timed out`)); }, ms);
      socket.once("connect", () => { clearTimeout(timer); resolve(); });
      socket.once("error", (error) => { clearTimeout(timer); reject(error); });
      socket.connect(port, "127.0.0.1");
    });
    return new FakePeer(socket);
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Bytes received and not yet consumed (does not consume them). */
  peek(): string {
    return this.received.toString("latin1");
  }

  /** Waits until `done(text)` (or close, or ms); returns and consumes what arrived. */
  async readUntil(done: (text: string) => boolean, ms = 5_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!done(this.received.toString("latin1")) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    const out = this.received.toString("latin1");
    this.received = Buffer.alloc(0);
    return out;
  }

  /** Reads until `n` complete messages arrived (or ms pass); returns the raw text (may hold more). */
  async readMessages(n: number, ms = 5_000): Promise<string> {
    return await this.readUntil((text) => splitMessages(text).messages.length >= n, ms);
  }

  /** Reads until a complete `marugoto_end\r\n` message arrived; returns the raw text. */
  async readUntilMarugotoEnd(ms = 5_000): Promise<string> {
    return await this.readUntil((text) => splitMessages(text).messages.includes("marugoto_end\r\n"), ms);
  }

  /** Waits ms and returns (and consumes) whatever arrived meanwhile. */
  async quiet(ms: number): Promise<string> {
    return await this.readUntil(() => false, ms);
  }

  /** Resolves true when the other side closes the connection within ms. */
  async waitClosed(ms = 5_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
    this.closed = true;
  }
}

/** A fake classic listener (repcached without -x): accepts our node's replication connections. */
export class FakeListener {
  readonly server: Server;
  readonly port: number;
  readonly accepted: FakePeer[] = [];
  private waiters: Array<() => void> = [];

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
    server.on("connection", (socket: Socket) => {
      this.accepted.push(new FakePeer(socket));
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    });
  }

  static async listen(port = 0): Promise<FakeListener> {
    const server = createServer();
    const bound = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    return new FakeListener(server, bound);
  }

  /** The index-th accepted connection (0 = first), waiting up to ms for it. */
  async accept(index = 0, ms = 10_000): Promise<FakePeer> {
    const deadline = Date.now() + ms;
    while (this.accepted.length <= index && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    const peer = this.accepted[index];
    if (peer === undefined) throw new Error(`no connection #${index} on fake listener ${this.port} within ${ms} ms`);
    return peer;
  }

  /** Stops accepting (already accepted connections stay open unless closeAll). */
  async close(closeAll = true): Promise<void> {
    if (closeAll) for (const peer of this.accepted) peer.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      this.server.close(() => { clearTimeout(timer); resolve(); });
    });
  }
}

/** One connect attempt to 127.0.0.1:port: true if it was accepted (the socket is closed again). */
export async function portAccepts(port: number, ms = 1_000): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = new Socket();
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, ms);
    socket.once("connect", () => { clearTimeout(timer); socket.destroy(); resolve(true); });
    socket.once("error", () => { clearTimeout(timer); socket.destroy(); resolve(false); });
    socket.connect(port, "127.0.0.1");
  });
}

/** Polls `check` every step_ms until it returns true or ms pass; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 5_000, step_ms = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(step_ms);
  }
}

export function nowS(): number {
  return Math.floor(Date.now() / 1000);
}
