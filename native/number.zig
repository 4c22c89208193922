//! number: decimal text for incr/decr values and reply lines.
//!
//! `parseU64` is memcached's safe_strtoull over an item's value: optional leading white space and
//! sign, decimal digits whose value fits in u64, then the end or a white-space byte (the padding
//! an in-place decr leaves, or the CRLF); what follows that byte is ignored, as strtoull does.
//!
//! Contract: `parseU64` returns null for anything else (NON_NUMERIC). `format` writes the digits of
//! a u64 into a caller buffer of `digits_max` bytes and returns the slice it used.
const std = @import("std");
const assert = std.debug.assert;

pub const digits_max = 20; // maxInt(u64) = 18446744073709551615

pub fn parseU64(text: []const u8) ?u64 {
    // strtoull: leading white space, an optional sign, digits; the first other byte must be
    // white space (or the end), and everything after it is ignored.
    var at: usize = 0;
    while (at < text.len and std.ascii.isWhitespace(text[at])) at += 1;
    var negative = false;
    if (at < text.len and (text[at] == '+' or text[at] == '-')) {
        negative = text[at] == '-';
        at += 1;
    }
    const digits_start = at;
    var value: u64 = 0;
    while (at < text.len and std.ascii.isDigit(text[at])) : (at += 1) {
        const times_ten = @mulWithOverflow(value, 10);
        if (times_ten[1] != 0) return null;
        const sum = @addWithOverflow(times_ten[0], text[at] - '0');
        if (sum[1] != 0) return null;
        value = sum[0];
    }
    if (at == digits_start) return null;
    if (at < text.len and !std.ascii.isWhitespace(text[at])) return null;
    // memcached rejects a '-' only when the wrapped result looks negative; "-0" is 0.
    if (negative and value != 0) return null;
    return value;
}

pub fn digitCount(value: u64) usize {
    var count: usize = 1;
    var rest = value / 10;
    while (rest != 0) : (rest /= 10) count += 1;
    return count;
}

pub fn format(value: u64, buffer: *[digits_max]u8) []u8 {
    const count = digitCount(value);
    assert(count <= digits_max);
    var rest = value;
    var index = count;
    while (index > 0) {
        index -= 1;
        buffer[index] = @intCast('0' + rest % 10);
        rest /= 10;
    }
    return buffer[0..count];
}

/// Writes the digits at out[0..] and returns how many; out must hold digitCount(value) bytes.
pub fn write(value: u64, out: []u8) usize {
    var buffer: [digits_max]u8 = undefined;
    const digits = format(value, &buffer);
    @memcpy(out[0..digits.len], digits);
    return digits.len;
}

const testing = std.testing;

test "number: parse like safe_strtoull" {
    try testing.expectEqual(@as(?u64, 0), parseU64("0"));
    try testing.expectEqual(@as(?u64, 42), parseU64("42"));
    try testing.expectEqual(@as(?u64, 9), parseU64("9 "));
    try testing.expectEqual(@as(?u64, 7), parseU64("7\r\n"));
    try testing.expectEqual(@as(?u64, std.math.maxInt(u64)), parseU64("18446744073709551615"));
    try testing.expectEqual(@as(?u64, null), parseU64("18446744073709551616")); // overflow
    try testing.expectEqual(@as(?u64, 1), parseU64("000000000000000000001")); // strtoull: any length
    try testing.expectEqual(@as(?u64, 1), parseU64("00000000000000000001")); // 20 digits
    try testing.expectEqual(@as(?u64, null), parseU64(""));
    try testing.expectEqual(@as(?u64, 1), parseU64(" 1"));
    try testing.expectEqual(@as(?u64, 5), parseU64("+5"));
    try testing.expectEqual(@as(?u64, 0), parseU64("-0"));
    try testing.expectEqual(@as(?u64, null), parseU64("-1"));
    try testing.expectEqual(@as(?u64, null), parseU64("12a"));
    try testing.expectEqual(@as(?u64, null), parseU64(" "));
    try testing.expectEqual(@as(?u64, 1), parseU64("1 2")); // strtoull stops at the space
}

test "number: format" {
    var buffer: [digits_max]u8 = undefined;
    try testing.expectEqualStrings("0", format(0, &buffer));
    try testing.expectEqualStrings("1234567890", format(1234567890, &buffer));
    try testing.expectEqualStrings("18446744073709551615", format(std.math.maxInt(u64), &buffer));
    try testing.expectEqual(@as(usize, 20), digitCount(std.math.maxInt(u64)));
    try testing.expectEqual(@as(usize, 2), digitCount(10));
    try testing.expectEqual(@as(usize, 1), digitCount(9));
}
