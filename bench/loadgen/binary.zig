//! memcached's binary protocol for mcload --binary: request frames written into a caller's buffer,
//! and a response parser that yields the same steps as the text parser (reply.zig), so the
//! connection's bookkeeping is shared.
//!
//! Requests: a get of one key is GETK; of K keys, K GETKQ then a NOOP (libmemcached's multi-get).
//! A set is SET (SETQ with --noreply), flags 0, exptime 0. Opaque and cas are 0.
//! Responses: GETK/GETKQ hits are value_header (the key, in place), value_data, value_end; a GETK
//! (hit or miss) then ends its request (`end`), a NOOP ends a multi-get. SET's status gives stored,
//! exists, not_found, not_stored or error_reply. Value data is consumed as it arrives; every other
//! frame must be whole in the buffer (at most header + extras + key, or an error message).
const std = @import("std");
const assert = std.debug.assert;
const reply = @import("reply.zig");
const request = @import("request.zig");

pub const header_bytes = 24;
const magic_request = 0x80;
const magic_response = 0x81;
const opcode_set = 0x01;
const opcode_setq = 0x11;
const opcode_noop = 0x0a;
const opcode_getk = 0x0c;
const opcode_getkq = 0x0d;
const set_extras_bytes = 8;
const get_extras_bytes = 4;
/// A response frame other than a value's data: header, extras and key, or an error's message.
pub const frame_bytes_max = 1024;

comptime {
    assert(header_bytes + get_extras_bytes + request.key_bytes <= frame_bytes_max);
    assert(frame_bytes_max < reply.line_bytes_max);
}

/// Bytes of a get of K keys.
pub fn getBytes(keys_count: u32) usize {
    assert(keys_count >= 1);
    if (keys_count == 1) return header_bytes + request.key_bytes;
    return keys_count * (header_bytes + request.key_bytes) + header_bytes;
}

/// Bytes of a set of value_bytes_max.
pub fn setBytesMax(value_bytes_max: u32) usize {
    return header_bytes + set_extras_bytes + request.key_bytes + value_bytes_max;
}

fn writeHeader(out: []u8, opcode: u8, key_len: usize, extras_len: usize, body_len: usize) void {
    @memset(out[0..header_bytes], 0);
    out[0] = magic_request;
    out[1] = opcode;
    std.mem.writeInt(u16, out[2..4], @intCast(key_len), .big);
    out[4] = @intCast(extras_len);
    std.mem.writeInt(u32, out[8..12], @intCast(body_len), .big);
}

/// A get of the keys; returns the bytes written (exactly getBytes(K)).
pub fn composeGet(out: []u8, key_indexes: []const u32) usize {
    const size = getBytes(@intCast(key_indexes.len));
    assert(out.len >= size);
    var position: usize = 0;
    const opcode: u8 = if (key_indexes.len == 1) opcode_getk else opcode_getkq;
    for (key_indexes) |index| {
        writeHeader(out[position..], opcode, request.key_bytes, 0, request.key_bytes);
        request.writeKey(out[position + header_bytes ..], index);
        position += header_bytes + request.key_bytes;
    }
    if (key_indexes.len > 1) {
        writeHeader(out[position..], opcode_noop, 0, 0, 0);
        position += header_bytes;
    }
    assert(position == size);
    return position;
}

/// A set (SETQ when noreply) of `value`; returns the bytes written.
pub fn composeSet(out: []u8, key_index: u64, value: []const u8, noreply: bool) usize {
    const size = setBytesMax(@intCast(value.len));
    assert(out.len >= size);
    const body = set_extras_bytes + request.key_bytes + value.len;
    writeHeader(out, if (noreply) opcode_setq else opcode_set, request.key_bytes, set_extras_bytes, body);
    @memset(out[header_bytes..][0..set_extras_bytes], 0);
    request.writeKey(out[header_bytes + set_extras_bytes ..], key_index);
    @memcpy(out[header_bytes + set_extras_bytes + request.key_bytes ..][0..value.len], value);
    return size;
}

