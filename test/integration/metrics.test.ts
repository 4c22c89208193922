// The /metrics endpoints of the server and the proxy, checked with real tools and real peers:
// - every page passes Prometheus' own `promtool check metrics` (Debian's prometheus package);
// - values move: a set counts in memcached_commands_total, a paired node shows its state, a
//   proxy backend that goes down flips its up gauge, answered requests land in the histogram;
// - odd HTTP (other paths, methods, bodies, garbage bytes) gets an HTTP error or a close, and the
//   node keeps serving; flags that cannot take effect are refused.
import { afterEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { bun_path, freePort, pauseProcess, project_root, type Spawned, startMagent, startOurs } from "../helpers/procs.ts";
import { CacheClient, eventually } from "../helpers/cache_client.ts";

const promtool_path = "/usr/bin/promtool";
const started: Spawned[] = [];

afterEach(async () => {
  for (const s of started.splice(0)) await s.stop("SIGKILL");
});

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return await response.text();
}

/** promtool's verdict on a page: exit code and what it printed (lint problems included). */
async function promtool(page: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([promtool_path, "check", "metrics"], { stdin: new TextEncoder().encode(page), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: stdout + stderr };
}

/** The value of one sample (`name{labels}` exactly as written), or null when absent. */
function sample(page: string, series: string): number | null {
  for (const line of page.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return null;
}

async function ours(args: string[], opts: { wait?: boolean; port?: number } = {}): Promise<Spawned> {
  const s = await startOurs(args, opts);
  started.push(s);
  return s;
}

/** Sends raw bytes to a port; resolves with what came back once the peer closes (bounded). */
async function rawExchange(port: number, bytes: string): Promise<string> {
  return await new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(done, 5_000);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("close", done);
    socket.on("error", done);
  });
}

