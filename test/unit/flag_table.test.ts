// Every flag and -o option memcached 1.6.18 accepts, and what repcached-bun decided for each:
//   effect  — takes effect here;
//   warned  — accepted (scripts that pass it still start), a warning at start (without -v) and in
//             `stats settings` says it has no effect here;
//   refused — refused, with memcached's own message and exit code;
//   others  — owned by another part of issue 13 (-t, -C, -F, idle_timeout): only checked to parse.
// The table is the decision record (README's flags section says the same). Each row is run
// through our parser; where Debian's memcached is installed, each row is also run through it:
// what we accept, it accepts, and what we refuse, it refuses in the same words with the same code.
// (memcached is stopped right after its options by a trailing `-c 0`, a value it refuses while
// reading options: "Maximum connections must be greater than 0".)
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  flags, helpText, parseArgs, settings_stats_left_out, suboption_accepted_only, suboption_no_effect, suboptions,
} from "../../src/config.ts";

type Outcome = "effect" | "warned" | "refused" | "others";

interface Row {
  argv: string[]; // our command line (and memcached's, unless memcached_argv)
  outcome: Outcome;
  /** What the row checks: the flag as a warning names it (-b, -o hashpower). */
  opt: string;
  memcached_argv?: string[] | null; // null: memcached does not run it (exits 0 with text, or a meaning it lacks)
  note?: string;
}

const user = { uid: 1000, sasl_pwdb_env: null };

/** memcached 1.6.18's flags (memcached -h), each with the outcome decided here. */
const flag_rows: Row[] = [
  { opt: "-p", argv: ["-p", "11999"], outcome: "effect" },
  { opt: "-U", argv: ["-U", "11999"], outcome: "effect" },
  { opt: "-s", argv: ["-s", "/tmp/flag-table.sock"], outcome: "effect" },
  { opt: "-a", argv: ["-a", "755"], outcome: "effect" },
  { opt: "-A", argv: ["-A"], outcome: "effect" },
  { opt: "-l", argv: ["-l", "127.0.0.1"], outcome: "effect" },
  { opt: "-d", argv: ["-d"], outcome: "effect" },
  { opt: "-r", argv: ["-r"], outcome: "warned" },
  { opt: "-u", argv: ["-u", "nobody"], outcome: "effect" },
  { opt: "-m", argv: ["-m", "128"], outcome: "effect" },
  { opt: "-M", argv: ["-M"], outcome: "effect" },
  { opt: "-c", argv: ["-c", "100"], outcome: "effect" },
  { opt: "-k", argv: ["-k"], outcome: "warned" },
  { opt: "-v", argv: ["-vv"], outcome: "effect" },
  { opt: "-h", argv: ["-h"], outcome: "effect", memcached_argv: null },
  { opt: "-i", argv: ["-i"], outcome: "effect", memcached_argv: null },
  { opt: "-V", argv: ["-V"], outcome: "effect", memcached_argv: null },
  { opt: "-P", argv: ["-P", "/tmp/flag-table.pid"], outcome: "effect" },
  { opt: "-f", argv: ["-f", "1.5"], outcome: "effect" },
  { opt: "-n", argv: ["-n", "64"], outcome: "effect" },
  { opt: "-L", argv: ["-L"], outcome: "warned" },
  { opt: "-D", argv: ["-D", "#"], outcome: "effect" },
  { opt: "-t", argv: ["-t", "2"], outcome: "others" },
  { opt: "-R", argv: ["-R", "5"], outcome: "effect" },
  { opt: "-C", argv: ["-C"], outcome: "others" },
  { opt: "-b", argv: ["-b", "99"], outcome: "warned" },
  { opt: "-B", argv: ["-B", "ascii"], outcome: "effect" },
  { opt: "-I", argv: ["-I", "2m"], outcome: "effect" },
  { opt: "-S", argv: ["-S", "--sasl-pwdb", "/tmp/flag-table.pw"], outcome: "effect", memcached_argv: ["-S"] },
  { opt: "-F", argv: ["-F"], outcome: "others" },
  {
    opt: "-X", argv: ["-X", "11400"], outcome: "effect", memcached_argv: null,
    note: "repcached's -X (replication ports) wins; memcached 1.6's -X is --disable-dumping here",
  },
  { opt: "--disable-dumping", argv: ["--disable-dumping"], outcome: "effect", note: "nothing to dump here" },
  { opt: "-W", argv: ["-W"], outcome: "effect", note: "no watch command here to disable" },
  { opt: "-Y", argv: ["-Y", "/tmp/flag-table.auth"], outcome: "effect" },
  { opt: "-e", argv: ["-e", "/dev/shm/flag-table"], outcome: "warned" },
  {
    opt: "-Z", argv: ["-Z", "-o", "ssl_chain_cert=c.pem,ssl_key=k.pem"], outcome: "effect",
    memcached_argv: ["-Z", "-o", "ssl_chain_cert=c.pem,ssl_key=k.pem"],
  },
  { opt: "-N", argv: ["-N", "2"], outcome: "warned" },
];

