//! Connection: one non-blocking socket, its fixed read and write buffers, and the ring of requests
//! in flight on it. The engine calls receive (read once, parse every complete reply), refill (issue
//! requests until `depth` are in flight) and flush (write what is buffered). No allocation: every
//! buffer is handed in at start-up.
//!
//! A reply completes the request at the head of the ring (memcached answers in order). Gets record
//! one hit per VALUE and a miss for every requested key without one; a VALUE must name the next
//! requested keys in order, else the stream is not ours and the connection is dropped.
const std = @import("std");
const posix = std.posix;
const assert = std.debug.assert;
const reply = @import("reply.zig");
const request = @import("request.zig");
const binary = @import("binary.zig");
const stats = @import("stats.zig");
const Workload = @import("workload.zig").Workload;
const Histogram = @import("histogram.zig").Histogram;

/// What every connection shares during a phase: the op source, where results go, the values.
pub const Shared = struct {
    workload: *Workload,
    /// Switched by the engine per phase (preload, warmup, measurement).
    counters: *stats.Counters,
    /// Latencies are recorded only while measuring.
    histogram: ?*Histogram,
    value_pattern: []const u8,
    request_bytes_max: usize,
    /// Requests in flight per connection in this phase.
    depth: u32,
    /// --binary: requests and replies in memcached's binary protocol (binary.zig).
    binary: bool = false,
    /// --meta: requests in the meta protocol.
    meta: bool = false,
    inflight_total: u64 = 0,
    /// The line of the latest error reply or violation, for the report (copied, bounded).
    last_error: [error_line_bytes_max]u8 = undefined,
    last_error_len: usize = 0,

    const error_line_bytes_max = 120;

    pub fn lastError(shared: *const Shared) []const u8 {
        return shared.last_error[0..shared.last_error_len];
    }

    fn noteError(shared: *Shared, line: []const u8) void {
        const length = @min(line.len, error_line_bytes_max);
        @memcpy(shared.last_error[0..length], line[0..length]);
        shared.last_error_len = length;
    }
};

pub const CloseReason = enum {
    closed_by_server,
    reset,
    read_failed,
    write_failed,
    protocol_violation,
    unexpected_reply,
};

pub const InFlight = struct {
    sent_ns: u64,
    expect: reply.Expect,
    /// Gets: keys asked for, requested keys walked past by VALUE lines, and VALUE lines seen.
    keys_count: u16,
    keys_walked: u16,
    values: u16,
};

