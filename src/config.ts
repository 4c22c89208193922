// config: the command line of repcached-bun, memcached 1.6's flags plus repcached 2.2.1's.
//
// One flag table (`flags`) is the single source of truth for parsing and `-h`; its default_text
// must parse to what settingsDefault() holds (the tests check that). Settings flow one way, as in memcached: defaults (settingsDefault) → per-flag checks
// while the options are read → cross-flag checks → plain values handed to the init functions.
// A CLI value becomes a count through typed steps (digits → integer → unit → range), and every
// error names the flag. parseArgs is pure (it reads only the file named by
// --replication-secret-file) and never throws for bad input: it returns { kind: "error" } before
// anything is allocated.
//
// Syntax is getopt_long's, as memcached uses it (src/options.ts reads argv; the words here are
// memcached's): clustered short flags (-vvv, -dM), attached values (-p11211, -m64), --long=value
// and --long value, unique prefixes of long names.
//
// Every memcached 1.6.18 flag and -o option has one decided outcome (test/unit/flag_table.test.ts,
// README › Flags): it takes effect; or it is accepted with a warning (flag_no_effect,
// suboption_no_effect, suboption_accepted_only: the runtime cannot honour it), printed at start
// without -v and listed in `stats settings`; or, for an -o option memcached does not know either,
// it is refused in memcached's words (`Illegal suboption "<item>"`, exit 1).
// Where we differ from memcached 1.6 (verified against a running 1.6.18):
// - numbers are strict (decimal digits only, no trailing junk, range-checked); memcached uses atoi;
// - -m takes k/m/g suffixes (memcached 1.6.18 ignores them: its "-m 2048k" is 2048 MB);
// - -X is repcached's replication ports (memcached 1.6's -X, --disable-dumping, is long-only here);
// - running as root without -u is a warning, not a refusal (printed by main.ts: src/privileges.ts);
// - a positional argument is an error (getopt would silently skip it).

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { license_text } from "./license.ts";
import { secretWeakness } from "./replication/handshake.ts";
import { journal_entry_bytes_max } from "./replication/journal.ts";
import { optionsRead, suboptionsSplit, type OptionError, type OptionSpec } from "./options.ts";

export const program_name = "repcached";
export const program_version = "0.1.0"; // repcached-bun's own version
/** The memcached version we speak as: `version` replies, `stats` and -V use it. */
export const version_string = "1.6.18";
export const version_line = `memcached ${version_string} repcached-bun ${program_version}`;

export const exit_code_usage = 64; // EX_USAGE, as memcached's cross-flag checks

export const port_max = 65535;
export const item_size_max_lower = 1024; // memcached's ITEM_SIZE_MAX_LOWER_LIMIT
export const item_size_max_upper = 1024 * 1024 * 1024; // ITEM_SIZE_MAX_UPPER_LIMIT
export const slab_page_size = 1024 * 1024; // memcached's slab page; slab_chunk_max must divide it
export const memory_bytes_max_limit = 4 * 1024 ** 4; // 4 TiB: a sane bound, exact in a double
export const connections_max_limit = 1 << 20;
export const threads_max_limit = 4096;
export const threads_warning_min = 65; // memcached warns above 64 worker threads
/**
 * Worker threads allowed: each is a whole JS runtime (tens of MB) and a native store session
 * (native/session.zig sessions_max is 256; the main thread holds the store's own).
 */
export const threads_max = 256;
/**
 * -t's default. memcached's is 4; ours is 1: one event loop already answers as fast as memcached
 * -t 1 (bench), starts at once, and costs one JS heap; a worker beyond it costs a JS runtime and
 * a thread hop for replication, and pays only where there are cores to spare — so more threads
 * are asked for, by -t N, where they pay.
 */
export const threads_default = 1;
export const requests_per_event_max_limit = 1 << 20;
export const backlog_max_limit = 1 << 20;
export const chunk_size_min_limit = item_size_max_upper;
export const verbosity_max = 3;
export const replication_queue_items_max_limit = 1 << 24;
/**
 * --replication-queue-bytes bounds the journal, which holds keys (never values: they are read at
 * send time), at most this many bytes per entry. So the most it can use is -q × this: that is the
 * default and the maximum (a larger bound could never be reached, and is refused).
 */
export const replication_queue_entry_bytes_max = journal_entry_bytes_max;
export const peer_host_length_max = 253; // a DNS name

const kib = 1024;
const mib = 1024 * 1024;
const gib = 1024 * 1024 * 1024;

export type BindingProtocol = "ascii" | "auto" | "binary";
export type HashAlgorithm = "murmur3" | "jenkins" | "xxh3";

/**
 * Client TLS, memcached 1.6's -Z and ssl_* options. Files are paths as given (read at start by
 * server/tls.ts, which refuses unreadable or mismatched ones with memcached's messages).
 */
export interface TlsSettings {
  enabled: boolean; // -Z
  chain_cert_path: string | null; // ssl_chain_cert
  key_path: string | null; // ssl_key
  ca_cert_path: string | null; // ssl_ca_cert
  verify_mode: number; // ssl_verify_mode: 0 none, 1 request, 2 require, 3 once
  ciphers: string | null; // ssl_ciphers (TLS 1.2 cipher list; null = the runtime's)
  min_version: number; // ssl_min_version: 0 tlsv1.0 .. 3 tlsv1.3
  // Accepted with a warning (the runtime has no such knob); shown in `stats settings`:
  write_buffer_bytes: number; // ssl_wbuf_size (kilobytes on the command line)
  session_cache: boolean; // ssl_session_cache
  kernel_tls: boolean; // ssl_kernel_tls
}

/** Replication TLS (--replication-tls-*): on when a certificate is given; mutual, verified. */
export interface ReplicationTlsSettings {
  cert_path: string | null; // --replication-tls-cert
  key_path: string | null; // --replication-tls-key
  ca_path: string | null; // --replication-tls-ca: the peer's certificate must chain to it
  pin_sha256: string | null; // --replication-tls-pin: the peer's certificate's SHA-256, upper-case hex
}

export interface ReplicationSettings {
  /** On when -x or -X is given. (repcached always listened on 11212; a plain memcached
   *  replacement should not open an unauthenticated dump port nobody asked for.) */
  enabled: boolean;
  peer_host: string | null; // -x: IPv4 address or hostname; null = start as listener
  listen_port: number; // -X L
  connect_port: number; // -X L:C (C defaults to L)
  queue_items_max: number; // -q
  queue_bytes_max: number; // --replication-queue-bytes
  secret: string | null; // --replication-secret
  propagate_evictions: boolean; // false with --replication-no-evictions
  serve_during_copy: boolean; // --serve-during-copy
  tls: ReplicationTlsSettings;
}

/** memcached 1.6's -o options that we recognize; names as in `stats settings`, units last. */
export interface Extras {
  maxconns_fast: boolean;
  hashpower_init: number; // 0 = grow from the default size
  hash_expand: boolean; // false with no_hashexpand
  hash_algorithm: HashAlgorithm;
  tail_repair_time_s: number; // 0 = off
  lru_crawler: boolean;
  lru_crawler_sleep_us: number;
  lru_crawler_tocrawl_max: number; // items per class per run, 0 = unlimited
  lru_maintainer: boolean;
  lru_segmented: boolean;
  hot_lru_pct: number;
  warm_lru_pct: number;
  hot_max_factor: number;
  warm_max_factor: number;
  temp_lru: boolean;
  temporary_ttl_s: number;
  idle_timeout_s: number; // 0 = never
  slab_reassign: boolean;
  slab_automove: number; // 0, 1 or 2
  slab_automove_ratio: number;
  slab_automove_window: number;
  slab_chunk_size_max: number; // bytes
  watcher_logbuf_bytes: number;
  worker_logbuf_bytes: number;
  read_buf_memory_bytes_max: number; // 0 = unlimited
  track_sizes: boolean;
}

export interface Settings {
  tcp_port: number; // 0 = off (also off when unix_socket_path is set)
  udp_port: number; // 0 = off
  unix_socket_path: string | null;
  unix_socket_mask: number; // e.g. 0o700
  listen_addresses: string[]; // empty = all interfaces; entries may carry :port ([v6]:port)
  daemonize: boolean;
  pid_file: string | null;
  user: string | null;
  core_limit_raise: boolean; // -r
  memory_bytes_max: number;
  evictions_disabled: boolean;
  connections_max: number;
  lock_memory: boolean;
  large_pages: boolean;
  verbosity: number; // 0..3
  growth_factor: number;
  chunk_size_min: number; // bytes
  threads: number;
  requests_per_event_max: number;
  cas_enabled: boolean;
  backlog: number;
  binding_protocol: BindingProtocol;
  /** -S: SASL PLAIN over the binary protocol, checked against sasl_pwdb_path. */
  sasl_enabled: boolean;
  /** --sasl-pwdb, else $MEMCACHED_SASL_PWDB: `user:password` lines (memcached's password-file format). */
  sasl_pwdb_path: string | null;
  /** -Y: ASCII auth tokens, checked against this file of `user:password` lines. */
  auth_file_path: string | null;
  item_size_max: number; // bytes
  shutdown_enabled: boolean;
  flush_enabled: boolean;
  dump_enabled: boolean;
  watch_enabled: boolean;
  stats_prefix_delimiter: string;
  stats_detail_enabled: boolean; // -D turns per-prefix stats on
  replication: ReplicationSettings;
  tls: TlsSettings;
  extras: Extras;
  /** Prometheus /metrics over HTTP (src/metrics/): port, 0 = off; address, null = the first -l host. */
  metrics_port: number;
  metrics_listen: string | null;
  warnings: string[];
}

