// Unit tests for src/config.ts: the flag table, getopt-style parsing, usage errors, cross-flag
// checks, -h, and `stats settings` against output captured from a real memcached 1.6.18.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  threads_default,
  flags,
  helpText,
  listenAddressSplit,
  listenNoTls,
  parseArgs,
  printfFixed,
  settingsDefault,
  settingsStats,
  settings_stats_left_out,
  suboptions,
  version_string,
  type Settings,
} from "../../src/config.ts";

const user = { uid: 1000 }; // not root, so no root warning unless a test asks for one

function run(argv: string[]): Settings {
  const result = parseArgs(argv, user);
  if (result.kind !== "run") throw new Error(`expected run for ${argv.join(" ")}: ${JSON.stringify(result)}`);
  return result.settings;
}

function usage(argv: string[]): string {
  const result = parseArgs(argv, user);
  if (result.kind !== "error") throw new Error(`expected error for ${argv.join(" ")}: ${result.kind}`);
  expect(result.exit_code).toBe(64);
  expect(result.message.startsWith("repcached: ")).toBe(true);
  return result.message;
}

const mib = 1024 * 1024;

// memcached 1.6.18 (Debian), `stats settings` after: memcached -u root -l 127.0.0.1 -p 23411 -U 0
const captured_default: Array<[string, string]> = [
  ["maxbytes", "67108864"],
  ["maxconns", "1024"],
  ["tcpport", "23411"],
  ["udpport", "0"],
  ["inter", "127.0.0.1"],
  ["verbosity", "0"],
  ["oldest", "0"],
  ["evictions", "on"],
  ["domain_socket", "NULL"],
  ["umask", "700"],
  ["shutdown_command", "no"],
  ["growth_factor", "1.25"],
  ["chunk_size", "48"],
  ["num_threads", "4"],
  ["num_threads_per_udp", "4"],
  ["stat_key_prefix", ":"],
  ["detail_enabled", "no"],
  ["reqs_per_event", "20"],
  ["cas_enabled", "yes"],
  ["tcp_backlog", "1024"],
  ["binding_protocol", "auto-negotiate"],
  ["auth_enabled_sasl", "no"],
  ["auth_enabled_ascii", "no"],
  ["item_size_max", "1048576"],
  ["maxconns_fast", "yes"],
  ["hashpower_init", "0"],
  ["slab_reassign", "yes"],
  ["slab_automove", "1"],
  ["slab_automove_ratio", "0.80"],
  ["slab_automove_window", "30"],
  ["slab_chunk_max", "524288"],
  ["lru_crawler", "yes"],
  ["lru_crawler_sleep", "100"],
  ["lru_crawler_tocrawl", "0"],
  ["tail_repair_time", "0"],
  ["flush_enabled", "yes"],
  ["dump_enabled", "yes"],
  ["hash_algorithm", "murmur3"],
  ["lru_maintainer_thread", "yes"],
  ["lru_segmented", "yes"],
  ["hot_lru_pct", "20"],
  ["warm_lru_pct", "40"],
  ["hot_max_factor", "0.20"],
  ["warm_max_factor", "2.00"],
  ["temp_lru", "no"],
  ["temporary_ttl", "61"],
  ["idle_timeout", "0"],
  ["watcher_logbuf_size", "262144"],
  ["worker_logbuf_size", "65536"],
  ["read_buf_mem_limit", "0"],
  ["track_sizes", "no"],
  ["inline_ascii_response", "no"],
  ["ext_item_size", "512"],
  ["ext_item_age", "4294967295"],
  ["ext_low_ttl", "0"],
  ["ext_recache_rate", "2000"],
  ["ext_wbuf_size", "4194304"],
  ["ext_compact_under", "0"],
  ["ext_drop_under", "0"],
  ["ext_max_sleep", "1000000"],
  ["ext_max_frag", "0.80"],
  ["slab_automove_freeratio", "0.010"],
  ["ext_drop_unread", "no"],
  ["ssl_enabled", "no"],
  ["ssl_chain_cert", "(null)"],
  ["ssl_key", "(null)"],
  ["ssl_verify_mode", "0"],
  ["ssl_keyformat", "1"],
  ["ssl_ciphers", "NULL"],
  ["ssl_ca_cert", "NULL"],
  ["ssl_wbuf_size", "16384"],
  ["ssl_session_cache", "no"],
  ["ssl_kernel_tls", "no"],
  ["ssl_min_version", "tlsv1.2"],
  ["num_napi_ids", "(null)"],
  ["memory_file", "(null)"],
];

// memcached 1.6.18, `stats settings` after:
//   memcached -u root -p 23412 -M -A -C -D '#' -B ascii -c 77 -t 2 -R 9 -b 99 -f 1.5 -n 64 -m 128 -I 2m -vv
//     -o idle_timeout=5,hashpower=20,track_sizes,tail_repair_time=17,no_lru_crawler,slab_chunk_max=256
const captured_custom: Array<[string, string]> = [
  ["maxbytes", "134217728"],
  ["maxconns", "77"],
  ["tcpport", "23412"],
  ["udpport", "0"],
  ["inter", "NULL"],
  ["verbosity", "2"],
  ["oldest", "0"],
  ["evictions", "off"],
  ["domain_socket", "NULL"],
  ["umask", "700"],
  ["shutdown_command", "yes"],
  ["growth_factor", "1.50"],
  ["chunk_size", "64"],
  ["num_threads", "2"],
  ["num_threads_per_udp", "2"],
  ["stat_key_prefix", "#"],
  ["detail_enabled", "yes"],
  ["reqs_per_event", "9"],
  ["cas_enabled", "no"],
  ["tcp_backlog", "99"],
  ["binding_protocol", "ascii"],
  ["auth_enabled_sasl", "no"],
  ["auth_enabled_ascii", "no"],
  ["item_size_max", "2097152"],
  ["maxconns_fast", "yes"],
  ["hashpower_init", "20"],
  ["slab_reassign", "yes"],
  ["slab_automove", "1"],
  ["slab_automove_ratio", "0.80"],
  ["slab_automove_window", "30"],
  ["slab_chunk_max", "256"],
  ["lru_crawler", "no"],
  ["lru_crawler_sleep", "100"],
  ["lru_crawler_tocrawl", "0"],
  ["tail_repair_time", "17"],
  ["flush_enabled", "yes"],
  ["dump_enabled", "yes"],
  ["hash_algorithm", "murmur3"],
  ["lru_maintainer_thread", "yes"],
  ["lru_segmented", "yes"],
  ["hot_lru_pct", "20"],
  ["warm_lru_pct", "40"],
  ["hot_max_factor", "0.20"],
  ["warm_max_factor", "2.00"],
  ["temp_lru", "no"],
  ["temporary_ttl", "61"],
  ["idle_timeout", "5"],
  ["watcher_logbuf_size", "262144"],
  ["worker_logbuf_size", "65536"],
  ["read_buf_mem_limit", "0"],
  ["track_sizes", "yes"],
  ["inline_ascii_response", "no"],
  ["ext_item_size", "512"],
  ["ext_item_age", "4294967295"],
  ["ext_low_ttl", "0"],
  ["ext_recache_rate", "2000"],
  ["ext_wbuf_size", "4194304"],
  ["ext_compact_under", "0"],
  ["ext_drop_under", "0"],
  ["ext_max_sleep", "1000000"],
  ["ext_max_frag", "0.80"],
  ["slab_automove_freeratio", "0.010"],
  ["ext_drop_unread", "no"],
  ["ssl_enabled", "no"],
  ["ssl_chain_cert", "(null)"],
  ["ssl_key", "(null)"],
  ["ssl_verify_mode", "0"],
  ["ssl_keyformat", "1"],
  ["ssl_ciphers", "NULL"],
  ["ssl_ca_cert", "NULL"],
  ["ssl_wbuf_size", "16384"],
  ["ssl_session_cache", "no"],
  ["ssl_kernel_tls", "no"],
  ["ssl_min_version", "tlsv1.2"],
  ["num_napi_ids", "(null)"],
  ["memory_file", "(null)"],
];

