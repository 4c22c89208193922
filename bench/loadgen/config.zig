//! Command line of mcload: defaults (each with a comment) → per-flag checks → cross-flag checks →
//! derived limits. Every error names its flag and exits with a usage error (status 2).
const std = @import("std");
const assert = std.debug.assert;
const request = @import("request.zig");
const reply = @import("reply.zig");
const binary = @import("binary.zig");

pub const connections_max = 4096;
pub const pipeline_max = 1024;
/// Keys per `get`: 100 keys make a 1.5 KB line, inside memcached's 2048-byte line limit.
pub const multiget_keys_max = 100;
pub const keys_max: u32 = 1_000_000_000;
/// memcached's default item size maximum (-I 1m), less room for the item header.
pub const value_bytes_max: u32 = 1000 * 1024;
pub const duration_s_max = 24 * 3600;
pub const warmup_s_max = 3600;
pub const preload_timeout_s_max = 3600;
/// Requests in flight per connection while preloading, if --pipeline is smaller.
pub const preload_pipeline = 16;
/// All connection buffers together.
pub const memory_bytes_max: u64 = 1 << 30;
/// Read buffer bounds: it must hold a reply line (2048 bytes); past 256 KiB a bigger read saves nothing.
pub const read_buffer_bytes_min: usize = 16 * 1024;
pub const read_buffer_bytes_max: usize = 256 * 1024;
comptime {
    assert(read_buffer_bytes_min >= 2 * reply.line_bytes_max);
    assert(request.getBytes(multiget_keys_max) < reply.line_bytes_max);
}

pub const Config = struct {
    /// --server: where memcached listens.
    server: std.net.Address,
    server_text: []const u8 = "127.0.0.1:11211",
    /// --conns: connections, each a closed loop.
    conns: u32 = 50,
    /// --duration: measured time.
    duration_ns: u64 = 10 * std.time.ns_per_s,
    /// --warmup: time run but not measured, after the preload.
    warmup_ns: u64 = 1 * std.time.ns_per_s,
    /// --preload-timeout: the preload gives up after this long.
    preload_timeout_ns: u64 = 120 * std.time.ns_per_s,
    /// --keys: key space; keys are mcl:0000000000 .. mcl:<keys-1>.
    keys: u32 = 100_000,
    /// --value-size, or --value-min/--value-max for uniform sizes.
    value_min_bytes: u32 = 100,
    value_max_bytes: u32 = 100,
    /// --get-ratio: share of requests that are gets; the rest are sets.
    get_ratio: f64 = 0.9,
    /// --multiget: keys per get.
    multiget: u32 = 1,
    /// --pipeline: requests in flight per connection.
    pipeline: u32 = 1,
    /// --preload: set every key once before the warmup.
    preload: bool = false,
    /// --noreply: sets carry `noreply`; they count as done once written.
    noreply: bool = false,
    /// --meta: the meta protocol (`mg <key> v k`, `ms <key> <n>`) instead of get/set.
    meta: bool = false,
    /// --seed: of the key and size choices.
    seed: u64 = 1,
    /// --cpu: pin mcload to this core.
    cpu: ?u32 = null,
    /// --max-ops: end the measurement after this many requests, if that comes before --duration.
    ops_max: ?u64 = null,
    /// --binary: speak memcached's binary protocol (binary.zig) instead of text.
    binary: bool = false,
};

/// Sizes derived from the config; the derivation is written beside each.
pub const Limits = struct {
    /// Ring slots per connection: the deepest pipeline of any phase.
    inflight_max: u32,
    /// Largest request: a get of --multiget keys, or a set of --value-max bytes.
    request_bytes_max: usize,
    /// A full pipeline of the largest requests (a round issues at most inflight_max requests).
    write_buffer_bytes: usize,
    /// A full pipeline of the largest replies, within [16 KiB, 256 KiB]; replies are parsed as
    /// they stream, so a smaller buffer only costs more reads.
    read_buffer_bytes: usize,
    connection_bytes: usize,

    pub fn derive(config: *const Config) Limits {
        const preload_depth: u32 = if (config.preload) preload_pipeline else 1;
        const inflight_max = @max(config.pipeline, preload_depth);
        const request_bytes_max = @max(
            request.getBytes(config.multiget),
            request.setBytesMax(config.value_max_bytes, config.noreply),
            request.setBytesMax(config.value_max_bytes, false),
            // binary frames are sized differently (a header per key): the larger of both protocols
            binary.getBytes(config.multiget),
            binary.setBytesMax(config.value_max_bytes),
        );
        // "VALUE <key> <flags u32> <bytes u32>\r\n<data>\r\n" per key, then "END\r\n".
        const value_reply_bytes = "VALUE ".len + request.key_bytes + 1 + 10 + 1 + 10 + 2 +
            config.value_max_bytes + 2;
        const reply_bytes_max = config.multiget * value_reply_bytes + "END\r\n".len;
        const read_buffer_bytes = std.math.clamp(
            inflight_max * reply_bytes_max,
            read_buffer_bytes_min,
            read_buffer_bytes_max,
        );
        const write_buffer_bytes = inflight_max * request_bytes_max;
        const slots_bytes = inflight_max * (32 + 4 * config.multiget);
        return .{
            .inflight_max = inflight_max,
            .request_bytes_max = request_bytes_max,
            .write_buffer_bytes = write_buffer_bytes,
            .read_buffer_bytes = read_buffer_bytes,
            .connection_bytes = read_buffer_bytes + write_buffer_bytes + slots_bytes,
        };
    }
};

