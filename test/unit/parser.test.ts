// The text parser without sockets: every command at every split point, errors, limits.
import { describe, expect, test } from "bun:test";
import {
  Cmd, ClientError, Command, Parse, get_line_bytes_max, key_bytes_max, key_cursor, line_bytes_max, nextKey,
  parseCommand, parseGetRest,
} from "../../src/protocol/parser.ts";
import { parsed, parseI32, parseU32Truncating, parseU64 } from "../../src/protocol/numbers.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

function parseOne(text: string): { status: number; cmd: Command } {
  const cmd = new Command();
  const buf = bytes(text);
  return { status: parseCommand(buf, 0, buf.length, cmd), cmd };
}

function tokenText(buf: Uint8Array, off: number, len: number): string {
  return Buffer.from(buf.subarray(off, off + len)).toString("latin1");
}

/** Parses a pipeline, consuming storage data blocks as a connection would; returns a trace. */
function trace(buf: Uint8Array, start: number, end: number, cmd: Command, out: string[]): number {
  let at = start;
  for (;;) {
    const status = parseCommand(buf, at, end, cmd);
    if (status === Parse.NEED_MORE) return at;
    if (status === Parse.CLOSE) {
      out.push("CLOSE");
      return end;
    }
    let entry = `${cmd.kind}:${cmd.noreply ? "n" : ""}:${cmd.error}`;
    let next = cmd.next;
    if (cmd.kind >= Cmd.SET && cmd.kind <= Cmd.CAS) {
      const total = cmd.data_len + 2;
      if (end - cmd.next < total) return at; // the connection waits for the whole small value
      entry += `:${tokenText(buf, cmd.key_off, cmd.key_len)}=${tokenText(buf, cmd.next, cmd.data_len)}`;
      next += total;
    } else if (cmd.kind === Cmd.GET || cmd.kind === Cmd.GETS) {
      let from = cmd.keys_off;
      while (nextKey(buf, from, cmd.line_end)) {
        entry += `:${tokenText(buf, key_cursor.off, key_cursor.len)}`;
        from = key_cursor.off + key_cursor.len;
      }
    }
    out.push(entry);
    at = next;
  }
}

const pipeline =
  "set foo 5 0 3\r\nbar\r\nget foo baz\r\ngets  a   b\r\nincr n 42\r\ndecr n 1 noreply\r\n" +
  "delete foo\r\ndelete x 0\r\ntouch foo 10\r\nadd k 0 0 0\r\n\r\ncas k 0 0 1 99\r\nz\r\n" +
  "flush_all 10\nversion\r\nverbosity 1 noreply\r\nmn\r\nbogus\r\nstats items\r\nquit\r\n";

describe("parser on every split point", () => {
  const whole = bytes(pipeline);
  const expected: string[] = [];
  const used = trace(whole, 0, whole.length, new Command(), expected);

  test("the unsplit pipeline parses completely", () => {
    expect(used).toBe(whole.length);
    expect(expected.length).toBe(17);
    expect(expected[0]).toBe(`${Cmd.SET}::0:foo=bar`);
    expect(expected[1]).toBe(`${Cmd.GET}::0:foo:baz`);
    expect(expected[2]).toBe(`${Cmd.GETS}::0:a:b`);
    expect(expected[4]).toBe(`${Cmd.DECR}:n:0`);
    expect(expected[8]).toBe(`${Cmd.ADD}::0:k=`);
    expect(expected[13]).toBe(`${Cmd.MN}::0`);
    expect(expected[14]).toBe(`${Cmd.ERROR}::0`);
  });

  test("two chunks at every split point give the same commands", () => {
    for (let split = 0; split <= whole.length; split++) {
      const out: string[] = [];
      const cmd = new Command();
      // First chunk alone, then the unconsumed tail joined with the second chunk (the stash).
      const first = whole.subarray(0, split);
      const used_first = trace(first, 0, first.length, cmd, out);
      const stash = Buffer.concat([first.subarray(used_first), whole.subarray(split)]);
      const used_rest = trace(stash, 0, stash.length, cmd, out);
      expect(used_rest).toBe(stash.length);
      expect(out).toEqual(expected);
    }
  });

  test("byte-by-byte feeding gives the same commands", () => {
    const out: string[] = [];
    const cmd = new Command();
    let stash = Buffer.alloc(0);
    for (let i = 0; i < whole.length; i++) {
      stash = Buffer.concat([stash, whole.subarray(i, i + 1)]);
      const used_now = trace(stash, 0, stash.length, cmd, out);
      stash = stash.subarray(used_now);
    }
    expect(stash.length).toBe(0);
    expect(out).toEqual(expected);
  });

  test("NEED_MORE consumes nothing and leaves the record alone", () => {
    const cmd = new Command();
    cmd.next = 1234;
    cmd.kind = Cmd.VERSION;
    for (let i = 0; i < "get foo".length; i++) {
      const buf = bytes("get foo".slice(0, i));
      expect(parseCommand(buf, 0, buf.length, cmd)).toBe(Parse.NEED_MORE);
      expect(cmd.next).toBe(1234);
      expect(cmd.kind).toBe(Cmd.VERSION);
    }
  });

  test("parsing respects start and end inside a larger buffer", () => {
    const buf = bytes("xxxxget a\r\nget b\r\n");
    const cmd = new Command();
    expect(parseCommand(buf, 4, 9, cmd)).toBe(Parse.NEED_MORE);
    expect(parseCommand(buf, 4, 11, cmd)).toBe(Parse.LINE);
    expect(cmd.next).toBe(11);
    expect(tokenText(buf, cmd.keys_off, 1)).toBe("a");
  });
});

