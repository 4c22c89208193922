// The benchmark harness's pure pieces (bench/lib/), without servers or sockets.
import { describe, expect, test } from "bun:test";
import { cpuMicros, pairCpuRatio, pairRatio, parseAbCli } from "../../bench/lib/ab.ts";
import { isoDate, parseCli } from "../../bench/lib/cli.ts";
import { firstComplaint, loadgenArgs, parseLoadgenReport } from "../../bench/lib/loadgen.ts";
import { renderReport, type ReportDoc } from "../../bench/lib/markdown.ts";
import { parseStats } from "../../bench/lib/probe.ts";
import {
  clock_ticks_per_s, growthOver, parseMachineBusyTicks, parseStatCpuTicks, parseVmRssBytes, totalGrowth,
} from "../../bench/lib/proc.ts";
import { rssCells, type RssResult } from "../../bench/lib/rss.ts";
import { memcachedArgv, oursArgv, type ServerEnv } from "../../bench/lib/servers.ts";
import { rotate, schedule } from "../../bench/lib/schedule.ts";
import { median, ratiosByRound, spread } from "../../bench/lib/stats.ts";
import { cpuMicrosPerOp, noiseNote, saturationNote, summarize, type Sample } from "../../bench/lib/summary.ts";
import { compactNumber, escapeXml, niceTicks, renderChart } from "../../bench/lib/svg.ts";
import { fmtSpread, oneLine, renderMarkdown, renderText, rowCells } from "../../bench/lib/table.ts";
import { threadsCells, threadsRows } from "../../bench/lib/threads.ts";
import {
  parts, server_ids, server_labels, threads_conns, threads_server_ids, threads_servers, threads_workloads, workloads, type ServerId,
} from "../../bench/lib/workloads.ts";
import { keyBuffer, mix, runMix } from "../../bench/lib/store_mix.ts";

describe("stats", () => {
  test("median of odd and even counts, unsorted input left alone", () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNull();
  });

  test("spread gives median, min and max", () => {
    expect(spread([0.9, 0.8, 1.1])).toEqual({ median: 0.9, min: 0.8, max: 1.1 });
    expect(spread([])).toBeNull();
  });

  test("ratios pair values with the baseline by round and skip unmatched rounds", () => {
    const ours = new Map([[0, 90], [1, 50], [2, 120]]);
    const base = new Map([[0, 100], [2, 100], [3, 100]]);
    expect(ratiosByRound(ours, base)).toEqual([0.9, 1.2]);
    expect(ratiosByRound(ours, new Map([[0, 0]]))).toEqual([]);
  });
});

describe("schedule", () => {
  test("rotate shifts left and wraps", () => {
    expect(rotate(["A", "B", "C"], 0)).toEqual(["A", "B", "C"]);
    expect(rotate(["A", "B", "C"], 1)).toEqual(["B", "C", "A"]);
    expect(rotate(["A", "B", "C"], 4)).toEqual(["B", "C", "A"]);
    expect(rotate(["A", "B", "C"], -1)).toEqual(["C", "A", "B"]);
    expect(rotate([], 3)).toEqual([]);
  });

  test("rounds outermost, workloads in order, servers rotated per round", () => {
    const steps = schedule(3, ["a", "b"], () => ["A", "B", "C"]);
    const text = steps.map((s) => `${s.round}${s.workload}${s.server}`).join(" ");
    expect(text).toBe("0aA 0aB 0aC 0bA 0bB 0bC 1aB 1aC 1aA 1bB 1bC 1bA 2aC 2aA 2aB 2bC 2bA 2bB");
  });

  test("every server runs every workload once per round", () => {
    const steps = schedule(4, workloads, (w) => w.servers);
    expect(steps.length).toBe(4 * workloads.reduce((n, w) => n + w.servers.length, 0));
    const seen = new Set(steps.map((s) => `${s.round}/${s.workload.id}/${s.server}`));
    expect(seen.size).toBe(steps.length);
  });
});