pub const Connection = struct {
    fd: posix.fd_t,
    id: u32,
    open: bool = true,
    /// EPOLLOUT is in this connection's interest set.
    out_interest: bool = false,
    read_buffer: []u8,
    read_end: usize = 0,
    write_buffer: []u8,
    write_start: usize = 0,
    write_end: usize = 0,
    parser: reply.Parser = .{},
    binary_parser: binary.Parser = .{},
    /// Ring of requests in flight, oldest at `head`.
    inflight: []InFlight,
    /// multiget key indexes per ring slot.
    inflight_keys: []u32,
    multiget: u32,
    head: u32 = 0,
    count: u32 = 0,
    /// noreply sets in the write buffer; they count as done once the buffer is written out.
    noreply_unwritten: u32 = 0,
    pub fn init(fd: posix.fd_t, id: u32, buffers: Buffers, multiget: u32) Connection {
        assert(buffers.inflight.len >= 1);
        assert(buffers.inflight_keys.len == buffers.inflight.len * multiget);
        assert(buffers.read.len >= 2 * reply.line_bytes_max);
        return .{
            .fd = fd,
            .id = id,
            .read_buffer = buffers.read,
            .write_buffer = buffers.write,
            .inflight = buffers.inflight,
            .inflight_keys = buffers.inflight_keys,
            .multiget = multiget,
        };
    }

    pub const Buffers = struct {
        read: []u8,
        write: []u8,
        inflight: []InFlight,
        inflight_keys: []u32,
    };

    /// Reads once and handles every complete reply in the buffer.
    pub fn receive(conn: *Connection, shared: *Shared, now_ns: u64) ?CloseReason {
        assert(conn.open);
        const free = conn.read_buffer[conn.read_end..];
        assert(free.len >= reply.line_bytes_max);
        const received = posix.read(conn.fd, free) catch |err| switch (err) {
            error.WouldBlock => return null,
            error.ConnectionResetByPeer => return .reset,
            else => return .read_failed,
        };
        if (received == 0) return .closed_by_server;
        conn.read_end += received;
        return conn.parseBuffered(shared, now_ns);
    }

    fn parseBuffered(conn: *Connection, shared: *Shared, now_ns: u64) ?CloseReason {
        var start: usize = 0;
        while (start < conn.read_end or (shared.binary and conn.binary_parser.owesStep())) {
            if (conn.count == 0) return .unexpected_reply;
            const input = conn.read_buffer[start..conn.read_end];
            const expect = conn.inflight[conn.head].expect;
            const step = if (shared.binary) conn.binary_parser.step(input, expect) else conn.parser.step(input, expect);
            if (step.kind == .need_more) break;
            if (step.kind == .violation) {
                shared.noteError(step.line);
                shared.counters.protocol_errors += 1;
                return .protocol_violation;
            }
            // The binary parser ends a value (and a GETK's request) without consuming bytes.
            assert(step.consumed > 0 or (shared.binary and (step.kind == .value_end or step.kind == .end)));
            start += step.consumed;
            if (!conn.handle(shared, step, now_ns)) {
                shared.noteError("VALUE for a key not requested (or out of order)");
                shared.counters.protocol_errors += 1;
                return .protocol_violation;
            }
        }
        // What is left is part of one line (< line_bytes_max) or < 2 bytes: move it to the front.
        const rest = conn.read_end - start;
        assert(rest < reply.line_bytes_max);
        std.mem.copyForwards(u8, conn.read_buffer[0..rest], conn.read_buffer[start..conn.read_end]);
        conn.read_end = rest;
        return null;
    }

    /// Applies one parsed step to the head request; false if a VALUE names a key not requested.
    fn handle(conn: *Connection, shared: *Shared, step: reply.Step, now_ns: u64) bool {
        const head = &conn.inflight[conn.head];
        switch (step.kind) {
            .need_more, .violation => unreachable,
            .value_data, .value_end => {},
            .value_header => {
                if (!conn.walkToKey(head, step.key)) return false;
                head.values += 1;
            },
            .end => {
                assert(head.values <= head.keys_count);
                shared.counters.gets += 1;
                shared.counters.hits += head.values;
                shared.counters.misses += head.keys_count - head.values;
                conn.complete(shared, now_ns, true);
            },
            .stored => {
                shared.counters.sets += 1;
                conn.complete(shared, now_ns, true);
            },
            .not_stored, .exists, .not_found => {
                shared.counters.sets += 1;
                shared.counters.not_stored += 1;
                conn.complete(shared, now_ns, true);
            },
            .error_reply => {
                shared.noteError(step.line);
                shared.counters.error_replies += 1;
                conn.complete(shared, now_ns, false);
            },
        }
        return true;
    }

    /// A VALUE must name one of the head's requested keys, after the ones already walked past.
    fn walkToKey(conn: *Connection, head: *InFlight, key_text: []const u8) bool {
        const index = request.parseKey(key_text) orelse return false;
        const keys = conn.slotKeys(conn.head)[0..head.keys_count];
        while (head.keys_walked < head.keys_count) {
            const candidate = keys[head.keys_walked];
            head.keys_walked += 1;
            if (candidate == index) return true;
        }
        return false;
    }

    fn complete(conn: *Connection, shared: *Shared, now_ns: u64, succeeded: bool) void {
        assert(conn.count > 0);
        assert(conn.parser.atLineStart() and conn.binary_parser.atLineStart());
        const head = conn.inflight[conn.head];
        if (succeeded) {
            if (shared.histogram) |histogram| {
                histogram.record((now_ns -| head.sent_ns) / std.time.ns_per_us);
            }
        }
        conn.head = @intCast((conn.head + 1) % conn.inflight.len);
        conn.count -= 1;
        assert(shared.inflight_total > 0);
        shared.inflight_total -= 1;
    }

    /// Issues requests until shared.depth are in flight. Returns true if it stopped with more to
    /// issue (its round of `depth` requests is spent on noreply sets, or the write buffer is full),
    /// so the engine should wait for writability; false when the pipeline is full or the workload
    /// has nothing left.
    pub fn refill(conn: *Connection, shared: *Shared, now_ns: u64) bool {
        assert(conn.open);
        assert(shared.depth <= conn.inflight.len);
        conn.compactWrite();
        var issued: u32 = 0;
        while (conn.count < shared.depth) {
            if (issued == shared.depth) return true;
            if (conn.write_buffer.len - conn.write_end < shared.request_bytes_max) return true;
            const slot: u32 = @intCast((conn.head + conn.count) % conn.inflight.len);
            const op = shared.workload.next(conn.slotKeys(slot)) orelse return false;
            issued += 1;
            const out = conn.write_buffer[conn.write_end..];
            switch (op) {
                .get => |keys_count| {
                    const keys = conn.slotKeys(slot)[0..keys_count];
                    if (shared.binary) {
                        conn.write_end += binary.composeGet(out, keys);
                    } else if (shared.meta) {
                        assert(keys_count == 1);
                        conn.write_end += request.composeMetaGet(out, keys[0]);
                    } else {
                        conn.write_end += request.composeGet(out, keys);
                    }
                    conn.push(shared, slot, now_ns, if (shared.meta) .meta_retrieval else .retrieval, @intCast(keys_count));
                },
                .set => |set| {
                    const value = shared.value_pattern[0..set.value_bytes];
                    if (shared.binary) {
                        conn.write_end += binary.composeSet(out, set.key, value, set.noreply);
                    } else if (shared.meta) {
                        conn.write_end += request.composeMetaSet(out, set.key, value, set.noreply);
                    } else {
                        conn.write_end += request.composeSet(out, set.key, value, set.noreply);
                    }
                    if (set.noreply) {
                        conn.noreply_unwritten += 1;
                    } else {
                        conn.push(shared, slot, now_ns, if (shared.meta) .meta_storage else .storage, 0);
                    }
                },
            }
        }
        return false;
    }

    fn push(conn: *Connection, shared: *Shared, slot: u32, now_ns: u64, expect: reply.Expect, keys_count: u16) void {
        assert(conn.count < conn.inflight.len);
        conn.inflight[slot] = .{
            .sent_ns = now_ns,
            .expect = expect,
            .keys_count = keys_count,
            .keys_walked = 0,
            .values = 0,
        };
        conn.count += 1;
        shared.inflight_total += 1;
    }

    /// Writes until the buffer is empty or the socket is full.
    pub fn flush(conn: *Connection, shared: *Shared) ?CloseReason {
        assert(conn.open);
        while (conn.write_start < conn.write_end) {
            const pending = conn.write_buffer[conn.write_start..conn.write_end];
            const written = posix.send(conn.fd, pending, posix.MSG.NOSIGNAL) catch |err| switch (err) {
                error.WouldBlock => return null,
                error.ConnectionResetByPeer, error.BrokenPipe => return .reset,
                else => return .write_failed,
            };
            conn.write_start += written;
        }
        conn.write_start = 0;
        conn.write_end = 0;
        shared.counters.sets += conn.noreply_unwritten;
        conn.noreply_unwritten = 0;
        return null;
    }

    pub fn writePending(conn: *const Connection) bool {
        return conn.write_start < conn.write_end;
    }

    fn compactWrite(conn: *Connection) void {
        if (conn.write_start == 0) return;
        const pending = conn.write_end - conn.write_start;
        std.mem.copyForwards(u8, conn.write_buffer[0..pending], conn.write_buffer[conn.write_start..conn.write_end]);
        conn.write_start = 0;
        conn.write_end = pending;
    }

    fn slotKeys(conn: *Connection, slot: u32) []u32 {
        return conn.inflight_keys[slot * conn.multiget ..][0..conn.multiget];
    }
};