// memcached 1.6.18, `stats settings` after: memcached -u root -p 23414 -l 127.0.0.1 -o no_modern
const captured_no_modern: Array<[string, string]> = [
  ["maxbytes", "67108864"],
  ["maxconns", "1024"],
  ["tcpport", "23414"],
  ["udpport", "0"],
  ["inter", "127.0.0.1"],
  ["verbosity", "0"],
  ["oldest", "0"],
  ["evictions", "on"],
  ["domain_socket", "NULL"],
  ["umask", "700"],
  ["shutdown_command", "no"],
  ["growth_factor", "1.25"],
  ["chunk_size", "48"],
  ["num_threads", "4"],
  ["num_threads_per_udp", "4"],
  ["stat_key_prefix", ":"],
  ["detail_enabled", "no"],
  ["reqs_per_event", "20"],
  ["cas_enabled", "yes"],
  ["tcp_backlog", "1024"],
  ["binding_protocol", "auto-negotiate"],
  ["auth_enabled_sasl", "no"],
  ["auth_enabled_ascii", "no"],
  ["item_size_max", "1048576"],
  ["maxconns_fast", "no"],
  ["hashpower_init", "0"],
  ["slab_reassign", "no"],
  ["slab_automove", "0"],
  ["slab_automove_ratio", "0.80"],
  ["slab_automove_window", "30"],
  ["slab_chunk_max", "1048576"],
  ["lru_crawler", "no"],
  ["lru_crawler_sleep", "100"],
  ["lru_crawler_tocrawl", "0"],
  ["tail_repair_time", "0"],
  ["flush_enabled", "yes"],
  ["dump_enabled", "yes"],
  ["hash_algorithm", "jenkins"],
  ["lru_maintainer_thread", "no"],
  ["lru_segmented", "no"],
  ["hot_lru_pct", "20"],
  ["warm_lru_pct", "40"],
  ["hot_max_factor", "0.20"],
  ["warm_max_factor", "2.00"],
  ["temp_lru", "no"],
  ["temporary_ttl", "61"],
  ["idle_timeout", "0"],
  ["watcher_logbuf_size", "262144"],
  ["worker_logbuf_size", "65536"],
  ["read_buf_mem_limit", "0"],
  ["track_sizes", "no"],
  ["inline_ascii_response", "no"],
  ["ext_item_size", "512"],
  ["ext_item_age", "4294967295"],
  ["ext_low_ttl", "0"],
  ["ext_recache_rate", "2000"],
  ["ext_wbuf_size", "4194304"],
  ["ext_compact_under", "0"],
  ["ext_drop_under", "0"],
  ["ext_max_sleep", "1000000"],
  ["ext_max_frag", "0.80"],
  ["slab_automove_freeratio", "0.010"],
  ["ext_drop_unread", "no"],
  ["ssl_enabled", "no"],
  ["ssl_chain_cert", "(null)"],
  ["ssl_key", "(null)"],
  ["ssl_verify_mode", "0"],
  ["ssl_keyformat", "1"],
  ["ssl_ciphers", "NULL"],
  ["ssl_ca_cert", "NULL"],
  ["ssl_wbuf_size", "16384"],
  ["ssl_session_cache", "no"],
  ["ssl_kernel_tls", "no"],
  ["ssl_min_version", "tlsv1.2"],
  ["num_napi_ids", "(null)"],
  ["memory_file", "(null)"],
];

/** The EXTSTORE block of memcached's list: a build without it omits these lines (TLS lines stay). */
function withoutExtstore(lines: Array<[string, string]>): Array<[string, string]> {
  return lines.filter(([name]) => !name.startsWith("ext_") && name !== "slab_automove_freeratio");
}

const replication_names = [
  "replication_peer",
  "replication_listen_port",
  "replication_connect_port",
  "replication_queue_items_max",
  "replication_queue_bytes_max",
  "replication_tls",
  "replication_tls_ca",
  "replication_tls_pin",
  "metrics_port", // ours too, after replication's
  "metrics_listen",
];

