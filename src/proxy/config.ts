// config: the command line of `bun run magent`, magent 0.5's flags plus a few long ones of ours.
//
// One flag table (`flags`) drives parsing and `-h`. Settings flow one way: defaults
// (settingsDefault) → per-flag checks while the options are read → cross-flag checks → plain values
// for the proxy. parseArgs is pure and never throws for bad input: it returns { kind: "error" }
// naming the flag, before anything is allocated. Syntax is getopt's (src/options.ts, shared with
// the server and bench): clustered short flags (-Dk),
// attached values (-p12000, -s127.0.0.1:11211), and `--name value` / `--name=value` for long ones.
//
// Where we differ from magent 0.5, on purpose:
// - ketama is the only placement (libmemcached-compatible); -k is accepted and changes nothing.
//   magent without -k placed keys by a plain hash modulo the server count;
// - -i bounds the pipelined connections kept open to each server (magent: idle ones kept);
// - numbers are strict (digits only, range-checked), where magent used atoi.

import type { ServerAddress } from "./ketama.ts";
import { optionsRead, type OptionSpec } from "../options.ts";

export const program_name = "magent";
/** The magent version we speak as: `stats` and `version` say `memcached agent v0.5`. */
export const magent_version = "0.5";
export const agent_line = `memcached agent v${magent_version}`;
export const exit_code_usage = 64;

export const port_default = 11211;
export const port_max = 65535;
export const connections_max_limit = 1 << 20;
export const pool_connections_max_limit = 1024;
export const servers_max = 1024;
export const timeout_ms_max = 3_600_000;

export interface ProxySettings {
  tcp_port: number; // -p; 0 = no TCP listener
  listen_host: string; // -l
  servers: ServerAddress[]; // -s, in order: ketama names them "host:port"
  backups: ServerAddress[]; // -b
  connections_max: number; // -n: client connections
  pool_connections_max: number; // -i: upstream connections per server
  unix_socket_path: string | null; // -f
  foreground: boolean; // -D
  verbosity: number; // -v, repeatable
  user: string | null; // -u
  group: string | null; // -g
  connect_timeout_ms: number;
  request_timeout_ms: number;
  retry_min_ms: number; // first probe of a down server after this
  retry_max_ms: number; // probes back off (doubling) up to this interval
  backup_fill: boolean; // a main server's miss is looked up on the backup and written back
  metrics_port: number; // --metrics-port: Prometheus /metrics over HTTP; 0 = off
  metrics_listen: string | null; // --metrics-listen; null = the -l address
}

export type ParseResult =
  | { kind: "run"; settings: ProxySettings }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string; exit_code: number };

export function settingsDefault(): ProxySettings {
  return {
    tcp_port: 11211, // magent's default
    listen_host: "0.0.0.0",
    servers: [],
    backups: [],
    connections_max: 4096, // magent's default
    pool_connections_max: 20, // magent's default
    unix_socket_path: null,
    foreground: false, // magent goes to the background unless -D
    verbosity: 0,
    user: null,
    group: null,
    connect_timeout_ms: 1000,
    request_timeout_ms: 2000,
    // A down server is probed (connect + `version`) after 100 ms, 200 ms, then every 250 ms: a
    // restarted server is back, and warmed by the next reads, within a few hundred ms. A refused
    // or unanswered probe costs the proxy one connect, so there is little to save by waiting longer.
    retry_min_ms: 100,
    retry_max_ms: 250,
    backup_fill: true,
    metrics_port: 0, // off
    metrics_listen: null,
  };
}

class UsageError extends Error {}

function fail(opt: string, detail: string): never {
  throw new UsageError(`${program_name}: option ${opt}: ${detail}`);
}

/** A count: decimal digits only, min..max. */
export function countParse(opt: string, text: string, min: number, max: number): number {
  if (!/^[0-9]{1,15}$/.test(text)) fail(opt, `'${text}' is not a number`);
  const value = Number(text);
  if (value < min || value > max) fail(opt, `'${text}' is out of range (${min}..${max})`);
  return value;
}

