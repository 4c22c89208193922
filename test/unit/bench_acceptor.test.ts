// bench/acceptor.ts's pure pieces (bench/lib/acceptor.ts): its command line and its table.
import { describe, expect, test } from "bun:test";
import { acceptorCells, acceptorServers, parseAcceptorCli } from "../../bench/lib/acceptor.ts";
import type { Sample } from "../../bench/lib/summary.ts";

function sample(round: number, server: string, ops_per_s: number, server_cores = 1, error: string | null = null): Sample {
  return {
    round, server, error, ops_per_s, keys_per_s: ops_per_s, p50_us: 100, p99_us: 900, p999_us: 2000,
    errors: 0, hit_ratio: 1, client_cpu_share: 0.5, server_cpu_s: 8, server_cores, background_cores: 0.02,
    server_rss_bytes: null, peer_cpu_s: null,
  };
}

describe("bench/acceptor.ts", () => {
  test("command line: defaults, every flag, and refusals that name the flag", () => {
    const plain = parseAcceptorCli([]);
    expect(plain).toEqual({ kind: "run", options: { rounds: 5, duration_s: 5, warmup_s: 1, workloads: ["c", "a"], relay1: true, json_path: null } });
    const all = parseAcceptorCli(["--rounds", "3", "--duration", "2.5", "--warmup", "0", "--only", "a", "--no-relay1", "--json", "/tmp/x.json"]);
    expect(all).toEqual({ kind: "run", options: { rounds: 3, duration_s: 2.5, warmup_s: 0, workloads: ["a"], relay1: false, json_path: "/tmp/x.json" } });
    if (all.kind === "run") expect(acceptorServers(all.options)).toEqual(["t1", "t2", "relay2"]);
    if (plain.kind === "run") expect(acceptorServers(plain.options)).toEqual(["t1", "t2", "relay2", "relay1"]);
    expect(parseAcceptorCli(["--help"]).kind).toBe("help");
    for (const bad of [["--rounds", "0"], ["--duration", "x"], ["--only", "b"], ["extra"], ["--nope"]]) {
      expect(parseAcceptorCli(bad).kind).toBe("error");
    }
    const rounds = parseAcceptorCli(["--rounds", "0"]);
    expect(rounds.kind === "error" && rounds.message.includes("--rounds")).toBe(true);
  });

  test("table: ratios ÷ -t 2 per round, CPU µs per request, a failed round noted", () => {
    const samples = [
      sample(0, "t2", 100, 1), sample(1, "t2", 200, 1),
      sample(0, "relay2", 50, 1), sample(1, "relay2", 200, 2),
      sample(0, "t1", 0, 0, "server died"), sample(1, "t1", 100, 0.5),
    ];
    const cells = acceptorCells(samples, ["t1", "t2", "relay2"], 80);
    const column = (name: string) => cells.headers.findIndex((h) => h.startsWith(name));
    const [t1, t2, relay2] = cells.rows as [string[], string[], string[]];
    expect(t2[column("ops/s ÷")]).toBe("1");
    expect(relay2[column("ops/s ÷")]).toBe("0.75 (0.50–1.00)");
    // relay2: 1e6 / 50 = 20000 and 2e6 / 200 = 10000 µs; t2: 10000 and 5000 µs.
    expect(relay2[column("CPU µs/request ÷")]).toBe("2.00");
    expect(relay2[column("CPU µs/request")]).toBe("15000.00 (10000.00–20000.00)");
    expect(t1[column("note")]).toContain("1/2 rounds ok");
    expect(t1[column("note")]).toContain("server died");
    expect(t1[column("ops/s median")]).toBe("100 (100–100)");
  });
});
