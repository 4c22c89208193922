// `bun run magent [flags]`: a memcached proxy compatible with magent 0.5 (see src/proxy/).
//
//   bun run magent -u root -n 51200 -l 127.0.0.1 -p 12000 -s 127.0.0.1:11211 -s 127.0.0.1:11212 -b 127.0.0.1:11213
//
// Like magent, it goes to the background unless -D is given: Bun cannot fork, so the foreground
// process starts a detached copy of itself, waits (bounded) until that copy listens, and exits 0 —
// or prints the copy's error and exits 1. Supervisors (systemd, containers, tests) pass -D.
//
// What it does, and where it differs from magent 0.5 (decisions, each also at its code):
// - Placement is ketama, compatible with libmemcached's weighted ketama (pylibmc behavior
//   "ketama_weighted"), always: -k is accepted and changes nothing (magent's default was modulo).
//   A down server's keys go to their backup (ketama over the -b list), never to another server.
// - Every text command our server speaks is routed: get/gets/gat/gats split by server and answered
//   in request key order; writes to the key's server plus a copy to its backup (add/replace/cas
//   reach the backup as `set` once the main server stored them); flush_all and verbosity to every
//   server; version and stats answered here (stats: magent's lines, then STAT counters, END).
// - magent's flaw fixed: a main server's miss is looked up on the key's backup, ALWAYS (a restart
//   between two health checks would escape a "newly back" window); a hit is served and written back
//   with `add` keeping flags and the remaining TTL (`mg <key> v f t` where the backup speaks
//   memcached 1.6's meta protocol; exptime 0 where it does not, e.g. our own server).
//   --no-backup-fill restores magent's behaviour. Cost: one backup round trip per main-server miss.
//   Limits: a value the backup holds but the main server lost since a write the backup missed
//   (backup down at the time) can come back stale; a `gets` answered from the backup carries the
//   backup's cas (a later cas on the main server answers EXISTS: safe).
// - Upstream connections are pipelined and pooled (-i: at most that many per server); a client's
//   requests to one server travel one connection, so they are applied in the order sent.
// - A dead server (connect error/timeout, request timeout, connection lost mid-request) is marked
//   down; it is retried with a backoff and a `version` probe. A write whose fate is unknown is
//   answered SERVER_ERROR; one that never left the proxy gets the backup's answer instead.
// - Bad input is answered like memcached (ERROR, CLIENT_ERROR ...), never magent's "UNSUPPORTED
//   COMMAND"; `version` answers `VERSION memcached agent v0.5` as magent does.

import { parseArgs, type ProxySettings } from "./proxy/config.ts";
import { ProxyServer } from "./proxy/proxy.ts";
import { startProxyMetrics } from "./metrics/proxy_endpoint.ts";
import { identityAssume, identityPlan, exit_code_os_error, type IdentityPlan } from "./privileges.ts";
import { selfCommand } from "./self_command.ts";

const daemon_child_env = "MAGENT_BUN_DAEMON_CHILD";
const daemon_ready_line = "ready";
const daemon_start_ms_max = 10_000;

/** Runs a detached copy of this command and returns once it reports that it listens. */
async function daemonize(): Promise<never> {
  const child = Bun.spawn(selfCommand(), {
    env: { ...process.env, [daemon_child_env]: "1" },
    stdio: ["ignore", "pipe", "ignore"],
    detached: true,
  });
  const reader = child.stdout.getReader();
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), daemon_start_ms_max));
  let text = "";
  while (!text.includes("\n")) {
    const chunk = await Promise.race([reader.read(), timeout]);
    if (chunk === null || chunk.done) break;
    text += new TextDecoder().decode(chunk.value);
  }
  const line = text.split("\n")[0] ?? "";
  if (line === daemon_ready_line) {
    child.unref();
    process.exit(0);
  }
  console.error(line !== "" ? line : "magent: the background process did not start");
  process.exit(1);
}

/**
 * -u: the user's passwd entry, looked up before binding (src/privileges.ts: memcached's messages).
 * Without -u magent stays who it is, root included (magent 0.5 did), so root gets no warning.
 */
function identityCheck(settings: ProxySettings): IdentityPlan {
  if (settings.user === null) return { kind: "stay", warning: null };
  const plan = identityPlan(settings.user, process.getuid?.() ?? null);
  if (plan.kind === "error") {
    console.error(`magent: ${plan.message}`);
    process.exit(plan.exit_code);
  }
  if (plan.kind === "stay" && plan.warning !== null) console.error(`magent: ${plan.warning}`);
  return plan;
}

/** -u (and -g: a group name or number instead of the user's own gid), once bound. */
function dropPrivileges(plan: IdentityPlan, settings: ProxySettings): void {
  const group = settings.group === null ? null : /^\d+$/.test(settings.group) ? Number(settings.group) : settings.group;
  let failure: string | null = null;
  if (plan.kind === "switch") {
    failure = identityAssume(plan.identity, group ?? plan.identity.gid);
  } else if (group !== null && process.getuid?.() === 0) {
    try {
      process.setgid!(group); // -g alone (POSIX-only in Node's types; always there on Linux): only the group changes, as in magent
    } catch (error) {
      failure = `can't switch to group ${settings.group}: ${(error as Error).message}`;
    }
  }
  if (failure === null) return;
  console.error(`magent: ${failure}`);
  process.exit(exit_code_os_error);
}

/** The daemon's report to its parent (stdout is a pipe the parent reads once). */
function report(line: string): void {
  if (process.env[daemon_child_env]) process.stdout.write(`${line}\n`);
}

async function main(argv: string[]): Promise<void> {
  const parsed = parseArgs(argv);
  if (parsed.kind === "error") {
    console.error(parsed.message);
    process.exit(parsed.exit_code);
  }
  if (parsed.kind === "help") {
    console.log(parsed.text);
    process.exit(0);
  }
  const settings = parsed.settings;
  const identity = identityCheck(settings);
  if (!settings.foreground && !process.env[daemon_child_env]) await daemonize();
  const proxy = new ProxyServer(settings);
  try {
    proxy.start();
  } catch (error) {
    const message = `magent: failed to listen: ${String(error)}`;
    report(message);
    console.error(message);
    process.exit(71);
  }
  const metrics = startProxyMetrics(proxy, settings, report);
  dropPrivileges(identity, settings);
  const where = settings.tcp_port !== 0 ? `${settings.listen_host}:${settings.tcp_port}` : settings.unix_socket_path;
  proxy.log(1, `listening on ${where}; servers ${settings.servers.map((s) => `${s.host}:${s.port}`).join(" ")}`);
  report(daemon_ready_line);
  const stop = (signal: string) => {
    proxy.log(1, `signal ${signal}: stopping`);
    metrics?.stop();
    proxy.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

await main(process.argv.slice(2));