// ---------------------------------------------------------------------------------------------
// Tests over a socketpair: the test plays memcached on the far end. No server, no epoll.

const Config = @import("config.zig").Config;
const Counters = stats.Counters;

const Rig = struct {
    fds: [2]posix.fd_t,
    read_buffer: [2 * reply.line_bytes_max]u8 = undefined,
    write_buffer: [4096]u8 = undefined,
    inflight: [4]InFlight = undefined,
    inflight_keys: [4 * 2]u32 = undefined,
    workload: Workload,
    counters: Counters = .{},
    histogram: Histogram = .{},
    shared: Shared = undefined,
    conn: Connection = undefined,

    /// Gets of two keys when get_ratio is 1, sets of 5 bytes when it is 0.
    fn init(rig: *Rig, get_ratio: f64) !void {
        var fds: [2]i32 = undefined;
        const rc = std.os.linux.socketpair(posix.AF.UNIX, posix.SOCK.STREAM | posix.SOCK.NONBLOCK, 0, &fds);
        try std.testing.expectEqual(@as(usize, 0), rc);
        const config: Config = .{ .server = undefined, .get_ratio = get_ratio, .multiget = 2, .value_min_bytes = 5, .value_max_bytes = 5 };
        rig.* = .{ .fds = fds, .workload = Workload.init(&config) };
        rig.shared = .{
            .workload = &rig.workload,
            .counters = &rig.counters,
            .histogram = &rig.histogram,
            .value_pattern = "abcde",
            .request_bytes_max = request.setBytesMax(5, false),
            .depth = 2,
        };
        const buffers: Connection.Buffers = .{
            .read = &rig.read_buffer,
            .write = &rig.write_buffer,
            .inflight = &rig.inflight,
            .inflight_keys = &rig.inflight_keys,
        };
        rig.conn = Connection.init(fds[0], 0, buffers, 2);
    }

    fn deinit(rig: *Rig) void {
        posix.close(rig.fds[0]);
        posix.close(rig.fds[1]);
    }

    /// Issues a full pipeline and returns what the server side reads.
    fn issue(rig: *Rig, out: []u8) ![]const u8 {
        try std.testing.expect(!rig.conn.refill(&rig.shared, 1000));
        try std.testing.expectEqual(@as(?CloseReason, null), rig.conn.flush(&rig.shared));
        const size = try posix.read(rig.fds[1], out);
        return out[0..size];
    }

    fn serve(rig: *Rig, bytes: []const u8, now_ns: u64) !?CloseReason {
        _ = try posix.write(rig.fds[1], bytes);
        return rig.conn.receive(&rig.shared, now_ns);
    }
};