describe("proc", () => {
  // A comm with spaces and a ')' must not shift the fields; utime 1234, stime 56 (fields 14, 15).
  const stat = "4242 (bun (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 56 0 0 20 0 7 0 100 1000000 2000 18446744073709551615";

  test("stat: utime + stime after the last ')'", () => {
    expect(parseStatCpuTicks(stat)).toBe(1290);
    expect(parseStatCpuTicks("garbage")).toBeNull();
    expect(parseStatCpuTicks("1 (x) S 1")).toBeNull();
    expect(clock_ticks_per_s).toBe(100);
  });

  test("status: VmRSS in bytes", () => {
    const status = "Name:\tmemcached\nVmPeak:\t  100 kB\nVmRSS:\t   24576 kB\nRssAnon:\t 1 kB\n";
    expect(parseVmRssBytes(status)).toBe(24576 * 1024);
    expect(parseVmRssBytes("Name:\tx\n")).toBeNull();
  });

  test("/proc/stat: busy ticks leave out idle and iowait", () => {
    const text = "cpu  100 5 50 9000 30 2 3 4 0 0\ncpu0 50 2 25 4500 15 1 1 2 0 0\nintr 1\n";
    expect(parseMachineBusyTicks(text)).toBe(100 + 5 + 50 + 2 + 3 + 4);
    expect(parseMachineBusyTicks("intr 1\n")).toBeNull();
  });

  test("growthOver interpolates inside the readings and refuses windows outside them", () => {
    const readings = [
      { t_ms: 0, value: 0 },
      { t_ms: 100, value: 10 },
      { t_ms: 200, value: 30 },
    ];
    expect(growthOver(readings, 50, 150)).toBe(15);
    expect(growthOver(readings, 0, 200)).toBe(30);
    expect(growthOver(readings, -1, 200)).toBeNull();
    expect(growthOver(readings, 0, 201)).toBeNull();
    expect(growthOver([], 0, 1)).toBeNull();
    expect(totalGrowth(readings)).toBe(30);
    expect(totalGrowth([readings[0]!])).toBeNull();
  });
});

describe("loadgen", () => {
  const options = { duration_s: 8, warmup_s: 1, cpu: 1, seed: 1, preload_timeout_s: 60 };
  const flagValue = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

  test("workload a: fixed size, get ratio, preload, pinned", () => {
    const args = loadgenArgs(workloads.find((w) => w.id === "a")!, 4000, options);
    expect(flagValue(args, "--server")).toBe("127.0.0.1:4000");
    expect(flagValue(args, "--conns")).toBe("200");
    expect(flagValue(args, "--value-size")).toBe("100");
    expect(flagValue(args, "--get-ratio")).toBe("0.9");
    expect(flagValue(args, "--cpu")).toBe("1");
    expect(args).toContain("--preload");
    expect(args).not.toContain("--value-min");
  });

  test("workload b: a size range; d: set-only without preload; no --cpu when unpinned", () => {
    const b = loadgenArgs(workloads.find((w) => w.id === "b")!, 1, options);
    expect(flagValue(b, "--value-min")).toBe("1024");
    expect(flagValue(b, "--value-max")).toBe("10240");
    const d = loadgenArgs(workloads.find((w) => w.id === "d")!, 1, { ...options, cpu: null });
    expect(d).toContain("--set-only");
    expect(d).not.toContain("--preload");
    expect(d).not.toContain("--cpu");
    expect(d).not.toContain("--get-ratio");
  });

  test("workload f: workload a in the meta protocol (--meta); the others without it", () => {
    const f = loadgenArgs(workloads.find((w) => w.id === "f")!, 1, options);
    const a = loadgenArgs(workloads.find((w) => w.id === "a")!, 1, options);
    expect(f).toContain("--meta");
    expect(f.filter((arg) => arg !== "--meta")).toEqual(a);
    for (const w of workloads.filter((w) => w.id !== "f")) expect(loadgenArgs(w, 1, options)).not.toContain("--meta");
  });

  test("workload c: multi-get 10, pipeline 8, 50 connections", () => {
    const c = loadgenArgs(workloads.find((w) => w.id === "c")!, "PORT", options);
    expect(flagValue(c, "--server")).toBe("127.0.0.1:PORT");
    expect(flagValue(c, "--multiget")).toBe("10");
    expect(flagValue(c, "--pipeline")).toBe("8");
    expect(flagValue(c, "--conns")).toBe("50");
  });

  const report = {
    server: "127.0.0.1:1", conns: 200, duration_s: 3.0, ops: 300, ops_per_s: 100.5, keys_per_s: 100.5,
    gets: 270, sets: 30, hits: 270, misses: 0, errors: 0, p50_us: 1759, p90_us: 2823, p99_us: 4375,
    p999_us: 5247, max_us: 6641, client_cpu_s: 2.054, preload_s: null, closed_conns: 0, last_error: "",
  };

  test("the report is the last JSON line of stdout", () => {
    const parsed = parseLoadgenReport(`noise\n${JSON.stringify(report)}\n`);
    expect(parsed.ops_per_s).toBe(100.5);
    expect(parsed.p999_us).toBe(5247);
    expect(parsed.preload_s).toBeNull();
    expect(parsed.preload_complete).toBe(true);
  });

  test("the first complaint on stderr, not the summary", () => {
    const stderr = "preload: 100 sets in 0.1 s, 0 errors\nmcload: connection 3 closed: reset\nmcload: connection 4 closed: reset\n";
    expect(firstComplaint(stderr)).toBe("mcload: connection 3 closed: reset (+1 more like it)");
    expect(firstComplaint("only a summary\n")).toBe("only a summary");
    expect(firstComplaint("")).toBe("");
  });

  test("a missing field or no JSON is an error naming it", () => {
    const { p99_us: _, ...without } = report;
    expect(() => parseLoadgenReport(JSON.stringify(without))).toThrow("p99_us");
    expect(() => parseLoadgenReport("")).toThrow("no JSON");
  });
});

