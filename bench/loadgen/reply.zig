//! Reply parser: memcached text-protocol replies, parsed in place, one step at a time.
//!
//! The caller says what the request at the head of its pipeline expects (a retrieval reply to `get`,
//! or a storage reply to `set`) and feeds the unparsed bytes. Each step consumes one line, one
//! chunk of a value's data, or the `\r\n` after the data. Incomplete input is a normal result
//! (`need_more`) and consumes nothing. Value data is consumed as it arrives, so the read buffer need
//! only hold one line (line_bytes_max), never a whole value.
//!
//!   retrieval: ( "VALUE <key> <flags> <bytes>[ <cas>]\r\n" <data> "\r\n" )* "END\r\n"
//!   storage:   "STORED\r\n" | "NOT_STORED\r\n" | "EXISTS\r\n" | "NOT_FOUND\r\n"
//!   either:    "ERROR\r\n" | "CLIENT_ERROR <text>\r\n" | "SERVER_ERROR <text>\r\n"
//!   meta retrieval (`mg <key> v k`): "VA <bytes> k<key>\r\n" <data> "\r\n" | "EN\r\n"; the CRLF
//!              after the data ends the reply (`end`, no `value_end`)
//!   meta storage (`ms`): "HD\r\n" | "NS\r\n" | "EX\r\n" | "NF\r\n"
//!
//! Anything else is a `violation`: the stream can no longer be framed and the caller drops it.
const std = @import("std");
const assert = std.debug.assert;

/// A reply line longer than this without `\n` is a violation (memcached's own request limit).
pub const line_bytes_max = 2048;
/// Largest value length accepted in a VALUE line (memcached's -I maximum is 1 GiB).
pub const value_bytes_max: u64 = 1 << 30;

pub const Expect = enum { retrieval, storage, meta_retrieval, meta_storage };

pub const Kind = enum {
    need_more,
    /// A VALUE line; `key` holds the key; its data follows.
    value_header,
    /// Some bytes of a value's data (perhaps all of it).
    value_data,
    /// The `\r\n` after a value's data.
    value_end,
    /// `END`: a retrieval reply is complete.
    end,
    stored,
    not_stored,
    exists,
    not_found,
    /// ERROR, CLIENT_ERROR or SERVER_ERROR: the reply to this request is complete.
    error_reply,
    violation,
};

pub const Step = struct {
    kind: Kind,
    consumed: usize,
    /// value_header only: a slice of the input.
    key: []const u8 = "",
    /// error_reply and violation: the offending line (or a fixed description).
    line: []const u8 = "",
};

pub const Parser = struct {
    phase: enum { line, data, data_end } = .line,
    data_remaining_bytes: u64 = 0,
    /// The value being read is a meta reply's: its CRLF ends the reply.
    meta_value: bool = false,

    pub fn step(parser: *Parser, input: []const u8, expect: Expect) Step {
        return switch (parser.phase) {
            .line => parser.stepLine(input, expect),
            .data => parser.stepData(input),
            .data_end => parser.stepDataEnd(input),
        };
    }

    /// True between replies: no VALUE data is half consumed.
    pub fn atLineStart(parser: *const Parser) bool {
        return parser.phase == .line;
    }

    fn stepData(parser: *Parser, input: []const u8) Step {
        assert(parser.data_remaining_bytes > 0);
        if (input.len == 0) return .{ .kind = .need_more, .consumed = 0 };
        const take = @min(input.len, parser.data_remaining_bytes);
        parser.data_remaining_bytes -= take;
        if (parser.data_remaining_bytes == 0) parser.phase = .data_end;
        return .{ .kind = .value_data, .consumed = @intCast(take) };
    }

    fn stepDataEnd(parser: *Parser, input: []const u8) Step {
        if (input.len < 2) return .{ .kind = .need_more, .consumed = 0 };
        if (input[0] != '\r' or input[1] != '\n') {
            return .{ .kind = .violation, .consumed = 0, .line = "value data not followed by \\r\\n" };
        }
        parser.phase = .line;
        if (parser.meta_value) return .{ .kind = .end, .consumed = 2 };
        return .{ .kind = .value_end, .consumed = 2 };
    }

    fn stepLine(parser: *Parser, input: []const u8, expect: Expect) Step {
        const window = input[0..@min(input.len, line_bytes_max)];
        const newline = std.mem.indexOfScalar(u8, window, '\n') orelse {
            if (input.len >= line_bytes_max) {
                return .{ .kind = .violation, .consumed = 0, .line = "reply line longer than 2048 bytes" };
            }
            return .{ .kind = .need_more, .consumed = 0 };
        };
        if (newline == 0 or input[newline - 1] != '\r') {
            return .{ .kind = .violation, .consumed = 0, .line = "reply line not ended by \\r\\n" };
        }
        const line = input[0 .. newline - 1];
        const consumed = newline + 1;
        if (errorReply(line)) return .{ .kind = .error_reply, .consumed = consumed, .line = line };
        const kind: Kind = switch (expect) {
            .retrieval => return parser.retrievalLine(line, consumed),
            .storage => storageLine(line),
            .meta_retrieval => return parser.metaRetrievalLine(line, consumed),
            .meta_storage => metaStorageLine(line),
        };
        return .{ .kind = kind, .consumed = consumed, .line = line };
    }

    fn retrievalLine(parser: *Parser, line: []const u8, consumed: usize) Step {
        if (std.mem.eql(u8, line, "END")) return .{ .kind = .end, .consumed = consumed };
        return parser.valueHeader(parseValueLine(line), line, consumed, false);
    }

    fn metaRetrievalLine(parser: *Parser, line: []const u8, consumed: usize) Step {
        if (std.mem.eql(u8, line, "EN")) return .{ .kind = .end, .consumed = consumed };
        return parser.valueHeader(parseMetaValueLine(line), line, consumed, true);
    }

    /// A value's header line (text `VALUE` or meta `VA`): its data comes next; null: a violation.
    fn valueHeader(parser: *Parser, parsed: ?ValueLine, line: []const u8, consumed: usize, meta: bool) Step {
        const header = parsed orelse return .{ .kind = .violation, .consumed = 0, .line = line };
        if (header.data_bytes == 0) {
            parser.phase = .data_end;
        } else {
            parser.phase = .data;
            parser.data_remaining_bytes = header.data_bytes;
        }
        parser.meta_value = meta;
        return .{ .kind = .value_header, .consumed = consumed, .key = header.key };
    }
};

