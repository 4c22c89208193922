// Start-up as a new user meets it (issue 13): the flags are checked before the native library
// loads, the server never builds the library (it checks a content hash and says how to build),
// it starts from a read-only checkout as an unprivileged user, and -u switches to the user's own
// uid and gid. Each test runs `bun src/main.ts` from a copy of the checkout (or the checkout) and
// stops what it started by PID; every wait has a deadline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun_path, freePort, project_root, RawClient, startOurs, waitForPort } from "../helpers/procs.ts";
import { exit_code_usage, version_line } from "../../src/config.ts";

const exit_wait_ms = 10_000;
/** A test's bound: several processes start and stop in each (a loaded 2-core machine is slow). */
const test_wait_ms = 60_000;
const start_wait_ms = 15_000;
const is_root = process.getuid?.() === 0;
const library_name = "librepcache.so";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `cmd` to completion (killed by PID after exit_wait_ms). */
async function run(cmd: string[], cwd: string): Promise<Ran> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr, ms: performance.now() - started };
}

/** stderr without memcached's root warning (printed at every root start without -u). */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "" && !line.includes("without the -u switch"));
}

/** The output a start that cannot load the library gives: exit 1 and one line naming the fix. */
function expectOneLineFix(ran: Ran, what: string): void {
  expect(ran.code).toBe(1);
  const lines = errorLines(ran.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(what);
  expect(lines[0]).toContain("npm run build:native");
}

/** A copy of the checkout's runtime files (src/, native/, build.zig, LICENSE for -i; the library if `built`). */
function checkoutCopy(built: boolean): string {
  const root = mkdtempSync(join(tmpdir(), "repcached-startup-"));
  for (const name of ["src", "native"]) cpSync(join(project_root, name), join(root, name), { recursive: true });
  for (const name of ["build.zig", "LICENSE"]) cpSync(join(project_root, name), join(root, name));
  if (built) {
    mkdirSync(join(root, "zig-out", "lib"), { recursive: true });
    for (const name of [library_name, `${library_name}.hash`]) {
      cpSync(join(project_root, "zig-out", "lib", name), join(root, "zig-out", "lib", name), { preserveTimestamps: true });
    }
  }
  return root;
}

/** Makes every file of `root` read-only (and readable by all) — or writable again. */
function setWritable(root: string, writable: boolean): void {
  const walk = (path: string) => {
    const stat = statSync(path);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    chmodSync(path, stat.isDirectory() ? (writable ? 0o755 : 0o555) : (writable ? 0o644 : 0o444) | (stat.mode & 0o111));
  };
  walk(root);
}

/** `id -u name` and `id -g name` (the system's own answer, not ours). */
function idOf(name: string): { uid: number; gid: number } {
  const field = (flag: string) => Number(Bun.spawnSync(["id", flag, name], { stdout: "pipe" }).stdout.toString().trim());
  return { uid: field("-u"), gid: field("-g") };
}

/** Real (first) uid and gid of a running process, from /proc/<pid>/status, and its other ids. */
function idsOfProcess(pid: number): { uids: number[]; gids: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const numbers = (key: string) => (status.match(new RegExp(`^${key}:[ \\t]*(.*)$`, "m"))?.[1] ?? "").trim().split(/\s+/).filter(Boolean).map(Number);
  return { uids: numbers("Uid"), gids: numbers("Gid"), groups: numbers("Groups") };
}

/** set then get through a fresh connection. */
async function expectServes(port: number, key: string): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    expect(await client.call(`set ${key} 5 0 2\r\nhi\r\n`)).toBe("STORED\r\n");
    expect(await client.call(`get ${key}\r\n`, "END\r\n")).toBe(`VALUE ${key} 5 2\r\nhi\r\nEND\r\n`);
  } finally {
    client.close();
  }
}

/** Starts `cmd` (a server on `port`), waits for its port, runs `check`, stops it by PID. */
async function withServer(cmd: string[], cwd: string, port: number, check: (pid: number) => Promise<void>): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  try {
    await waitForPort(port, start_wait_ms);
    await check(proc.pid);
  } finally {
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), exit_wait_ms);
    await proc.exited;
    clearTimeout(timer);
  }
  return await stderr;
}

describe("without a library", () => {
  let root = "";
  beforeAll(() => { root = checkoutCopy(false); });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("-h, -V and a usage error answer without it; a start says how to build it, exit 1", async () => {
    const main = join(root, "src", "main.ts");
    const help = await run([bun_path, main, "-h"], root);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("-x, --replication-peer");
    const version = await run([bun_path, main, "-V"], root);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(version_line);
    const usage = await run([bun_path, main, "-p", "x"], root);
    expect(usage.code).toBe(exit_code_usage);
    expect(usage.stderr).toContain("option -p");
    const port = await freePort();
    const start = await run([bun_path, main, "-l", "127.0.0.1", "-p", String(port), "-U", "0"], root);
    expectOneLineFix(start, "is not built");
    expect(existsSync(join(root, "zig-out"))).toBe(false); // nothing was built
    expect(existsSync(join(root, ".zig-cache"))).toBe(false);
    console.log(`startup: -h ${help.ms.toFixed(0)} ms, usage error ${usage.ms.toFixed(0)} ms without a library`);
  }, test_wait_ms);
});