export type ParseResult =
  | { kind: "run"; settings: Settings }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string }
  | { kind: "license"; text: string }
  | { kind: "error"; message: string; exit_code: number };

/** Facts about the host that some checks need; parseArgs reads process.getuid() when absent. */
export interface HostFacts {
  uid: number | null;
  /** $MEMCACHED_SASL_PWDB (memcached's password database for -S), when set. */
  sasl_pwdb_env?: string | null;
  /** Cores this process may run on (os.availableParallelism); absent: no -t warning by cores. */
  cores?: number;
}

export function extrasDefault(): Extras {
  return {
    maxconns_fast: true,
    hashpower_init: 0,
    hash_expand: true,
    hash_algorithm: "murmur3",
    tail_repair_time_s: 0,
    lru_crawler: true,
    lru_crawler_sleep_us: 100,
    lru_crawler_tocrawl_max: 0,
    lru_maintainer: true,
    lru_segmented: true,
    hot_lru_pct: 20,
    warm_lru_pct: 40,
    hot_max_factor: 0.2,
    warm_max_factor: 2.0,
    temp_lru: false,
    temporary_ttl_s: 61,
    idle_timeout_s: 0,
    slab_reassign: true,
    slab_automove: 1,
    slab_automove_ratio: 0.8,
    slab_automove_window: 30,
    slab_chunk_size_max: slab_page_size / 2,
    watcher_logbuf_bytes: 256 * kib,
    worker_logbuf_bytes: 64 * kib,
    read_buf_memory_bytes_max: 0,
    track_sizes: false,
  };
}

export function settingsDefault(): Settings {
  return {
    tcp_port: 11211,
    udp_port: 0, // off, as memcached >= 1.5.6 (repcached 2.2.1 always opened UDP)
    unix_socket_path: null,
    unix_socket_mask: 0o700,
    listen_addresses: [], // all interfaces
    daemonize: false,
    pid_file: null,
    user: null,
    core_limit_raise: false,
    memory_bytes_max: 64 * mib,
    evictions_disabled: false,
    connections_max: 1024,
    lock_memory: false,
    large_pages: false,
    verbosity: 0,
    growth_factor: 1.25,
    chunk_size_min: 48, // space for a modest key and value
    threads: threads_default,
    requests_per_event_max: 20,
    cas_enabled: true,
    backlog: 1024,
    binding_protocol: "auto",
    sasl_enabled: false,
    sasl_pwdb_path: null,
    auth_file_path: null,
    item_size_max: 1 * mib, // the famous 1 MB limit
    shutdown_enabled: false,
    flush_enabled: true,
    dump_enabled: true,
    watch_enabled: true,
    stats_prefix_delimiter: ":",
    stats_detail_enabled: false,
    replication: {
      enabled: false,
      peer_host: null,
      listen_port: 11212,
      connect_port: 11212,
      queue_items_max: 8192, // repcached's default
      queue_bytes_max: 8192 * journal_entry_bytes_max, // -q × the largest entry (see replicationCheck)
      secret: null,
      propagate_evictions: true, // repcached sends evictions as deletes
      serve_during_copy: false, // repcached opens client ports after the full copy
      tls: { cert_path: null, key_path: null, ca_path: null, pin_sha256: null }, // plain TCP, as repcached
    },
    tls: {
      enabled: false,
      chain_cert_path: null,
      key_path: null,
      ca_cert_path: null,
      verify_mode: 0, // memcached: no client certificate asked
      ciphers: null,
      min_version: 2, // memcached: tlsv1.2
      write_buffer_bytes: 16 * kib,
      session_cache: false,
      kernel_tls: false,
    },
    extras: extrasDefault(),
    metrics_port: 0, // off: no HTTP listener nobody asked for
    metrics_listen: null,
    warnings: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Value parsers: each turns one CLI string into a typed value or throws UsageError naming `opt`.

class UsageError extends Error {
  constructor(
    message: string,
    readonly try_help: boolean,
    readonly exit_code: number = exit_code_usage,
  ) {
    super(message);
  }
}

/** memcached 1.6.18's exit status for an unknown -o item (it prints the message and exits 1). */
export const exit_code_illegal_suboption = 1;

/** memcached's refusal of an unknown -o item, word for word: no program name, the item quoted whole. */
function failIllegalSuboption(item: string): never {
  throw new UsageError(`Illegal suboption "${item}"`, false, exit_code_illegal_suboption);
}

/** A flag or -o option memcached has but this runtime cannot honour: accepted, and said so at start. */
function warnNoEffect(d: Draft, opt: string, why: string): void {
  s(d).warnings.push(`option ${opt}: accepted without effect: ${why}`);
}

function fail(opt: string, detail: string): never {
  throw new UsageError(`${program_name}: option ${opt}: ${detail}`, false);
}

/** A refusal in memcached's own words (its message names the option already). */
function failBare(detail: string): never {
  throw new UsageError(`${program_name}: ${detail}`, false);
}

function failSyntax(message: string): never {
  throw new UsageError(`${program_name}: ${message}`, true);
}

const digits_length_max = 15; // every 15-digit decimal is an exact double

/** A count: decimal digits only, 0..max. */
export function countParse(opt: string, text: string, max: number): number {
  if (!/^[0-9]+$/.test(text)) fail(opt, `'${text}' is not a number`);
  const trimmed = text.replace(/^0+(?=[0-9])/, "");
  if (trimmed.length > digits_length_max) fail(opt, `'${text}' is out of range (at most ${max})`);
  const value = Number(trimmed);
  if (value > max) fail(opt, `'${text}' is out of range (at most ${max})`);
  return value;
}

function countAtLeast(opt: string, value: number, min: number, message: string): number {
  if (value < min) fail(opt, message);
  return value;
}

const size_units: Record<string, number> = { k: kib, m: mib, g: gib };

/** A size in bytes: digits with an optional k/m/g suffix (binary units); plain digits × unit_bytes. */
export function sizeParse(opt: string, text: string, unit_bytes: number, max_bytes: number): number {
  const match = /^([0-9]+)([kmgKMG]?)$/.exec(text);
  if (match === null) fail(opt, `'${text}' is not a size (a number, optionally with k, m or g)`);
  const out_of_range = `'${text}' is out of range (at most ${max_bytes} bytes)`;
  if (match[1]!.replace(/^0+(?=[0-9])/, "").length > digits_length_max) fail(opt, out_of_range);
  const count = Number(match[1]);
  const suffix = match[2]!.toLowerCase();
  const multiplier = suffix === "" ? unit_bytes : size_units[suffix]!;
  const bytes = count * multiplier;
  if (bytes > max_bytes) fail(opt, out_of_range);
  return bytes;
}

/** A decimal fraction such as 1.25 (no sign, no exponent). */
export function decimalParse(opt: string, text: string): number {
  if (!/^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(text)) fail(opt, `'${text}' is not a number`);
  return Number(text);
}

export function portParse(opt: string, text: string): number {
  return countParse(opt, text, port_max);
}

function octalParse(opt: string, text: string): number {
  if (!/^[0-7]+$/.test(text)) fail(opt, `'${text}' is not an octal mask (like 0700)`);
  const value = parseInt(text, 8);
  if (value > 0o777) fail(opt, `'${text}' is out of range (at most 0777)`);
  return value;
}

/** memcached's per-listener opt-out of -Z: `-l notls:<addr>[:<port>]`. */
export const listen_notls_prefix = "notls:";

/** Whether a -l entry opts out of TLS (its client listener stays plain text under -Z). */
export function listenNoTls(entry: string): boolean {
  return entry.startsWith(listen_notls_prefix);
}

/**
 * Splits one -l entry: "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address, each
 * optionally prefixed by `notls:` (see listenNoTls).
 */
export function listenAddressSplit(listen_entry: string): { host: string; port: number | null } | null {
  const entry = listenNoTls(listen_entry) ? listen_entry.slice(listen_notls_prefix.length) : listen_entry;
  let host = entry;
  let port_text: string | null = null;
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close < 0) return null;
    host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    if (rest !== "") port_text = rest.slice(1);
  } else if (entry.indexOf(":") >= 0 && entry.indexOf(":") === entry.lastIndexOf(":")) {
    host = entry.slice(0, entry.indexOf(":"));
    port_text = entry.slice(entry.indexOf(":") + 1);
  }
  if (host === "" || /[\s,\[\]]/.test(host)) return null;
  if (port_text === null) return { host, port: null };
  if (!/^[0-9]{1,5}$/.test(port_text) || Number(port_text) > port_max) return null;
  return { host, port: Number(port_text) };
}

function listenParse(opt: string, text: string): string[] {
  const entries = text.split(",");
  for (const entry of entries) {
    if (listenAddressSplit(entry) === null) {
      fail(opt, `'${entry}' is not an address (host, host:port, [ipv6] or [ipv6]:port)`);
    }
  }
  return entries;
}