pub const Parser = struct {
    phase: enum { frame, data, value_end, after_value } = .frame,
    data_remaining_bytes: u64 = 0,
    /// The value being read came from a GETK: its request ends after it.
    ends_request: bool = false,

    pub fn atLineStart(parser: *const Parser) bool {
        return parser.phase == .frame;
    }

    /// A value's end (and a GETK's request end) is due without more input.
    pub fn owesStep(parser: *const Parser) bool {
        return parser.phase == .value_end or parser.phase == .after_value;
    }

    pub fn step(parser: *Parser, input: []const u8, expect: reply.Expect) reply.Step {
        switch (parser.phase) {
            .frame => return parser.stepFrame(input, expect),
            .data => {
                if (input.len == 0) return .{ .kind = .need_more, .consumed = 0 };
                const take = @min(input.len, parser.data_remaining_bytes);
                parser.data_remaining_bytes -= take;
                if (parser.data_remaining_bytes == 0) parser.phase = .value_end;
                return .{ .kind = .value_data, .consumed = @intCast(take) };
            },
            .value_end => {
                parser.phase = if (parser.ends_request) .after_value else .frame;
                return .{ .kind = .value_end, .consumed = 0 };
            },
            .after_value => {
                parser.phase = .frame;
                return .{ .kind = .end, .consumed = 0 };
            },
        }
    }

    fn stepFrame(parser: *Parser, input: []const u8, expect: reply.Expect) reply.Step {
        if (input.len < header_bytes) return .{ .kind = .need_more, .consumed = 0 };
        if (input[0] != magic_response) return violation("response magic is not 0x81");
        const opcode = input[1];
        const key_len = std.mem.readInt(u16, input[2..4], .big);
        const extras_len = input[4];
        const status = std.mem.readInt(u16, input[6..8], .big);
        const body_len = std.mem.readInt(u32, input[8..12], .big);
        if (@as(u64, key_len) + extras_len > body_len) return violation("extras + key longer than the body");
        if (body_len > reply.value_bytes_max) return violation("body longer than 1 GiB");
        const fixed = header_bytes + extras_len + key_len;
        const is_get = opcode == opcode_getk or opcode == opcode_getkq;
        if (is_get and status == 0 and expect == .retrieval) {
            if (fixed > frame_bytes_max) return violation("get response header too long");
            if (input.len < fixed) return .{ .kind = .need_more, .consumed = 0 };
            parser.ends_request = opcode == opcode_getk;
            parser.data_remaining_bytes = body_len - extras_len - key_len;
            parser.phase = if (parser.data_remaining_bytes == 0) .value_end else .data;
            const key = input[header_bytes + extras_len ..][0..key_len];
            return .{ .kind = .value_header, .consumed = fixed, .key = key };
        }
        const total = header_bytes + @as(usize, body_len);
        if (total > frame_bytes_max) return violation("response frame too long");
        if (input.len < total) return .{ .kind = .need_more, .consumed = 0 };
        const frame = input[0..total];
        const kind: reply.Kind = switch (expect) {
            .retrieval => if (opcode == opcode_noop or (opcode == opcode_getk and status == 1))
                .end
            else if (status != 0) .error_reply else .violation,
            .storage => if (opcode != opcode_set) .violation else switch (status) {
                0 => .stored,
                1 => .not_found,
                2 => .exists,
                5 => .not_stored,
                else => .error_reply,
            },
            // Meta requests are never sent with --binary (config.zig refuses both).
            .meta_retrieval, .meta_storage => unreachable,
        };
        if (kind == .violation) return violation("response does not answer the request");
        return .{ .kind = kind, .consumed = total, .line = frame[header_bytes + extras_len + key_len ..] };
    }
};

fn violation(text: []const u8) reply.Step {
    return .{ .kind = .violation, .consumed = 0, .line = text };
}

// ---------------------------------------------------------------------------------------------
// Tests: no sockets; every response is fed in every split, and the steps must match.

