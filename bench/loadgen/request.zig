//! Request composer: memcached text-protocol `get` and `set` lines written into a caller's buffer,
//! or with --meta their meta-protocol forms `mg <key> v k` and `ms <key> <n>[ q]`.
//!
//! Keys have one fixed format, `mcl:` followed by the key index as ten zero-padded decimal digits
//! (`mcl:0000000042`), so every key is key_bytes long and a request's size is known before it is
//! written. Values are a prefix of one pattern buffer built at start-up; the flags are always 0 and
//! the exptime always 0. Nothing here allocates; callers check room with the *_bytes_max helpers.
const std = @import("std");
const assert = std.debug.assert;

pub const key_prefix = "mcl:";
pub const key_digits = 10;
pub const key_bytes = key_prefix.len + key_digits;
/// Largest key index that fits key_digits decimal digits.
pub const key_index_max: u64 = 9_999_999_999;
// memcached's own key length limit is 250 bytes; our keys stay far below it.
comptime {
    assert(key_bytes <= 250);
}

const set_flags_exptime = " 0 0 ";
const noreply_suffix = " noreply";
const crlf = "\r\n";
/// Digits of the largest value length we can send (u32).
const value_length_digits_max = 10;

/// Bytes of `get k1 ... kK\r\n` for K keys.
pub fn getBytes(keys_count: u32) usize {
    assert(keys_count >= 1);
    return "get".len + keys_count * (1 + key_bytes) + crlf.len;
}

/// Upper bound of `set <key> 0 0 <n>[ noreply]\r\n<data>\r\n` for any n <= value_bytes_max.
pub fn setBytesMax(value_bytes_max: u32, noreply: bool) usize {
    const line = "set ".len + key_bytes + set_flags_exptime.len + value_length_digits_max +
        (if (noreply) noreply_suffix.len else 0) + crlf.len;
    return line + value_bytes_max + crlf.len;
}

/// Writes key_bytes bytes: the prefix and the zero-padded decimal index.
pub fn writeKey(out: []u8, index: u64) void {
    assert(out.len >= key_bytes);
    assert(index <= key_index_max);
    @memcpy(out[0..key_prefix.len], key_prefix);
    var rest = index;
    var position: usize = key_bytes;
    while (position > key_prefix.len) {
        position -= 1;
        out[position] = @intCast('0' + rest % 10);
        rest /= 10;
    }
    assert(rest == 0);
}

/// Parses a key written by writeKey back into its index; null if the text is not one of ours.
pub fn parseKey(text: []const u8) ?u64 {
    if (text.len != key_bytes) return null;
    if (!std.mem.startsWith(u8, text, key_prefix)) return null;
    var index: u64 = 0;
    for (text[key_prefix.len..]) |digit| {
        if (digit < '0' or digit > '9') return null;
        index = index * 10 + (digit - '0');
    }
    return index;
}

/// `get k1 k2 ... kK\r\n`; returns the bytes written (exactly getBytes(K)).
pub fn composeGet(out: []u8, key_indexes: []const u32) usize {
    assert(key_indexes.len >= 1);
    const size = getBytes(@intCast(key_indexes.len));
    assert(out.len >= size);
    @memcpy(out[0..3], "get");
    var position: usize = 3;
    for (key_indexes) |index| {
        out[position] = ' ';
        writeKey(out[position + 1 ..], index);
        position += 1 + key_bytes;
    }
    @memcpy(out[position..][0..2], crlf);
    position += 2;
    assert(position == size);
    return position;
}

/// `set <key> 0 0 <n>[ noreply]\r\n<value>\r\n`; returns the bytes written.
pub fn composeSet(out: []u8, key_index: u32, value: []const u8, noreply: bool) usize {
    assert(value.len <= std.math.maxInt(u32));
    assert(out.len >= setBytesMax(@intCast(value.len), noreply));
    var position: usize = 0;
    position += copy(out[position..], "set ");
    writeKey(out[position..], key_index);
    position += key_bytes;
    position += copy(out[position..], set_flags_exptime);
    position += writeDecimal(out[position..], value.len);
    if (noreply) position += copy(out[position..], noreply_suffix);
    position += copy(out[position..], crlf);
    position += copy(out[position..], value);
    position += copy(out[position..], crlf);
    return position;
}

/// Bytes of `mg <key> v k\r\n` (the meta get of one key: its value, its key echoed).
pub const meta_get_bytes = "mg ".len + key_bytes + " v k".len + crlf.len;