function peerParse(opt: string, text: string): string {
  const hostname = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9.])?$/;
  if (text.length > peer_host_length_max || !hostname.test(text)) {
    fail(opt, `'${text}' is not an IPv4 address or hostname (as repcached, the peer is IPv4)`);
  }
  return text;
}

/** A replication secret: refused when weak (handshake.ts states the rule and how to make one). */
function secretParse(opt: string, text: string): string {
  if (text === "") fail(opt, "the secret is empty");
  const weakness = secretWeakness(text);
  if (weakness !== null) fail(opt, weakness);
  return text;
}

function replicationPortsParse(opt: string, text: string): [number, number] {
  const match = /^([^:]*)(?::([^:]*))?$/.exec(text);
  if (match === null) fail(opt, `'${text}' is not <listen>[:<connect>] ports`);
  const listen_port = countAtLeast(opt, portParse(opt, match[1]!), 1, "ports must be 1..65535");
  if (match[2] === undefined) return [listen_port, listen_port];
  const connect_port = countAtLeast(opt, portParse(opt, match[2]), 1, "ports must be 1..65535");
  return [listen_port, connect_port];
}

function pathParse(opt: string, text: string): string {
  if (text === "") fail(opt, "the file name is empty");
  return text;
}

const sha256_hex_length = 64;

/** A SHA-256 fingerprint: 64 hex digits, colons allowed between pairs; kept as upper-case hex. */
function pinParse(opt: string, text: string): string {
  const hex = text.replaceAll(":", "").toUpperCase();
  if (hex.length !== sha256_hex_length || !/^[0-9A-F]+$/.test(hex)) {
    fail(opt, `'${text}' is not a SHA-256 fingerprint (64 hex digits, as openssl x509 -fingerprint -sha256 prints)`);
  }
  return hex;
}

function protocolParse(opt: string, text: string): BindingProtocol {
  if (text === "ascii" || text === "auto" || text === "binary") return text;
  fail(opt, `Invalid value for binding protocol: ${text} -- should be one of auto, binary, or ascii`);
}

function delimiterParse(opt: string, text: string): string {
  if (text.length === 0) fail(opt, "No delimiter specified");
  if (text.length !== 1) fail(opt, `'${text}' is not a single character`);
  return text;
}

// ---------------------------------------------------------------------------------------------
// The flag table.

export interface Draft {
  settings: Settings;
  exit: "help" | "version" | "license" | null;
  given: Set<string>; // keys of the flags and -o options seen, for the cross-flag checks
}

export interface Flag extends OptionSpec {
  short: string | null; // the letter, or null for a long-only option
  long: string | null; // memcached 1.6's long name where it has one
  value: string | null; // the value's placeholder ("num", "file"); null: takes no value
  default_text: string | null; // shown as "(default: ...)"
  unit: string | null; // unit of a plain number
  help: string[]; // description, one entry per line
  apply: (draft: Draft, value: string, opt: string) => void;
}

function flag(
  short: string | null,
  long: string | null,
  value: string | null,
  default_text: string | null,
  unit: string | null,
  help: string | string[],
  apply: (draft: Draft, value: string, opt: string) => void,
): Flag {
  const takes = value === null ? "none" : "required";
  return { short, long, value, takes, default_text, unit, help: Array.isArray(help) ? help : [help], apply };
}

const s = (draft: Draft): Settings => draft.settings;

/**
 * memcached 1.6 flags this runtime cannot honour: accepted (scripts that pass them still start),
 * and each prints this reason at start (without -v) and shows it in `stats settings`.
 */
export const flag_no_effect: Readonly<Record<string, string>> = {
  r: "the runtime cannot raise the core file limit (Bun has no setrlimit)",
  k: "the runtime cannot lock memory (Bun has no mlockall)",
  L: "the store maps ordinary pages (no large-page allocation here)",
  b: "Bun.listen has no backlog option: the runtime's own listen backlog applies",
  e: "no restartable cache here: items live in process memory and are lost at restart",
  N: "no NAPI ID steering here (one event loop serves every connection)",
};