describe("servers", () => {
  const env: ServerEnv = {
    pin_cpu: 0, memcached_path: "/usr/bin/memcached", bun_path: "/bin/bun", as_root: true, memory_mb: 1024, connections_max: 4096,
  };

  test("memcached: pinned, loopback, -t, -u root only as root", () => {
    expect(memcachedArgv(env, 5000, 4).join(" ")).toBe(
      "taskset -c 0 /usr/bin/memcached -l 127.0.0.1 -p 5000 -U 0 -t 4 -m 1024 -c 4096 -u root",
    );
    expect(memcachedArgv({ ...env, pin_cpu: null, as_root: false }, 5000, 1).join(" ")).toBe(
      "/usr/bin/memcached -l 127.0.0.1 -p 5000 -U 0 -t 1 -m 1024 -c 4096",
    );
  });

  test("ours: listener and connecting peer", () => {
    const a = oursArgv(env, 5001, { listen_port: 5003 });
    expect(a.slice(0, 4)).toEqual(["taskset", "-c", "0", "/bin/bun"]);
    expect(a.slice(-2)).toEqual(["-X", "5003"]);
    const b = oursArgv(env, 5002, { peer_host: "127.0.0.1", peer_port: 5003 }, false);
    expect(b[0]).toBe("/bin/bun");
    expect(b.slice(-4)).toEqual(["-x", "127.0.0.1", "-X", "5003"]);
    expect(b).toContain("-p");
    expect(b[b.indexOf("-p") + 1]).toBe("5002");
  });

  test("ours -t N: -t only above 1; another checkout's src/main.ts", () => {
    const unpinned = { ...env, pin_cpu: null };
    expect(oursArgv(unpinned, 5004, null)).not.toContain("-t");
    expect(oursArgv(unpinned, 5004, null, true, { threads: 1 })).not.toContain("-t");
    expect(oursArgv(unpinned, 5004, null, true, { threads: 4 }).slice(-2)).toEqual(["-t", "4"]);
    const other = oursArgv(env, 5005, null, true, { root: "/work/other" });
    expect(other.slice(0, 5)).toEqual(["taskset", "-c", "0", "/bin/bun", "/work/other/src/main.ts"]);
    expect(memcachedArgv(unpinned, 5006, 2).join(" ")).toContain(" -t 2 ");
  });
});

function sample(round: number, server: string, ops_per_s: number, extra: Partial<Sample> = {}): Sample {
  return {
    round, server, error: null, ops_per_s, keys_per_s: ops_per_s, p50_us: 100, p99_us: 900, p999_us: 2000,
    errors: 0, hit_ratio: 1, client_cpu_share: 0.6, server_cpu_s: 8, server_cores: 0.97, background_cores: 0.02,
    server_rss_bytes: 64 * 1024 * 1024, peer_cpu_s: null, ...extra,
  };
}

