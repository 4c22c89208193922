// Where the server's native item store (librepcache.so) comes from. The server never builds it:
// `npm install` does (package.json `prepare` → scripts/build-native.ts), and so do the dev tools
// (test preload, bench) when it is stale (src/native/build.ts).
//
// Contract: `librarySource()` names the file for ffi.ts to dlopen, or throws NativeLibraryError
// whose message is one line saying how to fix it. Two sources:
// - a checkout: zig-out/lib/librepcache.so, accepted only when the hash stored beside it
//   (librepcache.so.hash) equals the content hash of build.zig and native/*.zig. A content hash,
//   not mtimes: Zig does not rewrite an unchanged library, and a read-only checkout must start.
// - a single-file binary (src/bin/repcached.ts → `bun run build`): the library embedded in the
//   binary is copied into a fresh private directory (mkdtemp, mode 0700), loaded from there, and
//   the copy is removed once loaded (`release`). Bun could dlopen the embedded path itself, but it
//   extracts to a predictable name in the shared /tmp, reuses whatever file is there by size, and
//   never removes it.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const project_root = resolve(import.meta.dir, "..", "..");
export const library_path = join(project_root, "zig-out", "lib", "librepcache.so");
export const library_hash_path = `${library_path}.hash`;
const native_dir = join(project_root, "native");
const build_hint = "run `npm run build:native` (or `npm install`) in the checkout";

/** The library cannot be used as is; the message is one line, with the fix. */
export class NativeLibraryError extends Error {}

export interface LibrarySource {
  path: string;
  /** Removes a temporary copy once it is loaded (a no-op for a checkout's library). */
  release: () => void;
}

let embedded_path: string | null = null;

/** Called first by a single-file binary's entry with the path Bun gave the embedded library. */
export function libraryEmbed(path: string): void {
  embedded_path = path;
}

/** sha256 over build.zig and native/*.zig (sorted by name): each name, its length, its bytes. */
export function sourceHash(): string {
  const hash = createHash("sha256");
  const names = readdirSync(native_dir).filter((name) => name.endsWith(".zig")).sort();
  const files = [join(project_root, "build.zig"), ...names.map((name) => join(native_dir, name))];
  for (const file of files) {
    const bytes = readFileSync(file);
    hash.update(`${file.slice(project_root.length + 1)}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/** "missing", "stale" (built from other sources, or by hand without its hash) or "current". */
export function libraryState(): "missing" | "stale" | "current" {
  if (!existsSync(library_path)) return "missing";
  if (!existsSync(library_hash_path)) return "stale";
  return readFileSync(library_hash_path, "utf8").trim() === sourceHash() ? "current" : "stale";
}

function checkoutSource(): LibrarySource {
  const state = libraryState();
  if (state === "missing") throw new NativeLibraryError(`the native library ${library_path} is not built: ${build_hint}`);
  if (state === "stale") {
    throw new NativeLibraryError(`the native library ${library_path} does not match native/ and build.zig (content hash): ${build_hint}`);
  }
  return { path: library_path, release: () => {} };
}

function embeddedSource(path: string): LibrarySource {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), "repcached-"));
  } catch (error) {
    throw new NativeLibraryError(`cannot unpack the native library into ${tmpdir()} (set TMPDIR): ${(error as Error).message}`);
  }
  const copy = join(dir, "librepcache.so");
  const release = () => rmSync(dir, { recursive: true, force: true });
  try {
    writeFileSync(copy, readFileSync(path), { mode: 0o600, flag: "wx" });
  } catch (error) {
    release();
    throw new NativeLibraryError(`cannot unpack the native library into ${dir} (set TMPDIR): ${(error as Error).message}`);
  }
  return { path: copy, release };
}

/**
 * A -t N worker of a single-file binary: the main thread's unpacked copy, already loaded in this
 * process (the dynamic loader hands back the loaded library by its path: one copy, one store).
 */
let loaded_path: string | null = null;

export function libraryReuse(path: string): void {
  loaded_path = path;
}

/** The path the process's library was loaded from (for its worker threads); set by librarySource. */
export let library_loaded_path: string | null = null;

/** The library to dlopen: the embedded one in a single-file binary, else the checkout's. */
export function librarySource(): LibrarySource {
  if (loaded_path !== null) return { path: loaded_path, release: () => {} };
  const source = embedded_path !== null ? embeddedSource(embedded_path) : checkoutSource();
  library_loaded_path = source.path;
  return source;
}

/** The fix to print when a library from this source does not load or has another layout. */
export function libraryFix(): string {
  return embedded_path !== null ? "rebuild the binary (`bun run build`)" : build_hint;
}