export const flags: readonly Flag[] = [
  flag("p", "port", "num", "11211", null, "TCP port to listen on, 0 is off", (d, v, o) => {
    s(d).tcp_port = portParse(o, v);
  }),
  flag("U", "udp-port", "num", "0, off", null,
    ["UDP port to listen on (repcached 2.2.1 always opened UDP,", "on the TCP port when -U was 0)"],
    (d, v, o) => {
      s(d).udp_port = portParse(o, v);
    }),
  flag("s", "unix-socket", "file", null, null, "UNIX socket to listen on (disables network support)", (d, v, o) => {
    if (v === "") fail(o, "the socket path is empty");
    s(d).unix_socket_path = v;
  }),
  flag("a", "unix-mask", "mask", "700", null, "access mask for UNIX socket, in octal", (d, v, o) => {
    s(d).unix_socket_mask = octalParse(o, v);
  }),
  flag("A", "enable-shutdown", null, null, null, 'enable ascii "shutdown" command', (d) => {
    s(d).shutdown_enabled = true;
  }),
  flag("l", "listen", "addr", "INADDR_ANY", null,
    ["interface to listen on; comma-separated and repeatable,", "each may be host:port or [ipv6]:port;",
      "with -Z, a 'notls:' prefix keeps that listener plain", "(-l notls:<ip>:<port>)"],
    (d, v, o) => {
      for (const entry of listenParse(o, v)) {
        if (!s(d).listen_addresses.includes(entry)) s(d).listen_addresses.push(entry);
      }
    }),
  flag("d", "daemon", null, null, null, "run as a daemon", (d) => {
    s(d).daemonize = true;
  }),
  flag("r", "enable-coredumps", null, null, null, "maximize core file limit (accepted; no effect here)", (d, _v, o) => {
    s(d).core_limit_raise = true;
    warnNoEffect(d, o, flag_no_effect.r!);
  }),
  flag("u", "user", "user", null, null, "assume identity of <username> (only when run as root)", (d, v, o) => {
    if (v === "") fail(o, "the user name is empty");
    s(d).user = v;
  }),
  flag("m", "memory-limit", "num", "64", "megabytes",
    "item memory in megabytes, or with a k/m/g suffix", (d, v, o) => {
      const bytes = sizeParse(o, v, mib, memory_bytes_max_limit);
      s(d).memory_bytes_max = countAtLeast(o, bytes, 1, "memory limit must be greater than 0");
    }),
  flag("M", "disable-evictions", null, null, null, "return error on memory exhausted instead of evicting", (d) => {
    s(d).evictions_disabled = true;
  }),
  flag("c", "conn-limit", "num", "1024", "connections", "max simultaneous connections", (d, v, o) => {
    const count = countParse(o, v, connections_max_limit);
    s(d).connections_max = countAtLeast(o, count, 1, "Maximum connections must be greater than 0");
  }),
  flag("k", "lock-memory", null, null, null, "lock down all paged memory (accepted; no effect here)", (d, _v, o) => {
    s(d).lock_memory = true;
    warnNoEffect(d, o, flag_no_effect.k!);
  }),
  flag("v", "verbose", null, null, null,
    ["verbose (print errors/warnings while in event loop)", "-vv: also client commands/responses",
      "-vvv: also internal state transitions"],
    (d) => {
      s(d).verbosity = Math.min(verbosity_max, s(d).verbosity + 1);
    }),
  flag("h", "help", null, null, null, "print this help and exit", (d) => {
    d.exit = "help";
  }),
  flag("i", "license", null, null, null, "print the license and exit", (d) => {
    d.exit = "license";
  }),
  flag("V", "version", null, null, null, "print version and exit", (d) => {
    d.exit = "version";
  }),
  flag("P", "pidfile", "file", null, null, "save PID in <file>, only used with -d option", (d, v, o) => {
    if (v === "") fail(o, "the pid file path is empty");
    s(d).pid_file = v;
  }),
  flag("f", "slab-growth-factor", "num", "1.25", null, "chunk size growth factor", (d, v, o) => {
    const factor = decimalParse(o, v);
    if (!(factor > 1)) fail(o, "Factor must be greater than 1");
    s(d).growth_factor = factor;
  }),
  flag("n", "slab-min-size", "bytes", "48", "bytes", "min space used for key+value+flags", (d, v, o) => {
    const count = countParse(o, v, chunk_size_min_limit);
    s(d).chunk_size_min = countAtLeast(o, count, 1, "Chunk size must be greater than 0");
  }),
  flag("L", "enable-largepages", null, null, null, "try to use large memory pages (accepted; no effect here)", (d, _v, o) => {
    s(d).large_pages = true;
    warnNoEffect(d, o, flag_no_effect.L!);
  }),
  flag("D", null, "char", ":", null,
    ["use <char> as the delimiter between key prefixes and IDs", "for per-prefix stats; also turns those stats on"],
    (d, v, o) => {
      s(d).stats_prefix_delimiter = delimiterParse(o, v);
      s(d).stats_detail_enabled = true;
    }),
  flag("t", "threads", "num", String(threads_default), "threads",
    ["number of worker threads (Bun Workers over one shared", "store; 1 = one event loop does everything)"],
    (d, v, o) => {
      const count = countParse(o, v, threads_max_limit);
      s(d).threads = countAtLeast(o, count, 1, "Number of threads must be greater than 0");
    }),
  flag("R", "max-reqs-per-event", "num", "20", "requests",
    ["maximum number of requests per event, limits the", "requests processed per connection to prevent starvation"],
    (d, v, o) => {
      const count = countParse(o, v, requests_per_event_max_limit);
      s(d).requests_per_event_max = countAtLeast(o, count, 1,
        "Number of requests per event must be greater than 0");
    }),
  flag("C", "disable-cas", null, null, null,
    ["disable use of CAS: clients see cas 0 and `cas` never matches;", "items keep theirs (replication orders versions by it)"], (d) => {
    s(d).cas_enabled = false;
  }),
  flag("b", "listen-backlog", "num", "1024", "connections", "set the backlog queue limit (accepted; no effect here)", (d, v, o) => {
    s(d).backlog = countParse(o, v, backlog_max_limit);
    warnNoEffect(d, o, flag_no_effect.b!);
  }),
  flag("B", "protocol", "name", "auto", null,
    "protocol - one of ascii, binary, or auto", (d, v, o) => {
      s(d).binding_protocol = protocolParse(o, v);
    }),
  flag("I", "max-item-size", "num", "1m", "bytes",
    ["max item size in bytes, or with a k/m/g suffix", "(min: 1k, max: 1024m, at most half of -m)"],
    (d, v, o) => {
      s(d).item_size_max = sizeParse(o, v, 1, memory_bytes_max_limit);
    }),
  flag("S", "enable-sasl", null, null, null,
    ["turn on Sasl authentication (PLAIN, binary protocol only;", "users from --sasl-pwdb or $MEMCACHED_SASL_PWDB)"], (d) => {
      s(d).sasl_enabled = true;
    }),
  flag(null, "sasl-pwdb", "file", null, null,
    ["SASL password file of user:password lines", "(memcached's MEMCACHED_SASL_PWDB; this flag wins)"], (d, v, o) => {
      if (v === "") fail(o, "needs a file name");
      s(d).sasl_pwdb_path = v;
    }),
  flag("F", "disable-flush-all", null, null, null,
    ["disable flush_all command (a replication peer's flush", "still applies: give both nodes -F)"], (d) => {
    s(d).flush_enabled = false;
  }),
  flag(null, "disable-dumping", null, null, null,
    ["disable stats cachedump and lru_crawler metadump", "(memcached 1.6's -X; here -X is repcached's)"],
    (d) => {
      s(d).dump_enabled = false;
    }),
  flag("W", "disable-watch", null, null, null, "disable watch commands (live logging)", (d) => {
    s(d).watch_enabled = false;
  }),
  flag("Y", "auth-file", "file", null, null,
    ["enable ASCII protocol authentication. format:", "user:pass\\nuser2:pass2\\n"], (d, v, o) => {
      if (v === "") fail(o, "needs a file name");
      s(d).auth_file_path = v;
    }),
  flag("e", "memory-file", "file", null, null,
    "mmap a file for item memory (accepted; no effect here)", (d, v, o) => {
      pathParse(o, v);
      warnNoEffect(d, o, flag_no_effect.e!);
    }),
  flag("Z", "enable-ssl", null, null, null,
    ["enable TLS on TCP client listeners (see -o ssl_*); UDP and", "UNIX sockets stay plain, as in memcached"],
    (d) => {
      s(d).tls.enabled = true;
    }),
  flag("N", "napi-ids", "num", null, null, "number of napi ids (accepted; no effect here)", (d, v, o) => {
    countParse(o, v, threads_max_limit);
    warnNoEffect(d, o, flag_no_effect.N!);
  }),
  flag("o", "extended", "options", null, null,
    ["comma separated list of extended options", "most options have a 'no_' prefix to disable"],
    (d, v, o) => {
      extendedApply(d, v, o);
    }),
  flag("x", "replication-peer", "host", null, null,
    ["hostname or IPv4 address of the peer; keeps reconnecting", "when the link drops; serves after the peer's full copy"],
    (d, v, o) => {
      s(d).replication.peer_host = peerParse(o, v);
    }),
  flag("X", "replication-ports", "num:num", "11212", null,
    ["TCP ports for replication: <listen>[:<connect>]", "(connect defaults to listen); -x or -X turns replication on;",
      "repcached's -X: memcached 1.6's -X is --disable-dumping here"],
    (d, v, o) => {
      const [listen_port, connect_port] = replicationPortsParse(o, v);
      s(d).replication.listen_port = listen_port;
      s(d).replication.connect_port = connect_port;
    }),
  flag("q", "replication-queue-items", "num", "8192", "items",
    ["replication queue limit in items", "(repcached accepted -q but left it out of -h)"], (d, v, o) => {
      const count = countParse(o, v, replication_queue_items_max_limit);
      s(d).replication.queue_items_max = countAtLeast(o, count, 1,
        "the replication queue limit must be greater than 0");
    }),
  flag(null, "replication-queue-bytes", "size", null, "bytes",
    ["replication queue limit in bytes, k/m/g suffix allowed; the queue",
      `holds keys, not values: ${journal_entry_bytes_max}..-q × ${journal_entry_bytes_max} bytes`,
      `(default: -q × ${journal_entry_bytes_max}, ${8192 * journal_entry_bytes_max} with -q 8192)`],
    (d, v, o) => {
      const bytes = sizeParse(o, v, 1, memory_bytes_max_limit);
      s(d).replication.queue_bytes_max = countAtLeast(o, bytes, 1,
        "the replication queue limit must be greater than 0");
    }),
  flag(null, "replication-secret", "string", "none", null,
    ["shared secret both peers must prove (not understood by", "repcached 2.2.1 peers); at least 128 random bits:", "32+ hex digits or 22+ base64 characters"],
    (d, v, o) => {
      s(d).replication.secret = secretParse(o, v);
    }),
  flag(null, "replication-secret-file", "file", "none", null,
    ["read the shared secret from this file (kept out of", "the process list), e.g. `openssl rand -hex 16 > f`"],
    (d, v, o) => {
      let text = "";
      try {
        text = readFileSync(v, "latin1").trim();
      } catch (error) {
        fail(o, `cannot read ${v}: ${String(error)}`);
      }
      s(d).replication.secret = secretParse(o, text);
    }),
  flag(null, "replication-tls-cert", "file", null, null,
    ["PEM certificate (chain) this node presents on replication", "links; turns replication TLS on (both directions)"],
    (d, v, o) => {
      s(d).replication.tls.cert_path = pathParse(o, v);
    }),
  flag(null, "replication-tls-key", "file", null, null, "PEM private key of --replication-tls-cert", (d, v, o) => {
    s(d).replication.tls.key_path = pathParse(o, v);
  }),
  flag(null, "replication-tls-ca", "file", null, null,
    ["PEM CA(s): the peer's certificate must chain to one", "(checked by both nodes: mutual authentication)"],
    (d, v, o) => {
      s(d).replication.tls.ca_path = pathParse(o, v);
    }),
  flag(null, "replication-tls-pin", "sha256", null, null,
    ["the peer's certificate must have this SHA-256 fingerprint", "(hex, colons optional); with or without a CA"],
    (d, v, o) => {
      s(d).replication.tls.pin_sha256 = pinParse(o, v);
    }),
  flag(null, "replication-no-evictions", null, null, null,
    "do not send evictions to the peer as deletes (repcached does)", (d) => {
      s(d).replication.propagate_evictions = false;
    }),
  flag(null, "metrics-port", "num", "0, off", null,
    ["serve Prometheus metrics over HTTP at /metrics on this port", "(also -o metrics_port=<num>)"], (d, v, o) => {
      s(d).metrics_port = portParse(o, v);
    }),
  flag(null, "metrics-listen", "addr", null, null,
    ["address of the metrics listener", "(default: the first -l host, else every address)"], (d, v, o) => {
      if (v === "" || /[\s,]/.test(v)) fail(o, `'${v}' is not an address`);
      s(d).metrics_listen = v;
    }),
  flag(null, "serve-during-copy", null, null, null,
    ["open client ports while the peer's full copy arrives", "(default: off: like repcached, serve after the copy)"],
    (d) => {
      s(d).replication.serve_during_copy = true;
    }),
];

// ---------------------------------------------------------------------------------------------
// -o: memcached 1.6's extended options.

export interface Suboption {
  name: string;
  value: string | null; // placeholder; null: a switch
  help: string;
  apply: (draft: Draft, value: string, opt: string) => void;
}

function subSwitch(name: string, help: string, apply: (extras: Extras) => void): Suboption {
  return { name, value: null, help, apply: (d) => apply(s(d).extras) };
}

function subValue(name: string, value: string, help: string,
  apply: (extras: Extras, text: string, opt: string) => void): Suboption {
  return { name, value, help, apply: (d, v, o) => apply(s(d).extras, v, o) };
}

function noModernApply(d: Draft): void {
  const extras = s(d).extras;
  if (!d.given.has("slab_chunk_max")) extras.slab_chunk_size_max = slab_page_size;
  extras.slab_reassign = false;
  extras.slab_automove = 0;
  extras.maxconns_fast = false;
  extras.lru_segmented = false;
  extras.hash_algorithm = "jenkins";
  extras.lru_crawler = false;
  extras.lru_maintainer = false;
}

function lruPctParse(opt: string, name: string, text: string): number {
  const pct = countParse(opt, text, 100);
  if (pct < 1 || pct >= 80) fail(opt, `${name} must be > 1 and < 80`);
  return pct;
}