describe("summary", () => {
  const samples: Sample[] = [
    sample(0, "mc1", 100), sample(1, "mc1", 200), sample(2, "mc1", 100),
    sample(0, "ours", 80), sample(1, "ours", 150), sample(2, "ours", 90),
    sample(0, "down", 0, { error: "port 1 did not open" }), sample(1, "down", 0, { error: "port 1 did not open" }),
  ];
  const rows = summarize(samples, ["mc1", "ours", "down"], "mc1");

  test("medians over rounds and ratios paired per round", () => {
    const [mc1, ours] = rows;
    expect(mc1!.ops_per_s).toEqual({ median: 100, min: 100, max: 200 });
    expect(mc1!.ratio).toBeNull();
    expect(ours!.ops_per_s!.median).toBe(90);
    // Per-round ratios 0.8, 0.75, 0.9: median 0.8, range 0.75–0.9.
    expect(ours!.ratio!.median).toBeCloseTo(0.8, 10);
    expect(ours!.ratio!.min).toBeCloseTo(0.75, 10);
    expect(ours!.ratio!.max).toBeCloseTo(0.9, 10);
    expect(ours!.rounds_ok).toBe(3);
    expect(ours!.error).toBeNull();
  });

  test("a server that never ran keeps its reason and no figures", () => {
    const down = rows[2]!;
    expect(down.rounds).toBe(2);
    expect(down.rounds_ok).toBe(0);
    expect(down.ops_per_s).toBeNull();
    expect(down.ratio).toBeNull();
    expect(down.error).toBe("port 1 did not open");
  });

  test("saturation note: saturated, generator-bound, or not saturated", () => {
    expect(saturationNote(rows[0]!, "memcached -t 1")).toContain("saturates the server");
    const bound = summarize([sample(0, "mc1", 1, { client_cpu_share: 1.02 })], ["mc1"], "mc1")[0]!;
    expect(saturationNote(bound, "m")).toContain("CPU-bound itself");
    const idle = summarize([sample(0, "mc1", 1, { server_cores: 0.5 })], ["mc1"], "mc1")[0]!;
    expect(saturationNote(idle, "m")).toContain("not saturated");
    expect(saturationNote(rows[2]!, "m")).toBeNull();
  });

  test("noise note names the disturbed runs, and is null when all were quiet", () => {
    expect(noiseNote(samples, (s) => s)).toBeNull();
    const noisy = [...samples, sample(2, "mc4", 10, { background_cores: 0.8 })];
    const note = noiseNote(noisy, (s) => s)!;
    expect(note).toContain("1 of 7 runs");
    expect(note).toContain("round 3 mc4 0.80");
  });

  test("table cells: baseline, ratio with range, failure reason; text and markdown renderings", () => {
    const cells = rowCells(rows, (id) => (id === "mc1" ? "memcached -t 1" : id), "mc1", 60);
    expect(cells.headers.length).toBe(cells.rows[0]!.length);
    const ratio_col = cells.headers.indexOf("÷ memcached -t 1");
    expect(cells.rows[0]![ratio_col]).toBe("1 (baseline)");
    expect(cells.rows[1]![ratio_col]).toBe("0.80 (0.75–0.90)");
    expect(cells.rows[2]![cells.headers.length - 1]).toBe("0/2 rounds ok; failed: port 1 did not open");
    // server cores 0.97 at 90 ops/s: 10,777.78 µs per request.
    expect(cells.rows[1]![cells.headers.indexOf("CPU µs/op")]).toBe("10777.78");
    expect(rows[1]!.cpu_us_per_op).toBeCloseTo(0.97e6 / 90, 6);
    expect(rows[2]!.cpu_us_per_op).toBeNull();
    const text = renderText(cells).split("\n");
    expect(text.length).toBe(2 + rows.length);
    expect(text[1]).toMatch(/^-+( +-+)+$/);
    const md = renderMarkdown(cells).split("\n");
    expect(md[0]!.startsWith("| server | ops/s |")).toBe(true);
    expect(md[1]).toBe(`|---|${"---:|".repeat(cells.headers.length - 2)}---|`);
    expect(md[3]).toContain("| 90 |");
  });
});