fn response(out: []u8, opcode: u8, status: u16, key: []const u8, extras_len: u8, value: []const u8) usize {
    @memset(out[0..header_bytes], 0);
    out[0] = magic_response;
    out[1] = opcode;
    std.mem.writeInt(u16, out[2..4], @intCast(key.len), .big);
    out[4] = extras_len;
    std.mem.writeInt(u16, out[6..8], status, .big);
    const body = extras_len + key.len + value.len;
    std.mem.writeInt(u32, out[8..12], @intCast(body), .big);
    @memset(out[header_bytes..][0..extras_len], 0);
    @memcpy(out[header_bytes + extras_len ..][0..key.len], key);
    @memcpy(out[header_bytes + extras_len + key.len ..][0..value.len], value);
    return header_bytes + body;
}

fn expectEverySplit(stream: []const u8, expect: reply.Expect, kinds: []const reply.Kind) !void {
    for (0..stream.len + 1) |split| {
        var parser: Parser = .{};
        var seen: [32]reply.Kind = undefined;
        var count: usize = 0;
        var start: usize = 0;
        var end: usize = split;
        while (true) {
            const result = parser.step(stream[start..end], expect);
            if (result.kind == .need_more) {
                if (end == stream.len) break;
                end = stream.len;
                continue;
            }
            if (result.kind != .value_data) {
                seen[count] = result.kind;
                count += 1;
            }
            if (result.kind == .violation) break;
            start += result.consumed;
            if (start == stream.len and parser.atLineStart()) break;
        }
        try std.testing.expectEqualSlices(reply.Kind, kinds, seen[0..count]);
    }
}

test "get responses: a GETK hit or miss ends its request; GETKQ hits then a NOOP" {
    var buf: [512]u8 = undefined;
    var n = response(&buf, opcode_getk, 0, "mcl:0000000001", 4, "hello");
    try expectEverySplit(buf[0..n], .retrieval, &.{ .value_header, .value_end, .end });
    n = response(&buf, opcode_getk, 1, "mcl:0000000001", 0, "");
    try expectEverySplit(buf[0..n], .retrieval, &.{.end});
    n = response(&buf, opcode_getkq, 0, "mcl:0000000001", 4, "ab");
    n += response(buf[n..], opcode_getkq, 0, "mcl:0000000002", 4, "");
    n += response(buf[n..], opcode_noop, 0, "", 0, "");
    try expectEverySplit(buf[0..n], .retrieval, &.{ .value_header, .value_end, .value_header, .value_end, .end });
}

test "set responses and errors" {
    var buf: [256]u8 = undefined;
    var n = response(&buf, opcode_set, 0, "", 0, "");
    try expectEverySplit(buf[0..n], .storage, &.{.stored});
    n = response(&buf, opcode_set, 2, "", 0, "Data exists for key.");
    try expectEverySplit(buf[0..n], .storage, &.{.exists});
    n = response(&buf, opcode_set, 0x82, "", 0, "Out of memory");
    try expectEverySplit(buf[0..n], .storage, &.{.error_reply});
    n = response(&buf, opcode_set, 0, "", 0, "");
    try expectEverySplit(buf[0..n], .retrieval, &.{.violation});
    buf[0] = 0x80;
    try expectEverySplit(buf[0..n], .storage, &.{.violation});
}

test "requests: a get of one key is GETK, of three is GETKQ x3 + NOOP; a set carries its value" {
    var buf: [256]u8 = undefined;
    const keys = [_]u32{ 1, 2, 3 };
    try std.testing.expectEqual(getBytes(1), composeGet(&buf, keys[0..1]));
    try std.testing.expectEqual(@as(u8, opcode_getk), buf[1]);
    try std.testing.expectEqual(getBytes(3), composeGet(&buf, &keys));
    try std.testing.expectEqual(@as(u8, opcode_getkq), buf[1]);
    try std.testing.expectEqual(@as(u8, opcode_noop), buf[3 * (header_bytes + request.key_bytes) + 1]);
    const n = composeSet(&buf, 7, "value", false);
    try std.testing.expectEqual(setBytesMax(5), n);
    try std.testing.expectEqualStrings("mcl:0000000007value", buf[header_bytes + set_extras_bytes .. n]);
}