/** "host:port" or "host" (port 11211), as magent's -s/-b. IPv6 literals go in brackets. */
export function serverParse(opt: string, text: string): ServerAddress {
  let host = text;
  let port = port_default;
  const bracket = /^\[([0-9A-Fa-f:.]+)\](?::([0-9]+))?$/.exec(text);
  if (bracket !== null) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = countParse(opt, bracket[2], 1, port_max);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = countParse(opt, text.slice(colon + 1), 1, port_max);
    }
    if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(host)) {
      fail(opt, `'${text}' is not ip:port (or hostname:port)`);
    }
  }
  return { host, port };
}

export interface Flag extends OptionSpec {
  short: string | null;
  long: string | null;
  value: string | null; // placeholder of the value; null: takes none
  help: string;
  apply: (s: ProxySettings, value: string, opt: string) => void;
}

type FlagRow = Omit<Flag, "takes">;

const flag_rows: readonly FlagRow[] = [
  { short: "h", long: "help", value: null, help: "this message", apply: () => {} },
  { short: "u", long: null, value: "uid", help: "run as this user (after binding)", apply: (s, v) => void (s.user = v) },
  { short: "g", long: null, value: "gid", help: "run as this group (after binding)", apply: (s, v) => void (s.group = v) },
  {
    short: "p", long: null, value: "port", help: "port, default is 11211. (0 to disable tcp support)",
    apply: (s, v, o) => void (s.tcp_port = countParse(o, v, 0, port_max)),
  },
  {
    short: "s", long: null, value: "ip:port", help: "set memcached server ip and port (repeatable)",
    apply: (s, v, o) => void s.servers.push(serverParse(o, v)),
  },
  {
    short: "b", long: null, value: "ip:port", help: "set backup memcached server ip and port (repeatable)",
    apply: (s, v, o) => void s.backups.push(serverParse(o, v)),
  },
  {
    short: "l", long: null, value: "ip", help: "local bind ip address, default is 0.0.0.0",
    apply: (s, v, o) => {
      if (v === "" || /[\s,]/.test(v)) fail(o, `'${v}' is not an address`);
      s.listen_host = v;
    },
  },
  {
    short: "n", long: null, value: "number", help: "set max connections, default is 4096",
    apply: (s, v, o) => void (s.connections_max = countParse(o, v, 1, connections_max_limit)),
  },
  { short: "D", long: null, value: null, help: "don't go to background", apply: (s) => void (s.foreground = true) },
  {
    short: "k", long: null, value: null, help: "use ketama key allocation algorithm (always on: the only placement)",
    apply: () => {},
  },
  {
    short: "f", long: null, value: "file", help: "unix socket path to listen on. default is off",
    apply: (s, v, o) => {
      if (v === "") fail(o, "the socket path is empty");
      s.unix_socket_path = v;
    },
  },
  {
    short: "i", long: null, value: "number",
    help: "set max keep alive connections for one memcached server, default is 20",
    apply: (s, v, o) => void (s.pool_connections_max = countParse(o, v, 1, pool_connections_max_limit)),
  },
  { short: "v", long: null, value: null, help: "verbose (repeat for more)", apply: (s) => void (s.verbosity = Math.min(s.verbosity + 1, 3)) },
  {
    short: null, long: "connect-timeout", value: "ms", help: "give up connecting to a server after ms, default 1000",
    apply: (s, v, o) => void (s.connect_timeout_ms = countParse(o, v, 1, timeout_ms_max)),
  },
  {
    short: null, long: "request-timeout", value: "ms", help: "a server that owes a reply for ms is down, default 2000",
    apply: (s, v, o) => void (s.request_timeout_ms = countParse(o, v, 1, timeout_ms_max)),
  },
  {
    short: null, long: "retry-min", value: "ms", help: "first probe of a down server after ms, default 100",
    apply: (s, v, o) => void (s.retry_min_ms = countParse(o, v, 1, timeout_ms_max)),
  },
  {
    short: null, long: "retry-max", value: "ms", help: "probes of a down server back off up to every ms, default 250",
    apply: (s, v, o) => void (s.retry_max_ms = countParse(o, v, 1, timeout_ms_max)),
  },
  {
    short: null, long: "no-backup-fill", value: null,
    help: "serve a main server's misses as misses (magent 0.5), not from the backup",
    apply: (s) => void (s.backup_fill = false),
  },
  {
    short: null, long: "metrics-port", value: "port", help: "serve Prometheus metrics at /metrics on this port, default 0 (off)",
    apply: (s, v, o) => void (s.metrics_port = countParse(o, v, 0, port_max)),
  },
  {
    short: null, long: "metrics-listen", value: "ip", help: "address of the metrics listener, default the -l address",
    apply: (s, v, o) => {
      if (v === "" || /[\s,]/.test(v)) fail(o, `'${v}' is not an address`);
      s.metrics_listen = v;
    },
  },
];