describe("threads", () => {
  const info = (id: string) => threads_servers[id as ServerId];
  // Two rounds; memcached 100/200 at -t 1, 150/300 at -t 2; ours 90/220 at -t 1, 180/330 at -t 2; ours -t 4 down.
  const samples: Sample[] = [
    sample(0, "mc1", 100, { server_cores: 0.5 }), sample(1, "mc1", 200, { server_cores: 1 }),
    sample(0, "mc2", 150), sample(1, "mc2", 300),
    sample(0, "ours", 90, { server_cores: 0.9 }), sample(1, "ours", 220, { server_cores: 1.1 }),
    sample(0, "ours_t2", 180), sample(1, "ours_t2", 330),
    sample(0, "ours_t4", 0, { error: "port 9 did not open" }),
  ];
  const rows = threadsRows(samples, ["mc1", "mc2", "ours", "ours_t2", "ours_t4", "unknown"], info);

  test("CPU µs per operation: server cores ÷ ops/s", () => {
    expect(cpuMicrosPerOp(sample(0, "x", 100_000, { server_cores: 0.8 }))).toBeCloseTo(8, 10);
    expect(cpuMicrosPerOp(sample(0, "x", 100_000, { server_cores: null }))).toBeNull();
    expect(cpuMicrosPerOp(sample(0, "x", 0, { error: "down" }))).toBeNull();
  });

  test("rows: the servers it knows, in order; ratio to memcached at the same -t; scaling to its own -t 1", () => {
    expect(rows.map((r) => `${r.family}/${r.threads}`)).toEqual(["memcached/1", "memcached/2", "ours/1", "ours/2", "ours/4"]);
    const [mc1, mc2, ours1, ours2, ours4] = rows;
    expect(mc1!.vs_memcached).toBeNull();
    expect(mc1!.scaling).toBeNull();
    // memcached -t 2 ÷ -t 1: 1.5 and 1.5.
    expect(mc2!.scaling).toEqual({ median: 1.5, min: 1.5, max: 1.5 });
    // ours -t 1 ÷ memcached -t 1: 0.9 and 1.1.
    expect(ours1!.vs_memcached!.median).toBeCloseTo(1, 10);
    expect(ours1!.vs_memcached!.min).toBeCloseTo(0.9, 10);
    expect(ours1!.vs_memcached!.max).toBeCloseTo(1.1, 10);
    // ours -t 2 ÷ memcached -t 2: 1.2, 1.1; ÷ ours -t 1: 2, 1.5.
    expect(ours2!.vs_memcached!.median).toBeCloseTo(1.15, 10);
    expect(ours2!.scaling!.median).toBeCloseTo(1.75, 10);
    expect(ours2!.scaling!.min).toBeCloseTo(1.5, 10);
    // CPU µs/op per round: mc1 5000 and 5000; ours 10000 and 5000.
    expect(mc1!.cpu_us_per_op).toBeCloseTo(5000, 6);
    expect(ours1!.cpu_us_per_op).toBeCloseTo(7500, 6);
    expect(ours4!.rounds_ok).toBe(0);
    expect(ours4!.ops_per_s).toBeNull();
    expect(ours4!.vs_memcached).toBeNull();
    expect(ours4!.error).toBe("port 9 did not open");
  });

  test("cells: -t, ops/s with range, baseline and scaling marks, failures", () => {
    const cells = threadsCells(rows, (id) => server_labels[id as ServerId] ?? id, 60);
    expect(cells.headers.length).toBe(cells.rows[0]!.length);
    const col = (name: string) => cells.headers.indexOf(name);
    expect(cells.rows[0]![col("-t")]).toBe("1");
    expect(cells.rows[0]![col("ops/s (range)")]).toBe("150 (100–200)");
    expect(cells.rows[0]![col("÷ memcached same -t")]).toBe("1 (baseline)");
    expect(cells.rows[0]![col("scaling ÷ own -t 1")]).toBe("1");
    expect(cells.rows[1]![col("scaling ÷ own -t 1")]).toBe("1.50");
    expect(cells.rows[3]![col("÷ memcached same -t")]).toBe("1.15 (1.10–1.20)");
    expect(cells.rows[2]![col("CPU µs/op")]).toBe("7500.00");
    expect(cells.rows[4]![col("ops/s (range)")]).toBe("—");
    expect(cells.rows[4]![cells.headers.length - 1]).toBe("0/1 rounds ok; failed: port 9 did not open");
  });

  test("the part's workloads: a and c over the same connections, every -t of both servers", () => {
    expect(threads_workloads.map((w) => w.id)).toEqual(["threads_a", "threads_c"]);
    for (const w of threads_workloads) {
      expect(w.conns).toBe(threads_conns);
      expect([...w.servers]).toEqual([...threads_server_ids]);
      for (const id of w.servers) expect(threads_servers[id]).toBeDefined();
    }
    expect(threads_workloads[0]!.get_ratio).toBe(0.9);
    expect(threads_workloads[1]!.multiget).toBe(10);
    expect(threads_conns).toBeGreaterThanOrEqual(16);
  });

  test("the store mix: 90/10 get/set over the key space, deterministic from its state", () => {
    const keys = keyBuffer(4, 16);
    expect(new TextDecoder().decode(keys.subarray(16, 32))).toBe("key:000000000001");
    const calls = { get: 0, set: 0, keys: new Set<number>() };
    const fake = {
      store: (_op: number, _k: Uint8Array, off: number) => (calls.set++, calls.keys.add(off), 0),
      get: (_k: Uint8Array, off: number) => (calls.get++, calls.keys.add(off), 0),
    };
    const all = keyBuffer(mix.keys, mix.key_bytes);
    const end = runMix(fake, { set_op: 1, raw_mode: 0 }, all, new Uint8Array(mix.value_bytes), new Uint8Array(64), 100_000, 12345);
    expect(calls.get + calls.set).toBe(100_000);
    expect(calls.set / 100_000).toBeGreaterThan(0.09);
    expect(calls.set / 100_000).toBeLessThan(0.11);
    expect(Math.max(...calls.keys)).toBeLessThanOrEqual((mix.keys - 1) * mix.key_bytes);
    expect(calls.keys.size).toBeGreaterThan(mix.keys / 2);
    expect(runMix(fake, { set_op: 1, raw_mode: 0 }, all, new Uint8Array(1), new Uint8Array(1), 0, 777)).toBe(777);
    expect(end).not.toBe(12345);
  });
});

