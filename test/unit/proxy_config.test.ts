// The magent command line, without starting anything: magent 0.5's flags, getopt syntax, errors
// that name the flag, and the long options of ours.
import { describe, expect, test } from "bun:test";
import { exit_code_usage, parseArgs, serverParse, settingsDefault, usageText } from "../../src/proxy/config.ts";

function run(argv: string[]) {
  const result = parseArgs(argv);
  if (result.kind !== "run") throw new Error(`expected run, got ${JSON.stringify(result)}`);
  return result.settings;
}

function error(argv: string[]): string {
  const result = parseArgs(argv);
  if (result.kind !== "error") throw new Error(`expected an error, got ${result.kind}`);
  expect(result.exit_code).toBe(exit_code_usage);
  return result.message;
}

describe("magent command line", () => {
  test("the seed's command line", () => {
    const s = run("-u root -n 51200 -l 127.0.0.1 -p 12000 -s 127.0.0.1:11211 -s 127.0.0.1:11212 -b 127.0.0.1:11213".split(" "));
    expect(s.user).toBe("root");
    expect(s.connections_max).toBe(51200);
    expect(s.listen_host).toBe("127.0.0.1");
    expect(s.tcp_port).toBe(12000);
    expect(s.servers).toEqual([{ host: "127.0.0.1", port: 11211 }, { host: "127.0.0.1", port: 11212 }]);
    expect(s.backups).toEqual([{ host: "127.0.0.1", port: 11213 }]);
    expect(s.foreground).toBe(false); // magent goes to the background unless -D
  });

  test("defaults are magent's", () => {
    const s = run(["-s", "10.0.0.1"]);
    const d = settingsDefault();
    expect(s.tcp_port).toBe(11211);
    expect(s.listen_host).toBe("0.0.0.0");
    expect(s.connections_max).toBe(4096);
    expect(s.pool_connections_max).toBe(20);
    expect(s.servers).toEqual([{ host: "10.0.0.1", port: 11211 }]);
    expect(s.backup_fill).toBe(d.backup_fill);
    expect(s.backup_fill).toBe(true);
  });

  test("a down server is probed within a few hundred ms by default (issue 10: it warms up at once)", () => {
    const s = run(["-s", "10.0.0.1"]);
    expect(s.retry_min_ms).toBe(100);
    expect(s.retry_max_ms).toBe(250);
    expect(s.retry_min_ms).toBeLessThanOrEqual(s.retry_max_ms);
  });

  test("getopt syntax: clusters, attached values, -k accepted, -v repeated", () => {
    const s = run(["-Dkvv", "-p12000", "-s127.0.0.1:1", "-i", "4", "-f", "/tmp/m.sock"]);
    expect(s.foreground).toBe(true);
    expect(s.verbosity).toBe(2);
    expect(s.tcp_port).toBe(12000);
    expect(s.pool_connections_max).toBe(4);
    expect(s.unix_socket_path).toBe("/tmp/m.sock");
  });

  test("long options of ours", () => {
    const s = run(["-s", "h:1", "--connect-timeout", "300", "--request-timeout=700", "--retry-min", "10",
      "--retry-max", "20", "--no-backup-fill"]);
    expect(s.connect_timeout_ms).toBe(300);
    expect(s.request_timeout_ms).toBe(700);
    expect(s.retry_min_ms).toBe(10);
    expect(s.retry_max_ms).toBe(20);
    expect(s.backup_fill).toBe(false);
  });

  test("-h prints usage", () => {
    const result = parseArgs(["-h"]);
    expect(result.kind).toBe("help");
    expect(usageText()).toContain("-s ip:port");
    expect(usageText()).toContain("memcached agent v0.5");
  });

  test("errors name the flag", () => {
    expect(error([])).toContain('please provide -s "ip:port" argument');
    expect(error(["-s", "h:1", "-p", "abc"])).toContain("option -p");
    expect(error(["-s", "h:1", "-p", "70000"])).toContain("out of range");
    expect(error(["-s", "h:99999"])).toContain("option -s");
    expect(error(["-s", "bad host:1"])).toContain("option -s");
    expect(error(["-s", "h:1", "-n"])).toContain("needs a value");
    expect(error(["-s", "h:1", "-x"])).toContain("unknown option");
    expect(error(["-s", "h:1", "--bogus"])).toContain("unknown option");
    expect(error(["-s", "h:1", "-s", "h:1"])).toContain("given twice");
    expect(error(["-s", "h:1", "-p", "0"])).toContain("no -f socket");
    expect(error(["-s", "h:1", "--retry-min", "50", "--retry-max", "10"])).toContain("--retry-min");
    expect(error(["-s", "h:1", "stray"])).toContain("unexpected argument");
  });

  test("server addresses", () => {
    expect(serverParse("-s", "cache-1.example:11300")).toEqual({ host: "cache-1.example", port: 11300 });
    expect(serverParse("-s", "[::1]:11300")).toEqual({ host: "::1", port: 11300 });
    expect(serverParse("-s", "[::1]")).toEqual({ host: "::1", port: 11211 });
  });
});
