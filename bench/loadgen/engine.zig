//! Engine: owns the connections, their buffers and the epoll instance, and runs phases.
//!
//! Everything is allocated in init, before the first connection; after that nothing is. Epoll is
//! level-triggered: EPOLLIN is always in the interest set, EPOLLOUT only while a connection has
//! bytes it could not write or more noreply sets to issue, so a full pipeline waiting for replies
//! costs no wakeups. Each ready connection is served as: read once and parse every complete reply
//! → issue requests until `depth` are in flight → write. One clock reading per ready connection
//! stamps both the replies it completes and the requests it sends.
const std = @import("std");
const posix = std.posix;
const linux = std.os.linux;
const assert = std.debug.assert;
const config_module = @import("config.zig");
const Config = config_module.Config;
const Limits = config_module.Limits;
const connection = @import("connection.zig");
const Connection = connection.Connection;
const Workload = @import("workload.zig").Workload;
const Histogram = @import("histogram.zig").Histogram;
const stats = @import("stats.zig");
const request = @import("request.zig");

/// Ready connections taken per epoll_wait.
const events_max = 512;
/// Longest sleep in epoll_wait, so deadlines are checked even when nothing happens.
const wait_ms_max = 100;
/// A connect that takes longer fails (SO_SNDTIMEO bounds a blocking connect on Linux).
const connect_timeout_ms = 2000;
/// Closed connections reported one by one on stderr; the rest are only counted.
const close_reports_max = 8;

pub const Until = struct {
    /// Return once the preload has issued every key and every reply is in.
    preload_done: bool = false,
    /// Return once the current counters reach this many ops.
    ops_max: ?u64 = null,
};

pub const Outcome = enum { done, deadline, ops_max, no_connections };

