//! number: decimal text for incr/decr values and reply lines.
//!
//! `parseU64` is memcached's safe_strtoull as the store needs it: 1 to `digits_max` (20) ASCII
//! digits whose value fits in u64, optionally followed by whitespace (the padding an in-place
//! decr leaves, or a CRLF). Leading whitespace and signs are not accepted.
//!
//! Contract: `parseU64` returns null for anything else (NON_NUMERIC). `format` writes the digits of
//! a u64 into a caller buffer of `digits_max` bytes and returns the slice it used.
const std = @import("std");
const assert = std.debug.assert;

pub const digits_max = 20; // maxInt(u64) = 18446744073709551615

pub fn parseU64(text: []const u8) ?u64 {
    var value: u64 = 0;
    var digits: usize = 0;
    while (digits < text.len and std.ascii.isDigit(text[digits])) : (digits += 1) {
        if (digits == digits_max) return null;
        const times_ten = @mulWithOverflow(value, 10);
        if (times_ten[1] != 0) return null;
        const sum = @addWithOverflow(times_ten[0], text[digits] - '0');
        if (sum[1] != 0) return null;
        value = sum[0];
    }
    if (digits == 0) return null;
    for (text[digits..]) |byte| {
        if (!std.ascii.isWhitespace(byte)) return null;
    }
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
    try testing.expectEqual(@as(?u64, null), parseU64("000000000000000000001")); // 21 digits
    try testing.expectEqual(@as(?u64, 1), parseU64("00000000000000000001")); // 20 digits
    try testing.expectEqual(@as(?u64, null), parseU64(""));
    try testing.expectEqual(@as(?u64, null), parseU64(" 1"));
    try testing.expectEqual(@as(?u64, null), parseU64("-1"));
    try testing.expectEqual(@as(?u64, null), parseU64("12a"));
    try testing.expectEqual(@as(?u64, null), parseU64("1 2"));
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
