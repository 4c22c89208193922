// The operations files (ops/systemd) and the LICENSE, checked against the real tools:
// - `systemd-analyze verify` (Debian's systemd 252) of repcached@.service and magent@.service in a
//   throwaway root laid out as the README's "Running in production" installs them: the units
//   verbatim in /etc/systemd/system, the example env files in /etc/repcached, the single-file
//   binaries built by scripts/build-binaries.ts in /usr/local/bin, systemd's own units beside.
//   It must print nothing and exit 0; a unit with a misspelt key must not pass the same check.
// - the example env files' flags are accepted by the server's and the proxy's parsers, and the
//   binary started with them (addresses and ports moved to 127.0.0.1's free ones) as an
//   unprivileged user, with a private TMPDIR, serves;
// - `-i` prints the LICENSE file's text, from the checkout and from the binary in an empty directory.
// Every process is stopped by PID; every wait has a deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun_path, freePort, project_root, RawClient, waitForPort } from "../helpers/procs.ts";
import { parseArgs as serverParseArgs } from "../../src/config.ts";
import { parseArgs as proxyParseArgs } from "../../src/proxy/config.ts";

const systemd_analyze = "/usr/bin/systemd-analyze";
const ops_dir = join(project_root, "ops", "systemd");
const build_wait_ms = 120_000;
const command_wait_ms = 60_000;
const test_wait_ms = 60_000;
const nobody_id = 65534;

let root = "";
const bin = () => join(root, "usr", "local", "bin");

/** The one `NAME=value` line of an env file, split into words as systemd splits an unquoted $NAME. */
function envWords(file: string, name: string): string[] {
  const line = readFileSync(join(ops_dir, file), "utf8").split("\n").find((l) => l.startsWith(`${name}=`));
  if (line === undefined) throw new Error(`${file} has no ${name}= line`);
  return line.slice(name.length + 1).trim().split(/\s+/);
}

function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { code: number; out: string } {
  const result = Bun.spawnSync(cmd, { ...opts, stdout: "pipe", stderr: "pipe", timeout: command_wait_ms });
  return { code: result.exitCode ?? -1, out: result.stdout.toString() + result.stderr.toString() };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "repcached-ops-"));
  chmodSync(root, 0o755); // the unprivileged start below runs the binary from here
  mkdirSync(bin(), { recursive: true });
  const built = run([bun_path, join(project_root, "scripts", "build-binaries.ts"), "--outdir", bin()], { cwd: project_root });
  if (built.code !== 0) throw new Error(`build-binaries failed (${built.code}): ${built.out}`);
  mkdirSync(join(root, "etc", "systemd", "system"), { recursive: true });
  for (const unit of ["repcached@.service", "magent@.service"]) cpSync(join(ops_dir, unit), join(root, "etc", "systemd", "system", unit));
  mkdirSync(join(root, "etc", "repcached"), { recursive: true });
  cpSync(join(ops_dir, "repcached.env"), join(root, "etc", "repcached", "a.env"));
  cpSync(join(ops_dir, "magent.env"), join(root, "etc", "repcached", "magent-pair1.env"));
  // systemd's own units (sysinit.target, network-online.target, …) that ours order themselves after.
  cpSync("/usr/lib/systemd/system", join(root, "usr", "lib", "systemd", "system"), { recursive: true, verbatimSymlinks: true });
}, build_wait_ms);

