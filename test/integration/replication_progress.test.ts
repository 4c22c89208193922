// Full-copy progress with a real pair: node A holds enough items that its copy to a joining node
// B spans several progress lines. At -v both print bounded `replication: marugoto progress` lines
// (A: sent n/total, B: received n/total — B learns the total from A's `rcb1_copy_total`), and
// `stats replication` shows the copy's items, bytes and percent on both sides.
import { afterEach, expect, test } from "bun:test";
import { freePort, type Spawned, startOurs } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";
import { progress_log_steps } from "../../src/replication/copy_progress.ts";

const items = 100_000;
const started: Spawned[] = [];

afterEach(async () => {
  for (const s of started.splice(0)) await s.stop("SIGKILL");
});

function progressLines(output: string, verb: string): string[] {
  return output.split("\n").filter((line) => line.startsWith(`replication: marugoto progress ${verb} `));
}

test("a full copy logs bounded progress lines on both sides and stats replication shows it", async () => {
  const rport = await freePort();
  const a = await startOurs(["-v", "-X", String(rport), "-m", "256"]);
  started.push(a);
  const ca = await CacheClient.connect(a.port);
  const value = "p".repeat(100);
  for (let at = 0; at < items; at += 10_000) {
    let batch = "";
    for (let i = at; i < at + 10_000; i++) batch += `set prog${i} 0 0 ${value.length} noreply\r\n${value}\r\n`;
    ca.raw.send(batch);
  }
  expect(await ca.command("mn\r\n")).toBe("MN");
  expect((await ca.stats()).get("curr_items")).toBe(String(items));
  const b = await startOurs(["-v", "-x", "127.0.0.1", "-X", String(rport), "-m", "256"], { wait: true });
  started.push(b);
  const cb = await CacheClient.connect(b.port);
  expect(await eventually(async () => (await ca.stats("replication")).get("state") === "synced", 15_000)).toBe(true);

  const sent = progressLines(a.output(), "sent");
  expect(sent.length).toBeGreaterThanOrEqual(3);
  expect(sent.length).toBeLessThanOrEqual(progress_log_steps - 1 + 2); // tenths, plus the 5 s lines of a slow run
  for (const line of sent) expect(line).toMatch(new RegExp(`^replication: marugoto progress sent \\d+/${items} items \\(\\d+%\\), [\\d.]+ MB, \\d+ items/s$`));
  const received = progressLines(b.output(), "received");
  expect(received.length).toBeGreaterThanOrEqual(3);
  expect(received.length).toBeLessThanOrEqual(progress_log_steps - 1 + 2);
  for (const line of received) expect(line).toMatch(new RegExp(`^replication: marugoto progress received \\d+/${items} items \\(\\d+%\\)`));
  // Percentages only go up.
  const percents = sent.map((line) => Number(/\((\d+)%\)/.exec(line)![1]));
  expect([...percents].sort((x, y) => x - y)).toEqual(percents);

  const ra = await ca.stats("replication");
  expect(ra.get("copy_sending")).toBe("0");
  expect(ra.get("copy_items_sent")).toBe(String(items));
  expect(ra.get("copy_items_planned")).toBe(String(items));
  expect(ra.get("copy_percent")).toBe("100");
  expect(Number(ra.get("copy_bytes_sent"))).toBeGreaterThan(items * value.length);
  const rb = await cb.stats("replication");
  expect(rb.get("copy_receiving")).toBe("0");
  expect(rb.get("copy_items_expected")).toBe(String(items));
  expect(Number(rb.get("copy_items_received"))).toBeGreaterThanOrEqual(items);
  expect(rb.get("copy_percent_received")).toBe("100");
  expect(Number(rb.get("copy_bytes_received"))).toBeGreaterThan(items * value.length);
  ca.close();
  cb.close();
}, 20_000);