pub const help =
    \\mcload: closed-loop memcached text-protocol load generator (one thread, epoll).
    \\
    \\usage: mcload [--server HOST:PORT] [options]
    \\
    \\  --server HOST:PORT   memcached to load (default 127.0.0.1:11211; IP literal)
    \\  --conns N            connections, each a closed loop (default 50, max 4096)
    \\  --duration S         seconds measured (default 10; fractions allowed)
    \\  --warmup S           seconds run before measuring, not counted (default 1; 0 allowed)
    \\  --keys N             key space: keys mcl:0000000000 .. mcl:<N-1>, 10 zero-padded digits
    \\                       (default 100000)
    \\  --value-size N       value bytes (default 100)
    \\  --value-min A        smallest value bytes; with --value-max, sizes are uniform in [A, B]
    \\  --value-max B        largest value bytes (max 1024000)
    \\  --get-ratio R        share of requests that are gets, 0..1; the rest are sets (default 0.9)
    \\  --set-only           same as --get-ratio 0
    \\  --multiget K         keys per get: `get k1 ... kK` (default 1, max 100)
    \\  --pipeline P         requests in flight per connection (default 1, max 1024)
    \\  --preload            set every key once (pipelined, with replies) before the warmup
    \\  --preload-timeout S  give up the preload after S seconds (default 120)
    \\  --noreply            sets carry `noreply` and count as done when written (no latency)
    \\  --meta               meta protocol: `mg <key> v k` and `ms <key> <n>` (q with --noreply);
    \\                       --multiget must be 1
    \\  --seed N             seed of key and size choices (default 1)
    \\  --cpu C              pin mcload to core C (sched_setaffinity)
    \\  --max-ops N          end the measurement after N requests if before --duration
    \\  --binary             speak memcached's binary protocol (GETK, GETKQ+NOOP, SET/SETQ)
    \\  --help               this text
    \\
    \\Prints one JSON object on stdout and a summary on stderr. Latencies run from the write of a
    \\request to the read that completes its reply, in microseconds. client_cpu_s is mcload's own
    \\user+sys time during the measurement.
    \\
;

pub const ParseError = error{ Usage, Help };

const Flag = enum {
    server,
    conns,
    duration,
    warmup,
    @"preload-timeout",
    keys,
    @"value-size",
    @"value-min",
    @"value-max",
    @"get-ratio",
    @"set-only",
    multiget,
    pipeline,
    preload,
    noreply,
    meta,
    seed,
    cpu,
    @"max-ops",
    binary,
    help,

    fn takesValue(flag: Flag) bool {
        return switch (flag) {
            .@"set-only", .preload, .noreply, .binary, .meta, .help => false,
            else => true,
        };
    }
};

/// Which flags were given, for the cross-flag checks.
const Given = std.enums.EnumSet(Flag);

pub fn parse(args: []const []const u8) ParseError!Config {
    var config: Config = .{ .server = std.net.Address.initIp4(.{ 127, 0, 0, 1 }, 11211) };
    var given = Given.initEmpty();
    var index: usize = 0;
    while (index < args.len) : (index += 1) {
        const arg = args[index];
        if (!std.mem.startsWith(u8, arg, "--")) return fail("unexpected argument '{s}' (see --help)", .{arg});
        var name = arg[2..];
        var inline_value: ?[]const u8 = null;
        if (std.mem.indexOfScalar(u8, name, '=')) |equals| {
            inline_value = name[equals + 1 ..];
            name = name[0..equals];
        }
        const flag = std.meta.stringToEnum(Flag, name) orelse return fail("unknown flag --{s} (see --help)", .{name});
        var value: []const u8 = "";
        if (flag.takesValue()) {
            if (inline_value) |text| {
                value = text;
            } else {
                index += 1;
                if (index == args.len) return fail("--{s} needs a value", .{name});
                value = args[index];
            }
        } else if (inline_value != null) {
            return fail("--{s} takes no value", .{name});
        }
        if (given.contains(flag)) return fail("--{s} given twice", .{name});
        given.insert(flag);
        try apply(&config, flag, value);
    }
    try checkAcross(&config, given);
    return config;
}