export const flags: readonly Flag[] = flag_rows.map((row) => ({ ...row, takes: row.value === null ? "none" : "required" }));

export function usageText(): string {
  const lines = [`${agent_line} (repcached-bun)`, "Usage:"];
  for (const f of flags) {
    const name = f.short !== null ? `-${f.short}` : `--${f.long}`;
    lines.push(`  ${name}${f.value !== null ? ` ${f.value}` : ""}, ${f.help}`);
  }
  return lines.join("\n");
}

/** Reads argv into settings (src/options.ts splits it; the words are ours); true when -h was given. */
function readOptions(argv: readonly string[], s: ProxySettings): boolean {
  let help = false;
  for (const event of optionsRead(argv, flags, { long_prefixes: false })) {
    if (event.kind === "positional") {
      // "--" itself is no magent option: it is reported as one, as before.
      fail(event.after_dashes ? "--" : event.arg, event.after_dashes ? "unknown option" : "unexpected argument (options start with -)");
    }
    if (event.kind === "error") {
      const error = event.error;
      switch (error.reason) {
        case "unknown-short":
          fail(`-${error.letter}`, "unknown option");
        case "unknown-long":
        case "ambiguous":
          fail(`--${error.name}`, "unknown option");
        case "missing-value":
          fail(error.opt, `needs a value (${error.spec.value})`);
        case "unexpected-value":
          fail(error.opt, "takes no value");
      }
    }
    if (event.kind !== "option") continue;
    if (event.spec.short === "h") help = true;
    event.spec.apply(s, event.value ?? "", event.opt);
  }
  return help;
}

function crossCheck(s: ProxySettings): void {
  if (s.servers.length === 0) throw new UsageError(`please provide -s "ip:port" argument\n\n${usageText()}`);
  if (s.servers.length > servers_max) fail("-s", `at most ${servers_max} servers`);
  if (s.backups.length > servers_max) fail("-b", `at most ${servers_max} backup servers`);
  if (s.tcp_port === 0 && s.unix_socket_path === null) fail("-p", "0 disables TCP and no -f socket is given");
  if (s.retry_min_ms > s.retry_max_ms) fail("--retry-min", "is above --retry-max");
  if (s.metrics_listen !== null && s.metrics_port === 0) fail("--metrics-listen", "needs --metrics-port");
  const seen = new Set<string>();
  for (const server of s.servers) {
    const name = `${server.host}:${server.port}`;
    if (seen.has(name)) fail("-s", `${name} is given twice`);
    seen.add(name);
  }
}

export function parseArgs(argv: readonly string[]): ParseResult {
  const settings = settingsDefault();
  try {
    if (readOptions(argv, settings)) return { kind: "help", text: usageText() };
    crossCheck(settings);
  } catch (error) {
    if (error instanceof UsageError) return { kind: "error", message: error.message, exit_code: exit_code_usage };
    throw error;
  }
  return { kind: "run", settings };
}
