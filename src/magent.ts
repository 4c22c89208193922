// `bun run magent [flags]`: a memcached proxy compatible with magent 0.5 (see src/proxy/).
//
// Like magent, it goes to the background unless -D is given: Bun cannot fork, so the foreground
// process starts a detached copy of itself, waits (bounded) until that copy listens, and exits 0 —
// or prints the copy's error and exits 1. Supervisors (systemd, containers, tests) pass -D.

import { parseArgs, type ProxySettings } from "./proxy/config.ts";
import { Proxy } from "./proxy/proxy.ts";

const daemon_child_env = "MAGENT_BUN_DAEMON_CHILD";
const daemon_ready_line = "ready";
const daemon_start_ms_max = 10_000;

/** Runs a detached copy of this command and returns once it reports that it listens. */
async function daemonize(): Promise<never> {
  const child = Bun.spawn([process.execPath, ...process.argv.slice(1)], {
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

function dropPrivileges(settings: ProxySettings): void {
  if (process.getuid?.() !== 0) return;
  try {
    if (settings.group !== null) process.setgid?.(settings.group);
    if (settings.user !== null && settings.user !== "root") process.setuid?.(settings.user);
  } catch (error) {
    console.error(`magent: can't run as ${settings.user}: ${String(error)}`);
    process.exit(71);
  }
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
  if (!settings.foreground && !process.env[daemon_child_env]) await daemonize();
  const proxy = new Proxy(settings);
  try {
    proxy.start();
  } catch (error) {
    const message = `magent: failed to listen: ${String(error)}`;
    report(message);
    console.error(message);
    process.exit(71);
  }
  dropPrivileges(settings);
  const where = settings.tcp_port !== 0 ? `${settings.listen_host}:${settings.tcp_port}` : settings.unix_socket_path;
  proxy.log(1, `listening on ${where}; servers ${settings.servers.map((s) => `${s.host}:${s.port}`).join(" ")}`);
  report(daemon_ready_line);
  const stop = (signal: string) => {
    proxy.log(1, `signal ${signal}: stopping`);
    proxy.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

await main(process.argv.slice(2));