fn apply(config: *Config, flag: Flag, value: []const u8) ParseError!void {
    const name = @tagName(flag);
    switch (flag) {
        .help => return error.Help,
        .server => try parseServer(config, value),
        .conns => config.conns = @intCast(try parseCount(name, value, 1, connections_max)),
        .duration => config.duration_ns = try parseSeconds(name, value, false, duration_s_max),
        .warmup => config.warmup_ns = try parseSeconds(name, value, true, warmup_s_max),
        .@"preload-timeout" => config.preload_timeout_ns = try parseSeconds(name, value, false, preload_timeout_s_max),
        .keys => config.keys = @intCast(try parseCount(name, value, 1, keys_max)),
        .@"value-size" => {
            config.value_min_bytes = @intCast(try parseCount(name, value, 0, value_bytes_max));
            config.value_max_bytes = config.value_min_bytes;
        },
        .@"value-min" => config.value_min_bytes = @intCast(try parseCount(name, value, 0, value_bytes_max)),
        .@"value-max" => config.value_max_bytes = @intCast(try parseCount(name, value, 0, value_bytes_max)),
        .@"get-ratio" => config.get_ratio = try parseRatio(name, value),
        .@"set-only" => config.get_ratio = 0,
        .multiget => config.multiget = @intCast(try parseCount(name, value, 1, multiget_keys_max)),
        .pipeline => config.pipeline = @intCast(try parseCount(name, value, 1, pipeline_max)),
        .preload => config.preload = true,
        .noreply => config.noreply = true,
        .meta => config.meta = true,
        .seed => config.seed = try parseCount(name, value, 0, std.math.maxInt(u64)),
        .cpu => config.cpu = @intCast(try parseCount(name, value, 0, std.os.linux.CPU_SETSIZE * 8 - 1)),
        .@"max-ops" => config.ops_max = try parseCount(name, value, 1, std.math.maxInt(u64)),
        .binary => config.binary = true,
    }
}

fn checkAcross(config: *Config, given: Given) ParseError!void {
    const range_given = given.contains(.@"value-min") or given.contains(.@"value-max");
    if (given.contains(.@"value-size") and range_given) {
        return fail("--value-size excludes --value-min/--value-max", .{});
    }
    // One end of a range alone widens or narrows the default size.
    if (given.contains(.@"value-min") and !given.contains(.@"value-max")) {
        config.value_max_bytes = @max(config.value_max_bytes, config.value_min_bytes);
    }
    if (given.contains(.@"value-max") and !given.contains(.@"value-min")) {
        config.value_min_bytes = @min(config.value_min_bytes, config.value_max_bytes);
    }
    if (config.value_min_bytes > config.value_max_bytes) {
        return fail("--value-min {d} is above --value-max {d}", .{ config.value_min_bytes, config.value_max_bytes });
    }
    if (config.meta and config.binary) return fail("--meta and --binary are two protocols: choose one", .{});
    if (config.meta and config.multiget != 1) {
        return fail("--meta gets one key per request: --multiget must be 1, got {d}", .{config.multiget});
    }
    if (given.contains(.@"set-only") and given.contains(.@"get-ratio") and config.get_ratio != 0) {
        return fail("--set-only contradicts --get-ratio", .{});
    }
    const limits = Limits.derive(config);
    const memory_bytes = @as(u64, config.conns) * limits.connection_bytes;
    if (memory_bytes > memory_bytes_max) {
        return fail("--conns × --pipeline × --value-max need {d} MiB of buffers, above {d} MiB", .{
            memory_bytes >> 20, memory_bytes_max >> 20,
        });
    }
}

fn parseServer(config: *Config, text: []const u8) ParseError!void {
    const colon = std.mem.lastIndexOfScalar(u8, text, ':') orelse return fail("--server: expected HOST:PORT, got '{s}'", .{text});
    var host = text[0..colon];
    if (host.len >= 2 and host[0] == '[' and host[host.len - 1] == ']') host = host[1 .. host.len - 1];
    if (std.mem.eql(u8, host, "localhost")) host = "127.0.0.1";
    const port: u16 = @intCast(try parseCount("server", text[colon + 1 ..], 1, std.math.maxInt(u16)));
    config.server = std.net.Address.parseIp(host, port) catch {
        return fail("--server: '{s}' is not an IP address", .{host});
    };
    config.server_text = text;
}

