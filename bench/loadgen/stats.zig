//! Stats: the counters of one phase, and the report of a run (one JSON object, and a summary).
const std = @import("std");
const assert = std.debug.assert;
const Config = @import("config.zig").Config;
const Histogram = @import("histogram.zig").Histogram;

pub const Counters = struct {
    /// Gets answered with END (hit or miss).
    gets: u64 = 0,
    /// Sets answered (STORED, or a refusal), plus noreply sets written.
    sets: u64 = 0,
    /// VALUE blocks received.
    hits: u64 = 0,
    /// Keys asked for and not returned.
    misses: u64 = 0,
    /// Sets answered NOT_STORED, EXISTS or NOT_FOUND.
    not_stored: u64 = 0,
    /// ERROR, CLIENT_ERROR or SERVER_ERROR replies; not counted in ops.
    error_replies: u64 = 0,
    /// Replies that could not be framed or did not match the request; each drops its connection.
    protocol_errors: u64 = 0,

    pub fn ops(counters: *const Counters) u64 {
        return counters.gets + counters.sets;
    }

    pub fn errors(counters: *const Counters) u64 {
        return counters.error_replies + counters.protocol_errors;
    }
};

pub const StopCause = enum { duration, max_ops, no_connections };

pub const Report = struct {
    config: *const Config,
    measured: Counters,
    histogram: *const Histogram,
    duration_ns: u64,
    /// mcload's own CPU time during the measurement.
    client_user_ns: u64,
    client_sys_ns: u64,
    /// Null without --preload.
    preload_ns: ?u64,
    preload_complete: bool,
    preload: Counters,
    warmup: Counters,
    closed_conns: u32,
    /// Requests still without a reply when the measurement ended (a stalled server shows here).
    inflight_at_end: u64,
    stopped_by: StopCause,
    last_error: []const u8,

    fn seconds(ns: u64) f64 {
        return @as(f64, @floatFromInt(ns)) / std.time.ns_per_s;
    }

    fn perSecond(report: *const Report, count: u64) f64 {
        if (report.duration_ns == 0) return 0;
        return @as(f64, @floatFromInt(count)) / seconds(report.duration_ns);
    }

    fn clientCpuNs(report: *const Report) u64 {
        return report.client_user_ns + report.client_sys_ns;
    }

    /// Client CPU per wall-clock second of the measurement: below 1 means mcload had idle time.
    fn clientCpuShare(report: *const Report) f64 {
        if (report.duration_ns == 0) return 0;
        return seconds(report.clientCpuNs()) / seconds(report.duration_ns);
    }

    fn keysRequested(report: *const Report) u64 {
        return report.measured.gets * report.config.multiget + report.measured.sets;
    }

    fn hitRatio(report: *const Report) f64 {
        const asked = report.measured.hits + report.measured.misses;
        if (asked == 0) return 0;
        return @as(f64, @floatFromInt(report.measured.hits)) / @as(f64, @floatFromInt(asked));
    }

    pub fn writeJson(report: *const Report, writer: anytype) !void {
        const config = report.config;
        const measured = &report.measured;
        const histogram = report.histogram;
        try writer.writeAll("{\"server\":");
        try writeString(writer, config.server_text);
        try writer.print(",\"conns\":{d},\"pipeline\":{d},\"multiget\":{d},\"get_ratio\":{d}", .{
            config.conns, config.pipeline, config.multiget, config.get_ratio,
        });
        try writer.print(",\"value_min\":{d},\"value_max\":{d},\"keys\":{d},\"noreply\":{},\"seed\":{d}", .{
            config.value_min_bytes, config.value_max_bytes, config.keys, config.noreply, config.seed,
        });
        try writer.print(",\"warmup_s\":{d:.3},\"duration_s\":{d:.3},\"stopped_by\":\"{s}\"", .{
            seconds(config.warmup_ns), seconds(report.duration_ns), @tagName(report.stopped_by),
        });
        try writer.print(",\"ops\":{d},\"ops_per_s\":{d:.1},\"keys_per_s\":{d:.1}", .{
            measured.ops(), report.perSecond(measured.ops()), report.perSecond(report.keysRequested()),
        });
        try writer.print(",\"gets\":{d},\"sets\":{d},\"hits\":{d},\"misses\":{d},\"hit_ratio\":{d:.4}", .{
            measured.gets, measured.sets, measured.hits, measured.misses, report.hitRatio(),
        });
        try writer.print(",\"not_stored\":{d},\"errors\":{d},\"error_replies\":{d},\"protocol_errors\":{d}", .{
            measured.not_stored, measured.errors(), measured.error_replies, measured.protocol_errors,
        });
        try writer.print(",\"closed_conns\":{d},\"inflight_at_end\":{d},\"warmup_errors\":{d},\"last_error\":", .{
            report.closed_conns, report.inflight_at_end, report.warmup.errors(),
        });
        try writeString(writer, report.last_error);
        try writer.print(",\"latency_samples\":{d},\"mean_us\":{d:.1}", .{ histogram.samples, histogram.meanUs() });
        try writer.print(",\"p50_us\":{d},\"p90_us\":{d},\"p99_us\":{d},\"p999_us\":{d},\"max_us\":{d}", .{
            histogram.percentile(50),   histogram.percentile(90), histogram.percentile(99),
            histogram.percentile(99.9), histogram.max_us,
        });
        try writer.print(",\"client_cpu_s\":{d:.3},\"client_user_s\":{d:.3},\"client_sys_s\":{d:.3},\"client_cpu_share\":{d:.3}", .{
            seconds(report.clientCpuNs()), seconds(report.client_user_ns), seconds(report.client_sys_ns), report.clientCpuShare(),
        });
        try report.writePreloadJson(writer);
        try writer.writeAll("}\n");
    }

    fn writePreloadJson(report: *const Report, writer: anytype) !void {
        if (report.preload_ns) |preload_ns| {
            try writer.print(",\"preload_s\":{d:.3},\"preload_complete\":{},\"preload_sets\":{d},\"preload_errors\":{d}", .{
                seconds(preload_ns), report.preload_complete, report.preload.sets, report.preload.errors(),
            });
        } else {
            try writer.writeAll(",\"preload_s\":null");
        }
    }

    pub fn writeSummary(report: *const Report, writer: anytype) !void {
        const measured = &report.measured;
        const histogram = report.histogram;
        if (report.preload_ns) |preload_ns| {
            try writer.print("preload: {d} sets in {d:.3} s{s}, {d} errors\n", .{
                report.preload.sets,                                  seconds(preload_ns),
                if (report.preload_complete) "" else " (INCOMPLETE)", report.preload.errors(),
            });
        }
        try writer.print("{s}: {d} ops in {d:.3} s = {d:.0} ops/s ({d:.0} keys/s), stopped by {s}\n", .{
            report.config.server_text,        measured.ops(),                           seconds(report.duration_ns),
            report.perSecond(measured.ops()), report.perSecond(report.keysRequested()), @tagName(report.stopped_by),
        });
        try writer.print("  gets {d} sets {d} hits {d} misses {d} (hit ratio {d:.4}) not_stored {d} errors {d}\n", .{
            measured.gets,     measured.sets,       measured.hits,     measured.misses,
            report.hitRatio(), measured.not_stored, measured.errors(),
        });
        try writer.print("  latency us: p50 {d} p90 {d} p99 {d} p99.9 {d} max {d} ({d} samples)\n", .{
            histogram.percentile(50),   histogram.percentile(90), histogram.percentile(99),
            histogram.percentile(99.9), histogram.max_us,         histogram.samples,
        });
        try writer.print("  client cpu {d:.3} s = {d:.0}% of one core (user {d:.3} s, sys {d:.3} s)", .{
            seconds(report.clientCpuNs()),  100 * report.clientCpuShare(),
            seconds(report.client_user_ns), seconds(report.client_sys_ns),
        });
        if (report.inflight_at_end > 0) try writer.print(", {d} requests unanswered at the end", .{report.inflight_at_end});
        if (report.closed_conns > 0) try writer.print(", {d} connections closed", .{report.closed_conns});
        if (report.last_error.len > 0) try writer.print(", last error: {s}", .{report.last_error});
        try writer.writeAll("\n");
    }
};