/** A value memcached and we both accept for each -o option that takes one. */
const suboption_values: Record<string, string> = {
  hashpower: "20", tail_repair_time: "30", hash_algorithm: "xxh3", lru_crawler_sleep: "50",
  lru_crawler_tocrawl: "5", read_buf_mem_limit: "2", hot_lru_pct: "20", warm_lru_pct: "40", hot_max_factor: "0.2",
  warm_max_factor: "2", temporary_ttl: "30", idle_timeout: "5", slab_chunk_max: "524288", watcher_logbuf_size: "256",
  worker_logbuf_size: "64", slab_automove: "1", slab_automove_ratio: "0.5", slab_automove_window: "10",
  ssl_chain_cert: "c.pem", ssl_key: "k.pem", ssl_ca_cert: "ca.pem", ssl_verify_mode: "0", ssl_keyformat: "1",
  ssl_ciphers: "HIGH", ssl_min_version: "2", ssl_wbuf_size: "16",
  ext_path: "/tmp/flag-table-ext:64m", ext_page_size: "8", ext_wbuf_size: "4", ext_threads: "1", ext_io_depth: "1",
  ext_item_size: "512", ext_item_age: "5", ext_low_ttl: "0", ext_recache_rate: "2000", ext_compact_under: "1",
  ext_drop_under: "1", ext_max_frag: "0.8", ext_max_sleep: "1000", slab_automove_freeratio: "0.01",
  slab_sizes: "100-200", resp_obj_mem_limit: "10", sock_cookie_id: "1",
};

/** The ssl_* options take effect with -Z (without it they warn "no effect without -Z", as memcached). */
const tls_on = ["-Z", "-o", "ssl_chain_cert=c.pem,ssl_key=k.pem"];

/** memcached 1.6.18's -o options, each with its outcome here. */
const suboption_rows: Row[] = [
  ...["maxconns_fast", "modern"].map((name) => ({ name, outcome: "effect" as Outcome })),
  { name: "idle_timeout", outcome: "others" as Outcome },
  ...Object.keys(suboption_no_effect).map((name) => ({ name, outcome: "warned" as Outcome })),
  ...Object.keys(suboption_accepted_only).map((name) => ({ name, outcome: "warned" as Outcome })),
  ...["ssl_chain_cert", "ssl_key", "ssl_ca_cert", "ssl_verify_mode", "ssl_keyformat", "ssl_ciphers", "ssl_min_version"]
    .map((name) => ({ name, outcome: "effect" as Outcome, tls: true })),
  ...["ssl_wbuf_size", "ssl_session_cache", "ssl_kernel_tls"].map((name) => ({ name, outcome: "warned" as Outcome, tls: true })),
].map((row): Row => {
  const value = suboption_values[row.name];
  const item = value === undefined ? row.name : `${row.name}=${value}`;
  const argv = "tls" in row ? [...tls_on, "-o", item] : ["-o", item];
  return { opt: `-o ${row.name}`, argv, outcome: row.outcome };
});

/** What memcached 1.6.18 (Debian: extstore and TLS, no proxy) refuses, and so do we, in its words. */
const refused_rows: Row[] = ["bogus", "bogus=1", "proxy_config=/x", "ext_direct_io", "napi_ids=1", "lru_segmented"]
  .map((item) => ({ opt: "-o", argv: ["-o", item], outcome: "refused" as Outcome, note: `Illegal suboption "${item}"` }));

const rows = [...flag_rows, ...suboption_rows, ...refused_rows];

/** -o options of ours that memcached 1.6.18 does not have (it refuses them): tested where they act. */
const ours_only_suboptions = ["metrics_port"];

function warningsOf(argv: string[]): string[] {
  const result = parseArgs(argv, user);
  if (result.kind !== "run") throw new Error(`${argv.join(" ")}: ${JSON.stringify(result)}`);
  return result.settings.warnings;
}