describe("server /metrics", () => {
  test("promtool accepts the page, and a set moves memcached_commands_total", async () => {
    const metrics_port = await freePort();
    const node = await ours(["--metrics-port", String(metrics_port)]);
    const before = await scrape(metrics_port);
    const check = await promtool(before);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    expect(sample(before, "memcached_up")).toBe(1);
    expect(sample(before, 'memcached_version{version="1.6.18"}')).toBe(1);
    expect(before).not.toContain("repcached_"); // replication is off
    const set_series = 'memcached_commands_total{command="set",status="hit"}';
    const get_hit = 'memcached_commands_total{command="get",status="hit"}';
    const c = await CacheClient.connect(node.port);
    expect(await c.set("k", "value")).toBe("STORED");
    expect((await c.get("k"))?.value).toBe("value");
    const stats = await c.stats();
    const after = await scrape(metrics_port);
    expect(sample(after, set_series)).toBe(sample(before, set_series)! + 1);
    expect(sample(after, get_hit)).toBe(sample(before, get_hit)! + 1);
    expect(sample(after, "memcached_current_items")).toBe(1);
    // One source of truth: the page shows what `stats` shows.
    expect(sample(after, "memcached_limit_bytes")).toBe(Number(stats.get("limit_maxbytes")));
    expect(sample(after, "memcached_items_total")).toBe(Number(stats.get("total_items")));
    c.close();
  });

  test("-o metrics_port works too, and is shown in stats settings", async () => {
    const metrics_port = await freePort();
    const node = await ours(["-o", `metrics_port=${metrics_port}`]);
    expect(sample(await scrape(metrics_port), "memcached_up")).toBe(1);
    const c = await CacheClient.connect(node.port);
    expect((await c.stats("settings")).get("metrics_port")).toBe(String(metrics_port));
    c.close();
  });

  test("odd HTTP gets an HTTP error or a close; the node keeps serving", async () => {
    const metrics_port = await freePort();
    const node = await ours(["--metrics-port", String(metrics_port)]);
    const base = `http://127.0.0.1:${metrics_port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/x`)).status).toBe(404);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const big = await fetch(`${base}/metrics`, { method: "POST", body: "x".repeat(64 * 1024) });
    expect(big.status).toBe(413);
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    const garbage = await rawExchange(metrics_port, "\x80\x01\x02 not http at all\r\n\r\n");
    expect(garbage === "" || garbage.startsWith("HTTP/1.1 400")).toBe(true);
    const huge_header = await rawExchange(metrics_port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(256 * 1024)}\r\n\r\n`);
    expect(huge_header === "" || /^HTTP\/1\.1 4\d\d/.test(huge_header)).toBe(true);
    expect(sample(await scrape(metrics_port), "memcached_up")).toBe(1);
    const c = await CacheClient.connect(node.port);
    expect(await c.command("version\r\n")).toStartWith("VERSION ");
    c.close();
  });

  test("--metrics-listen without a port is refused; a taken port stops the start", async () => {
    const refused = Bun.spawnSync([bun_path, join(project_root, "src", "main.ts"), "--metrics-listen", "127.0.0.1"]);
    expect(refused.exitCode).toBe(64);
    expect(refused.stderr.toString()).toContain("--metrics-listen");
    const metrics_port = await freePort();
    await ours(["--metrics-port", String(metrics_port)]);
    const second = await ours(["--metrics-port", String(metrics_port)], { wait: false });
    expect(await second.proc.exited).toBe(71);
    expect(second.output()).toContain("metrics port");
  });

  test("a paired node shows its state, peer and queue; promtool accepts the replication families", async () => {
    const rport = await freePort();
    const [ma, mb] = [await freePort(), await freePort()];
    await ours(["-X", String(rport), "--metrics-port", String(ma)]);
    await ours(["-x", "127.0.0.1", "-X", String(rport), "--metrics-port", String(mb)]);
    const synced = 'repcached_state{state="synced"}';
    expect(await eventually(async () => sample(await scrape(ma), synced) === 1 && sample(await scrape(mb), synced) === 1, 10_000)).toBe(true);
    for (const port of [ma, mb]) {
      const page = await scrape(port);
      const check = await promtool(page);
      expect(check.output).toBe("");
      expect(check.code).toBe(0);
      expect(sample(page, 'repcached_state{state="listening"}')).toBe(0);
      expect(page).toMatch(/^repcached_peer_info\{[^}]*peer_kind="ours"[^}]*\} 1$/m);
      expect(sample(page, "repcached_queue_items")).toBe(0);
      expect(sample(page, "repcached_lag_seconds")).toBe(0);
      expect(sample(page, "repcached_full_copies_sent_total")).toBe(1);
      expect(sample(page, "repcached_copy_ratio")).toBe(1);
    }
  });
});

test("the lag grows while the peer takes nothing and returns to 0 once it has caught up", async () => {
  const rport = await freePort();
  const ma = await freePort();
  const a = await ours(["-X", String(rport), "--metrics-port", String(ma), "-m", "256"]);
  const b = await ours(["-x", "127.0.0.1", "-X", String(rport), "-m", "256"]);
  const synced = 'repcached_state{state="synced"}';
  expect(await eventually(async () => sample(await scrape(ma), synced) === 1, 10_000)).toBe(true);
  await pauseProcess(b.proc.pid);
  const c = await CacheClient.connect(a.port);
  const value = "l".repeat(10_000);
  let batch = "";
  for (let i = 0; i < 2000; i++) batch += `set lag${i} 0 0 ${value.length} noreply\r\n${value}\r\n`;
  c.raw.send(batch); // 20 MB: more than the kernel's buffers hold for a stopped peer
  expect(await c.command("mn\r\n")).toBe("MN");
  const lagging = async () => (sample(await scrape(ma), "repcached_lag_seconds") ?? 0) >= 0.2;
  expect(await eventually(lagging, 10_000, 50)).toBe(true);
  process.kill(b.proc.pid, "SIGCONT");
  const caught_up = async () => sample(await scrape(ma), "repcached_lag_seconds") === 0 && sample(await scrape(ma), "repcached_queue_items") === 0;
  expect(await eventually(caught_up, 15_000, 50)).toBe(true);
  c.close();
}, 30_000);

describe("proxy /metrics", () => {
  test("promtool accepts the page; requests fill the histogram; a backend going down flips its up gauge", async () => {
    const backend = await ours([]);
    const metrics_port = await freePort();
    const proxy = await startMagent([
      "-s", `127.0.0.1:${backend.port}`, "--metrics-port", String(metrics_port),
      "--connect-timeout", "500", "--request-timeout", "500", "--retry-min", "100", "--retry-max", "400",
    ]);
    started.push(proxy);
    const labels = `server="127.0.0.1:${backend.port}",role="main"`;
    const first = await scrape(metrics_port);
    const check = await promtool(first);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    expect(sample(first, `magent_backend_up{${labels}}`)).toBe(1);
    const c = await CacheClient.connect(proxy.port);
    expect(await c.set("pk", "v")).toBe("STORED");
    expect((await c.get("pk"))?.value).toBe("v");
    const page = await scrape(metrics_port);
    expect(sample(page, `magent_backend_request_duration_seconds_count{${labels}}`)).toBe(2);
    expect(sample(page, `magent_backend_request_duration_seconds_bucket{${labels},le="+Inf"}`)).toBe(2);
    expect(sample(page, `magent_backend_replies_total{${labels}}`)).toBe(2);
    expect(sample(page, 'magent_commands_total{command="set"}')).toBe(1);
    expect((await promtool(page)).code).toBe(0);
    await backend.stop("SIGKILL");
    const down = async () => {
      await c.command("get pk\r\n"); // a request notices the dead server
      return sample(await scrape(metrics_port), `magent_backend_up{${labels}}`) === 0;
    };
    expect(await eventually(down, 10_000, 100)).toBe(true);
    expect(sample(await scrape(metrics_port), `magent_backend_downs_total{${labels}}`)).toBe(1);
    c.close();
  });

  test("--metrics-listen without --metrics-port is refused", () => {
    const refused = Bun.spawnSync([bun_path, join(project_root, "src", "magent.ts"), "-D", "-s", "127.0.0.1:1", "--metrics-listen", "127.0.0.1"]);
    expect(refused.exitCode).toBe(64);
    expect(refused.stderr.toString()).toContain("--metrics-listen");
  });
});