function factorPositiveParse(opt: string, name: string, text: string): number {
  const factor = decimalParse(opt, text);
  if (!(factor > 0)) fail(opt, `${name} must be > 0`);
  return factor;
}

const u32_max = 4294967295;

/** ssl_verify_mode's values, 0 none .. 3 once (memcached's names). */
export const tls_verify_mode_max = 3;
/** ssl_min_version's values, 0 tlsv1.0 .. 3 tlsv1.3. */
export const tls_min_version_max = 3;
/** The lowest ssl_min_version the runtime honours (Bun refuses TLS 1.0 and 1.1 handshakes). */
export const tls_min_version_runtime = 2;
const tls_keyformat_pem = 1; // OpenSSL's SSL_FILETYPE_PEM, memcached's default ssl_keyformat

/** memcached's parse of a small -o number: its own two messages for junk and for out of range. */
function tlsChoiceParse(name: string, text: string, max: number): number {
  if (!/^[0-9]+$/.test(text)) failBare(`could not parse argument to ${name}`);
  const value = Number(text);
  if (value > max) failBare(`Invalid ${name}. Use help to see valid options.`);
  return value;
}

function tlsValue(name: string, value: string, help: string,
  apply: (tls: TlsSettings, text: string, opt: string) => void): Suboption {
  return { name, value, help, apply: (d, v, o) => apply(s(d).tls, v, o) };
}

function tlsWarned(d: Draft, name: string, why: string): void {
  s(d).warnings.push(`option -o ${name}: accepted without effect: ${why}`);
}

/** memcached 1.6's ssl_* options (they take effect with -Z; see tlsCheck). */
function tlsSuboptions(): Suboption[] {
  return [
    tlsValue("ssl_chain_cert", "file", "certificate chain file in PEM format",
      (t, v, o) => (t.chain_cert_path = pathParse(o, v))),
    tlsValue("ssl_key", "file", "private key, if not part of the -ssl_chain_cert",
      (t, v, o) => (t.key_path = pathParse(o, v))),
    tlsValue("ssl_ca_cert", "file", "PEM format file of acceptable client CA's",
      (t, v, o) => (t.ca_cert_path = pathParse(o, v))),
    tlsValue("ssl_verify_mode", "num", "peer certificate verification: 0 none, 1 request, 2 require, 3 once (default: 0)",
      (t, v) => (t.verify_mode = tlsChoiceParse("ssl_verify_mode", v, tls_verify_mode_max))),
    tlsValue("ssl_keyformat", "num", "private key format: 1 (PEM) only (default: 1)", (_t, v, o) => {
      if (tlsChoiceParse("ssl_keyformat", v, u32_max) !== tls_keyformat_pem) fail(o, "only PEM keys (1) are supported");
    }),
    tlsValue("ssl_ciphers", "list", "TLS 1.2 cipher list (OpenSSL syntax)", (t, v, o) => {
      if (v === "") fail(o, "the cipher list is empty");
      t.ciphers = v;
    }),
    { name: "ssl_min_version", value: "num", help: "minimum TLS version: 0..3 (tlsv1.0..tlsv1.3); below 2 acts as 2",
      apply: (d, v) => {
        const version = tlsChoiceParse("ssl_min_version", v, tls_min_version_max);
        // The runtime (Bun's BoringSSL) never offers TLS 1.0 or 1.1: 0 and 1 cannot loosen that.
        if (version < tls_min_version_runtime) tlsWarned(d, "ssl_min_version", "the runtime's minimum is tlsv1.2");
        s(d).tls.min_version = Math.max(version, tls_min_version_runtime);
      } },
    { name: "ssl_wbuf_size", value: "kb", help: "accepted; the runtime sizes its own TLS buffers", apply: (d, v, o) => {
      s(d).tls.write_buffer_bytes = sizeParse(o, v, kib, gib);
      tlsWarned(d, "ssl_wbuf_size", "the runtime sizes its own TLS buffers");
    } },
    { name: "ssl_session_cache", value: null, help: "accepted; no server-side session cache here", apply: (d) => {
      s(d).tls.session_cache = true;
      tlsWarned(d, "ssl_session_cache", "the runtime offers no server-side session cache");
    } },
    { name: "ssl_kernel_tls", value: null, help: "accepted; no kernel TLS offload here", apply: (d) => {
      s(d).tls.kernel_tls = true;
      tlsWarned(d, "ssl_kernel_tls", "the runtime does no kernel TLS offload");
    } },
  ];
}