describe("the flag table: every memcached 1.6.18 flag and -o option", () => {
  test("covers every flag of ours that memcached has, and every -o option of ours", () => {
    const covered = new Set(rows.map((row) => row.opt));
    for (const entry of flags) {
      if (entry.short !== null && !covered.has(`-${entry.short}`)) {
        // repcached's own flags (-x, -q) and long-only ones of ours are not memcached's.
        expect(["x", "q"]).toContain(entry.short);
      }
    }
    for (const sub of suboptions) {
      if (!ours_only_suboptions.includes(sub.name)) expect(covered.has(`-o ${sub.name}`)).toBe(true);
    }
  });

  for (const row of rows) {
    test(`${row.argv.join(" ")}: ${row.outcome}`, () => {
      const result = parseArgs(row.argv, user);
      if (row.outcome === "refused") {
        expect(result).toEqual({ kind: "error", message: row.note!, exit_code: 1 });
        return;
      }
      expect(result.kind).not.toBe("error");
      if (result.kind !== "run") return; // -h, -i, -V
      const about = result.settings.warnings.filter((text) => text.startsWith(`option ${row.opt}:`));
      if (row.outcome === "warned") {
        expect(about.length).toBe(1);
        expect(about[0]).toContain("accepted without effect");
      } else if (row.outcome === "effect") {
        expect(about).toEqual([]);
      }
    });
  }

  test("the long names warn the same way as the letters", () => {
    expect(warningsOf(["--listen-backlog=99"])[0]).toContain("option --listen-backlog: accepted without effect");
    expect(warningsOf(["--memory-file", "/dev/shm/x"])[0]).toContain("option --memory-file: accepted without effect");
  });

  test("outcome counts (README's flags section states them)", () => {
    const count = (outcome: Outcome) => rows.filter((row) => row.outcome === outcome).length;
    // Printed so the report can quote them; asserted so a change to the table is a visible change.
    const counts = { effect: count("effect"), warned: count("warned"), refused: count("refused"), others: count("others") };
    expect(counts).toEqual({ effect: 37, warned: 60, refused: 6, others: 4 });
  });
});

describe("README and -h say the same", () => {
  const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");
  const flags_section = readme.slice(readme.indexOf("## Flags"), readme.indexOf("## Replication"));

  test("README's flags section names every flag, every -o option and every left-out stats settings line", () => {
    for (const row of flag_rows) expect(flags_section).toContain(`\`${row.opt}`);
    for (const name of [...suboptions.map((sub) => sub.name), ...Object.keys(suboption_accepted_only)]) {
      expect(flags_section).toContain(`\`${name}\``);
    }
    for (const name of Object.keys(settings_stats_left_out)) expect(flags_section).toContain(`\`${name}\``);
  });

  test("-h and README say -X is repcached's, and memcached's -X is --disable-dumping", () => {
    expect(helpText()).toContain("memcached 1.6's -X is --disable-dumping here");
    expect(flags_section).toContain("**`-X` has repcached's meaning.**");
  });
});

const memcached_path = "/usr/bin/memcached";
const stop_sentinel = ["-c", "0"];
const sentinel_text = "Maximum connections must be greater than 0";

function memcachedRun(argv: string[]): { code: number; text: string } {
  const root = process.getuid?.() === 0 ? ["-u", "root"] : [];
  const proc = Bun.spawnSync([memcached_path, ...root, "-U", "0", ...argv, ...stop_sentinel], {
    stdout: "pipe", stderr: "pipe", timeout: 5_000,
  });
  return { code: proc.exitCode ?? -1, text: proc.stdout.toString() + proc.stderr.toString() };
}

describe.skipIf(!existsSync(memcached_path))("the same rows through memcached 1.6.18", () => {
  test("memcached is 1.6.18", () => {
    const proc = Bun.spawnSync([memcached_path, "-V"], { stdout: "pipe" });
    expect(proc.stdout.toString()).toContain("memcached 1.6.18");
  });

  for (const row of rows) {
    if (row.memcached_argv === null) continue;
    const argv = row.memcached_argv ?? row.argv;
    test(`memcached ${argv.join(" ")}: ${row.outcome === "refused" ? "refused the same way" : "accepted"}`, () => {
      const ran = memcachedRun(argv);
      if (row.outcome === "refused") {
        expect(ran.code).toBe(1);
        expect(ran.text.split("\n")[0]).toBe(row.note!);
        return;
      }
      // It read past the option to the sentinel: the option was accepted.
      expect(ran.text).toContain(sentinel_text);
    });
  }
});