fn parseCount(name: []const u8, text: []const u8, min: u64, max: u64) ParseError!u64 {
    assert(min <= max);
    const value = std.fmt.parseInt(u64, text, 10) catch {
        return fail("--{s}: expected an integer in {d}..{d}, got '{s}'", .{ name, min, max, text });
    };
    if (value < min or value > max) {
        return fail("--{s}: {d} is outside {d}..{d}", .{ name, value, min, max });
    }
    return value;
}

/// Seconds (fractions allowed) → nanoseconds, rounded.
fn parseSeconds(name: []const u8, text: []const u8, zero_allowed: bool, max_s: u64) ParseError!u64 {
    const seconds = std.fmt.parseFloat(f64, text) catch {
        return fail("--{s}: expected seconds, got '{s}'", .{ name, text });
    };
    const max: f64 = @floatFromInt(max_s);
    if (!std.math.isFinite(seconds) or seconds < 0 or seconds > max or (seconds == 0 and !zero_allowed)) {
        return fail("--{s}: {s} seconds is outside {s}..{d}", .{ name, text, if (zero_allowed) "0" else "(0", max_s });
    }
    const ns: u64 = @intFromFloat(@round(seconds * std.time.ns_per_s));
    if (ns == 0 and !zero_allowed) return fail("--{s}: {s} seconds rounds to 0 ns", .{ name, text });
    return ns;
}

fn parseRatio(name: []const u8, text: []const u8) ParseError!f64 {
    const ratio = std.fmt.parseFloat(f64, text) catch {
        return fail("--{s}: expected a number in 0..1, got '{s}'", .{ name, text });
    };
    if (!std.math.isFinite(ratio) or ratio < 0 or ratio > 1) {
        return fail("--{s}: {s} is outside 0..1", .{ name, text });
    }
    return ratio;
}

fn fail(comptime format: []const u8, args: anytype) ParseError {
    if (!@import("builtin").is_test) std.debug.print("mcload: " ++ format ++ "\n", args);
    return error.Usage;
}

test "defaults and flags" {
    const config = try parse(&.{ "--server", "127.0.0.1:22001", "--conns=200", "--duration", "0.5", "--preload" });
    try std.testing.expectEqual(@as(u32, 200), config.conns);
    try std.testing.expectEqual(@as(u64, 500 * std.time.ns_per_ms), config.duration_ns);
    try std.testing.expectEqual(@as(u16, 22001), config.server.getPort());
    try std.testing.expect(config.preload);
    try std.testing.expectEqual(@as(f64, 0.9), config.get_ratio);
}

test "value sizes" {
    const range = try parse(&.{ "--value-min", "1024", "--value-max", "10240" });
    try std.testing.expectEqual(@as(u32, 1024), range.value_min_bytes);
    try std.testing.expectEqual(@as(u32, 10240), range.value_max_bytes);
    const fixed = try parse(&.{ "--value-size", "7" });
    try std.testing.expectEqual(@as(u32, 7), fixed.value_max_bytes);
    try std.testing.expectError(error.Usage, parse(&.{ "--value-size", "7", "--value-max", "9" }));
    try std.testing.expectError(error.Usage, parse(&.{ "--value-min", "9", "--value-max", "7" }));
}

test "usage errors name the flag" {
    try std.testing.expectError(error.Usage, parse(&.{"--conns"}));
    try std.testing.expectError(error.Usage, parse(&.{ "--conns", "0" }));
    try std.testing.expectError(error.Usage, parse(&.{ "--get-ratio", "1.5" }));
    try std.testing.expectError(error.Usage, parse(&.{ "--duration", "0" }));
    try std.testing.expectError(error.Usage, parse(&.{"--bogus"}));
    try std.testing.expectError(error.Usage, parse(&.{ "--set-only", "--get-ratio", "0.5" }));
    try std.testing.expectError(error.Usage, parse(&.{ "--server", "nohost" }));
    try std.testing.expectError(error.Usage, parse(&.{ "--conns", "4096", "--pipeline", "1024", "--value-size", "1000000" }));
    try std.testing.expectError(error.Help, parse(&.{"--help"}));
    try std.testing.expectEqual(@as(f64, 0), (try parse(&.{"--set-only"})).get_ratio);
}

test "limits hold a full pipeline" {
    const config = try parse(&.{ "--pipeline", "8", "--multiget", "10", "--value-max", "10240", "--value-min", "1024" });
    const limits = Limits.derive(&config);
    try std.testing.expectEqual(@as(u32, 8), limits.inflight_max);
    try std.testing.expect(limits.write_buffer_bytes >= 8 * request.setBytesMax(10240, false));
    try std.testing.expectEqual(read_buffer_bytes_max, limits.read_buffer_bytes);
}
