// Honest flags, on a running server: a flag accepted without effect warns at start without -v and
// in `stats settings`; an unknown -o option is refused as memcached refuses it; the replication
// queue's byte bound is one number in `stats settings` and `stats replication`. Each test stops
// what it started by PID; every wait is bounded.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { bun_path, freePort, project_root, RawClient, startOurs } from "../helpers/procs.ts";

const main_path = join(project_root, "src", "main.ts");

function statLines(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const match = /^STAT (\S+) (.*)$/.exec(line);
    if (match !== null) map.set(match[1]!, match[2]!);
  }
  return map;
}

describe("flags on a running server", () => {
  test("-o bogus: memcached's message and exit status, nothing started", () => {
    const ran = Bun.spawnSync([bun_path, main_path, "-p", "0", "-o", "hashpower=20,bogus"], {
      stdout: "pipe", stderr: "pipe", timeout: 10_000,
    });
    expect(ran.exitCode).toBe(1);
    expect(ran.stderr.toString()).toBe('Illegal suboption "bogus"\n');
  });

  test("--replication-queue-bytes above -q × 265: refused, naming the maximum", () => {
    const ran = Bun.spawnSync([bun_path, main_path, "-q", "100", "--replication-queue-bytes=64m"], {
      stdout: "pipe", stderr: "pipe", timeout: 10_000,
    });
    expect(ran.exitCode).toBe(64);
    expect(ran.stderr.toString()).toContain("at most 26500 bytes (raise -q for more)");
  });

  test("warnings print at start without -v, and stats settings lists them; the queue bound agrees everywhere", async () => {
    const replication_port = await freePort();
    const server = await startOurs(["-b", "99", "-o", "hashpower=20,no_lru_crawler", "-X", String(replication_port),
      "-q", "100", "--replication-queue-bytes=20000"]);
    try {
      const client = await RawClient.connect(server.port);
      const settings = statLines(await client.call("stats settings\r\n", "END\r\n"));
      const replication = statLines(await client.call("stats replication\r\n", "END\r\n"));
      const output = server.output();
      expect(output).toContain("WARNING: option -b: accepted without effect: Bun.listen has no backlog option");
      expect(output).toContain("WARNING: option -o hashpower: accepted without effect");
      expect(output).toContain("WARNING: option -o no_lru_crawler: accepted without effect");
      expect(settings.get("warnings")).toBe("3");
      expect(settings.get("warning_1")).toContain("option -b: accepted without effect");
      expect(settings.has("lru_crawler")).toBe(false);
      expect(settings.has("slab_reassign")).toBe(false);
      expect(settings.has("slab_automove")).toBe(false);
      expect(settings.has("tcp_backlog")).toBe(false);
      expect(settings.get("replication_queue_bytes_max")).toBe("20000");
      expect(replication.get("queue_bytes_max")).toBe("20000");
      expect(replication.get("queue_items_max")).toBe("100");
    } finally {
      await server.stop();
    }
  });

  test("the default queue bound: -q × 265 in both stats", async () => {
    const server = await startOurs(["-X", String(await freePort())]);
    try {
      const client = await RawClient.connect(server.port);
      const settings = statLines(await client.call("stats settings\r\n", "END\r\n"));
      const replication = statLines(await client.call("stats replication\r\n", "END\r\n"));
      expect(settings.get("replication_queue_bytes_max")).toBe(String(8192 * 265));
      expect(replication.get("queue_bytes_max")).toBe(String(8192 * 265));
      expect(settings.get("warnings")).toBe("0");
      expect(server.output()).not.toContain("WARNING");
    } finally {
      await server.stop();
    }
  });
});
