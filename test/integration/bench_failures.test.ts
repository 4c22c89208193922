// `bun bench` fails loudly: a part that cannot run makes the whole run exit 1 and say why (it used
// to print a failed section and exit 0), and a missing Debian program it cannot install names the
// package to install. Real processes: bench/run.ts and bench/proxy.ts as `bun bench` runs them.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun_path, project_root } from "../helpers/procs.ts";
import { ensureDebianPackage } from "../../bench/lib/debian.ts";

const run_wait_ms = 60_000;
const out_dir = mkdtempSync(join(tmpdir(), "bench-failures-"));

afterAll(() => rmSync(out_dir, { recursive: true, force: true }));

describe("bun bench failures", () => {
  test("a failed proxy part: exit 1, the reason on stderr and in the report's problems", () => {
    // bench/proxy.ts takes at most 20 rounds; bun bench passes its --rounds on.
    const result = Bun.spawnSync([bun_path, join(project_root, "bench", "run.ts"), "--only", "proxy", "--rounds", "21", "--out", out_dir], {
      cwd: project_root, stdout: "pipe", stderr: "pipe", timeout: run_wait_ms,
    });
    expect(result.stderr.toString()).toContain("bench: FAILED: proxy: our magent vs nutcracker: bench/proxy.ts exited with code 1: bench/proxy.ts: --rounds must be 1..20");
    expect(result.exitCode).toBe(1);
    const report = readdirSync(out_dir).find((name) => name.endsWith(".md"));
    expect(report).toBeDefined();
    expect(readFileSync(join(out_dir, report!), "utf8")).toContain("bench/proxy.ts exited with code 1");
  }, run_wait_ms);

  test("a missing program that cannot be installed here: one line naming the package", () => {
    const said: string[] = [];
    const missing = join(out_dir, "no-such-nutcracker");
    const why = ensureDebianPackage(missing, "nutcracker", (line) => said.push(line), { as_root: false, have_apt_get: true });
    expect(why).toBe(`${missing} is missing and cannot be installed here (needs root and apt-get): run \`apt-get install -y nutcracker\``);
    expect(said).toEqual([]);
    expect(ensureDebianPackage("/usr/sbin/nutcracker", "nutcracker", (line) => said.push(line), { as_root: false, have_apt_get: false })).toBeNull();
  });
});
