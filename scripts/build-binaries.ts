// `bun run build`: single-file binaries (`bun build --compile`), runnable without Bun, Node or a
// checkout: dist/repcached (the server, its native library embedded: src/bin/repcached.ts) and
// dist/magent (the proxy). Builds the native library first when it is missing or stale.
// `--outdir <dir>` writes them elsewhere (the tests do).
//
// The binaries ignore a bunfig.toml or .env in the directory they start from: a server's
// behaviour comes from its flags only.
import { mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { nativeLibraryPath, project_root } from "../src/native/build.ts";

// Each binary: its entry, then more entry points bundled beside it (the -t N worker thread's).
const binaries: Array<[name: string, entries: string[]]> = [
  ["repcached", [join(project_root, "src", "bin", "repcached.ts"), join(project_root, "src", "server", "worker.ts")]],
  ["magent", [join(project_root, "src", "magent.ts")]],
];

function outdirOf(args: string[]): string {
  const at = args.indexOf("--outdir");
  if (at < 0) return join(project_root, "dist");
  const dir = args[at + 1];
  if (dir === undefined || dir === "") throw new Error("--outdir needs a directory");
  return resolve(dir);
}

const outdir = outdirOf(process.argv.slice(2));
mkdirSync(outdir, { recursive: true });
nativeLibraryPath();
for (const [name, entries] of binaries) {
  const outfile = join(outdir, name);
  const result = Bun.spawnSync([
    process.execPath, "build", "--compile", "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv",
    ...entries, "--outfile", outfile,
  ], { cwd: project_root, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    console.error(`bun build --compile ${entries.join(" ")} failed (exit ${result.exitCode}):\n${result.stderr.toString()}${result.stdout.toString()}`);
    process.exit(1);
  }
  console.log(`${outfile} (${(statSync(outfile).size / 1024 / 1024).toFixed(1)} MiB)`);
}
