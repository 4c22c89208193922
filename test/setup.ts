// Test preload: everything the suite needs, installed by the project itself.
// - the native store (zig build, when missing or stale);
// - Debian's real peers and clients (memcached, libmemcached-tools, python3-pymemcache, ...),
//   installed with apt-get when missing and we are root. Without them the suite fails loudly.
import { existsSync } from "node:fs";
import { nativeLibraryPath } from "../src/native/build.ts";

const debian_packages: Array<[path: string, pkg: string]> = [
  ["/usr/bin/memcached", "memcached"],
  ["/usr/bin/memcslap", "libmemcached-tools"],
  ["/usr/lib/python3/dist-packages/pymemcache", "python3-pymemcache"],
  ["/usr/share/perl5/Cache/Memcached.pm", "libcache-memcached-perl"],
  ["/usr/lib/python3/dist-packages/pylibmc", "python3-pylibmc"],
  ["/usr/sbin/yrmcdsd", "yrmcds"],
  ["/usr/bin/openssl", "openssl"], // throwaway CAs and certificates for the TLS tests
  ["/usr/lib/x86_64-linux-gnu/sasl2/libplain.so", "libsasl2-modules"], // PLAIN for memcached -S (binary_compat)
  ["/usr/sbin/nutcracker", "nutcracker"], // twemproxy: scale-out in front of our nodes (nutcracker.test.ts)
  ["/usr/bin/systemd-analyze", "systemd"], // systemd-analyze verify of ops/systemd's units
  ["/usr/bin/promtool", "prometheus"], // promtool check metrics: the /metrics pages (metrics.test.ts)
];

function installMissing(): void {
  const missing = debian_packages.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !Bun.which("apt-get")) {
    throw new Error(`missing Debian packages ${missing.join(" ")}: install them (apt-get install -y ${missing.join(" ")})`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = Bun.spawnSync(["apt-get", "update", "-qq"], { env, stdout: "ignore", stderr: "pipe" });
  if (update.exitCode !== 0) throw new Error(`apt-get update failed: ${update.stderr.toString()}`);
  const install = Bun.spawnSync(["apt-get", "install", "-y", "-qq", ...missing], { env, stdout: "ignore", stderr: "pipe" });
  if (install.exitCode !== 0) throw new Error(`apt-get install ${missing.join(" ")} failed: ${install.stderr.toString()}`);
}

installMissing();
nativeLibraryPath();
