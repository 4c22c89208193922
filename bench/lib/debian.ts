// Debian packages the bench drives (memcached for the load comparison, nutcracker for the proxy
// part), installed as test/setup.ts does: with apt-get when the program is missing and we are root.
//
// Contract: `ensureDebianPackage` never throws; null when `path` is there (already, or after the
// install), else one line saying why not and the command that would fix it. apt-get is bounded.
import { existsSync } from "node:fs";
import { oneLine } from "./table.ts";

const apt_timeout_ms = 5 * 60 * 1000;
const apt_error_chars_max = 300;

export interface InstallHost {
  as_root: boolean;
  have_apt_get: boolean;
}

export const install_host_current = (): InstallHost => ({
  as_root: process.getuid?.() === 0,
  have_apt_get: Bun.which("apt-get") !== null,
});

export function ensureDebianPackage(
  path: string, pkg: string, say: (line: string) => void, host: InstallHost = install_host_current(),
): string | null {
  if (existsSync(path)) return null;
  if (!host.as_root || !host.have_apt_get) {
    return `${path} is missing and cannot be installed here (needs root and apt-get): run \`apt-get install -y ${pkg}\``;
  }
  say(`${path} is missing: apt-get install -y ${pkg} …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (argv: string[]) => Bun.spawnSync(argv, { env, stdout: "pipe", stderr: "pipe", timeout: apt_timeout_ms });
  try {
    const update = run(["apt-get", "update", "-qq"]);
    const install = update.exitCode === 0 ? run(["apt-get", "install", "-y", "-qq", pkg]) : update;
    if (install.exitCode === 0 && existsSync(path)) return null;
    return `apt-get install -y ${pkg} failed: ${oneLine(install.stderr.toString(), apt_error_chars_max) || `${path} still missing`}`;
  } catch (error) {
    return `apt-get install -y ${pkg} failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}