fn metaStorageLine(line: []const u8) Kind {
    if (std.mem.eql(u8, line, "HD")) return .stored;
    if (std.mem.eql(u8, line, "NS")) return .not_stored;
    if (std.mem.eql(u8, line, "EX")) return .exists;
    if (std.mem.eql(u8, line, "NF")) return .not_found;
    return .violation;
}

/// `VA <bytes> k<key>`, as memcached writes the reply to `mg <key> v k`.
fn parseMetaValueLine(line: []const u8) ?ValueLine {
    var tokens = std.mem.splitScalar(u8, line, ' ');
    const verb = tokens.next() orelse return null;
    if (!std.mem.eql(u8, verb, "VA")) return null;
    const bytes_text = tokens.next() orelse return null;
    const data_bytes = std.fmt.parseInt(u64, bytes_text, 10) catch return null;
    if (data_bytes > value_bytes_max) return null;
    const key_flag = tokens.next() orelse return null;
    if (key_flag.len < 2 or key_flag[0] != 'k' or key_flag.len > 251) return null;
    if (tokens.next() != null) return null;
    return .{ .key = key_flag[1..], .data_bytes = data_bytes };
}

fn errorReply(line: []const u8) bool {
    return std.mem.eql(u8, line, "ERROR") or
        std.mem.startsWith(u8, line, "CLIENT_ERROR ") or
        std.mem.startsWith(u8, line, "SERVER_ERROR ");
}

fn storageLine(line: []const u8) Kind {
    if (std.mem.eql(u8, line, "STORED")) return .stored;
    if (std.mem.eql(u8, line, "NOT_STORED")) return .not_stored;
    if (std.mem.eql(u8, line, "EXISTS")) return .exists;
    if (std.mem.eql(u8, line, "NOT_FOUND")) return .not_found;
    return .violation;
}

const ValueLine = struct { key: []const u8, data_bytes: u64 };

/// `VALUE <key> <flags> <bytes>[ <cas>]`, single spaces, as memcached writes it.
fn parseValueLine(line: []const u8) ?ValueLine {
    var tokens = std.mem.splitScalar(u8, line, ' ');
    const verb = tokens.next() orelse return null;
    if (!std.mem.eql(u8, verb, "VALUE")) return null;
    const key = tokens.next() orelse return null;
    if (key.len == 0 or key.len > 250) return null;
    const flags_text = tokens.next() orelse return null;
    _ = std.fmt.parseInt(u32, flags_text, 10) catch return null;
    const bytes_text = tokens.next() orelse return null;
    const data_bytes = std.fmt.parseInt(u64, bytes_text, 10) catch return null;
    if (data_bytes > value_bytes_max) return null;
    if (tokens.next()) |cas_text| {
        _ = std.fmt.parseInt(u64, cas_text, 10) catch return null;
    }
    if (tokens.next() != null) return null;
    return .{ .key = key, .data_bytes = data_bytes };
}

// ---------------------------------------------------------------------------------------------
// Tests: no sockets. A reply is parsed whole, then fed in every split, and the steps must match.

const Trace = struct {
    kinds: [64]Kind = undefined,
    count: usize = 0,
    data_bytes: u64 = 0,

    fn push(trace: *Trace, kind: Kind) void {
        // Data chunks depend on the split; only their total is compared.
        if (kind == .value_data) return;
        trace.kinds[trace.count] = kind;
        trace.count += 1;
    }
};