describe("ab", () => {
  test("command line: --other required; defaults 5 × 5 s on a, e, f, pinned", () => {
    const r = parseAbCli(["--other", "/work/wt-before/"]);
    if (r.kind !== "run") throw new Error(r.kind);
    expect(r.options).toEqual({ other_dir: "/work/wt-before", other_label: "wt-before", rounds: 5, duration_s: 5, workloads: ["a", "e", "f"], pin: true, json_path: null });
    const s = parseAbCli(["--other=/x", "--other-label", "before", "--rounds", "2", "--duration", "1.5", "--only", "a,c", "--no-pin", "--json", "/tmp/ab.json"]);
    if (s.kind !== "run") throw new Error(s.kind);
    expect(s.options).toEqual({ other_dir: "/x", other_label: "before", rounds: 2, duration_s: 1.5, workloads: ["a", "c"], pin: false, json_path: "/tmp/ab.json" });
    const message = (argv: string[]) => {
      const e = parseAbCli(argv);
      return e.kind === "error" ? e.message : e.kind;
    };
    expect(message([])).toBe("--other DIR is required");
    expect(message(["--other", "/x", "--rounds", "0"])).toContain("--rounds");
    expect(message(["--other", "/x", "--only", "a,threads"])).toContain("--only");
    expect(message(["--other", "/x", "--bogus"])).toContain("--bogus");
    expect(message(["--other"])).toContain("--other");
    expect(message(["-h"])).toBe("help");
  });

  test("pair ratio: per round, skipping failed rounds", () => {
    const samples = [
      sample(0, "ours", 90), sample(1, "ours", 120), sample(2, "ours", 0, { error: "down" }),
      sample(0, "other", 100), sample(1, "other", 100), sample(2, "other", 100),
    ];
    const r = pairRatio(samples, "ours", "other")!;
    expect(r.median).toBeCloseTo(1.05, 10);
    expect(r.min).toBeCloseTo(0.9, 10);
    expect(r.max).toBeCloseTo(1.2, 10);
    expect(pairRatio(samples, "ours", "nobody")).toBeNull();
  });

  test("CPU µs per operation: per server over rounds, and paired by round", () => {
    const samples = [
      sample(0, "ours", 100_000, { server_cores: 1.2 }), sample(1, "ours", 50_000, { server_cores: 0.66 }),
      sample(0, "other", 100_000, { server_cores: 1 }), sample(1, "other", 60_000, { server_cores: 0.6 }),
    ];
    // ours 12 and 13.2 µs/op; other 10 and 10: ratios 1.2 and 1.32.
    expect(cpuMicros(samples, "ours")!.median).toBeCloseTo(12.6, 10);
    const r = pairCpuRatio(samples, "ours", "other")!;
    expect(r.min).toBeCloseTo(1.2, 10);
    expect(r.max).toBeCloseTo(1.32, 10);
    expect(cpuMicros(samples, "nobody")).toBeNull();
  });
});

