// Debian's nutcracker (twemproxy) on 127.0.0.1 for the tests: one pool, md5 + ketama, its YAML written
// into a fresh temporary directory (removed at stop), its stats port on a free port. Stopped by PID.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./procs.ts";

export const nutcracker_path = "/usr/sbin/nutcracker";
const stop_wait_ms = 5_000;

export interface NutcrackerServer {
  address: string;
  /** The ketama name: keys follow names, so an entry may change address without moving keys. */
  name?: string;
}

export interface NutcrackerOptions {
  /** auto_eject_hosts with this server_failure_limit (and a short server_retry_timeout); off when absent. */
  eject_after_failures?: number;
  retry_timeout_ms?: number;
  timeout_ms?: number;
}

export interface Nutcracker {
  port: number;
  config: string;
  output(): string;
  stop(): Promise<void>;
}

/** The YAML of one pool; pure. */
export function nutcrackerYaml(port: number, servers: NutcrackerServer[], opts: NutcrackerOptions = {}): string {
  const lines = [
    "pool:",
    `  listen: 127.0.0.1:${port}`,
    "  hash: md5",
    "  distribution: ketama",
    `  timeout: ${opts.timeout_ms ?? 1000}`,
    "  preconnect: false",
  ];
  if (opts.eject_after_failures !== undefined) {
    lines.push("  auto_eject_hosts: true", `  server_failure_limit: ${opts.eject_after_failures}`);
    lines.push(`  server_retry_timeout: ${opts.retry_timeout_ms ?? 30_000}`);
  }
  lines.push("  servers:", ...servers.map((s) => `    - ${s.address}:1${s.name === undefined ? "" : ` ${s.name}`}`));
  return lines.join("\n") + "\n";
}

export async function startNutcracker(servers: NutcrackerServer[], opts: NutcrackerOptions = {}): Promise<Nutcracker> {
  const dir = mkdtempSync(join(tmpdir(), "nutcracker-"));
  const port = await freePort();
  const config = nutcrackerYaml(port, servers, opts);
  writeFileSync(join(dir, "nutcracker.yml"), config);
  const cmd = [
    nutcracker_path, "-c", join(dir, "nutcracker.yml"), "-s", String(await freePort()), "-a", "127.0.0.1",
    "-o", join(dir, "nutcracker.log"), "-p", join(dir, "nutcracker.pid"), "-v", "5",
  ];
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let text = "";
  const output = () => {
    try {
      return text + readFileSync(join(dir, "nutcracker.log"), "latin1");
    } catch {
      return text;
    }
  };
  void new Response(proc.stderr).text().then((t) => (text += t));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), stop_wait_ms);
    await proc.exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port);
  } catch (error) {
    const said = output();
    await stop();
    throw new Error(`${cmd.join(" ")} did not start: ${String(error)}\n${said}`);
  }
  return { port, config, output, stop };
}