export const suboptions: readonly Suboption[] = [
  subSwitch("maxconns_fast", "immediately close new connections after limit (default: enabled)",
    (e) => (e.maxconns_fast = true)),
  subSwitch("no_maxconns_fast", "queue new connections after limit", (e) => (e.maxconns_fast = false)),
  subValue("hashpower", "num", "initial hash table size as a power of 2 (12..64; default: grows)", (e, v, o) => {
    const power = countParse(o, v, 1000);
    if (power < 12) fail(o, `Initial hashtable multiplier of ${power} is too low`);
    if (power > 64) fail(o, `Initial hashtable multiplier of ${power} is too high`);
    e.hashpower_init = power;
  }),
  subSwitch("no_hashexpand", "disables hash table expansion (dangerous)", (e) => (e.hash_expand = false)),
  subValue("tail_repair_time", "sec", "seconds before a stuck LRU tail item is killed (default: off)", (e, v, o) => {
    const seconds = countParse(o, v, u32_max);
    if (seconds < 10) fail(o, "Cannot set tail_repair_time to less than 10 seconds");
    e.tail_repair_time_s = seconds;
  }),
  subValue("hash_algorithm", "name", "the hash table algorithm: jenkins, murmur3, xxh3 (default: murmur3)",
    (e, v, o) => {
      if (v !== "jenkins" && v !== "murmur3" && v !== "xxh3") {
        fail(o, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
      }
      e.hash_algorithm = v;
    }),
  subSwitch("lru_crawler", "enable the LRU crawler (default)", (e) => (e.lru_crawler = true)),
  subSwitch("no_lru_crawler", "disable the LRU crawler", (e) => (e.lru_crawler = false)),
  subValue("lru_crawler_sleep", "us", "microseconds to sleep between items (default: 100)", (e, v, o) => {
    const us = countParse(o, v, u32_max);
    if (us > 1000000) fail(o, "LRU crawler sleep must be between 0 and 1 second");
    e.lru_crawler_sleep_us = us;
  }),
  subValue("lru_crawler_tocrawl", "num", "max items to crawl per slab per run (default: 0, unlimited)",
    (e, v, o) => (e.lru_crawler_tocrawl_max = countParse(o, v, u32_max))),
  subValue("read_buf_mem_limit", "mb", "megabytes for connection read buffers (default: 0, unlimited)",
    (e, v, o) => (e.read_buf_memory_bytes_max = sizeParse(o, v, mib, memory_bytes_max_limit))),
  subSwitch("lru_maintainer", "enable the segmented LRU maintainer (default)", (e) => (e.lru_maintainer = true)),
  subSwitch("no_lru_maintainer", "disable the segmented LRU maintainer", (e) => (e.lru_maintainer = false)),
  subValue("hot_lru_pct", "pct", "pct of slab memory to reserve for hot lru (default: 20)",
    (e, v, o) => (e.hot_lru_pct = lruPctParse(o, "hot_lru_pct", v))),
  subValue("warm_lru_pct", "pct", "pct of slab memory to reserve for warm lru (default: 40)",
    (e, v, o) => (e.warm_lru_pct = lruPctParse(o, "warm_lru_pct", v))),
  subValue("hot_max_factor", "num", "items idle > cold lru age * this drop from hot (default: 0.20)",
    (e, v, o) => (e.hot_max_factor = factorPositiveParse(o, "hot_max_factor", v))),
  subValue("warm_max_factor", "num", "items idle > cold lru age * this drop from warm (default: 2.00)",
    (e, v, o) => (e.warm_max_factor = factorPositiveParse(o, "warm_max_factor", v))),
  subValue("temporary_ttl", "sec", "TTLs below this get a separate LRU (default: 61, off)", (e, v, o) => {
    e.temp_lru = true;
    e.temporary_ttl_s = countParse(o, v, u32_max);
  }),
  subValue("idle_timeout", "sec", "timeout for idle client connections (default: 0, no timeout)",
    (e, v, o) => (e.idle_timeout_s = countParse(o, v, u32_max))),
  { name: "slab_chunk_max", value: "bytes", help: "max slab chunk size in bytes (default: 524288)",
    apply: (d, v, o) => {
      const bytes = sizeParse(o, v, 1, slab_page_size);
      s(d).extras.slab_chunk_size_max = countAtLeast(o, bytes, 1, "slab_chunk_max must be greater than 0");
    } },
  subValue("watcher_logbuf_size", "kb", "kilobytes of per-watcher write buffer (default: 256)",
    (e, v, o) => (e.watcher_logbuf_bytes = sizeParse(o, v, kib, gib))),
  subValue("worker_logbuf_size", "kb", "kilobytes of per-worker log buffer (default: 64)",
    (e, v, o) => (e.worker_logbuf_bytes = sizeParse(o, v, kib, gib))),
  subSwitch("track_sizes", "enable dynamic reports for 'stats sizes'", (e) => (e.track_sizes = true)),
  subSwitch("slab_reassign", "allow slab pages to move between classes (default)", (e) => (e.slab_reassign = true)),
  subSwitch("no_slab_reassign", "keep slab pages in their class", (e) => (e.slab_reassign = false)),
  subValue("slab_automove", "num", "slab page mover: 0 off, 1 background, 2 aggressive (default: 1)", (e, v, o) => {
    const mode = countParse(o, v, u32_max);
    if (mode > 2) fail(o, "slab_automove must be between 0 and 2");
    e.slab_automove = mode;
  }),
  subSwitch("no_slab_automove", "slab_automove=0", (e) => (e.slab_automove = 0)),
  subValue("slab_automove_ratio", "num", "ratio of memory a class must hold to keep its pages (default: 0.80)",
    (e, v, o) => (e.slab_automove_ratio = decimalParse(o, v))),
  subValue("slab_automove_window", "num", "samples the slab mover averages over (default: 30)",
    (e, v, o) => (e.slab_automove_window = countAtLeast(o, countParse(o, v, u32_max), 1,
      "slab_automove_window must be greater than 0"))),
  ...tlsSuboptions(),
  { name: "metrics_port", value: "num", help: "serve Prometheus metrics at /metrics on this port (default: 0, off)",
    apply: (d, v, o) => void (s(d).metrics_port = portParse(o, v)) },
  subSwitch("modern", "enables options which will be default in future (currently: nothing)", () => {}),
  { name: "no_modern", value: null, help: "uses defaults of previous major version (1.4.x)",
    apply: (d) => noModernApply(d) },
];

const no_lru_segments = "one plain LRU per slab class here (no segmented LRU, no maintainer thread)";
const no_crawler = "no LRU crawler here: expired items are reclaimed on access and by a fixed background sweep";
const no_slab_mover = "no slab page mover here: pages stay in their class";
const no_watch = "no watch (live logging) here";
const no_extstore = "no extstore (external storage) here";

/**
 * memcached 1.6.18's -o options this store cannot honour, and why: accepted (their values are still
 * checked with memcached's rules), a warning at start (without -v) and in `stats settings`; their
 * memcached `stats settings` lines are left out (README: "stats settings").
 */
export const suboption_no_effect: Readonly<Record<string, string>> = {
  no_maxconns_fast: "connections past -c are always answered an error and closed at once (maxconns_fast)",
  hashpower: "the hash table sizes itself (from -m) and grows as items come",
  no_hashexpand: "the hash table always grows, one bucket at a time",
  tail_repair_time: "items here hold no references that could leave an LRU tail stuck",
  hash_algorithm: "keys hash with Wyhash and a random seed (not selectable)",
  lru_crawler: no_crawler,
  no_lru_crawler: no_crawler,
  lru_crawler_sleep: no_crawler,
  lru_crawler_tocrawl: no_crawler,
  read_buf_mem_limit: "connection buffers have fixed per-connection bounds here",
  lru_maintainer: no_lru_segments,
  no_lru_maintainer: no_lru_segments,
  hot_lru_pct: no_lru_segments,
  warm_lru_pct: no_lru_segments,
  hot_max_factor: no_lru_segments,
  warm_max_factor: no_lru_segments,
  temporary_ttl: no_lru_segments,
  slab_chunk_max: "the store does not split large items into chunks",
  watcher_logbuf_size: no_watch,
  worker_logbuf_size: no_watch,
  track_sizes: "no item size histogram here ('stats sizes' answers disabled)",
  slab_reassign: no_slab_mover,
  no_slab_reassign: no_slab_mover,
  slab_automove: no_slab_mover,
  no_slab_automove: no_slab_mover,
  slab_automove_ratio: no_slab_mover,
  slab_automove_window: no_slab_mover,
  no_modern: "it selects memcached 1.4's LRU, hash and slab behaviour, none of which exists here",
};

/**
 * memcached 1.6.18 -o options (as Debian builds it: extstore and TLS, no proxy) with no counterpart
 * at all here: accepted with a warning, value unchecked. Anything neither here nor in `suboptions`
 * is refused as memcached refuses it: `Illegal suboption "<item>"`, exit 1.
 */
export const suboption_accepted_only: Readonly<Record<string, string>> = {
  ...Object.fromEntries(["ext_path", "ext_page_size", "ext_wbuf_size", "ext_threads", "ext_io_depth",
    "ext_item_size", "ext_item_age", "ext_low_ttl", "ext_drop_unread", "ext_recache_rate", "ext_compact_under",
    "ext_drop_under", "ext_max_frag", "ext_max_sleep", "slab_automove_freeratio"].map((name) => [name, no_extstore])),
  slab_sizes: "slab classes come from -f and -n here",
  no_chunked_items: "the store does not split large items into chunks",
  inline_ascii_resp: "memcached 1.6 ignores it too",
  no_inline_ascii_resp: "memcached 1.6 ignores it too",
  drop_privileges: "no seccomp sandbox here",
  no_drop_privileges: "no seccomp sandbox here",
  resp_obj_mem_limit: "memcached 1.6 ignores it too (see read_buf_mem_limit)",
  sock_cookie_id: "no socket cookies (SO_MARK) here",
};

function extendedApply(d: Draft, text: string, opt: string): void {
  if (text === "") return; // memcached: an empty list sets nothing
  for (const { item, name, value } of suboptionsSplit(text)) suboptionApply(d, item, name, value, opt);
}

function suboptionApply(d: Draft, item: string, name: string, value: string | null, opt: string): void {
  const sub = suboptions.find((candidate) => candidate.name === name);
  if (sub === undefined) {
    const why = suboption_accepted_only[name];
    if (why === undefined) failIllegalSuboption(item);
    warnNoEffect(d, `${opt} ${name}`, why);
    return;
  }
  const sub_opt = `${opt} ${name}`;
  if (sub.value !== null && value === null) fail(sub_opt, `Missing ${name} argument`);
  if (sub.value === null && value !== null) fail(sub_opt, `'${name}' does not take a value`);
  sub.apply(d, value ?? "", sub_opt);
  d.given.add(name);
  const why = suboption_no_effect[name];
  if (why !== undefined) warnNoEffect(d, sub_opt, why);
}

// ---------------------------------------------------------------------------------------------
// The option loop: src/options.ts splits argv (getopt_long's syntax); the words are memcached's.

function flagKey(entry: Flag): string {
  return entry.short ?? entry.long!;
}

function readError(error: OptionError<Flag>): never {
  switch (error.reason) {
    case "unknown-short":
      failSyntax(`unknown option -- ${error.letter}`);
    case "unknown-long":
      failSyntax(`unknown option '--${error.name}'`);
    case "ambiguous": {
      const names = error.matches.map((entry) => `'--${entry.long}'`).join(" ");
      failSyntax(`option '--${error.name}' is ambiguous; possibilities: ${names}`);
    }
    case "missing-value":
      failSyntax(`option ${error.opt}: missing value <${error.spec.value}>`);
    case "unexpected-value":
      failSyntax(`option '${error.opt}' doesn't allow an argument`);
  }
}

function optionsApply(draft: Draft, argv: string[]): void {
  for (const event of optionsRead(argv, flags, { long_prefixes: true })) {
    if (event.kind === "error") readError(event.error);
    if (event.kind === "positional") failSyntax(`unexpected argument '${event.arg}'`);
    if (event.kind !== "option") continue;
    draft.given.add(flagKey(event.spec));
    event.spec.apply(draft, event.value ?? "", event.opt);
    if (draft.exit !== null) return; // -h, -V, -i: the rest is not read
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-flag checks, after every flag is read.

function itemSizeCheck(settings: Settings): void {
  const item = settings.item_size_max;
  const memory = settings.memory_bytes_max;
  const values = `(-I ${item} bytes, -m ${memory} bytes)`;
  if (item < item_size_max_lower) fail("-I", "Item max size cannot be less than 1024 bytes.");
  if (item > memory / 2) fail("-I", `Cannot set item size limit higher than 1/2 of memory max. ${values}`);
  if (item > item_size_max_upper) fail("-I", "Cannot set item size limit higher than a gigabyte.");
  if (settings.chunk_size_min >= item) {
    fail("-n", `min chunk size (${settings.chunk_size_min} bytes) must be less than -I (${item} bytes)`);
  }
}

/** memcached's slab_chunk_max rules, applied when -o slab_chunk_max was given. */
function slabChunkCheck(draft: Draft): void {
  const settings = s(draft);
  const chunk = settings.extras.slab_chunk_size_max;
  const item = settings.item_size_max;
  if (!draft.given.has("slab_chunk_max")) {
    // memcached: large items are chunked in half pages; a small -I caps the chunk.
    const chunk_default = item > slab_page_size ? slab_page_size / 2 : chunk;
    settings.extras.slab_chunk_size_max = Math.min(chunk_default, item);
    return;
  }
  const opt = "-o slab_chunk_max";
  if (chunk > item) fail(opt, `slab_chunk_max (bytes: ${chunk}) cannot be larger than -I (item_size_max ${item})`);
  if (item % chunk !== 0) {
    fail(opt, `-I (item_size_max: ${item}) must be evenly divisible by slab_chunk_max (bytes: ${chunk})`);
  }
  if (slab_page_size % chunk !== 0) {
    fail(opt, `slab_chunk_max (bytes: ${chunk}) must divide evenly into ${slab_page_size} (slab_page_size)`);
  }
}

function lruCheck(extras: Extras): void {
  if (extras.hot_lru_pct + extras.warm_lru_pct > 80) {
    fail("-o", "hot_lru_pct + warm_lru_pct cannot be more than 80% combined");
  }
  if (extras.temp_lru && !extras.lru_maintainer) fail("-o", "temporary_ttl requires lru_maintainer to be enabled");
}

function replicationCheck(draft: Draft): void {
  const settings = s(draft);
  const replication = settings.replication;
  replication.enabled = draft.given.has("x") || draft.given.has("X");
  if (settings.tcp_port !== 0 && replication.listen_port === settings.tcp_port) {
    fail("-X", `replication listen port ${replication.listen_port} is also the TCP port (-p)`);
  }
  // The journal holds keys (values are read at send time): -q entries never need more than
  // -q × the largest entry. That is the default, and the most the flag may ask for.
  const bytes_most = replication.queue_items_max * journal_entry_bytes_max;
  if (!draft.given.has("replication-queue-bytes")) {
    replication.queue_bytes_max = bytes_most;
    return;
  }
  const bytes = replication.queue_bytes_max;
  if (bytes < journal_entry_bytes_max) {
    fail("--replication-queue-bytes", `${bytes} bytes is less than one queue entry (${journal_entry_bytes_max} bytes: the longest key and its header)`);
  }
  if (bytes > bytes_most) {
    fail("--replication-queue-bytes", `${bytes} bytes is more than ${replication.queue_items_max} entries (-q) can use: ` +
      `the queue holds keys, not values, at most ${journal_entry_bytes_max} bytes each, so at most ${bytes_most} bytes ` +
      `(raise -q for more)`);
  }
}

/** -Z needs a TCP port, a certificate and its key (memcached's messages); ssl_* alone do nothing. */
function tlsCheck(draft: Draft): void {
  const tls = s(draft).tls;
  const ssl_given = [...draft.given].filter((name) => name.startsWith("ssl_"));
  if (!tls.enabled) {
    if (ssl_given.length > 0) {
      s(draft).warnings.push(`option -o ${ssl_given.join(",")}: no effect without -Z (as in memcached)`);
    }
    return;
  }
  if (s(draft).tcp_port === 0) failBare("ERROR: You cannot enable SSL without a TCP port.");
  if (tls.chain_cert_path === null) failBare("Error loading the certificate chain: (null) : no -o ssl_chain_cert given");
  if (tls.key_path === null) failBare("Error loading the key: (null) : no -o ssl_key given");
}

/** Replication TLS needs replication, a certificate, its key, and a way to verify the peer. */
function replicationTlsCheck(draft: Draft): void {
  const tls = s(draft).replication.tls;
  const given = ["replication-tls-cert", "replication-tls-key", "replication-tls-ca", "replication-tls-pin"]
    .filter((name) => draft.given.has(name));
  if (given.length === 0) return;
  const opt = `--${given[0]}`;
  if (!s(draft).replication.enabled) fail(opt, "replication TLS needs replication on (-x or -X)");
  if (tls.cert_path === null) fail(opt, "replication TLS needs --replication-tls-cert");
  if (tls.key_path === null) fail(opt, "replication TLS needs --replication-tls-key");
  if (tls.ca_path === null && tls.pin_sha256 === null) {
    fail(opt, "replication TLS needs --replication-tls-ca or --replication-tls-pin to verify the peer");
  }
}

function socketCheck(draft: Draft): void {
  const settings = s(draft);
  if (settings.unix_socket_path === null) return;
  for (const key of ["p", "U", "l"]) {
    if (draft.given.has(key)) settings.warnings.push(`option -${key} is ignored with -s (UNIX socket only)`);
  }
  settings.tcp_port = 0;
  settings.udp_port = 0;
}

function hostCheck(settings: Settings, host: HostFacts): void {
  if (settings.threads > threads_max) fail("-t", `at most ${threads_max} worker threads (each is a JS runtime)`);
  if (settings.threads >= threads_warning_min) {
    settings.warnings.push("Setting a high number of worker threads is not recommended. " +
      "Set this value to the number of cores in your machine or less.");
  } else if (host.cores !== undefined && settings.threads > host.cores) {
    settings.warnings.push(`-t ${settings.threads}: more worker threads than the ${host.cores} cores here; they will share them`);
  }
  if (settings.threads > 1 && settings.unix_socket_path !== null) {
    settings.warnings.push(`-t ${settings.threads} with -s: a unix socket cannot be shared between threads, so the main ` +
      "thread serves it alone and the worker threads serve no clients");
  }
}

/**
 * memcached 1.6.18's rules (its messages, exit 64): -S speaks binary only (-B ascii or auto refused)
 * and not over UDP; -Y speaks ASCII only (-B binary or auto refused) and not over UDP. -S with -Y
 * is refused here (memcached starts with both, -S's binary-only binding then leaves -Y no client).
 */
function authCheck(draft: Draft, host: HostFacts): void {
  const settings = s(draft);
  const given_b = draft.given.has("B");
  if (settings.sasl_enabled && settings.auth_file_path !== null) {
    fail("-S", "SASL (binary protocol only) and -Y (ASCII only) cannot both be on");
  }
  if (settings.sasl_enabled) {
    if (given_b && settings.binding_protocol !== "binary") failBare("ERROR: You cannot allow the ASCII protocol while using SASL.");
    if (settings.udp_port !== 0) failBare("ERROR: Cannot enable UDP while using binary SASL authentication.");
    settings.binding_protocol = "binary";
    settings.sasl_pwdb_path ??= host.sasl_pwdb_env ?? null;
    if (settings.sasl_pwdb_path === null) fail("-S", "needs a password file: --sasl-pwdb <file> or MEMCACHED_SASL_PWDB");
  } else if (draft.given.has("sasl-pwdb")) {
    fail("--sasl-pwdb", "needs -S");
  }
  if (settings.binding_protocol === "binary" && !settings.sasl_enabled && settings.udp_port !== 0) {
    fail("-B", "binary over UDP is not supported (UDP speaks text): use -U 0 with -B binary");
  }
  if (settings.auth_file_path !== null) {
    if (given_b && settings.binding_protocol !== "ascii") {
      failBare("ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.");
    }
    if (settings.udp_port !== 0) failBare("Cannot use UDP with ascii authentication enabled (-U 0 to disable)");
    settings.binding_protocol = "ascii";
  }
}

/** --metrics-listen without a port would be a flag accepted and ignored. */
function metricsCheck(settings: Settings): void {
  if (settings.metrics_listen !== null && settings.metrics_port === 0) {
    fail("--metrics-listen", "needs --metrics-port (or -o metrics_port)");
  }
}

function crossCheck(draft: Draft, host: HostFacts): void {
  metricsCheck(s(draft));
  authCheck(draft, host);
  itemSizeCheck(s(draft));
  slabChunkCheck(draft);
  lruCheck(s(draft).extras);
  tlsCheck(draft); // before socketCheck: -s keeps memcached's TCP port, so -s with -Z is allowed
  socketCheck(draft);
  replicationCheck(draft);
  replicationTlsCheck(draft);
  hostCheck(s(draft), host);
}

function hostFactsCurrent(): HostFacts {
  return {
    uid: typeof process.getuid === "function" ? process.getuid() : null, sasl_pwdb_env: process.env.MEMCACHED_SASL_PWDB ?? null,
    cores: availableParallelism(),
  };
}

export function parseArgs(argv: string[], host: HostFacts = hostFactsCurrent()): ParseResult {
  const draft: Draft = { settings: settingsDefault(), exit: null, given: new Set() };
  try {
    optionsApply(draft, argv);
    if (draft.exit === "help") return { kind: "help", text: helpText() };
    if (draft.exit === "version") return { kind: "version", text: `${version_line}\n` };
    if (draft.exit === "license") return { kind: "license", text: licenseText() };
    crossCheck(draft, host);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const hint = error.try_help ? `\nTry '${program_name} -h' for more information.` : "";
    return { kind: "error", message: error.message + hint, exit_code: error.exit_code };
  }
  return { kind: "run", settings: draft.settings };
}

// ---------------------------------------------------------------------------------------------
// -h and -i text.

const help_column = 26; // where memcached's -h descriptions start

function flagSignature(entry: Flag): string {
  const value = entry.value === null ? "" : entry.long === null ? ` <${entry.value}>` : `=<${entry.value}>`;
  if (entry.short !== null && entry.long !== null) return `-${entry.short}, --${entry.long}${value}`;
  if (entry.short !== null) return `-${entry.short}${value}`;
  return `    --${entry.long}${value}`;
}

function helpColumns(left: string, lines: string[]): string[] {
  const first = left.length < help_column ? left.padEnd(help_column) : `${left} `;
  return lines.map((line, at) => (at === 0 ? first : " ".repeat(help_column)) + line);
}

function flagHelp(entry: Flag): string[] {
  const lines = entry.help.slice();
  if (entry.default_text !== null) lines[lines.length - 1] += ` (default: ${entry.default_text})`;
  return helpColumns(flagSignature(entry), lines);
}

function suboptionHelp(): string[] {
  const lines = suboptions.map((sub) => {
    const name = sub.value === null ? sub.name : `${sub.name}=<${sub.value}>`;
    const help = sub.name in suboption_no_effect ? `${sub.help} (accepted; no effect here)` : sub.help;
    return helpColumns(`   - ${name}:`, [help])[0]!;
  });
  lines.push(...helpColumns("   - also accepted,", ["without effect (no extstore, seccomp, ...):",
    ...wrapWords(Object.keys(suboption_accepted_only).join(", "), 52)]));
  lines.push(...helpColumns("   - any other:", ['refused as memcached does: Illegal suboption "<name>"']));
  return lines;
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(" ")) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

export function helpText(): string {
  const lines = [version_line];
  for (const entry of flags) {
    lines.push(...flagHelp(entry));
    if (entry.short === "o") lines.push(...suboptionHelp());
  }
  lines.push("", "Replication follows repcached 2.2.1: start one node, then start its peer with -x.",
    "-X is repcached's replication ports, as in repcached 2.2.1; memcached 1.6's -X",
    "(--disable-dumping) is long-only here. Flags marked 'no effect here' are accepted",
    "and print a warning at start (also in `stats settings`).");
  return lines.join("\n") + "\n";
}

export function licenseText(): string {
  return [
    version_line,
    "",
    license_text,
    "repcached-bun is a reimplementation of the memcached 1.6 text protocol and of",
    "repcached 2.2.1's replication. It contains no code from either project.",
    "memcached is Copyright (c) 2003, Danga Interactive, Inc., under the BSD license.",
    "repcached is a patch set for memcached by KLab Inc., under the same license.",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// stats settings: memcached 1.6's names and order (captured from 1.6.18), then ours.

/** Values that change at run time (verbosity, flush_all, stats detail, stats sizes_enable). */
export interface SettingsLive {
  verbosity: number;
  oldest_live_s: number;
  stats_detail_enabled: boolean;
  track_sizes: boolean;
}

const yesNo = (value: boolean): string => (value ? "yes" : "no");

/** C's printf("%.Nf"): like toFixed, but an exact tie rounds to even, as glibc does. */
export function printfFixed(value: number, digits: number): string {
  const rounded = value.toFixed(digits);
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21) return rounded;
  const exact = Math.abs(value).toFixed(100);
  const fraction = exact.slice(exact.indexOf(".") + 1 + digits);
  if (!/^50*$/.test(fraction)) return rounded;
  const truncated = (value < 0 ? "-" : "") + exact.slice(0, exact.indexOf(".") + 1 + digits).replace(/\.$/, "");
  const last = Number(truncated[truncated.length - 1]);
  return last % 2 === 0 ? truncated : rounded;
}

function connectionStats(settings: Settings, live: SettingsLive): Array<[string, string]> {
  return [
    ["maxbytes", String(settings.memory_bytes_max)],
    ["maxconns", String(settings.connections_max)],
    ["tcpport", String(settings.tcp_port)],
    ["udpport", String(settings.udp_port)],
    ["inter", settings.listen_addresses.length === 0 ? "NULL" : settings.listen_addresses.join(",")],
    ["verbosity", String(live.verbosity)],
    ["oldest", String(live.oldest_live_s)],
    ["evictions", settings.evictions_disabled ? "off" : "on"],
    ["domain_socket", settings.unix_socket_path ?? "NULL"],
    ["umask", settings.unix_socket_mask.toString(8)],
    ["shutdown_command", yesNo(settings.shutdown_enabled)],
    ["growth_factor", printfFixed(settings.growth_factor, 2)],
    ["chunk_size", String(settings.chunk_size_min)],
    ["num_threads", String(settings.threads)],
    ["num_threads_per_udp", String(settings.listen_addresses.length > 1 ? 1 : settings.threads)],
    ["stat_key_prefix", settings.stats_prefix_delimiter],
    ["detail_enabled", yesNo(live.stats_detail_enabled)],
    ["reqs_per_event", String(settings.requests_per_event_max)],
    ["cas_enabled", yesNo(settings.cas_enabled)],
    ["binding_protocol", settings.binding_protocol === "auto" ? "auto-negotiate" : settings.binding_protocol],
    ["auth_enabled_sasl", yesNo(settings.sasl_enabled)],
    ["auth_enabled_ascii", settings.auth_file_path ?? "no"],
    ["item_size_max", String(settings.item_size_max)],
  ];
}

function extrasStats(settings: Settings): Array<[string, string]> {
  return [
    // Connections past -c are always answered an error and closed (no_maxconns_fast has no effect).
    ["maxconns_fast", "yes"],
    ["flush_enabled", yesNo(settings.flush_enabled)],
    ["idle_timeout", String(settings.extras.idle_timeout_s)],
    ...tlsStats(settings.tls),
  ];
}

/**
 * memcached 1.6.18's `stats settings` lines left out here, and why: each names a setting that does
 * not exist in this server, so any value would be made up (README: "stats settings").
 */
export const settings_stats_left_out: Readonly<Record<string, string>> = {
  tcp_backlog: "Bun.listen has no backlog option (-b is accepted with a warning)",
  hashpower_init: "the hash table sizes itself (-o hashpower has no effect)",
  slab_reassign: "no slab page mover", slab_automove: "no slab page mover",
  slab_automove_ratio: "no slab page mover", slab_automove_window: "no slab page mover",
  slab_chunk_max: "large items are not split into chunks",
  lru_crawler: "no LRU crawler", lru_crawler_sleep: "no LRU crawler", lru_crawler_tocrawl: "no LRU crawler",
  tail_repair_time: "no item references to repair",
  dump_enabled: "no dump commands (stats cachedump, lru_crawler metadump) to enable",
  hash_algorithm: "the hash (seeded Wyhash) is not selectable",
  lru_maintainer_thread: "no segmented LRU", lru_segmented: "no segmented LRU", hot_lru_pct: "no segmented LRU",
  warm_lru_pct: "no segmented LRU", hot_max_factor: "no segmented LRU", warm_max_factor: "no segmented LRU",
  temp_lru: "no segmented LRU", temporary_ttl: "no segmented LRU",
  watcher_logbuf_size: "no watch (live logging)", worker_logbuf_size: "no watch (live logging)",
  read_buf_mem_limit: "connection buffers have fixed bounds",
  track_sizes: "no item size histogram",
  inline_ascii_response: "a memcached 1.4 setting (always no in 1.6)",
  ssl_wbuf_size: "the runtime sizes its own TLS buffers",
  num_napi_ids: "no NAPI ID steering (-N is accepted with a warning)",
  memory_file: "no restartable cache (-e is accepted with a warning)",
  // memcached prints ext_* and slab_automove_freeratio in extstore builds; there is no extstore here.
};

/** memcached shows ssl_verify_mode as OpenSSL's flags: none 0, peer 1, +fail-if-none 2, +once 4. */
const tls_verify_flags = [0, 1, 1 | 2, 1 | 2 | 4];
const tls_version_names = ["tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"];

function tlsStats(tls: TlsSettings): Array<[string, string]> {
  return [
    ["ssl_enabled", yesNo(tls.enabled)],
    ["ssl_chain_cert", tls.chain_cert_path ?? "(null)"],
    ["ssl_key", tls.key_path ?? "(null)"],
    ["ssl_verify_mode", String(tls_verify_flags[tls.verify_mode])],
    ["ssl_keyformat", String(tls_keyformat_pem)],
    ["ssl_ciphers", tls.ciphers ?? "NULL"],
    ["ssl_ca_cert", tls.ca_cert_path ?? "NULL"],
    // Accepted with a warning, never on here: the real values.
    ["ssl_session_cache", "no"],
    ["ssl_kernel_tls", "no"],
    ["ssl_min_version", tls_version_names[tls.min_version]!],
  ];
}

function replicationStats(settings: Settings): Array<[string, string]> {
  const r = settings.replication;
  return [
    ["replication_peer", r.peer_host ?? "NULL"],
    ["replication_listen_port", String(r.listen_port)],
    ["replication_connect_port", String(r.connect_port)],
    ["replication_queue_items_max", String(r.queue_items_max)],
    ["replication_queue_bytes_max", String(r.queue_bytes_max)],
    ["replication_tls", yesNo(r.tls.cert_path !== null)],
    ["replication_tls_ca", r.tls.ca_path ?? "NULL"],
    ["replication_tls_pin", r.tls.pin_sha256 ?? "NULL"],
    ["metrics_port", String(settings.metrics_port)],
    ["metrics_listen", settings.metrics_listen ?? "NULL"],
  ];
}

/** `stats settings` lines as [name, value], in memcached 1.6's order, then repcached-bun's. */
export function settingsStats(settings: Settings, live: Partial<SettingsLive> = {}): Array<[string, string]> {
  const now: SettingsLive = {
    verbosity: live.verbosity ?? settings.verbosity,
    oldest_live_s: live.oldest_live_s ?? 0,
    stats_detail_enabled: live.stats_detail_enabled ?? settings.stats_detail_enabled,
    track_sizes: live.track_sizes ?? settings.extras.track_sizes,
  };
  return [...connectionStats(settings, now), ...extrasStats(settings), ...replicationStats(settings),
    ...warningStats(settings)];
}

/** The start-up warnings (flags accepted without effect, and the like), as printed at start. */
function warningStats(settings: Settings): Array<[string, string]> {
  return [["warnings", String(settings.warnings.length)],
    ...settings.warnings.map((text, at): [string, string] => [`warning_${at + 1}`, text])];
}