// A meta request never needs more room than the text one a config already sized for.
comptime {
    assert(meta_get_bytes <= setBytesMax(0, false));
    assert("ms ".len + key_bytes + 1 + value_length_digits_max + " q".len <= "set ".len + key_bytes + set_flags_exptime.len + value_length_digits_max);
}

/// `mg <key> v k\r\n`; returns the bytes written (meta_get_bytes).
pub fn composeMetaGet(out: []u8, key_index: u32) usize {
    assert(out.len >= meta_get_bytes);
    var position: usize = copy(out, "mg ");
    writeKey(out[position..], key_index);
    position += key_bytes;
    position += copy(out[position..], " v k\r\n");
    assert(position == meta_get_bytes);
    return position;
}

/// `ms <key> <n>[ q]\r\n<value>\r\n` (q: quiet, the meta noreply); returns the bytes written.
pub fn composeMetaSet(out: []u8, key_index: u32, value: []const u8, quiet: bool) usize {
    assert(out.len >= setBytesMax(@intCast(value.len), quiet));
    var position: usize = copy(out, "ms ");
    writeKey(out[position..], key_index);
    position += key_bytes;
    position += copy(out[position..], " ");
    position += writeDecimal(out[position..], value.len);
    if (quiet) position += copy(out[position..], " q");
    position += copy(out[position..], crlf);
    position += copy(out[position..], value);
    position += copy(out[position..], crlf);
    return position;
}

/// Fills a value pattern: printable, so a captured stream stays readable.
pub fn fillValuePattern(out: []u8) void {
    for (out, 0..) |*byte, index| byte.* = @intCast('a' + index % 26);
}

fn copy(out: []u8, bytes: []const u8) usize {
    @memcpy(out[0..bytes.len], bytes);
    return bytes.len;
}

fn writeDecimal(out: []u8, value: u64) usize {
    var digits: [20]u8 = undefined;
    var count: usize = 0;
    var rest = value;
    while (true) {
        digits[digits.len - 1 - count] = @intCast('0' + rest % 10);
        count += 1;
        rest /= 10;
        if (rest == 0) break;
    }
    return copy(out, digits[digits.len - count ..]);
}

test "keys have one fixed format and round-trip" {
    var key: [key_bytes]u8 = undefined;
    writeKey(&key, 42);
    try std.testing.expectEqualStrings("mcl:0000000042", &key);
    try std.testing.expectEqual(@as(?u64, 42), parseKey(&key));
    writeKey(&key, key_index_max);
    try std.testing.expectEqualStrings("mcl:9999999999", &key);
    try std.testing.expectEqual(@as(?u64, null), parseKey("mcl:00000000x2"));
    try std.testing.expectEqual(@as(?u64, null), parseKey("foo"));
}

test "get and set lines" {
    var buffer: [256]u8 = undefined;
    const get_size = composeGet(&buffer, &.{ 1, 7 });
    try std.testing.expectEqualStrings("get mcl:0000000001 mcl:0000000007\r\n", buffer[0..get_size]);
    try std.testing.expectEqual(getBytes(2), get_size);

    const set_size = composeSet(&buffer, 3, "hello", false);
    try std.testing.expectEqualStrings("set mcl:0000000003 0 0 5\r\nhello\r\n", buffer[0..set_size]);
    try std.testing.expect(set_size <= setBytesMax(5, false));

    const noreply_size = composeSet(&buffer, 3, "", true);
    try std.testing.expectEqualStrings("set mcl:0000000003 0 0 0 noreply\r\n\r\n", buffer[0..noreply_size]);
    try std.testing.expect(noreply_size <= setBytesMax(0, true));
}

test "meta get and set lines" {
    var buffer: [256]u8 = undefined;
    const get_size = composeMetaGet(&buffer, 7);
    try std.testing.expectEqualStrings("mg mcl:0000000007 v k\r\n", buffer[0..get_size]);
    const set_size = composeMetaSet(&buffer, 3, "hello", false);
    try std.testing.expectEqualStrings("ms mcl:0000000003 5\r\nhello\r\n", buffer[0..set_size]);
    const quiet_size = composeMetaSet(&buffer, 3, "", true);
    try std.testing.expectEqualStrings("ms mcl:0000000003 0 q\r\n\r\n", buffer[0..quiet_size]);
}
