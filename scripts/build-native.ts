// `bun scripts/build-native.ts` (`npm run build:native`; `npm install` and `npm ci` run it as the
// package's `prepare` script) builds the native store when missing or stale and prints its path;
// `--test` runs `zig build test` (the store's unit tests and the threads tests: 2/4/8 threads on
// overlapping keys), `--tsan` the same store tests under Zig's thread sanitizer (`zig build
// test-tsan`); `--loadgen` builds the benchmark load generator.
// A failed build prints the compiler's output and exits 1.
import { nativeLibraryPath, runZig } from "../src/native/build.ts";

const args = process.argv.slice(2);
try {
  if (args.includes("--test")) runZig(["test"]);
  else if (args.includes("--tsan")) runZig(["test-tsan"]);
  else if (args.includes("--loadgen")) runZig(["loadgen", "-Doptimize=ReleaseFast"]);
  else console.log(nativeLibraryPath());
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