/// Feeds `stream` in two pieces split at `split`, like two reads into one buffer.
fn parseSplit(stream: []const u8, split: usize, expect: Expect) Trace {
    var parser: Parser = .{};
    var trace: Trace = .{};
    var start: usize = 0;
    var end: usize = split;
    while (true) {
        const result = parser.step(stream[start..end], expect);
        if (result.kind == .need_more) {
            assert(result.consumed == 0);
            if (end == stream.len) break;
            end = stream.len;
            continue;
        }
        if (result.kind == .value_data) trace.data_bytes += result.consumed;
        trace.push(result.kind);
        if (result.kind == .violation) break;
        start += result.consumed;
    }
    return trace;
}

fn expectEverySplit(stream: []const u8, expect: Expect, kinds: []const Kind, data_bytes: u64) !void {
    for (0..stream.len + 1) |split| {
        const trace = parseSplit(stream, split, expect);
        try std.testing.expectEqualSlices(Kind, kinds, trace.kinds[0..trace.count]);
        try std.testing.expectEqual(data_bytes, trace.data_bytes);
    }
}

test "retrieval replies: hits, misses, multiget, cas, empty value" {
    try expectEverySplit("END\r\n", .retrieval, &.{.end}, 0);
    try expectEverySplit("VALUE mcl:0000000001 0 5\r\nhello\r\nEND\r\n", .retrieval, &.{ .value_header, .value_end, .end }, 5);
    try expectEverySplit(
        "VALUE a 0 2\r\nhi\r\nVALUE b 7 0 99\r\n\r\nEND\r\n",
        .retrieval,
        &.{ .value_header, .value_end, .value_header, .value_end, .end },
        2,
    );
    // Data may contain "\r\nEND\r\n" itself: framing is by length, not by scanning.
    try expectEverySplit("VALUE k 0 7\r\n\r\nEND\r\n\r\nEND\r\n", .retrieval, &.{ .value_header, .value_end, .end }, 7);
}

test "storage and error replies" {
    try expectEverySplit("STORED\r\n", .storage, &.{.stored}, 0);
    try expectEverySplit("NOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\n", .storage, &.{ .not_stored, .exists, .not_found }, 0);
    try expectEverySplit("SERVER_ERROR out of memory storing object\r\n", .storage, &.{.error_reply}, 0);
    try expectEverySplit("CLIENT_ERROR bad command line format\r\n", .retrieval, &.{.error_reply}, 0);
    try expectEverySplit("ERROR\r\n", .retrieval, &.{.error_reply}, 0);
}

test "violations" {
    try expectEverySplit("STORED\r\n", .retrieval, &.{.violation}, 0);
    try expectEverySplit("VALUE k 0 1\r\n", .storage, &.{.violation}, 0);
    try expectEverySplit("END\n", .retrieval, &.{.violation}, 0);
    try expectEverySplit("VALUE k 0 2\r\nabcEND\r\n", .retrieval, &.{ .value_header, .violation }, 2);
    try expectEverySplit("VALUE k x 2\r\nab\r\nEND\r\n", .retrieval, &.{.violation}, 0);
    try expectEverySplit("VALUE k 0 2 3 4\r\nab\r\nEND\r\n", .retrieval, &.{.violation}, 0);
    try expectEverySplit("VALUE k 0 2000000000\r\n", .retrieval, &.{.violation}, 0);

    var parser: Parser = .{};
    const long_line = [_]u8{'x'} ** line_bytes_max;
    try std.testing.expectEqual(Kind.violation, parser.step(&long_line, .storage).kind);
    try std.testing.expectEqual(Kind.need_more, parser.step(long_line[0 .. line_bytes_max - 1], .storage).kind);
}

test "meta replies: VA ends at its data's CRLF, EN is a miss, HD NS EX NF" {
    try expectEverySplit("EN\r\n", .meta_retrieval, &.{.end}, 0);
    try expectEverySplit("VA 5 kmcl:0000000001\r\nhello\r\n", .meta_retrieval, &.{ .value_header, .end }, 5);
    try expectEverySplit("VA 0 ka\r\n\r\nEN\r\n", .meta_retrieval, &.{ .value_header, .end, .end }, 0);
    try expectEverySplit("HD\r\nNS\r\nEX\r\nNF\r\n", .meta_storage, &.{ .stored, .not_stored, .exists, .not_found }, 0);
    try expectEverySplit("CLIENT_ERROR bad data chunk\r\n", .meta_storage, &.{.error_reply}, 0);
    try expectEverySplit("STORED\r\n", .meta_storage, &.{.violation}, 0);
    try expectEverySplit("VA 2\r\nhi\r\n", .meta_retrieval, &.{.violation}, 0);
    try expectEverySplit("VALUE k 0 1\r\nx\r\nEND\r\n", .meta_retrieval, &.{.violation}, 0);
}

test "a value header hands back its key in place" {
    var parser: Parser = .{};
    const input = "VALUE mcl:0000000009 0 3\r\nabc\r\nEND\r\n";
    const result = parser.step(input, .retrieval);
    try std.testing.expectEqual(Kind.value_header, result.kind);
    try std.testing.expectEqualStrings("mcl:0000000009", result.key);
    try std.testing.expect(!parser.atLineStart());
}