describe("formatting", () => {
  test("spread, one line, pipes escaped in markdown", () => {
    expect(fmtSpread({ median: 1, min: 1, max: 1 })).toBe("1.00");
    expect(fmtSpread(null)).toBe("—");
    expect(oneLine("a\n  b\tc", 10)).toBe("a b c");
    expect(oneLine("abcdefghijkl", 5)).toBe("abcd…");
    const md = renderMarkdown({ headers: ["x"], numeric: [false], rows: [["a|b"]] });
    expect(md).toContain("a\\|b");
  });

  test("isoDate is the local calendar date", () => {
    expect(isoDate(new Date(2026, 0, 5, 23, 59))).toBe("2026-01-05");
  });
});

describe("svg", () => {
  test("ticks are round and cover the maximum", () => {
    expect(niceTicks(95_000)).toEqual([0, 25_000, 50_000, 75_000, 100_000]);
    expect(niceTicks(100)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0)).toEqual([0, 1]);
    const ticks = niceTicks(1234);
    expect(ticks[ticks.length - 1]!).toBeGreaterThanOrEqual(1234);
  });

  test("compact numbers and escaping", () => {
    expect(compactNumber(1_234_567)).toBe("1.23M");
    expect(compactNumber(98_000)).toBe("98k");
    expect(compactNumber(25)).toBe("25");
    expect(escapeXml(`a<b & "c">`)).toBe("a&lt;b &amp; &quot;c&quot;&gt;");
  });

  test("one bar per server with a value, an outline for a missing one, labels escaped", () => {
    const svg = renderChart({
      title: "t <1>", subtitle: ["s"], y_label: "ops/s", series: ["memcached -t 1", "ours"],
      panels: [
        { title: "a", bars: [{ series: 0, value: 100, label: "1×" }, { series: 1, value: 80, label: "0.80×", range: { min: 70, max: 120 } }] },
        { title: "b", bars: [{ series: 0, value: 50, label: "1×" }, { series: 1, value: null, label: "" }] },
      ],
    });
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("t &lt;1&gt;");
    expect(svg).toContain(">0.80×<");
    expect(svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"><title>/g)?.length).toBe(3);
    expect(svg.match(/stroke-dasharray/g)?.length).toBe(1);
    expect(svg).toContain(">n/a<");
    // One whisker (the other bars have no range), and the axis grows to hold its top (120 > 100).
    expect(svg.match(/<path d="M/g)?.length).toBe(1);
    expect(svg).toContain(">150<");
    expect(svg).toContain("80 ops/s (70–120)");
    // Heights follow values on a shared panel axis: 80 ops is 80% of the 100 bar.
    const heights = [...svg.matchAll(/height="([\d.]+)" fill="#[0-9a-f]{6}"><title>/g)].map((m) => Number(m[1]));
    expect(heights[1]! / heights[0]!).toBeCloseTo(0.8, 2);
  });
});

describe("probe and rss", () => {
  test("stats lines by name", () => {
    const stats = parseStats("STAT pid 12\r\nSTAT version 1.6.18\r\nSTAT curr_items 1000000\r\nEND\r\n");
    expect(stats.get("curr_items")).toBe("1000000");
    expect(stats.get("version")).toBe("1.6.18");
    expect(stats.size).toBe(3);
  });

  test("rss table: growth per item and ratio to the baseline", () => {
    const mib = 1024 * 1024;
    const base: RssResult = {
      server: "mc1", commands: [], mcload_command: "", error: null, items: 1_000_000,
      rss_idle_bytes: 10 * mib, rss_loaded_bytes: 200 * mib, preload_s: 4.2,
    };
    const ours: RssResult = { ...base, server: "ours", rss_loaded_bytes: 150 * mib };
    const failed: RssResult = { ...base, server: "ours_peer", error: "port 1 did not open", rss_loaded_bytes: null };
    const cells = rssCells([base, ours, failed], (id) => id, "mc1");
    expect(cells.rows[0]).toEqual(["mc1", "1,000,000", "10.0", "200.0", "199", "1 (baseline)", "loaded in 4.2 s"]);
    expect(cells.rows[1]![5]).toBe("0.75");
    expect(cells.rows[2]![5]).toBe("—");
    expect(cells.rows[2]![6]).toBe("failed: port 1 did not open");
  });
});

describe("cli", () => {
  test("defaults: a full run of every part", () => {
    const r = parseCli([]);
    expect(r.kind).toBe("run");
    if (r.kind !== "run") return;
    expect(r.options.rounds).toBe(3);
    expect(r.options.duration_s).toBe(8);
    expect([...r.options.parts]).toEqual([...parts]);
    expect(r.options.pin).toBe(true);
    expect(r.options.full).toBe(true);
  });

  test("--quick, --only, --no-pin, --out, and = forms", () => {
    const r = parseCli(["--quick", "--only", "a,rss", "--no-pin", "--out=/tmp/x"]);
    if (r.kind !== "run") throw new Error(r.kind);
    expect(r.options.rounds).toBe(1);
    expect(r.options.duration_s).toBe(3);
    expect([...r.options.parts]).toEqual(["a", "rss"]);
    expect(r.options.pin).toBe(false);
    expect(r.options.out_dir).toBe("/tmp/x");
    expect(r.options.full).toBe(false);
    const t = parseCli(["--quick", "--only", "threads"]);
    if (t.kind !== "run") throw new Error(t.kind);
    expect([...t.options.parts]).toEqual(["threads"]);
    expect(t.options.full).toBe(false);
    const q = parseCli(["--quick", "--rounds", "2", "--duration=1.5"]);
    if (q.kind !== "run") throw new Error(q.kind);
    expect(q.options.rounds).toBe(2);
    expect(q.options.duration_s).toBe(1.5);
  });

  test("errors name the flag", () => {
    const message = (argv: string[]) => {
      const r = parseCli(argv);
      return r.kind === "error" ? r.message : r.kind;
    };
    expect(message(["--rounds", "0"])).toContain("--rounds");
    expect(message(["--rounds", "1.5"])).toContain("--rounds");
    expect(message(["--duration", "x"])).toContain("--duration");
    expect(message(["--only", "a,zz"])).toContain("--only");
    expect(message(["--only"])).toContain("--only");
    expect(message(["--bogus"])).toContain("--bogus");
    expect(message(["--help"])).toBe("help");
  });
});

describe("workloads and report", () => {
  test("every workload compares every server; the ids match --only's parts", () => {
    for (const w of workloads) expect([...w.servers]).toEqual([...server_ids]);
    expect(workloads.map((w) => w.id)).toEqual(parts.filter((p) => p.length === 1) as never);
    expect(parts).toContain("threads");
  });

  test("the markdown report carries commands, tables, chart and problems", () => {
    const doc: ReportDoc = {
      date: "2026-01-05", invocation: "bun bench", elapsed_min: 11.04, environment: ["2 CPUs"], method: ["3 rounds"],
      server_commands: ["memcached -p 1"],
      workloads: [{ id: "a", title: "get-heavy", mcload_command: "mcload --server 127.0.0.1:PORT", table_md: "| t |", notes: ["saturated"] }],
      chart_file: "2026-01-05.svg",
      threads: null,
      rss: { title: "Memory", mcload_command: "mcload --preload", table_md: "| r |", notes: [] },
      micro: "parser 40 ns",
      proxy: "ours 60,000 ops/s vs nutcracker 75,000 ops/s",
      problems: ["ours failed"],
    };
    const md = renderReport(doc);
    expect(md.startsWith("# repcached-bun benchmark, 2026-01-05\n")).toBe(true);
    expect(md).toContain("Produced by `bun bench` in 11.0 min.");
    expect(md).toContain("![median ops/s per workload and server](2026-01-05.svg)");
    expect(md).toContain("```sh\nmemcached -p 1\n```");
    expect(md).toContain("### a: get-heavy");
    expect(md).toContain("- saturated");
    expect(md).toContain("## Problems in this run\n\n- ours failed");
    expect(md).toContain("## Micro-benchmarks (mitata)\n\n```\nparser 40 ns\n```");
    expect(md).toContain("## Proxy: `bun run magent` vs nutcracker (twemproxy), same backends");
    expect(md).toContain("```\nours 60,000 ops/s vs nutcracker 75,000 ops/s\n```");
    expect(md.endsWith("```\n")).toBe(true);
    expect(md).not.toContain("## Threads");
    const threads = renderReport({
      ...doc,
      threads: {
        title: "Threads: memcached and ours at -t 1, 2 and 4", method: ["nothing pinned"], server_commands: ["memcached -t 2"],
        sections: [{ id: "threads_a", title: "a over 32 conns", mcload_command: "mcload --conns 32", table_md: "| th |", notes: ["noisy"] }],
      },
    });
    expect(threads).toContain("## Threads: memcached and ours at -t 1, 2 and 4\n\n- nothing pinned");
    expect(threads).toContain("```sh\nmemcached -t 2\n```");
    expect(threads).toContain("### threads_a: a over 32 conns\n\n```sh\nmcload --conns 32\n```\n\n| th |\n\n- noisy");
  });
});
