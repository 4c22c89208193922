// Test helpers for long request lines on real sockets: a server's (or the proxy's) bytes_read, a
// line sent in two writes with the first read before the second goes, and a line streamed with
// the socket's backpressure. Every wait is bounded by a deadline; nothing here starts processes.
import type { Socket } from "node:net";
import { RawClient } from "./procs.ts";
import { get_line_bytes_max } from "../../src/protocol/parser.ts";
import { CacheClient, eventually } from "./cache_client.ts";

/** `stats` bytes_read of the server (or proxy) on `port`. */
export async function bytesRead(port: number): Promise<number> {
  const c = await CacheClient.connect(port);
  try {
    return Number((await c.stats()).get("bytes_read"));
  } finally {
    c.close();
  }
}

/** Sends `text` in two writes: the first `first` bytes, then (once the server read them) the rest. */
export async function sendInTwo(client: RawClient, port: number, text: string, first: number): Promise<void> {
  const base = await bytesRead(port);
  client.send(text.slice(0, first));
  // the stats connection's own `stats\r\n` (7 bytes) counts too
  const read = await eventually(async () => (await bytesRead(port)) - base >= first + 7, 10_000, 10);
  if (!read) throw new Error(`the server did not read the first ${first} bytes`);
  client.send(text.slice(first));
}

/** Writes a line of `head`, `piece(i)` for i < count, then `tail`, with backpressure; resolves with the bytes written. */
export async function streamLine(socket: Socket, head: string, piece: (i: number) => string, count: number, tail: string): Promise<number> {
  let written = 0;
  const write = async (text: string) => {
    written += text.length;
    if (!socket.write(Buffer.from(text, "latin1"))) await new Promise<void>((resolve) => socket.once("drain", resolve));
  };
  await write(head);
  const batch_keys = 4096;
  for (let i = 0; i < count; i += batch_keys) {
    let text = "";
    for (let k = i; k < Math.min(count, i + batch_keys); k++) text += piece(k);
    await write(text);
  }
  await write(tail);
  return written;
}

/**
 * Get lines past get_line_bytes_max at their edges (a NUL, spaces only, a 250-byte key last, a
 * '\r' in the last key), each followed by `mn`: what the servers on `ports` answer to each, sent in
 * two writes across the bound, with foobarbaz's cas masked. The first port is the reference.
 */
export async function longGetEdgeReplies(ports: number[], reply_ms_max: number): Promise<string[][]> {
  const filler = "zz ".repeat(Math.ceil(get_line_bytes_max / 3) + 500);
  const lines = [
    "get \0" + filler + "\r\n", // no key before the NUL: ERROR
    "get foobarbaz\0" + filler + "\r\n", // keys end at the NUL
    "get" + " ".repeat(get_line_bytes_max + 100) + "\r\n", // spaces only: ERROR
    "get" + " ".repeat(get_line_bytes_max + 100) + "foobarbaz\r\n",
    "gets " + filler + "foobarbaz " + "K".repeat(250) + "\r\n",
    "get " + filler + "foobarbaz\r\r\n", // a \r inside the last key ("foobarbaz\r")
  ];
  const all: string[][] = [];
  for (const line of lines) {
    const replies: string[] = [];
    for (const port of ports) {
      const c = await RawClient.connect(port);
      await sendInTwo(c, port, line + "mn\r\n", get_line_bytes_max + 50);
      replies.push((await c.readText("MN\r\n", reply_ms_max)).replace(/(VALUE foobarbaz 0 2) \d+/g, "$1 <cas>"));
      c.close();
    }
    all.push(replies);
  }
  return all;
}