describe("a built checkout", () => {
  let root = "";
  beforeAll(() => { root = checkoutCopy(true); });
  afterAll(() => {
    setWritable(root, true);
    rmSync(root, { recursive: true, force: true });
  });

  test("touched sources start without a build; changed sources or an unloadable library: one line", async () => {
    const main = join(root, "src", "main.ts");
    const library = join(root, "zig-out", "lib", library_name);
    const library_mtime_ms = statSync(library).mtimeMs;
    const future_s = Date.now() / 1000 + 3600;
    for (const name of readdirSync(join(root, "native"))) utimesSync(join(root, "native", name), future_s, future_s);
    utimesSync(join(root, "build.zig"), future_s, future_s);
    const port = await freePort();
    await withServer([bun_path, main, "-l", "127.0.0.1", "-p", String(port), "-U", "0"], root, port, async () => {
      await expectServes(port, "touched");
    });
    expect(statSync(library).mtimeMs).toBe(library_mtime_ms);
    expect(existsSync(join(root, ".zig-cache"))).toBe(false);

    const lib_zig = join(root, "native", "lib.zig");
    const source = readFileSync(lib_zig);
    appendFileSync(lib_zig, "// changed\n");
    expectOneLineFix(await run([bun_path, main, "-p", String(port), "-U", "0"], root), "does not match native/ and build.zig");
    writeFileSync(lib_zig, source);

    const library_bytes = readFileSync(library);
    writeFileSync(library, "not a shared library\n");
    expectOneLineFix(await run([bun_path, main, "-p", String(port), "-U", "0"], root), "does not load");
    writeFileSync(library, library_bytes);
  }, test_wait_ms);

  test(`read-only, started as ${is_root ? "nobody" : "this user"}: -h answers and the server serves`, async () => {
    setWritable(root, false);
    chmodSync(root, 0o555);
    const as_user = is_root ? ["setpriv", `--reuid=${idOf("nobody").uid}`, `--regid=${idOf("nobody").gid}`, "--clear-groups"] : [];
    const main = join(root, "src", "main.ts");
    const help = await run([...as_user, bun_path, main, "-h"], root);
    expect(help.stderr).toBe("");
    expect(help.code).toBe(0);
    const port = await freePort();
    const stderr = await withServer([...as_user, bun_path, main, "-l", "127.0.0.1", "-p", String(port), "-U", "0"], root, port, async (pid) => {
      await expectServes(port, "readonly");
      if (is_root) expect(idsOfProcess(pid).uids[0]).toBe(idOf("nobody").uid);
    });
    expect(stderr).toBe("");
  }, test_wait_ms);
});

describe("-u", () => {
  test(is_root ? "-u nobody: the user's own uid and gid, no other groups, and it serves" : "-u nobody without root: a warning, and it serves", async () => {
    const nobody = idOf("nobody");
    expect(nobody.uid).toBeGreaterThan(0);
    const server = await startOurs(["-U", "0", "-u", "nobody"]);
    try {
      await expectServes(server.port, "as_nobody");
      const ids = idsOfProcess(server.proc.pid);
      if (is_root) {
        expect(ids.uids).toEqual([nobody.uid, nobody.uid, nobody.uid, nobody.uid]);
        expect(ids.gids).toEqual([nobody.gid, nobody.gid, nobody.gid, nobody.gid]);
        expect(ids.groups).toEqual([]);
        expect(server.output()).toBe("");
      } else {
        expect(ids.uids[0]).toBe(process.getuid?.() ?? -1);
        expect(server.output()).toContain("-u nobody has no effect: not running as root");
      }
    } finally {
      await server.stop();
    }
  }, test_wait_ms);

  test("-s with -u nobody: the socket belongs to the user it runs as, as memcached's (created after the switch)", async () => {
    const socket_dir = mkdtempSync(join(tmpdir(), "repcached-startup-sock-"));
    chmodSync(socket_dir, 0o755);
    const path = join(socket_dir, "mc.sock");
    const proc = Bun.spawn([bun_path, join(project_root, "src", "main.ts"), "-p", "0", "-U", "0", "-s", path, "-u", "nobody"], {
      stdin: "ignore", stdout: "ignore", stderr: "ignore",
    });
    try {
      const deadline = Date.now() + start_wait_ms;
      const owner = is_root ? idOf("nobody") : { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
      const owned = () => existsSync(path) && statSync(path).uid === owner.uid;
      while (!owned() && Date.now() < deadline) await Bun.sleep(25);
      expect(statSync(path).uid).toBe(owner.uid);
      expect(statSync(path).gid).toBe(owner.gid);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      rmSync(socket_dir, { recursive: true, force: true });
    }
  }, test_wait_ms);

  test(is_root ? "an unknown user: memcached's message, exit 67, nothing listens" : "an unknown user without root: a warning", async () => {
    const port = await freePort();
    const args = [bun_path, join(project_root, "src", "main.ts"), "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-u", "no_such_user_13"];
    if (is_root) {
      const ran = await run(args, project_root);
      expect(ran.code).toBe(67);
      expect(ran.stderr).toBe("can't find the user no_such_user_13 to switch to\n");
    } else {
      const stderr = await withServer(args, project_root, port, async () => await expectServes(port, "unknown_user"));
      expect(stderr).toContain("-u no_such_user_13 has no effect");
    }
  }, test_wait_ms);

  test(is_root ? "root without -u: memcached's refusal as a warning, without -v, and it serves" : "no -u and no root: no warning", async () => {
    const port = await freePort();
    const args = [bun_path, join(project_root, "src", "main.ts"), "-l", "127.0.0.1", "-p", String(port), "-U", "0"];
    const stderr = await withServer(args, project_root, port, async () => await expectServes(port, "root_warning"));
    if (is_root) expect(stderr).toContain("can't run as root without the -u switch");
    else expect(stderr).toBe("");
  }, test_wait_ms);
});