test "gets: hits, misses and latency, with replies split anywhere" {
    var rig: Rig = undefined;
    try rig.init(1);
    defer rig.deinit();
    var requests: [256]u8 = undefined;
    const sent = try rig.issue(&requests);
    // Two lines "get <a> <b>\r\n"; answer the first with its second key only, the second with both.
    var lines = std.mem.splitSequence(u8, sent, "\r\n");
    var first = std.mem.splitScalar(u8, lines.next().?, ' ');
    var second = std.mem.splitScalar(u8, lines.next().?, ' ');
    try std.testing.expectEqualStrings("get", first.next().?);
    try std.testing.expectEqualStrings("get", second.next().?);
    _ = first.next().?;
    const b = first.next().?;
    const c = second.next().?;
    const d = second.next().?;
    var text: [512]u8 = undefined;
    const replies = try std.fmt.bufPrint(&text, "VALUE {s} 0 5\r\nabcde\r\nEND\r\nVALUE {s} 0 1\r\nx\r\nVALUE {s} 0 0 7\r\n\r\nEND\r\n", .{ b, c, d });
    const split = replies.len / 2 + 3;
    try std.testing.expectEqual(@as(?CloseReason, null), try rig.serve(replies[0..split], 51_000));
    try std.testing.expectEqual(@as(?CloseReason, null), try rig.serve(replies[split..], 81_000));
    try std.testing.expectEqual(@as(u64, 2), rig.counters.gets);
    try std.testing.expectEqual(@as(u64, 3), rig.counters.hits);
    try std.testing.expectEqual(@as(u64, 1), rig.counters.misses);
    try std.testing.expectEqual(@as(u64, 0), rig.counters.errors());
    try std.testing.expectEqual(@as(u64, 2), rig.histogram.samples);
    try std.testing.expectEqual(@as(u64, 80), rig.histogram.max_us);
    try std.testing.expectEqual(@as(u32, 0), rig.conn.count);
    try std.testing.expectEqual(@as(u64, 0), rig.shared.inflight_total);
}

test "a VALUE for a key not asked for drops the connection" {
    var rig: Rig = undefined;
    try rig.init(1);
    defer rig.deinit();
    var requests: [256]u8 = undefined;
    _ = try rig.issue(&requests);
    const reason = try rig.serve("VALUE other 0 1\r\nx\r\nEND\r\n", 2000);
    try std.testing.expectEqual(@as(?CloseReason, .protocol_violation), reason);
    try std.testing.expectEqual(@as(u64, 1), rig.counters.protocol_errors);
}

test "sets: stored, refused, error replies; a reply with nothing in flight" {
    var rig: Rig = undefined;
    try rig.init(0);
    defer rig.deinit();
    var requests: [256]u8 = undefined;
    const sent = try rig.issue(&requests);
    try std.testing.expect(std.mem.startsWith(u8, sent, "set mcl:"));
    try std.testing.expectEqual(@as(?CloseReason, null), try rig.serve("SERVER_ERROR out of memory\r\nSTORED\r\n", 2000));
    try std.testing.expectEqual(@as(u64, 1), rig.counters.error_replies);
    try std.testing.expectEqual(@as(u64, 1), rig.counters.sets);
    try std.testing.expectEqualStrings("SERVER_ERROR out of memory", rig.shared.lastError());
    _ = try rig.issue(&requests);
    try std.testing.expectEqual(@as(?CloseReason, null), try rig.serve("NOT_STORED\r\nSTORED\r\n", 3000));
    try std.testing.expectEqual(@as(u64, 1), rig.counters.not_stored);
    try std.testing.expectEqual(@as(u64, 3), rig.counters.sets);
    try std.testing.expectEqual(@as(?CloseReason, .unexpected_reply), try rig.serve("STORED\r\n", 4000));
}

test "the server closing is reported, not a crash" {
    var rig: Rig = undefined;
    try rig.init(0);
    defer posix.close(rig.fds[0]);
    var requests: [256]u8 = undefined;
    _ = try rig.issue(&requests);
    posix.close(rig.fds[1]);
    try std.testing.expectEqual(@as(?CloseReason, .closed_by_server), rig.conn.receive(&rig.shared, 2000));
    // Writing to it fails too, without SIGPIPE.
    rig.conn.write_end = 4;
    try std.testing.expectEqual(@as(?CloseReason, .reset), rig.conn.flush(&rig.shared));
}