fn writeString(writer: anytype, text: []const u8) !void {
    try writer.writeByte('"');
    for (text) |byte| switch (byte) {
        '"' => try writer.writeAll("\\\""),
        '\\' => try writer.writeAll("\\\\"),
        0...0x1f, 0x7f...0xff => try writer.print("\\u{x:0>4}", .{byte}),
        else => try writer.writeByte(byte),
    };
    try writer.writeByte('"');
}

test "the JSON report parses and carries the asked-for fields" {
    const config: Config = .{ .server = undefined, .server_text = "127.0.0.1:22000" };
    var histogram: Histogram = .{};
    histogram.record(100);
    const report: Report = .{
        .config = &config,
        .measured = .{ .gets = 9, .sets = 1, .hits = 8, .misses = 1 },
        .histogram = &histogram,
        .duration_ns = 2 * std.time.ns_per_s,
        .client_user_ns = std.time.ns_per_s / 4,
        .client_sys_ns = std.time.ns_per_s * 3 / 4,
        .preload_ns = null,
        .preload_complete = false,
        .preload = .{},
        .warmup = .{},
        .closed_conns = 0,
        .inflight_at_end = 0,
        .stopped_by = .duration,
        .last_error = "SERVER_ERROR \"x\"\r",
    };
    var buffer: [4096]u8 = undefined;
    var stream = std.io.fixedBufferStream(&buffer);
    try report.writeJson(stream.writer());
    const parsed = try std.json.parseFromSlice(std.json.Value, std.testing.allocator, stream.getWritten(), .{});
    defer parsed.deinit();
    const object = parsed.value.object;
    const fields = [_][]const u8{
        "server", "conns",     "pipeline",   "multiget", "get_ratio", "value_min",    "value_max", "duration_s",
        "ops",    "ops_per_s", "keys_per_s", "gets",     "sets",      "hits",         "misses",    "errors",
        "p50_us", "p90_us",    "p99_us",     "p999_us",  "max_us",    "client_cpu_s", "preload_s",
    };
    for (fields) |field| try std.testing.expect(object.contains(field));
    try std.testing.expectEqual(@as(f64, 5), object.get("ops_per_s").?.float);
    try std.testing.expectEqual(@as(i64, 100), object.get("p50_us").?.integer);
    try std.testing.expectEqual(@as(f64, 1), object.get("client_cpu_s").?.float);
    try std.testing.expectEqual(@as(f64, 0.5), object.get("client_cpu_share").?.float);
    try std.testing.expectEqualStrings("SERVER_ERROR \"x\"\r", object.get("last_error").?.string);
}