pub const Engine = struct {
    config: *const Config,
    limits: Limits,
    connections: []Connection,
    epoll_fd: posix.fd_t = -1,
    open_count: u32 = 0,
    closed_count: u32 = 0,
    workload: Workload,
    histogram: *Histogram,
    shared: connection.Shared,
    preload_counters: stats.Counters = .{},
    warmup_counters: stats.Counters = .{},
    measured_counters: stats.Counters = .{},

    /// Allocates every buffer of the run. The engine must not move afterwards (shared points into it).
    pub fn init(engine: *Engine, allocator: std.mem.Allocator, config: *const Config) !void {
        const limits = Limits.derive(config);
        const connections = try allocator.alloc(Connection, config.conns);
        const value_pattern = try allocator.alloc(u8, config.value_max_bytes);
        request.fillValuePattern(value_pattern);
        const histogram = try allocator.create(Histogram);
        histogram.* = .{};
        engine.* = .{
            .config = config,
            .limits = limits,
            .connections = connections,
            .workload = Workload.init(config),
            .histogram = histogram,
            .shared = undefined,
        };
        engine.shared = .{
            .workload = &engine.workload,
            .counters = &engine.warmup_counters,
            .histogram = null,
            .value_pattern = value_pattern,
            .request_bytes_max = limits.request_bytes_max,
            .meta = config.meta,
            .depth = config.pipeline,
            .binary = config.binary,
        };
        for (connections, 0..) |*conn, id| {
            const buffers: Connection.Buffers = .{
                .read = try allocator.alloc(u8, limits.read_buffer_bytes),
                .write = try allocator.alloc(u8, limits.write_buffer_bytes),
                .inflight = try allocator.alloc(connection.InFlight, limits.inflight_max),
                .inflight_keys = try allocator.alloc(u32, limits.inflight_max * config.multiget),
            };
            conn.* = Connection.init(-1, @intCast(id), buffers, config.multiget);
            conn.open = false;
        }
        engine.epoll_fd = try posix.epoll_create1(linux.EPOLL.CLOEXEC);
    }

    /// Opens every connection (blocking connect, then non-blocking, TCP_NODELAY) and registers it.
    pub fn connectAll(engine: *Engine) !void {
        for (engine.connections) |*conn| {
            conn.fd = try connectOne(engine.config.server);
            conn.open = true;
            engine.open_count += 1;
            var event: linux.epoll_event = .{ .events = linux.EPOLL.IN, .data = .{ .u32 = conn.id } };
            try posix.epoll_ctl(engine.epoll_fd, linux.EPOLL.CTL_ADD, conn.fd, &event);
        }
    }

    pub fn startPreload(engine: *Engine) void {
        engine.workload.mode = .preload;
        engine.shared.counters = &engine.preload_counters;
        engine.shared.depth = @max(engine.config.pipeline, config_module.preload_pipeline);
        assert(engine.shared.depth <= engine.limits.inflight_max);
        engine.kickAll();
    }

    pub fn startWarmup(engine: *Engine) void {
        engine.workload.mode = .mixed;
        engine.shared.counters = &engine.warmup_counters;
        engine.shared.depth = engine.config.pipeline;
        engine.kickAll();
    }

    /// From here on, counts and latencies go to the measurement; pipelines stay full across.
    pub fn startMeasurement(engine: *Engine) void {
        assert(engine.workload.mode == .mixed);
        engine.shared.counters = &engine.measured_counters;
        engine.shared.histogram = engine.histogram;
    }

    /// After the measurement: late replies are no longer counted.
    pub fn stopMeasurement(engine: *Engine) void {
        engine.shared.counters = &engine.warmup_counters;
        engine.shared.histogram = null;
    }

    pub fn preloadDone(engine: *const Engine) bool {
        return engine.workload.preloadIssued() and engine.shared.inflight_total == 0;
    }

    /// Serves ready connections until the deadline or the `until` condition.
    pub fn runUntil(engine: *Engine, deadline_ns: u64, until: Until) Outcome {
        var events: [events_max]linux.epoll_event = undefined;
        while (true) {
            if (until.preload_done and engine.preloadDone()) return .done;
            if (until.ops_max) |ops_max| {
                if (engine.shared.counters.ops() >= ops_max) return .ops_max;
            }
            if (engine.open_count == 0) return .no_connections;
            const now_ns = nowNs();
            if (now_ns >= deadline_ns) return .deadline;
            const wait_ms = @min(wait_ms_max, std.math.divCeil(u64, deadline_ns - now_ns, std.time.ns_per_ms) catch unreachable);
            const ready = posix.epoll_wait(engine.epoll_fd, &events, @intCast(wait_ms));
            for (events[0..ready]) |event| {
                const conn = &engine.connections[event.data.u32];
                if (conn.open) engine.serve(conn, event.events);
            }
        }
    }

    fn serve(engine: *Engine, conn: *Connection, events: u32) void {
        const now_ns = nowNs();
        if (events & (linux.EPOLL.IN | linux.EPOLL.ERR | linux.EPOLL.HUP) != 0) {
            if (conn.receive(&engine.shared, now_ns)) |reason| return engine.close(conn, reason);
        }
        engine.drive(conn, now_ns);
    }

    /// Issues requests and writes them; asks for EPOLLOUT only while there is more to write.
    fn drive(engine: *Engine, conn: *Connection, now_ns: u64) void {
        const more = conn.refill(&engine.shared, now_ns);
        if (conn.flush(&engine.shared)) |reason| return engine.close(conn, reason);
        const out_wanted = more or conn.writePending();
        if (out_wanted == conn.out_interest) return;
        const out_flag: u32 = if (out_wanted) linux.EPOLL.OUT else 0;
        var event: linux.epoll_event = .{
            .events = linux.EPOLL.IN | out_flag,
            .data = .{ .u32 = conn.id },
        };
        posix.epoll_ctl(engine.epoll_fd, linux.EPOLL.CTL_MOD, conn.fd, &event) catch {
            return engine.close(conn, .write_failed);
        };
        conn.out_interest = out_wanted;
    }

    /// After a phase change: connections with an idle pipeline get no events until they send.
    fn kickAll(engine: *Engine) void {
        const now_ns = nowNs();
        for (engine.connections) |*conn| {
            if (conn.open) engine.drive(conn, now_ns);
        }
    }

    fn close(engine: *Engine, conn: *Connection, reason: connection.CloseReason) void {
        assert(conn.open);
        if (engine.closed_count < close_reports_max) {
            std.debug.print("mcload: connection {d} closed: {s} ({d} requests in flight)\n", .{
                conn.id, @tagName(reason), conn.count,
            });
        }
        posix.close(conn.fd);
        conn.open = false;
        assert(engine.shared.inflight_total >= conn.count);
        engine.shared.inflight_total -= conn.count;
        conn.count = 0;
        engine.open_count -= 1;
        engine.closed_count += 1;
    }

    pub fn closeAll(engine: *Engine) void {
        for (engine.connections) |*conn| {
            if (!conn.open) continue;
            posix.close(conn.fd);
            conn.open = false;
        }
        engine.open_count = 0;
        if (engine.epoll_fd >= 0) posix.close(engine.epoll_fd);
        engine.epoll_fd = -1;
    }
};

fn connectOne(address: std.net.Address) !posix.fd_t {
    const fd = try posix.socket(address.any.family, posix.SOCK.STREAM | posix.SOCK.CLOEXEC, posix.IPPROTO.TCP);
    errdefer posix.close(fd);
    const timeout: posix.timeval = .{ .sec = connect_timeout_ms / 1000, .usec = (connect_timeout_ms % 1000) * 1000 };
    try posix.setsockopt(fd, posix.SOL.SOCKET, posix.SO.SNDTIMEO, std.mem.asBytes(&timeout));
    try posix.connect(fd, &address.any, address.getOsSockLen());
    const one: c_int = 1;
    try posix.setsockopt(fd, posix.IPPROTO.TCP, posix.TCP.NODELAY, std.mem.asBytes(&one));
    const flags = try posix.fcntl(fd, posix.F.GETFL, 0);
    const nonblock: usize = 1 << @bitOffsetOf(posix.O, "NONBLOCK");
    _ = try posix.fcntl(fd, posix.F.SETFL, flags | nonblock);
    return fd;
}

pub fn nowNs() u64 {
    var now: posix.timespec = undefined;
    posix.clock_gettime(.MONOTONIC, &now) catch unreachable;
    return @as(u64, @intCast(now.sec)) * std.time.ns_per_s + @as(u64, @intCast(now.nsec));
}