describe("command lines", () => {
  test("storage fields", () => {
    const { status, cmd } = parseOne("set k 4294967295 -1 10 noreply\r\n");
    expect(status).toBe(Parse.LINE);
    expect(cmd.kind).toBe(Cmd.SET);
    expect(cmd.flags).toBe(4294967295);
    expect(cmd.exptime).toBe(-1);
    expect(cmd.data_len).toBe(10);
    expect(cmd.noreply).toBe(true);
  });

  test("cas carries a full 64-bit unique", () => {
    const { cmd } = parseOne("cas k 0 0 1 18446744073709551615\r\n");
    expect(cmd.kind).toBe(Cmd.CAS);
    expect(cmd.num_lo).toBe(4294967295);
    expect(cmd.num_hi).toBe(4294967295);
    expect(parseOne("cas k 0 0 1 18446744073709551616\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
  });

  test("rep (replication) carries a cas and may print flags signed, as repcached does", () => {
    const { cmd } = parseOne("rep k -1 1795412821 2 7\r\n");
    expect(cmd.kind).toBe(Cmd.REP);
    expect(cmd.flags).toBe(4294967295);
    expect(cmd.exptime).toBe(1795412821);
    expect(cmd.num_lo).toBe(7);
    expect(parseOne("set k -1 0 1\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
  });

  test("rcb1_tomb (repcached-bun peers) carries a key and a 64-bit cas", () => {
    const { cmd } = parseOne("rcb1_tomb some:key 18446744073709551615\r\n");
    expect(cmd.kind).toBe(Cmd.TOMB);
    expect(tokenText(bytes("rcb1_tomb some:key 18446744073709551615\r\n"), cmd.key_off, cmd.key_len)).toBe("some:key");
    expect(cmd.num_lo).toBe(0xffffffff);
    expect(cmd.num_hi).toBe(0xffffffff);
    expect(parseOne("rcb1_tomb k 18446744073709551616\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne(`rcb1_tomb ${"k".repeat(251)} 1\r\n`).cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne("rcb1_tomb k\r\n").cmd.kind).toBe(Cmd.ERROR);
    expect(parseOne("rcb1_tomb k 1 2\r\n").cmd.kind).toBe(Cmd.ERROR);
  });

  test("wrong token counts are ERROR", () => {
    for (const line of ["set k 0 0\r\n", "set k 0 0 1 noreply extra\r\n", "get\r\n", "incr k\r\n", "cas k 0 0 1\r\n",
      "touch k\r\n", "x\r\n", "\r\n", "\n", "verbosity\r\n", "flush_all 1 2 3\r\n", "gat\r\n"]) {
      expect(parseOne(line).cmd.kind).toBe(Cmd.ERROR);
    }
  });

  test("a key over 250 bytes is a client error; 250 is fine", () => {
    expect(parseOne(`set ${"k".repeat(250)} 0 0 1\r\n`).cmd.kind).toBe(Cmd.SET);
    const { cmd } = parseOne(`set ${"k".repeat(251)} 0 0 1\r\n`);
    expect(cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(cmd.error).toBe(ClientError.FORMAT);
  });

  test("bad numbers", () => {
    expect(parseOne("set k x 0 1\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne("set k 0 0 -1\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne("set k 0 9223372036854775808 1\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne("set k -1 0 1\r\n").cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(parseOne("incr k -1\r\n").cmd.error).toBe(ClientError.DELTA);
    expect(parseOne("incr k abc\r\n").cmd.error).toBe(ClientError.DELTA);
    expect(parseOne("touch k abc\r\n").cmd.error).toBe(ClientError.EXPTIME);
    expect(parseOne("gat abc k\r\n").cmd.error).toBe(ClientError.EXPTIME);
  });

  test("noreply on an erroring line is still noted (memcached sets it first)", () => {
    const { cmd } = parseOne(`set ${"k".repeat(251)} 0 0 1 noreply\r\n`);
    expect(cmd.kind).toBe(Cmd.CLIENT_ERROR);
    expect(cmd.noreply).toBe(true);
  });

  test("delete's legacy time argument", () => {
    expect(parseOne("delete k 0\r\n").cmd.kind).toBe(Cmd.DELETE);
    expect(parseOne("delete k noreply\r\n").cmd.noreply).toBe(true);
    expect(parseOne("delete k 0 noreply\r\n").cmd.kind).toBe(Cmd.DELETE);
    const bad = parseOne("delete k 5\r\n").cmd;
    expect(bad.kind).toBe(Cmd.CLIENT_ERROR);
    expect(bad.error).toBe(ClientError.DELETE_USAGE);
  });

  test("gat carries an exptime before the keys", () => {
    const buf = bytes("gats 100 a b\r\n");
    const cmd = new Command();
    parseCommand(buf, 0, buf.length, cmd);
    expect(cmd.kind).toBe(Cmd.GATS);
    expect(cmd.exptime).toBe(100);
    expect(tokenText(buf, cmd.keys_off, 1)).toBe("a");
  });

  test("flush_all with and without delay, and noreply", () => {
    expect(parseOne("flush_all\r\n").cmd.has_arg).toBe(false);
    const delayed = parseOne("flush_all 30 noreply\r\n").cmd;
    expect(delayed.exptime).toBe(30);
    expect(delayed.noreply).toBe(true);
    expect(parseOne("flush_all noreply\r\n").cmd.has_arg).toBe(false);
    expect(parseOne("flush_all x\r\n").cmd.error).toBe(ClientError.EXPTIME);
    expect(parseOne("gat 10\r\n").cmd.kind).toBe(Cmd.GAT);
  });

  test("a NUL ends the line, a lone \\n works, runs of spaces are skipped", () => {
    const nul = parseOne("get a\0junk\r\n");
    expect(nul.cmd.kind).toBe(Cmd.GET);
    expect(nul.cmd.line_end).toBe(5);
    expect(parseOne("  get   a  \n").cmd.kind).toBe(Cmd.GET);
  });

  test("an HTTP request line closes", () => {
    expect(parseOne("GET / HTTP/1.1\r\n").cmd.kind).toBe(Cmd.CLOSE);
  });

  test("line length limits", () => {
    const long = bytes("set " + "x".repeat(line_bytes_max));
    expect(parseCommand(long, 0, long.length, new Command())).toBe(Parse.CLOSE);
    const short = bytes("x".repeat(line_bytes_max));
    expect(parseCommand(short, 0, short.length, new Command())).toBe(Parse.NEED_MORE);
    const long_get = bytes("get " + "k ".repeat(line_bytes_max));
    expect(parseCommand(long_get, 0, long_get.length, new Command())).toBe(Parse.NEED_MORE);
    const huge_get = bytes("get " + "k ".repeat(get_line_bytes_max));
    expect(parseCommand(huge_get, 0, huge_get.length, new Command())).toBe(Parse.GET_PART);
    const huge_gat = bytes("gat 0 " + "k ".repeat(get_line_bytes_max));
    expect(parseCommand(huge_gat, 0, huge_gat.length, new Command())).toBe(Parse.CLOSE); // as memcached
  });

  test("more than 23 tokens keeps the rest in the terminal token", () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const buf = bytes(`get ${keys.join(" ")}\r\n`);
    const cmd = new Command();
    parseCommand(buf, 0, buf.length, cmd);
    expect(cmd.ntokens).toBe(24);
    const seen: string[] = [];
    let from = cmd.keys_off;
    while (nextKey(buf, from, cmd.line_end)) {
      seen.push(tokenText(buf, key_cursor.off, key_cursor.len));
      from = key_cursor.off + key_cursor.len;
    }
    expect(seen).toEqual(keys);
    expect(parseOne(`set k 0 0 1 ${"x ".repeat(30)}\r\n`).cmd.kind).toBe(Cmd.ERROR);
  });
});

describe("numbers (memcached's safe_strto*)", () => {
  const u = (text: string) => parseU64(bytes(text), 0, text.length);
  test("u64 bounds", () => {
    expect(u("0")).toBe(true);
    expect(u("18446744073709551615")).toBe(true);
    expect([parsed.lo, parsed.hi]).toEqual([4294967295, 4294967295]);
    expect(u("18446744073709551616")).toBe(false);
    expect(u("4294967296")).toBe(true);
    expect([parsed.lo, parsed.hi]).toEqual([0, 1]);
    expect(u("-1")).toBe(false);
    expect(u("-0")).toBe(true);
    expect(u("")).toBe(false);
    expect(u("12a")).toBe(false);
    expect(u("12\t")).toBe(true);
    expect(u("+7")).toBe(true);
  });
  test("u64 agrees with BigInt on random digit strings of every length (fast and carry paths)", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let n = 0; n < 3000; n++) {
      const length = 1 + Math.floor(random() * 21);
      let text = "";
      for (let i = 0; i < length; i++) text += String(Math.floor(random() * 10));
      const expected = BigInt(text);
      const ok = u(text);
      if (expected >= 2n ** 64n) {
        expect(ok).toBe(false);
        continue;
      }
      expect(ok).toBe(true);
      expect(BigInt(parsed.hi) * 2n ** 32n + BigInt(parsed.lo)).toBe(expected);
    }
  });

  test("int32 fields: strtol's 64-bit range, then the low 32 bits (memcached 1.6.18)", () => {
    const i = (text: string) => parseI32(bytes(text), 0, text.length);
    expect(i("2147483647") && parsed.value === 2147483647).toBe(true);
    expect(i("2147483648") && parsed.value === -2147483648).toBe(true);
    expect(i("4294967297") && parsed.value === 1).toBe(true);
    expect(i("4294967296") && parsed.value === 0).toBe(true);
    expect(i("-2147483649") && parsed.value === 2147483647).toBe(true);
    expect(i("9223372036854775807") && parsed.value === -1).toBe(true);
    expect(i("9223372036854775808")).toBe(false);
    expect(i("-9223372036854775808") && parsed.value === 0).toBe(true);
    expect(i("-9223372036854775809")).toBe(false);
  });
  test("flags truncate to 32 bits like memcached's unsigned long store", () => {
    expect(parseU32Truncating(bytes("4294967296"), 0, 10)).toBe(true);
    expect(parsed.value).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Long get lines (past get_line_bytes_max): parsed in parts as they arrive. A driver feeds chunks
// the way a connection does (what a parse does not consume is kept and the next chunk appended)
// and records what an executor would do: keys in order, then END, ERROR or the long-key error.

const SP = " ";

class GetLineDriver {
  private pending: Uint8Array = new Uint8Array(0);
  private state: "commands" | "rest" | "skip" = "commands";
  private skip_reply = "";
  private keys_seen = false;
  readonly cmd = new Command();
  readonly trace: string[] = [];
  /** The most bytes held between two chunks. */
  held_max = 0;

  feed(chunk: Uint8Array): void {
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending);
    buf.set(chunk, this.pending.length);
    let at = 0;
    for (;;) {
      const next = this.step(buf, at, buf.length);
      if (next < 0) break;
      at = next;
    }
    this.pending = buf.slice(at);
    this.held_max = Math.max(this.held_max, this.pending.length);
  }

  /** One parse; returns where the next starts, or -1 (NEED_MORE, or the buffer is used up). */
  private step(buf: Uint8Array, at: number, end: number): number {
    if (at >= end) return -1;
    const cmd = this.cmd;
    if (this.state === "skip") {
      const nl = buf.indexOf(10, at);
      if (nl < 0) return end;
      if (this.skip_reply !== "") this.trace.push(this.skip_reply);
      this.state = "commands";
      return nl + 1;
    }
    if (this.state === "rest") {
      const status = parseGetRest(buf, at, end, cmd);
      if (status === Parse.NEED_MORE) return -1;
      return this.keys(buf, status === Parse.LINE);
    }
    const status = parseCommand(buf, at, end, cmd);
    if (status === Parse.NEED_MORE) return -1;
    if (status === Parse.CLOSE) {
      this.trace.push("CLOSE");
      return end;
    }
    this.trace.push(cmd.kind === Cmd.GETS ? "gets" : cmd.kind === Cmd.GET ? "get" : `cmd${cmd.kind}`);
    if (status === Parse.LINE && cmd.kind !== Cmd.GET && cmd.kind !== Cmd.GETS) return cmd.next;
    this.keys_seen = false;
    return this.keys(buf, status === Parse.LINE);
  }

  /** The keys of [keys_off, line_end): all of them, or the long-key error alone (as executeGet). */
  private keys(buf: Uint8Array, last: boolean): number {
    const cmd = this.cmd;
    const found: string[] = [];
    let long_key = false;
    for (let from = cmd.keys_off; nextKey(buf, from, cmd.line_end); from = key_cursor.off + key_cursor.len) {
      if (key_cursor.len > 250) long_key = true;
      found.push(tokenText(buf, key_cursor.off, key_cursor.len));
    }
    if (long_key) this.trace.push("CLIENT_ERROR");
    else this.trace.push(...found);
    if (found.length > 0) this.keys_seen = true;
    if (last) {
      if (!long_key) this.trace.push(this.keys_seen ? "END" : "ERROR");
      this.state = "commands";
    } else if (long_key || cmd.keys_final) {
      this.state = "skip";
      this.skip_reply = long_key ? "" : this.keys_seen ? "END" : "ERROR";
    } else {
      this.state = "rest";
    }
    return cmd.next;
  }
}

function drive(chunks: Uint8Array[]): GetLineDriver {
  const driver = new GetLineDriver();
  for (const chunk of chunks) driver.feed(chunk);
  return driver;
}

/** A get line just past get_line_bytes_max: keys of 1..250 bytes, then `tail` and a next command. */
function longGetLine(tail: string): { line: Buffer; keys: string[] } {
  const keys: string[] = [];
  let text = "get";
  for (let i = 0; text.length < get_line_bytes_max + 1_000; i++) {
    const key = `k${i}_`.padEnd(1 + (i * 37) % 250, "x");
    keys.push(key);
    text += (i % 7 === 0 ? "   " : SP) + key;
  }
  return { line: bytes(`${text}${tail}`), keys };
}

describe("long get lines in parts", () => {
  const { line, keys } = longGetLine("\r\nversion\r\n");
  const expected = ["get", ...keys, "END", `cmd${Cmd.VERSION}`];

  test("whole, the line is one LINE; fed past get_line_bytes_max it comes in parts", () => {
    expect(drive([line]).trace).toEqual(expected);
    const first = line.subarray(0, get_line_bytes_max + 10);
    const cmd = new Command();
    expect(parseCommand(first, 0, first.length, cmd)).toBe(Parse.GET_PART);
    expect(cmd.kind).toBe(Cmd.GET);
    expect(first[cmd.line_end]).toBe(32); // the complete keys end at the last space
    expect(cmd.keys_final).toBe(false);
  });

  test("two chunks at split points around the bound (every one) and elsewhere (every 61st)", () => {
    for (let split = 1; split < line.length; split++) {
      const near = Math.abs(split - get_line_bytes_max) < 600 || split > line.length - 600;
      if (!near && split % 61 !== 0) continue;
      const driver = drive([line.subarray(0, split), line.subarray(split)]);
      if (driver.trace.length !== expected.length || driver.trace.some((entry, i) => entry !== expected[i])) {
        throw new Error(`split at ${split}: ${JSON.stringify(driver.trace.slice(-5))}`);
      }
    }
  });

  test("one byte at a time: same keys, and never more than get_line_bytes_max held", () => {
    const driver = drive(Array.from({ length: line.length }, (_, i) => line.subarray(i, i + 1)));
    expect(driver.trace).toEqual(expected);
    expect(driver.held_max).toBeLessThanOrEqual(get_line_bytes_max);
  });

  test("past the bound, only the unfinished key is held between chunks", () => {
    const driver = new GetLineDriver();
    driver.feed(line.subarray(0, get_line_bytes_max + 1));
    driver.held_max = 0;
    for (let at = get_line_bytes_max + 1; at < line.length; at += 100) driver.feed(line.subarray(at, at + 100));
    expect(driver.trace).toEqual(expected);
    expect(driver.held_max).toBeLessThanOrEqual(key_bytes_max + 1);
  });

  test("a key over 250 bytes answers the error once, nothing after it; the next command is read", () => {
    const { line: with_long } = longGetLine(` ${"L".repeat(251)} after1 after2\r\nversion\r\n`);
    for (const split of [1, 100, get_line_bytes_max - 5, get_line_bytes_max + 500, with_long.length - 260, with_long.length - 20]) {
      const trace = drive([with_long.subarray(0, split), with_long.subarray(split)]).trace;
      expect(trace.filter((entry) => entry === "CLIENT_ERROR").length).toBe(1);
      expect(trace).not.toContain("END");
      expect(trace).not.toContain("after1");
      expect(trace.slice(-2)).toEqual(["CLIENT_ERROR", `cmd${Cmd.VERSION}`]);
      const served = trace.slice(1, -2);
      expect(served).toEqual(keys.slice(0, served.length)); // a prefix: the parts before the long key's
    }
    // whole, it is memcached's answer exactly: the error alone
    expect(drive([with_long]).trace).toEqual(["get", "CLIENT_ERROR", `cmd${Cmd.VERSION}`]);
  });

  test("an unfinished key already over 251 bytes is the error before its end arrives", () => {
    const { line: start } = longGetLine(" " + "L".repeat(300));
    const driver = drive([start]);
    expect(driver.trace.at(-1)).toBe("CLIENT_ERROR");
    driver.feed(bytes("L".repeat(5_000)));
    driver.feed(bytes(" more\r\nversion\r\n"));
    expect(driver.trace.slice(-2)).toEqual(["CLIENT_ERROR", `cmd${Cmd.VERSION}`]);
    expect(driver.held_max).toBeLessThanOrEqual(get_line_bytes_max);
  });

  test("a 250-byte last key split before its \\r\\n is a key, not an error", () => {
    const { line: ends_250 } = longGetLine(` ${"M".repeat(250)}\r\nversion\r\n`);
    for (let back = 1; back <= 4; back++) {
      const split = ends_250.length - "version\r\n".length - back;
      const trace = drive([ends_250.subarray(0, get_line_bytes_max + 2), ends_250.subarray(get_line_bytes_max + 2, split), ends_250.subarray(split)]).trace;
      expect(trace.slice(-3)).toEqual(["M".repeat(250), "END", `cmd${Cmd.VERSION}`]);
    }
  });

  test("a NUL ends the keys (memcached reads a C string): the rest up to \\n is skipped, then END", () => {
    const { line: with_nul } = longGetLine(" before\0after x y\r\nversion\r\n");
    for (const split of [get_line_bytes_max + 100, with_nul.length - 15, with_nul.length - 3]) {
      const trace = drive([with_nul.subarray(0, split), with_nul.subarray(split)]).trace;
      expect(trace.slice(-3)).toEqual(["before", "END", `cmd${Cmd.VERSION}`]);
      expect(trace).not.toContain("after");
    }
  });

  test("gets comes in parts too; a line of spaces alone answers ERROR", () => {
    const gets_line = bytes("gets" + line.subarray(3).toString("latin1"));
    const trace = drive([gets_line.subarray(0, get_line_bytes_max + 7), gets_line.subarray(get_line_bytes_max + 7)]).trace;
    expect(trace[0]).toBe("gets");
    expect(trace.slice(1, -2)).toEqual(keys);
    const spaces = bytes("get" + " ".repeat(get_line_bytes_max + 10));
    expect(drive([spaces, bytes("  \r\n")]).trace).toEqual(["get", "ERROR"]);
    expect(drive([spaces, bytes("  a\r\n")]).trace).toEqual(["get", "a", "END"]);
    // a NUL first: no key at all (memcached 1.6.18: ERROR); after a key: END
    const nul_first = bytes("get \0" + "a ".repeat(get_line_bytes_max));
    expect(drive([nul_first, bytes("b\r\n")]).trace).toEqual(["get", "ERROR"]);
    const nul_after = bytes("get  a\0" + "a ".repeat(get_line_bytes_max));
    expect(drive([nul_after, bytes("b\r\n")]).trace).toEqual(["get", "a", "END"]);
  });
});
