// `bun scripts/build-native.ts` builds the native store; `--test` runs `zig build test`;
// `--loadgen` builds the benchmark load generator.
import { nativeLibraryPath, runZig } from "../src/native/build.ts";

const args = process.argv.slice(2);
if (args.includes("--test")) runZig(["test"]);
else if (args.includes("--loadgen")) runZig(["loadgen", "-Doptimize=ReleaseFast"]);
else console.log(nativeLibraryPath());
