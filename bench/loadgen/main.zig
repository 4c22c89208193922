//! mcload: a closed-loop memcached text-protocol (or, with --binary, binary-protocol) load generator, single-threaded over epoll, fast
//! enough to saturate a stock `memcached -t 1` from one core. See README.md beside this file.
//!
//! Phases: parse flags → pin to --cpu → allocate everything → connect → preload (optional) →
//! warmup → measurement → report. Prints one JSON object on stdout and a summary on stderr.
//! Exit status: 0 after a report, 1 if the run could not start or lost every connection,
//! 2 for a usage error.
const std = @import("std");
const posix = std.posix;
const linux = std.os.linux;
const assert = std.debug.assert;
const config_module = @import("config.zig");
const Config = config_module.Config;
const engine_module = @import("engine.zig");
const Engine = engine_module.Engine;
const nowNs = engine_module.nowNs;
const stats = @import("stats.zig");

/// File descriptors beyond the connections: stdio, epoll, and slack.
const fds_reserved = 16;

pub fn main() u8 {
    const allocator = std.heap.page_allocator;
    const args = std.process.argsAlloc(allocator) catch {
        std.debug.print("mcload: out of memory reading arguments\n", .{});
        return 1;
    };
    const argv: []const []const u8 = @ptrCast(args[1..]);
    const config = config_module.parse(argv) catch |err| switch (err) {
        error.Help => {
            std.io.getStdOut().writeAll(config_module.help) catch return 1;
            return 0;
        },
        error.Usage => return 2,
    };
    return run(allocator, &config) catch |err| {
        std.debug.print("mcload: {s}\n", .{@errorName(err)});
        return 1;
    };
}

fn run(allocator: std.mem.Allocator, config: *const Config) !u8 {
    if (config.cpu) |cpu| try pinToCpu(cpu);
    try raiseFileLimit(config.conns);
    var engine: Engine = undefined;
    try engine.init(allocator, config);
    defer engine.closeAll();
    engine.connectAll() catch |err| {
        std.debug.print("mcload: connecting to {s}: {s}\n", .{ config.server_text, @errorName(err) });
        return 1;
    };

    var preload_ns: ?u64 = null;
    var preload_complete = false;
    if (config.preload) {
        const preload_start_ns = nowNs();
        engine.startPreload();
        const outcome = engine.runUntil(preload_start_ns + config.preload_timeout_ns, .{ .preload_done = true });
        preload_ns = nowNs() - preload_start_ns;
        preload_complete = outcome == .done;
        if (!preload_complete) std.debug.print("mcload: preload ended early: {s}\n", .{@tagName(outcome)});
    }

    engine.startWarmup();
    _ = engine.runUntil(nowNs() + config.warmup_ns, .{});

    const cpu_start = cpuTimes();
    const start_ns = nowNs();
    engine.startMeasurement();
    const outcome = engine.runUntil(start_ns + config.duration_ns, .{ .ops_max = config.ops_max });
    const duration_ns = nowNs() - start_ns;
    const cpu_end = cpuTimes();
    const inflight_at_end = engine.shared.inflight_total;
    engine.stopMeasurement();

    const report: stats.Report = .{
        .config = config,
        .measured = engine.measured_counters,
        .histogram = engine.histogram,
        .duration_ns = duration_ns,
        .client_user_ns = cpu_end.user_ns - cpu_start.user_ns,
        .client_sys_ns = cpu_end.sys_ns - cpu_start.sys_ns,
        .preload_ns = preload_ns,
        .preload_complete = preload_complete,
        .preload = engine.preload_counters,
        .warmup = engine.warmup_counters,
        .closed_conns = engine.closed_count,
        .inflight_at_end = inflight_at_end,
        .stopped_by = switch (outcome) {
            .deadline, .done => .duration,
            .ops_max => .max_ops,
            .no_connections => .no_connections,
        },
        .last_error = engine.shared.lastError(),
    };
    try writeReport(&report);
    return if (outcome == .no_connections) 1 else 0;
}

fn writeReport(report: *const stats.Report) !void {
    var json_buffer: [4096]u8 = undefined;
    var json = std.io.fixedBufferStream(&json_buffer);
    try report.writeJson(json.writer());
    var summary_buffer: [2048]u8 = undefined;
    var summary = std.io.fixedBufferStream(&summary_buffer);
    try report.writeSummary(summary.writer());
    try std.io.getStdErr().writeAll(summary.getWritten());
    try std.io.getStdOut().writeAll(json.getWritten());
}

fn pinToCpu(cpu: u32) !void {
    var set: linux.cpu_set_t = [_]usize{0} ** @typeInfo(linux.cpu_set_t).array.len;
    const word_bits = @bitSizeOf(usize);
    assert(cpu / word_bits < set.len);
    set[cpu / word_bits] |= @as(usize, 1) << @intCast(cpu % word_bits);
    linux.sched_setaffinity(0, &set) catch {
        std.debug.print("mcload: --cpu {d}: sched_setaffinity failed (no such core?)\n", .{cpu});
        return error.CpuPinFailed;
    };
}

fn raiseFileLimit(conns: u32) !void {
    const needed: posix.rlim_t = conns + fds_reserved;
    const limit = try posix.getrlimit(.NOFILE);
    if (limit.cur >= needed) return;
    if (limit.max < needed) {
        std.debug.print("mcload: --conns {d} needs {d} file descriptors; the hard limit is {d}\n", .{ conns, needed, limit.max });
        return error.TooManyConnections;
    }
    try posix.setrlimit(.NOFILE, .{ .cur = needed, .max = limit.max });
}

const CpuTimes = struct { user_ns: u64, sys_ns: u64 };

/// mcload's own CPU time so far, in user space and in the kernel.
fn cpuTimes() CpuTimes {
    const usage = posix.getrusage(posix.rusage.SELF);
    return .{ .user_ns = timevalNs(usage.utime), .sys_ns = timevalNs(usage.stime) };
}

fn timevalNs(time: posix.timeval) u64 {
    return @as(u64, @intCast(time.sec)) * std.time.ns_per_s + @as(u64, @intCast(time.usec)) * std.time.ns_per_us;
}

test {
    _ = @import("binary.zig");
    _ = @import("config.zig");
    _ = @import("connection.zig");
    _ = @import("engine.zig");
    _ = @import("histogram.zig");
    _ = @import("reply.zig");
    _ = @import("request.zig");
    _ = @import("stats.zig");
    _ = @import("workload.zig");
}