afterAll(() => {
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

describe("systemd units", () => {
  test("systemd-analyze verify: repcached@a.service and magent@pair1.service, no warning", () => {
    const { code, out } = run([systemd_analyze, "verify", "--man=no", `--root=${root}`, "repcached@a.service", "magent@pair1.service"]);
    expect(out).toBe("");
    expect(code).toBe(0);
  }, test_wait_ms);

  test("the same check fails a unit with a misspelt key and one whose binary is missing", () => {
    const units = join(root, "etc", "systemd", "system");
    const text = readFileSync(join(ops_dir, "repcached@.service"), "utf8");
    writeFileSync(join(units, "typo@.service"), text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"));
    writeFileSync(join(units, "nobinary@.service"), text.replace("ExecStart=/usr/local/bin/repcached ", "ExecStart=/usr/local/bin/repcached-missing "));
    try {
      const typo = run([systemd_analyze, "verify", "--man=no", `--root=${root}`, "typo@a.service"]);
      expect(typo.out).toContain("Unknown key 'NoNewPrivilege'");
      const missing = run([systemd_analyze, "verify", "--man=no", `--root=${root}`, "nobinary@a.service"]);
      expect(missing.out).toContain("/usr/local/bin/repcached-missing is not executable");
      expect(missing.code).not.toBe(0);
    } finally {
      rmSync(join(units, "typo@.service"));
      rmSync(join(units, "nobinary@.service"));
    }
  }, test_wait_ms);

  test("the units run the binaries unprivileged, restart on failure but not on a usage error", () => {
    for (const unit of ["repcached@.service", "magent@.service"]) {
      const text = readFileSync(join(ops_dir, unit), "utf8");
      expect(text).toMatch(/^DynamicUser=yes$/m);
      expect(text).toMatch(/^NoNewPrivileges=yes$/m);
      expect(text).toMatch(/^Restart=on-failure$/m);
      expect(text).toMatch(/^RestartPreventExitStatus=64\b/m);
      expect(text).not.toMatch(/^MemoryDenyWriteExecute=yes/m); // Bun's JIT needs write+exec memory
    }
  });
});

describe("the example env files", () => {
  test("their flags are accepted by the server's and the proxy's parsers", () => {
    const server = serverParseArgs(envWords("repcached.env", "REPCACHED_OPTS"));
    expect(server.kind).toBe("run");
    const proxy = proxyParseArgs(["-D", ...envWords("magent.env", "MAGENT_OPTS")]);
    expect(proxy.kind).toBe("run");
  });

  test("the binary started with repcached.env's flags as an unprivileged user serves", async () => {
    const port = await freePort();
    const words = envWords("repcached.env", "REPCACHED_OPTS");
    const moved = words.map((word, i) => {
      const flag = words[i - 1];
      if (flag === "-l") return "127.0.0.1";
      if (flag === "-p") return String(port);
      return word;
    });
    const x_at = moved.indexOf("-X");
    moved[x_at + 1] = String(await freePort());
    const private_tmp = mkdtempSync(join(tmpdir(), "repcached-ops-tmp-"));
    chownSync(private_tmp, nobody_id, nobody_id);
    const as_nobody = process.getuid?.() === 0 ? ["setpriv", `--reuid=${nobody_id}`, `--regid=${nobody_id}`, "--clear-groups"] : [];
    const proc = Bun.spawn([...as_nobody, join(bin(), "repcached"), ...moved], {
      cwd: private_tmp, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", TMPDIR: private_tmp },
    });
    try {
      await waitForPort(port);
      const c = await RawClient.connect(port);
      expect(await c.call("set ops 0 0 2\r\nok\r\n")).toBe("STORED\r\n");
      expect(await c.call("get ops\r\n", "END\r\n")).toBe("VALUE ops 0 2\r\nok\r\nEND\r\n");
      expect(await c.call("stats settings\r\n", "END\r\n")).toContain("STAT maxbytes 1073741824\r\n");
      c.close();
      if (as_nobody.length > 0) {
        const status = readFileSync(`/proc/${proc.pid}/status`, "latin1");
        expect(status).toMatch(new RegExp(`^Uid:\\s+${nobody_id}\\s`, "m"));
      }
    } finally {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await proc.exited;
      clearTimeout(timer);
      rmSync(private_tmp, { recursive: true, force: true });
    }
  }, test_wait_ms);
});

describe("-i prints the LICENSE", () => {
  const license = readFileSync(join(project_root, "LICENSE"), "utf8");

  test("LICENSE is BSD-3-Clause, the repcached-bun authors, 2026", () => {
    expect(license).toStartWith("BSD 3-Clause License\n");
    expect(license).toContain("Copyright (c) 2026, the repcached-bun authors");
  });

  test("from the checkout", () => {
    const { code, out } = run([bun_path, join(project_root, "src", "main.ts"), "-i"]);
    expect(out).toContain(license);
    expect(code).toBe(0);
  });

  test("from the single-file binary, in an empty directory far from the checkout", () => {
    const empty = mkdtempSync(join(tmpdir(), "repcached-ops-empty-"));
    try {
      const { code, out } = run([join(bin(), "repcached"), "-i"], { cwd: empty, env: { PATH: "/usr/bin:/bin" } });
      expect(out).toContain(license);
      expect(code).toBe(0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