describe("defaults", () => {
  test("no arguments gives memcached 1.6's defaults and repcached's", () => {
    const settings = run([]);
    expect(settings).toEqual(settingsDefault());
    expect(settings.tcp_port).toBe(11211);
    expect(settings.udp_port).toBe(0);
    expect(settings.unix_socket_path).toBeNull();
    expect(settings.unix_socket_mask).toBe(0o700);
    expect(settings.listen_addresses).toEqual([]);
    expect(settings.memory_bytes_max).toBe(64 * mib);
    expect(settings.connections_max).toBe(1024);
    expect(settings.verbosity).toBe(0);
    expect(settings.growth_factor).toBe(1.25);
    expect(settings.chunk_size_min).toBe(48);
    expect(settings.threads).toBe(threads_default); // memcached's is 4 (config.ts: why ours is 1)
    expect(threads_default).toBe(1);
    expect(settings.requests_per_event_max).toBe(20);
    expect(settings.cas_enabled).toBe(true);
    expect(settings.backlog).toBe(1024);
    expect(settings.item_size_max).toBe(mib);
    expect(settings.evictions_disabled).toBe(false);
    expect(settings.shutdown_enabled).toBe(false);
    expect(settings.stats_prefix_delimiter).toBe(":");
    expect(settings.binding_protocol).toBe("auto");
    expect(settings.replication).toEqual({
      enabled: false,
      peer_host: null,
      listen_port: 11212,
      connect_port: 11212,
      queue_items_max: 8192,
      queue_bytes_max: 8192 * 265, // -q × the largest journal entry
      secret: null,
      propagate_evictions: true,
      serve_during_copy: false,
      tls: { cert_path: null, key_path: null, ca_path: null, pin_sha256: null },
    });
    expect(settings.tls.enabled).toBe(false);
    expect(settings.warnings).toEqual([]);
  });

  test("each flag's documented default parses to settingsDefault()", () => {
    const not_values = new Set(["0, off", "INADDR_ANY", "none"]);
    let checked = 0;
    for (const entry of flags) {
      if (entry.value === null || entry.default_text === null || not_values.has(entry.default_text)) continue;
      if (entry.short === "D") continue; // -D also turns per-prefix stats on
      if (entry.short === "b") continue; // -b is accepted with a warning (the table test checks it)
      const name = entry.long !== null ? `--${entry.long}` : `-${entry.short}`;
      const parsed = run([name, entry.default_text]);
      if (entry.short === "X") parsed.replication.enabled = false; // -X also turns replication on
      expect(parsed).toEqual(settingsDefault());
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(12);
  });

  test("settingsDefault returns a fresh object each time", () => {
    const a = settingsDefault();
    a.listen_addresses.push("x");
    a.replication.listen_port = 1;
    expect(settingsDefault().listen_addresses).toEqual([]);
    expect(settingsDefault().replication.listen_port).toBe(11212);
  });

  test("version_string is memcached 1.6.18", () => {
    expect(version_string).toBe("1.6.18");
  });
});

describe("every flag", () => {
  test("network flags", () => {
    expect(run(["-p", "12345"]).tcp_port).toBe(12345);
    expect(run(["-p", "0"]).tcp_port).toBe(0);
    expect(run(["-U", "11211"]).udp_port).toBe(11211);
    expect(run(["-a", "0755"]).unix_socket_mask).toBe(0o755);
    expect(run(["-a", "600"]).unix_socket_mask).toBe(0o600);
    expect(run(["-b", "99"]).backlog).toBe(99);
    expect(run(["-c", "77"]).connections_max).toBe(77);
  });

  test("-s turns TCP and UDP off, as memcached", () => {
    const settings = run(["-s", "/tmp/mc.sock"]);
    expect(settings.unix_socket_path).toBe("/tmp/mc.sock");
    expect(settings.tcp_port).toBe(0);
    expect(settings.udp_port).toBe(0);
    expect(settings.warnings).toEqual([]);
    const noisy = run(["-s", "/tmp/mc.sock", "-p", "11311"]);
    expect(noisy.tcp_port).toBe(0);
    expect(noisy.warnings.join("\n")).toContain("-p is ignored with -s");
  });

  test("-l: comma-separated, repeatable, with ports and [ipv6]", () => {
    expect(run(["-l", "127.0.0.1"]).listen_addresses).toEqual(["127.0.0.1"]);
    expect(run(["-l", "127.0.0.1,::1", "-l", "[::1]:11311", "-l", "10.0.0.1:11411"]).listen_addresses)
      .toEqual(["127.0.0.1", "::1", "[::1]:11311", "10.0.0.1:11411"]);
    expect(run(["-l", "localhost", "-l", "localhost"]).listen_addresses).toEqual(["localhost"]);
    expect(listenAddressSplit("[::1]:11311")).toEqual({ host: "::1", port: 11311 });
    expect(listenAddressSplit("[::1]")).toEqual({ host: "::1", port: null });
    expect(listenAddressSplit("fe80::1")).toEqual({ host: "fe80::1", port: null });
    expect(listenAddressSplit("10.0.0.1:0")).toEqual({ host: "10.0.0.1", port: 0 });
    expect(listenAddressSplit("host")).toEqual({ host: "host", port: null });
    expect(listenAddressSplit("[::1")).toBeNull();
    expect(listenAddressSplit("[::1]x")).toBeNull();
    expect(listenAddressSplit("h:99999")).toBeNull();
    expect(listenAddressSplit(":11211")).toBeNull();
  });

  test("process flags", () => {
    const settings = run(["-d", "-P", "/run/mc.pid", "-u", "nobody", "-r", "-k", "-L"]);
    expect(settings.daemonize).toBe(true);
    expect(settings.pid_file).toBe("/run/mc.pid");
    expect(settings.user).toBe("nobody");
    expect(settings.core_limit_raise).toBe(true);
    expect(settings.lock_memory).toBe(true);
    expect(settings.large_pages).toBe(true);
  });

  test("memory and slab flags", () => {
    expect(run(["-m", "128"]).memory_bytes_max).toBe(128 * mib);
    expect(run(["-M"]).evictions_disabled).toBe(true);
    expect(run(["-f", "1.5"]).growth_factor).toBe(1.5);
    expect(run(["-f", "2"]).growth_factor).toBe(2);
    expect(run(["-n", "64"]).chunk_size_min).toBe(64);
    expect(run(["-I", "2097152"]).item_size_max).toBe(2 * mib);
    expect(run(["-I", "512k"]).item_size_max).toBe(512 * 1024);
  });

  test("protocol and behaviour flags", () => {
    expect(run(["-t", "8"]).threads).toBe(8);
    expect(run(["-R", "9"]).requests_per_event_max).toBe(9);
    expect(run(["-C"]).cas_enabled).toBe(false);
    expect(run(["-B", "ascii"]).binding_protocol).toBe("ascii");
    expect(run(["-B", "auto"]).binding_protocol).toBe("auto");
    expect(run(["-A"]).shutdown_enabled).toBe(true);
    expect(run(["-F"]).flush_enabled).toBe(false);
    expect(run(["-W"]).watch_enabled).toBe(false);
    expect(run(["--disable-dumping"]).dump_enabled).toBe(false);
    const delimited = run(["-D", "#"]);
    expect(delimited.stats_prefix_delimiter).toBe("#");
    expect(delimited.stats_detail_enabled).toBe(true);
  });

  test("verbosity counts -v, -vv, -vvv, repeated -v, and stops at 3", () => {
    expect(run(["-v"]).verbosity).toBe(1);
    expect(run(["-vv"]).verbosity).toBe(2);
    expect(run(["-vvv"]).verbosity).toBe(3);
    expect(run(["-v", "-v"]).verbosity).toBe(2);
    expect(run(["-v", "--verbose", "-v"]).verbosity).toBe(3);
    expect(run(["-vvvvv"]).verbosity).toBe(3);
  });

  test("-h, -i and -V return their text and stop reading", () => {
    const help = parseArgs(["-h"], user);
    expect(help.kind).toBe("help");
    expect(parseArgs(["--help"], user).kind).toBe("help");
    expect(parseArgs(["-h", "-z"], user).kind).toBe("help"); // memcached exits at -h
    const version = parseArgs(["-V"], user);
    expect(version).toEqual({ kind: "version", text: "memcached 1.6.18 repcached-bun 0.1.0\n" });
    expect(parseArgs(["--version"], user).kind).toBe("version");
    const license = parseArgs(["-i"], user);
    expect(license.kind).toBe("license");
    if (license.kind === "license") expect(license.text).toContain("BSD");
    expect(parseArgs(["--license"], user).kind).toBe("license");
  });

  test("-e and -N are accepted with a warning", () => {
    expect(run(["-e", "/dev/shm/mc"]).warnings.join("\n")).toContain("no restartable cache here");
    expect(run(["-N", "2"]).warnings.join("\n")).toContain("NAPI");
  });

  test("-S: binary only, needs a password file (--sasl-pwdb wins over MEMCACHED_SASL_PWDB)", () => {
    expect(usage(["-S"])).toBe("repcached: option -S: needs a password file: --sasl-pwdb <file> or MEMCACHED_SASL_PWDB");
    const from_env = parseArgs(["-S"], { ...user, sasl_pwdb_env: "/env/pwdb" });
    expect(from_env.kind === "run" && from_env.settings.sasl_pwdb_path).toBe("/env/pwdb");
    const both = parseArgs(["-S", "--sasl-pwdb", "/flag/pwdb"], { ...user, sasl_pwdb_env: "/env/pwdb" });
    expect(both.kind === "run" && both.settings.sasl_pwdb_path).toBe("/flag/pwdb");
    const settings = run(["-S", "--sasl-pwdb=/x"]);
    expect(settings.sasl_enabled).toBe(true);
    expect(settings.binding_protocol).toBe("binary");
    expect(run(["-S", "--sasl-pwdb=/x", "-B", "binary"]).binding_protocol).toBe("binary");
    // memcached 1.6.18's words (checked with the real binary)
    expect(usage(["-S", "--sasl-pwdb=/x", "-B", "ascii"])).toBe("repcached: ERROR: You cannot allow the ASCII protocol while using SASL.");
    expect(usage(["-S", "--sasl-pwdb=/x", "-B", "auto"])).toBe("repcached: ERROR: You cannot allow the ASCII protocol while using SASL.");
    expect(usage(["-S", "--sasl-pwdb=/x", "-U", "11211"])).toBe("repcached: ERROR: Cannot enable UDP while using binary SASL authentication.");
    expect(usage(["--sasl-pwdb=/x"])).toBe("repcached: option --sasl-pwdb: needs -S");
  });

  test("-Y: ASCII only, not over UDP, not with -S", () => {
    const settings = run(["-Y", "/etc/auth"]);
    expect(settings.auth_file_path).toBe("/etc/auth");
    expect(settings.binding_protocol).toBe("ascii");
    expect(usage(["-Y", "/etc/auth", "-B", "binary"])).toBe(
      "repcached: ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.",
    );
    expect(usage(["-Y", "/etc/auth", "-B", "auto"])).toContain("You cannot allow the BINARY protocol");
    expect(usage(["-Y", "/etc/auth", "-U", "11211"])).toBe(
      "repcached: Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
    );
    expect(usage(["-Y", "/etc/auth", "-S", "--sasl-pwdb=/x"])).toContain("cannot both be on");
  });
});

describe("getopt syntax", () => {
  test("clustered short flags and attached values", () => {
    const settings = run(["-dM", "-p11311", "-m64", "-vvv", "-Cl127.0.0.1"]);
    expect(settings.daemonize).toBe(true);
    expect(settings.evictions_disabled).toBe(true);
    expect(settings.tcp_port).toBe(11311);
    expect(settings.memory_bytes_max).toBe(64 * mib);
    expect(settings.verbosity).toBe(3);
    expect(settings.cas_enabled).toBe(false);
    expect(settings.listen_addresses).toEqual(["127.0.0.1"]);
    expect(run(["-vp", "23414"]).tcp_port).toBe(23414);
  });

  test("sizes with suffixes: -m 1g, -m 512m, -m 2048k, -I 2m, -I 1024k", () => {
    expect(run(["-m", "1g"]).memory_bytes_max).toBe(1024 * mib);
    expect(run(["-m", "1G"]).memory_bytes_max).toBe(1024 * mib);
    expect(run(["-m", "512m"]).memory_bytes_max).toBe(512 * mib);
    expect(run(["-m", "2048k"]).memory_bytes_max).toBe(2 * mib);
    expect(run(["-I", "2m"]).item_size_max).toBe(2 * mib);
    expect(run(["-I", "1024k"]).item_size_max).toBe(mib);
    expect(run(["-m", "4096", "-I", "1024m"]).item_size_max).toBe(1024 * mib);
  });

  test("long options with = and with a separate value", () => {
    expect(run(["--port=11311"]).tcp_port).toBe(11311);
    expect(run(["--port", "11311"]).tcp_port).toBe(11311);
    expect(run(["--memory-limit=1g"]).memory_bytes_max).toBe(1024 * mib);
    expect(run(["--max-item-size", "2m"]).item_size_max).toBe(2 * mib);
    expect(run(["--listen=[::1]:1234"]).listen_addresses).toEqual(["[::1]:1234"]);
    expect(run(["--udp-port=0", "--conn-limit=5", "--threads", "2"]).connections_max).toBe(5);
    expect(run(["--slab-growth-factor=1.1", "--slab-min-size=100"]).chunk_size_min).toBe(100);
    expect(run(["--protocol=ascii"]).binding_protocol).toBe("ascii");
    expect(run(["--extended=track_sizes"]).extras.track_sizes).toBe(true);
    expect(run(["--daemon", "--pidfile=/tmp/p", "--user=nobody", "--lock-memory"]).user).toBe("nobody");
  });

  test("a unique prefix of a long option works, an ambiguous one does not", () => {
    expect(run(["--conn=9"]).connections_max).toBe(9);
    expect(usage(["--mem=100"])).toContain("'--mem' is ambiguous");
  });

  test("-- ends the options", () => {
    expect(run(["-p", "1", "--"]).tcp_port).toBe(1);
    expect(usage(["--", "extra"])).toContain("unexpected argument 'extra'");
  });
});

describe("usage errors", () => {
  test("unknown flags", () => {
    const message = usage(["-z"]);
    expect(message).toContain("repcached: unknown option -- z");
    expect(message).toContain("Try 'repcached -h'");
    expect(usage(["-Mvdz"])).toContain("unknown option -- z");
    expect(usage(["--bogus"])).toContain("unknown option '--bogus'");
    expect(usage(["stray"])).toContain("unexpected argument 'stray'");
    expect(usage(["-"])).toContain("unexpected argument '-'");
  });

  test("missing values name the flag", () => {
    expect(usage(["-p"])).toContain("option -p: missing value <num>");
    expect(usage(["--port"])).toContain("option --port: missing value");
    expect(usage(["-m"])).toContain("option -m");
    expect(usage(["-v", "-x"])).toContain("option -x");
    expect(usage(["--help=3"])).toContain("'--help' doesn't allow an argument");
  });

  test("bad numbers: not decimal, trailing junk, empty", () => {
    expect(usage(["-m", "abc"])).toBe("repcached: option -m: 'abc' is not a size (a number, optionally with k, m or g)");
    expect(usage(["-p", "abc"])).toBe("repcached: option -p: 'abc' is not a number");
    expect(usage(["-p", "11211x"])).toContain("option -p: '11211x' is not a number");
    expect(usage(["-p", "-1"])).toContain("is not a number");
    expect(usage(["-p", "0x10"])).toContain("is not a number");
    expect(usage(["-p", " 1"])).toContain("is not a number");
    expect(usage(["--port="])).toContain("option --port: '' is not a number");
    expect(usage(["-c", "1e3"])).toContain("option -c");
    expect(usage(["-m", "64x"])).toContain("option -m");
    expect(usage(["-m", "1.5g"])).toContain("option -m");
    expect(usage(["-f", "abc"])).toContain("option -f: 'abc' is not a number");
    expect(usage(["-f", "1e1"])).toContain("option -f");
    expect(usage(["-a", "999"])).toContain("option -a: '999' is not an octal mask");
    expect(usage(["-I", "1x"])).toContain("option -I");
    expect(usage(["-I", "1t"])).toContain("option -I");
  });

  test("out of range", () => {
    expect(usage(["-p", "65536"])).toContain("option -p: '65536' is out of range (at most 65535)");
    expect(usage(["-U", "70000"])).toContain("option -U");
    expect(usage(["-p", "99999999999999999999"])).toContain("out of range");
    expect(usage(["-a", "1000"])).toContain("option -a: '1000' is out of range");
    expect(usage(["-m", "5000000"])).toContain("option -m: '5000000' is out of range");
    expect(usage(["-c", "0"])).toBe("repcached: option -c: Maximum connections must be greater than 0");
    expect(usage(["-t", "0"])).toBe("repcached: option -t: Number of threads must be greater than 0");
    expect(usage(["-R", "0"])).toBe("repcached: option -R: Number of requests per event must be greater than 0");
    expect(usage(["-n", "0"])).toBe("repcached: option -n: Chunk size must be greater than 0");
    expect(usage(["-m", "0"])).toContain("option -m");
    expect(usage(["-D", "ab"])).toContain("option -D");
    expect(usage(["-D", ""])).toContain("No delimiter specified");
  });

  test("-f must be greater than 1", () => {
    expect(usage(["-f", "1"])).toBe("repcached: option -f: Factor must be greater than 1");
    expect(usage(["-f", "1.0"])).toContain("Factor must be greater than 1");
    expect(usage(["-f", "0.5"])).toContain("Factor must be greater than 1");
    expect(run(["-f", "1.01"]).growth_factor).toBe(1.01);
  });

  test("-I too small, more than half of -m, above a gigabyte", () => {
    expect(usage(["-I", "1023"])).toBe("repcached: option -I: Item max size cannot be less than 1024 bytes.");
    expect(run(["-I", "1k"]).item_size_max).toBe(1024);
    expect(usage(["-I", "33m"])).toContain("option -I: Cannot set item size limit higher than 1/2 of memory max.");
    expect(run(["-I", "32m"]).item_size_max).toBe(32 * mib);
    expect(usage(["-m", "1", "-I", "1m"])).toContain("higher than 1/2 of memory max");
    expect(usage(["-m", "1g"].concat(["-I", "513m"]))).toContain("higher than 1/2 of memory max");
    expect(usage(["-m", "4096", "-I", "1025m"])).toBe(
      "repcached: option -I: Cannot set item size limit higher than a gigabyte.",
    );
  });

  test("-n must stay below -I", () => {
    expect(usage(["-n", "1048576"])).toContain("option -n: min chunk size (1048576 bytes) must be less than -I");
    expect(run(["-n", "1048575"]).chunk_size_min).toBe(1048575);
  });

  test("-B takes ascii, binary and auto; other names get memcached's message", () => {
    expect(run(["-B", "binary"]).binding_protocol).toBe("binary");
    expect(usage(["-B", "binary", "-U", "11211"])).toBe(
      "repcached: option -B: binary over UDP is not supported (UDP speaks text): use -U 0 with -B binary",
    );
    expect(usage(["-B", "foo"])).toBe(
      "repcached: option -B: Invalid value for binding protocol: foo -- should be one of auto, binary, or ascii",
    );
  });

  test("empty strings are refused where a path or name is needed", () => {
    expect(usage(["-s", ""])).toContain("option -s");
    expect(usage(["-P", ""])).toContain("option -P");
    expect(usage(["-u", ""])).toContain("option -u");
    expect(usage(["--replication-secret="])).toContain("option --replication-secret");
  });

  test("parseArgs never throws on odd input", () => {
    const odd = [["-"], ["--"], ["---"], ["--="], ["-o", ","], ["-o", "="], ["-X", ":"], ["-l", ","], ["-x", ""]];
    for (const argv of odd) expect(() => parseArgs(argv, user)).not.toThrow();
  });
});

describe("replication flags", () => {
  test("-x peer host", () => {
    expect(run(["-x", "192.168.0.2"]).replication.peer_host).toBe("192.168.0.2");
    expect(run(["-x", "node-b.example.com"]).replication.peer_host).toBe("node-b.example.com");
    expect(run(["-xpeer"]).replication.peer_host).toBe("peer");
    expect(usage(["-x", "::1"])).toContain("option -x: '::1' is not an IPv4 address or hostname");
    expect(usage(["-x", "a b"])).toContain("option -x");
    expect(usage(["-x", ""])).toContain("option -x");
  });

  test("-X listen:connect, and connect defaults to listen", () => {
    const both = run(["-X", "11212:11213"]).replication;
    expect(both.listen_port).toBe(11212);
    expect(both.connect_port).toBe(11213);
    const one = run(["-X", "11300"]).replication;
    expect(one.listen_port).toBe(11300);
    expect(one.connect_port).toBe(11300);
    expect(run(["--replication-ports=1:2"]).replication.connect_port).toBe(2);
  });

  test("replication is on with -x or -X, off otherwise (no dump port nobody asked for)", () => {
    expect(run([]).replication.enabled).toBe(false);
    expect(run(["-m", "100"]).replication.enabled).toBe(false);
    expect(run(["-X", "11300"]).replication.enabled).toBe(true);
    expect(run(["-x", "127.0.0.1"]).replication.enabled).toBe(true);
    expect(run(["--replication-peer=10.0.0.1"]).replication.enabled).toBe(true);
  });

  test("bad -X", () => {
    expect(usage(["-X", "abc"])).toContain("option -X: 'abc' is not a number");
    expect(usage(["-X", "11212:"])).toContain("option -X: '' is not a number");
    expect(usage(["-X", ":11212"])).toContain("option -X");
    expect(usage(["-X", "1:2:3"])).toContain("option -X: '1:2:3' is not <listen>[:<connect>] ports");
    expect(usage(["-X", "0"])).toContain("option -X: ports must be 1..65535");
    expect(usage(["-X", "70000"])).toContain("out of range");
    expect(usage(["-X", "11211"])).toContain("option -X: replication listen port 11211 is also the TCP port");
    expect(run(["-X", "11211", "-p", "11311"]).replication.listen_port).toBe(11211);
  });

  test("a replication secret must carry 128 random bits (hex or base64 by the stated rule), from the flag or a file", () => {
    for (const weak of ["s3cret", "correct horse battery staple", "0123456789abcdef0123456789abcde", "a".repeat(64), "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
      const message = usage(["--replication-secret", weak]);
      expect(message).toContain("option --replication-secret: the replication secret is too weak");
      expect(message).toContain("openssl rand -hex 16");
    }
    expect(run(["--replication-secret", "0123456789abcdef0123456789abcdef"]).replication.secret).toBe("0123456789abcdef0123456789abcdef");
    expect(run(["--replication-secret", "q83vEjRWeJq83vEjRWeJq8w="]).replication.secret).toBe("q83vEjRWeJq83vEjRWeJq8w=");
    const dir = mkdtempSync(join(tmpdir(), "secret-"));
    try {
      writeFileSync(join(dir, "good"), "9f86d081884c7d659a2feaa0c55ad015\n");
      writeFileSync(join(dir, "weak"), "hunter2\n");
      expect(run(["--replication-secret-file", join(dir, "good")]).replication.secret).toBe("9f86d081884c7d659a2feaa0c55ad015");
      expect(usage(["--replication-secret-file", join(dir, "weak")])).toContain("option --replication-secret-file: the replication secret is too weak");
      expect(usage(["--replication-secret-file", join(dir, "missing")])).toContain("option --replication-secret-file: cannot read");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("-q and the replication extensions", () => {
    expect(run(["-q", "100"]).replication.queue_items_max).toBe(100);
    expect(usage(["-q", "0"])).toContain("option -q");
    expect(usage(["-q", "x"])).toContain("option -q: 'x' is not a number");
    const settings = run([
      "-q", "65536", "--replication-queue-bytes=16m",
      "--replication-secret",
      "9f86d081884c7d659a2feaa0c55ad015",
      "--replication-no-evictions",
      "--serve-during-copy",
    ]);
    expect(settings.replication.queue_bytes_max).toBe(16 * mib);
    expect(settings.replication.secret).toBe("9f86d081884c7d659a2feaa0c55ad015");
    expect(settings.replication.propagate_evictions).toBe(false);
    expect(settings.replication.serve_during_copy).toBe(true);
    expect(run(["--replication-queue-bytes=1048576"]).replication.queue_bytes_max).toBe(mib);
    // The queue holds keys, not values: -q × 265 bytes is the default and the most it can use.
    expect(run([]).replication.queue_bytes_max).toBe(8192 * 265);
    expect(run(["-q", "100"]).replication.queue_bytes_max).toBe(100 * 265);
    expect(run(["--replication-queue-bytes=2170880"]).replication.queue_bytes_max).toBe(2170880);
    expect(usage(["--replication-queue-bytes=2170881"])).toContain(
      "option --replication-queue-bytes: 2170881 bytes is more than 8192 entries (-q) can use: the queue holds keys, " +
        "not values, at most 265 bytes each, so at most 2170880 bytes (raise -q for more)",
    );
    expect(usage(["--replication-queue-bytes=64m"])).toContain("raise -q for more");
    expect(usage(["--replication-queue-bytes=264"])).toContain("less than one queue entry (265 bytes");
    // -I no longer matters: values are not queued.
    expect(run(["-m", "4096", "-I", "1024m"]).replication.queue_bytes_max).toBe(8192 * 265);
    expect(usage(["--replication-queue-bytes=10q"])).toContain("option --replication-queue-bytes");
  });
});

describe("-o extended options", () => {
  test("known options are stored", () => {
    const e = run(["-o", "hashpower=20,idle_timeout=5,tail_repair_time=30,no_lru_crawler,track_sizes," +
      "hash_algorithm=xxh3,lru_crawler_sleep=50,lru_crawler_tocrawl=9,temporary_ttl=30,no_maxconns_fast," +
      "watcher_logbuf_size=128,worker_logbuf_size=32,read_buf_mem_limit=2,slab_automove=2," +
      "slab_automove_ratio=0.5,slab_automove_window=10,hot_max_factor=0.5,warm_max_factor=3,no_hashexpand"]).extras;
    expect(e.hashpower_init).toBe(20);
    expect(e.idle_timeout_s).toBe(5);
    expect(e.tail_repair_time_s).toBe(30);
    expect(e.lru_crawler).toBe(false);
    expect(e.track_sizes).toBe(true);
    expect(e.hash_algorithm).toBe("xxh3");
    expect(e.lru_crawler_sleep_us).toBe(50);
    expect(e.lru_crawler_tocrawl_max).toBe(9);
    expect(e.temp_lru).toBe(true);
    expect(e.temporary_ttl_s).toBe(30);
    expect(e.maxconns_fast).toBe(false);
    expect(e.watcher_logbuf_bytes).toBe(128 * 1024);
    expect(e.worker_logbuf_bytes).toBe(32 * 1024);
    expect(e.read_buf_memory_bytes_max).toBe(2 * mib);
    expect(e.slab_automove).toBe(2);
    expect(e.slab_automove_ratio).toBe(0.5);
    expect(e.slab_automove_window).toBe(10);
    expect(e.hot_max_factor).toBe(0.5);
    expect(e.warm_max_factor).toBe(3);
    expect(e.hash_expand).toBe(false);
  });

  test("-o can repeat and modern is accepted", () => {
    const e = run(["-o", "modern", "-o", "idle_timeout=9", "--extended=track_sizes"]).extras;
    expect(e.idle_timeout_s).toBe(9);
    expect(e.track_sizes).toBe(true);
  });

  test("unknown options are refused as memcached 1.6.18 refuses them; options it has that we lack warn", () => {
    const refused = parseArgs(["-o", "idle_timeout=3,foo=bar"], user);
    expect(refused).toEqual({ kind: "error", message: 'Illegal suboption "foo=bar"', exit_code: 1 });
    const settings = run(["-o", "ext_path=/mnt/x:1G,ssl_key=k,slab_sizes=100-200,idle_timeout=3"]);
    expect(settings.extras.idle_timeout_s).toBe(3);
    expect(settings.warnings).toHaveLength(3);
    expect(settings.warnings[0]).toBe("option -o ext_path: accepted without effect: no extstore (external storage) here");
    expect(settings.warnings[1]).toContain("option -o slab_sizes: accepted without effect");
    expect(settings.warnings[2]).toContain("no effect without -Z");
  });

  test("memcached's -o messages", () => {
    expect(usage(["-o", "hashpower"])).toContain("Missing hashpower argument");
    expect(usage(["-o", "hashpower=11"])).toContain("Initial hashtable multiplier of 11 is too low");
    expect(usage(["-o", "hashpower=65"])).toContain("Initial hashtable multiplier of 65 is too high");
    expect(usage(["-o", "hashpower=abc"])).toContain("'abc' is not a number");
    expect(usage(["-o", "tail_repair_time=0"])).toContain("Cannot set tail_repair_time to less than 10 seconds");
    expect(usage(["-o", "hot_lru_pct=90"])).toContain("hot_lru_pct must be > 1 and < 80");
    expect(usage(["-o", "warm_lru_pct=0"])).toContain("warm_lru_pct must be > 1 and < 80");
    expect(usage(["-o", "hot_lru_pct=50,warm_lru_pct=40"])).toContain(
      "hot_lru_pct + warm_lru_pct cannot be more than 80% combined",
    );
    expect(usage(["-o", "hot_max_factor=0"])).toContain("hot_max_factor must be > 0");
    expect(usage(["-o", "lru_crawler_sleep=2000000"])).toContain("LRU crawler sleep must be between 0 and 1 second");
    expect(usage(["-o", "slab_automove=5"])).toContain("slab_automove must be between 0 and 2");
    expect(usage(["-o", "hash_algorithm=foo"])).toContain("Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
    expect(usage(["-o", "no_lru_maintainer,temporary_ttl=5"])).toContain(
      "temporary_ttl requires lru_maintainer to be enabled",
    );
    expect(usage(["-o", "track_sizes=1"])).toContain("'track_sizes' does not take a value");
    expect(parseArgs(["-o", "modern,,b"], user)).toEqual({ kind: "error", message: 'Illegal suboption ""', exit_code: 1 });
    expect(run(["-o", ""]).warnings).toEqual([]); // memcached: an empty list sets nothing
  });

  test("slab_chunk_max follows memcached's rules when given", () => {
    expect(run(["-o", "slab_chunk_max=256"]).extras.slab_chunk_size_max).toBe(256);
    expect(usage(["-o", "slab_chunk_max=300"])).toContain(
      "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 300)",
    );
    expect(usage(["-I", "1k", "-o", "slab_chunk_max=2048"])).toContain(
      "slab_chunk_max (bytes: 2048) cannot be larger than -I (item_size_max 1024)",
    );
    expect(usage(["-I", "3m", "-o", "slab_chunk_max=786432"])).toContain("must divide evenly into 1048576");
    // not given: a small -I caps it instead of failing (memcached would refuse -I 1000000)
    expect(run(["-I", "1k"]).extras.slab_chunk_size_max).toBe(1024);
    expect(run(["-I", "1000000"]).extras.slab_chunk_size_max).toBe(524288);
  });
});

describe("host checks", () => {
  test("many threads: memcached's warning", () => {
    expect(run(["-t", "64"]).warnings).toEqual([]);
    expect(run(["-t", "65"]).warnings.join("\n")).toContain("high number of worker threads");
  });
});

describe("-h", () => {
  const help = helpText();

  test("names every flag of the table", () => {
    for (const entry of flags) {
      if (entry.short !== null) expect(help).toMatch(new RegExp(`^-${entry.short}[, ]`, "m"));
      if (entry.long !== null) expect(help).toContain(`--${entry.long}`);
      expect(help).toContain(entry.help[0]!);
    }
    for (const sub of suboptions) expect(help).toContain(`- ${sub.name}`);
  });

  test("memcached's layout, and repcached's replication lines", () => {
    expect(help.split("\n")[0]).toBe("memcached 1.6.18 repcached-bun 0.1.0");
    expect(help).toContain("-p, --port=<num>          TCP port to listen on, 0 is off (default: 11211)\n");
    expect(help).toContain("-m, --memory-limit=<num>  item memory in megabytes");
    expect(help).toMatch(/^-x, --replication-peer=<host> hostname or IPv4 address of the peer/m);
    expect(help).toMatch(/^-X, --replication-ports=<num:num> TCP ports for replication/m);
    expect(help).toMatch(/^-q, --replication-queue-items=<num> replication queue limit in items/m);
    expect(help).toContain("(default: 8192)");
    expect(help).toContain("(default: 11212)");
  });

  test("parseArgs(-h) returns the same text", () => {
    expect(parseArgs(["-h"], user)).toEqual({ kind: "help", text: help });
  });
});

/** memcached's lines for the settings that exist here (README lists the rest and why). */
function kept(lines: Array<[string, string]>): Array<[string, string]> {
  return withoutExtstore(lines).filter(([name]) => !(name in settings_stats_left_out));
}

/**
 * Where our default differs from memcached's on purpose: -t (memcached 4, ours threads_default —
 * config.ts says why). Applied to captures of memcached run without -t.
 */
function withOurDefaults(lines: Array<[string, string]>): Array<[string, string]> {
  return lines.map(([name, value]): [string, string] =>
    name === "num_threads" || name === "num_threads_per_udp" ? [name, String(threads_default)] : [name, value]);
}

/** Ours, up to the replication lines (then `warnings` and warning_<n>). */
function memcachedPart(lines: Array<[string, string]>): Array<[string, string]> {
  return lines.slice(0, lines.findIndex(([name]) => name === replication_names[0]));
}

describe("metrics flags", () => {
  test("--metrics-port, -o metrics_port and --metrics-listen set the listener; a listen address alone is refused", () => {
    expect(run(["--metrics-port", "9150"]).metrics_port).toBe(9150);
    expect(run(["-o", "metrics_port=9151"]).metrics_port).toBe(9151);
    const both = run(["--metrics-port=9152", "--metrics-listen", "127.0.0.1"]);
    expect([both.metrics_port, both.metrics_listen]).toEqual([9152, "127.0.0.1"]);
    const alone = parseArgs(["--metrics-listen", "127.0.0.1"], { uid: 1000 });
    expect(alone.kind === "error" && alone.message.includes("--metrics-listen")).toBe(true);
    const bad = parseArgs(["--metrics-port", "70000"], { uid: 1000 });
    expect(bad.kind === "error" && bad.exit_code === 64).toBe(true);
  });
});

describe("stats settings", () => {
  test("field names and order are memcached 1.6's (those that exist here), then replication's, then warnings", () => {
    const names = settingsStats(settingsDefault()).map(([name]) => name);
    const expected = kept(captured_default).map(([name]) => name).concat(replication_names, ["warnings"]);
    expect(names).toEqual(expected);
    // Every left-out name is one memcached prints; none of them is printed here.
    const memcached_names = new Set(captured_default.map(([name]) => name));
    for (const name of Object.keys(settings_stats_left_out)) {
      expect(memcached_names.has(name)).toBe(true);
      expect(names).not.toContain(name);
    }
    for (const name of ["lru_crawler", "slab_reassign", "slab_automove", "hash_algorithm", "tcp_backlog"]) {
      expect(names).not.toContain(name);
    }
  });

  test("default values match memcached 1.6.18 run with the same flags", () => {
    const ours = settingsStats(run(["-l", "127.0.0.1", "-p", "23411", "-U", "0"]));
    expect(memcachedPart(ours)).toEqual(withOurDefaults(kept(captured_default)));
  });

  test("warnings are listed after the replication lines, as printed at start", () => {
    const stats = settingsStats(run(["-b", "99", "-o", "hashpower=20"]));
    const map = new Map(stats);
    expect(map.get("warnings")).toBe("2");
    expect(map.get("warning_1")).toContain("option -b: accepted without effect: Bun.listen has no backlog option");
    expect(map.get("warning_2")).toContain("option -o hashpower: accepted without effect");
  });

  test("values after many flags match memcached 1.6.18", () => {
    const ours = settingsStats(run([
      "-p", "23412", "-M", "-A", "-C", "-D", "#", "-B", "ascii", "-c", "77", "-t", "2", "-R", "9", "-b", "99",
      "-f", "1.5", "-n", "64", "-m", "128", "-I", "2m", "-vv",
      "-o", "idle_timeout=5,hashpower=20,track_sizes,tail_repair_time=17,no_lru_crawler,slab_chunk_max=256",
    ]));
    expect(memcachedPart(ours)).toEqual(kept(captured_custom));
  });

  test("-o no_modern matches memcached 1.6.18", () => {
    const ours = settingsStats(run(["-p", "23414", "-l", "127.0.0.1", "-o", "no_modern"]));
    // no_modern has no effect here (a warning says so): connections past -c are still closed at once.
    const expected = withOurDefaults(kept(captured_no_modern)).map(([name, value]): [string, string] =>
      name === "maxconns_fast" ? [name, "yes"] : [name, value]);
    expect(memcachedPart(ours)).toEqual(expected);
  });

  test("replication lines and formats", () => {
    const stats = new Map(settingsStats(run(["-x", "peer", "-X", "11300:11301", "-q", "5", "-s", "/tmp/s"])));
    expect(stats.get("replication_peer")).toBe("peer");
    expect(stats.get("replication_listen_port")).toBe("11300");
    expect(stats.get("replication_connect_port")).toBe("11301");
    expect(stats.get("replication_queue_items_max")).toBe("5");
    expect(stats.get("replication_queue_bytes_max")).toBe(String(5 * 265));
    expect(stats.get("domain_socket")).toBe("/tmp/s");
    expect(stats.get("tcpport")).toBe("0");
    expect(new Map(settingsStats(settingsDefault())).get("replication_peer")).toBe("NULL");
    const multi = new Map(settingsStats(run(["-l", "127.0.0.1,::1", "-a", "755"])));
    expect(multi.get("inter")).toBe("127.0.0.1,::1");
    expect(multi.get("num_threads_per_udp")).toBe("1");
    expect(multi.get("umask")).toBe("755");
  });

  test("run-time values override the configured ones", () => {
    const stats = new Map(settingsStats(settingsDefault(), {
      verbosity: 2,
      oldest_live_s: 7,
      stats_detail_enabled: true,
      track_sizes: true,
    }));
    expect(stats.get("verbosity")).toBe("2");
    expect(stats.get("oldest")).toBe("7");
    expect(stats.get("detail_enabled")).toBe("yes");
    expect(stats.has("track_sizes")).toBe(false); // no size histogram here
  });

  test("printfFixed rounds exact ties to even, like glibc's %.2f", () => {
    expect(printfFixed(1.25, 2)).toBe("1.25");
    expect(printfFixed(1.125, 2)).toBe("1.12"); // exact tie: even
    expect(printfFixed(1.375, 2)).toBe("1.38"); // exact tie: even
    expect(printfFixed(1.005, 2)).toBe("1.00"); // 1.00499999999999989...
    expect(printfFixed(0.2, 2)).toBe("0.20");
    expect(printfFixed(2, 2)).toBe("2.00");
    expect(printfFixed(0.01, 3)).toBe("0.010");
  });
});

describe("TLS flags (-Z, -o ssl_*, --replication-tls-*)", () => {
  const tls_ok = ["-Z", "-o", "ssl_chain_cert=c.pem,ssl_key=k.pem"];

  test("-Z needs a TCP port, a chain and a key, in memcached's words", () => {
    expect(usage(["-Z", "-p", "0"])).toContain("ERROR: You cannot enable SSL without a TCP port.");
    expect(usage(["-Z"])).toContain("Error loading the certificate chain: (null)");
    expect(usage(["-Z", "-o", "ssl_chain_cert=c.pem"])).toContain("Error loading the key: (null)");
    const settings = run(tls_ok);
    expect(settings.tls.enabled).toBe(true);
    expect(settings.tls.chain_cert_path).toBe("c.pem");
    expect(run([...tls_ok, "-s", "/tmp/x.sock"]).tls.enabled).toBe(true); // memcached allows it too
  });

  test("ssl_verify_mode and ssl_min_version: memcached's range and messages", () => {
    expect(run([...tls_ok, "-o", "ssl_verify_mode=3"]).tls.verify_mode).toBe(3);
    expect(usage([...tls_ok, "-o", "ssl_verify_mode=4"])).toContain("Invalid ssl_verify_mode. Use help to see valid options.");
    expect(usage([...tls_ok, "-o", "ssl_verify_mode=x"])).toContain("could not parse argument to ssl_verify_mode");
    expect(usage([...tls_ok, "-o", "ssl_min_version=5"])).toContain("Invalid ssl_min_version. Use help to see valid options.");
    expect(run([...tls_ok, "-o", "ssl_min_version=3"]).tls.min_version).toBe(3);
    const loose = run([...tls_ok, "-o", "ssl_min_version=0"]);
    expect(loose.tls.min_version).toBe(2);
    expect(loose.warnings.join("\n")).toContain("ssl_min_version");
    expect(usage([...tls_ok, "-o", "ssl_keyformat=2"])).toContain("only PEM");
  });

  test("knobs the runtime lacks are accepted with a warning; ssl_* without -Z warns", () => {
    const settings = run([...tls_ok, "-o", "ssl_wbuf_size=32,ssl_session_cache,ssl_kernel_tls"]);
    expect(settings.warnings.length).toBe(3);
    expect(settings.tls.write_buffer_bytes).toBe(32 * 1024);
    expect(run(["-o", "ssl_chain_cert=c.pem"]).warnings.join("\n")).toContain("no effect without -Z");
  });

  test("-l notls: is a listen address for TCP and UDP, and marks the listener plain", () => {
    expect(run(["-l", "notls:127.0.0.1:11999"]).listen_addresses).toEqual(["notls:127.0.0.1:11999"]);
    expect(listenAddressSplit("notls:127.0.0.1:11999")).toEqual({ host: "127.0.0.1", port: 11999 });
    expect(listenNoTls("notls:127.0.0.1")).toBe(true);
    expect(listenNoTls("127.0.0.1")).toBe(false);
  });

  test("stats settings shows ssl_* as memcached does (verify mode as OpenSSL's flags)", () => {
    const lines = new Map(settingsStats(run([...tls_ok, "-o", "ssl_verify_mode=2,ssl_ca_cert=ca.pem"])));
    expect(lines.get("ssl_enabled")).toBe("yes");
    expect(lines.get("ssl_chain_cert")).toBe("c.pem");
    expect(lines.get("ssl_key")).toBe("k.pem");
    expect(lines.get("ssl_verify_mode")).toBe("3"); // memcached 1.6.18 prints 3 for mode 2
    expect(lines.get("ssl_ca_cert")).toBe("ca.pem");
  });

  test("replication TLS needs replication, a cert, its key and a CA or a pin", () => {
    const cert = ["--replication-tls-cert", "n.pem", "--replication-tls-key", "n.key"];
    expect(usage([...cert, "--replication-tls-ca", "ca.pem"])).toContain("needs replication on");
    expect(usage(["-X", "11400", ...cert])).toContain("--replication-tls-ca or --replication-tls-pin");
    expect(usage(["-X", "11400", "--replication-tls-cert", "n.pem", "--replication-tls-ca", "ca.pem"]))
      .toContain("--replication-tls-key");
    expect(usage(["-X", "11400", ...cert, "--replication-tls-pin", "AB:CD"])).toContain("SHA-256");
    const pin = "ab:".repeat(31) + "ab";
    const settings = run(["-X", "11400", ...cert, "--replication-tls-pin", pin]);
    expect(settings.replication.tls.pin_sha256).toBe("AB".repeat(32));
    expect(new Map(settingsStats(settings)).get("replication_tls")).toBe("yes");
  });
});
