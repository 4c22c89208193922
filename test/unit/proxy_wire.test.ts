// What the proxy sends upstream, without sockets: a client's command without `noreply`, byte
// copies, and the exptime that keeps a backup's remaining TTL on write-back.
import { describe, expect, test } from "bun:test";
import { Command, Parse, parseCommand } from "../../src/protocol/parser.ts";
import { copyBytes, copyCommand } from "../../src/proxy/wire.ts";
import { exptimeOfTtl } from "../../src/proxy/get_request.ts";
import { exptime_relative_s_max } from "../../src/proxy/limits.ts";

function forwarded(text: string): string {
  const buf = Buffer.from(text, "latin1");
  const cmd = new Command();
  expect(parseCommand(buf, 0, buf.length, cmd)).toBe(Parse.LINE);
  const end = cmd.data_len > 0 || text.includes("\r\n\r\n") ? cmd.next + cmd.data_len + 2 : cmd.next;
  return Buffer.from(copyCommand(buf, cmd, Math.min(end, buf.length))).toString("latin1");
}

describe("commands forwarded upstream", () => {
  test("without noreply they go byte for byte", () => {
    expect(forwarded("set k 1 2 3\r\nabc\r\n")).toBe("set k 1 2 3\r\nabc\r\n");
    expect(forwarded("incr k 5\n")).toBe("incr k 5\n");
  });

  test("noreply is cut (the proxy always wants the reply), data kept", () => {
    expect(forwarded("set k 1 2 3 noreply\r\nabc\r\n")).toBe("set k 1 2 3\r\nabc\r\n");
    expect(forwarded("cas k 0 0 1 77   noreply\r\nz\r\n")).toBe("cas k 0 0 1 77\r\nz\r\n");
    expect(forwarded("delete k noreply\r\n")).toBe("delete k\r\n");
    expect(forwarded("delete k 0 noreply\r\n")).toBe("delete k 0\r\n");
    expect(forwarded("touch k 10 noreply\r\n")).toBe("touch k 10\r\n");
    expect(forwarded("flush_all noreply\r\n")).toBe("flush_all\r\n");
    expect(forwarded("verbosity 1 noreply\r\n")).toBe("verbosity 1\r\n");
  });

  test("copyBytes copies short and long ranges", () => {
    const src = new Uint8Array(300).map((_, i) => i & 0xff);
    for (const len of [0, 1, 63, 64, 65, 200]) {
      const dst = new Uint8Array(310);
      copyBytes(src, 7, dst, 3, len);
      expect(Array.from(dst.subarray(3, 3 + len))).toEqual(Array.from(src.subarray(7, 7 + len)));
      expect(dst[3 + len]).toBe(0);
    }
  });
});

describe("write-back exptime from a meta TTL", () => {
  test("never expires → 0; relative kept; past 30 days → absolute; 0 → 1 s, not forever", () => {
    expect(exptimeOfTtl(-1)).toBe(0);
    expect(exptimeOfTtl(120)).toBe(120);
    expect(exptimeOfTtl(exptime_relative_s_max)).toBe(exptime_relative_s_max);
    const now_s = Math.floor(Date.now() / 1000);
    const absolute = exptimeOfTtl(exptime_relative_s_max + 100);
    expect(absolute).toBeGreaterThanOrEqual(now_s + exptime_relative_s_max + 100);
    expect(absolute).toBeLessThanOrEqual(now_s + exptime_relative_s_max + 102);
    expect(exptimeOfTtl(0)).toBe(1);
  });
});
