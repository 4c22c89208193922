// memcached 1.6's meta protocol lines (mg ms md ma mn me). Pure: bytes in, reused records out.
//
// Two steps, both without a socket:
//   frameMeta(buf, cmd)          called by parser.ts's dispatch on a tokenized `m?` line: sets the
//                                command kind and, for `ms`, cmd.data_len (the data block the
//                                connection must read or skip). memcached answers `ERROR` for
//                                mg/ms/md/ma without a key.
//   parseMetaFlags(buf, cmd, m)  at execution: the flag tokens after the key (after the length for
//                                ms) into the reused MetaFlags record, with memcached's errors.
//                                With `b` the key token is base64-decoded IN PLACE (it only
//                                shrinks; memcached does the same), so it runs once per line.
//
// An `ms` line whose length token is not a valid length cannot say where its data block ends:
// memcached then parses the data as commands (`ms k x\r\nflush_all\r\n` flushes); we answer the
// same error and close the connection (Cmd.MS_INVALID), so a data block is never run as a command.

import { Cmd, type Command } from "./parser.ts";
import { parsed, parseI32, parseU32Truncating, parseU64 } from "./numbers.ts";

/** memcached's MFLAG_MAX_OPT_LENGTH: a meta line of more tokens (terminal one included) is refused. */
export const meta_tokens_max = 20;
/** memcached's MFLAG_MAX_OPAQUE_LENGTH: the O token, its letter included. */
export const opaque_bytes_max = 32;
/** The largest `ms` data length memcached accepts (INT_MAX - 2). */
export const meta_data_bytes_max = 2147483645;

/** Errors of a meta line; the reply text is `MetaErrorText[n]`. */
export const MetaErrorText = [
  "",
  "CLIENT_ERROR bad command line format",
  "CLIENT_ERROR duplicate flag",
  "CLIENT_ERROR invalid flag",
  "CLIENT_ERROR bad token in command line format",
  "CLIENT_ERROR error decoding key",
  "CLIENT_ERROR incorrect length for M token",
  "CLIENT_ERROR invalid numeric initial value",
  "CLIENT_ERROR invalid numeric delta value",
  "CLIENT_ERROR opaque token too long",
  "CLIENT_ERROR options flags are too long",
  "CLIENT_ERROR options flags too long",
  "CLIENT_ERROR invalid or duplicate flag",
  "CLIENT_ERROR invalid mode for ms M token",
  "CLIENT_ERROR invalid mode for ma M token",
] as const;
export const MetaError = {
  NONE: 0,
  FORMAT: 1,
  DUPLICATE: 2,
  INVALID: 3,
  BAD_TOKEN: 4,
  DECODE_KEY: 5,
  M_LENGTH: 6,
  INITIAL: 7,
  DELTA: 8,
  OPAQUE: 9,
  TOO_LONG_MG: 10,
  TOO_LONG: 11,
  INVALID_OR_DUPLICATE: 12,
  MS_MODE: 13,
  MA_MODE: 14,
} as const;

/** The flags of one meta line (memcached's struct _meta_flags), reset by parseMetaFlags. */
export class MetaFlags {
  error = 0;
  /** 128 bits: the flag letters seen (duplicates are an error). */
  readonly seen = new Uint32Array(4);
  /** Token index of the first flag and the end (exclusive) of the flags. */
  first = 0;
  end = 0;
  key_off = 0;
  key_len = 0;
  base64 = false;
  value = false;
  quiet = false;
  no_bump = false;
  has_cas = false;
  set_stale = false;
  touch = false;
  vivify = false;
  recache = false;
  /** Which came first on the line when both T and R are given (R then sees T's exptime). */
  touch_first = false;
  exptime = 0;
  vivify_exptime = 0;
  recache_exptime = 0;
  client_flags = 0;
  cas_lo = 0;
  cas_hi = 0;
  delta_lo = 1;
  delta_hi = 0;
  initial_lo = 0;
  initial_hi = 0;
  /** The M token's mode byte (0: none). */
  mode = 0;
  /** An O token longer than opaque_bytes_max (memcached reports it after the flags). */
  opaque_too_long = false;

  has(letter: number): boolean {
    return (this.seen[letter >>> 5]! & (1 << (letter & 31))) !== 0;
  }
}

/** Sets cmd.kind for a meta line (token 0 is two bytes starting with `m`). */
export function frameMeta(buf: Uint8Array, cmd: Command): void {
  const second = buf[cmd.token_off[0]! + 1];
  const n = cmd.ntokens;
  cmd.kind = Cmd.ERROR;
  cmd.key_off = cmd.token_off[1]!; // the terminal token (length 0) when there is no key
  cmd.key_len = cmd.token_len[1]!;
  switch (second) {
    case 110 /* n */: cmd.kind = Cmd.MN; return;
    case 101 /* e */: cmd.kind = Cmd.ME; return; // `me` alone: a CLIENT_ERROR, not ERROR
    case 103 /* g */: if (n >= 3) cmd.kind = Cmd.MG; return;
    case 100 /* d */: if (n >= 3) cmd.kind = Cmd.MD; return;
    case 97 /* a */: if (n >= 3) cmd.kind = Cmd.MA; return;
    case 115 /* s */: if (n >= 3) frameMetaSet(buf, cmd); return;
  }
}

/** `ms <key> <datalen> <flag>*`: MS with data_len when the length is valid, else MS_INVALID. */
function frameMetaSet(buf: Uint8Array, cmd: Command): void {
  cmd.data_len = 0;
  if (cmd.ntokens === 3) {
    cmd.kind = Cmd.MS_INVALID; // no length: the line alone is answered, nothing follows it
    cmd.has_arg = false;
    return;
  }
  cmd.has_arg = true;
  cmd.kind = Cmd.MS_INVALID;
  if (!parseI32(buf, cmd.token_off[2]!, cmd.token_len[2]!)) return;
  if (parsed.value < 0 || parsed.value > meta_data_bytes_max) return;
  cmd.data_len = parsed.value;
  cmd.kind = Cmd.MS;
}

// ---- flags ----

function markSeen(m: MetaFlags, letter: number): boolean {
  const word = letter >>> 5;
  const bit = 1 << (letter & 31);
  if ((m.seen[word]! & bit) !== 0) return false;
  m.seen[word] = m.seen[word]! | bit;
  return true;
}

function reset(m: MetaFlags): void {
  m.error = 0;
  m.seen.fill(0);
  m.base64 = m.value = m.quiet = m.no_bump = m.has_cas = m.set_stale = false;
  m.touch = m.vivify = m.recache = m.touch_first = m.opaque_too_long = false;
  m.exptime = m.vivify_exptime = m.recache_exptime = m.client_flags = 0;
  m.cas_lo = m.cas_hi = m.initial_lo = m.initial_hi = 0;
  m.delta_lo = 1;
  m.delta_hi = 0;
  m.mode = 0;
}

/**
 * memcached's _meta_flag_preparse over the tokens from `first`: returns false with m.error set
 * (the last error met, as memcached keeps it) when a flag is unknown, repeated, or its token is
 * not valid. The key (decoded with `b`) is in m.key_off / m.key_len either way.
 */
export function parseMetaFlags(buf: Uint8Array, cmd: Command, first: number, m: MetaFlags): boolean {
  reset(m);
  m.first = first;
  m.end = cmd.ntokens - 1;
  m.key_off = cmd.token_off[1]!;
  m.key_len = cmd.token_len[1]!;
  for (let i = first; i < m.end; i++) {
    const off = cmd.token_off[i]!;
    const len = cmd.token_len[i]!;
    const letter = buf[off]!;
    if (letter >= 127 || !markSeen(m, letter)) {
      m.error = MetaError.DUPLICATE;
      return false;
    }
    if (!flag(buf, m, letter, off, len)) return false;
  }
  return m.error === MetaError.NONE;
}

/** One flag token; false only for an unknown flag (stops the parse), other errors set m.error. */
function flag(buf: Uint8Array, m: MetaFlags, letter: number, off: number, len: number): boolean {
  switch (letter) {
    case 98 /* b */: {
      const n = base64DecodeInPlace(buf, m.key_off, m.key_len);
      if (n === 0) m.error = MetaError.DECODE_KEY;
      m.key_len = n;
      m.base64 = true;
      return true;
    }
    case 78 /* N */:
      m.vivify = true;
      if (signedArg(buf, off, len, m)) m.vivify_exptime = parsed.value;
      return true;
    case 84 /* T */:
      if (!signedArg(buf, off, len, m)) return true;
      m.exptime = parsed.value;
      m.touch = true;
      if (!m.recache) m.touch_first = true;
      return true;
    case 82 /* R */:
      if (signedArg(buf, off, len, m)) {
        m.recache_exptime = parsed.value;
        m.recache = true;
      }
      return true;
    case 79 /* O */:
      if (len > opaque_bytes_max) m.opaque_too_long = true;
      return true;
    case 108 /* l */: case 80 /* P */: case 76 /* L */: case 107 /* k */: case 115 /* s */:
    case 116 /* t */: case 99 /* c */: case 102 /* f */: case 104 /* h */:
      return true;
    case 118 /* v */: m.value = true; return true;
    case 117 /* u */: m.no_bump = true; return true;
    case 113 /* q */: m.quiet = true; return true;
    case 73 /* I */: m.set_stale = true; return true;
    case 70 /* F */:
      // memcached flags the error without a message of its own: the line's default stays
      if (parseU32Truncating(buf, off + 1, len - 1)) m.client_flags = parsed.value;
      else if (m.error === MetaError.NONE) m.error = MetaError.FORMAT;
      return true;
    case 67 /* C */:
      if (!parseU64(buf, off + 1, len - 1)) {
        m.error = MetaError.BAD_TOKEN;
        return true;
      }
      m.cas_lo = parsed.lo;
      m.cas_hi = parsed.hi;
      m.has_cas = true;
      return true;
    case 77 /* M */:
      if (len !== 2) m.error = MetaError.M_LENGTH;
      else m.mode = buf[off + 1]!;
      return true;
    case 74 /* J */:
      if (!parseU64(buf, off + 1, len - 1)) {
        m.error = MetaError.INITIAL;
        return true;
      }
      m.initial_lo = parsed.lo;
      m.initial_hi = parsed.hi;
      return true;
    case 68 /* D */:
      if (!parseU64(buf, off + 1, len - 1)) {
        m.error = MetaError.DELTA;
        return true;
      }
      m.delta_lo = parsed.lo;
      m.delta_hi = parsed.hi;
      return true;
  }
  m.error = MetaError.INVALID;
  return false;
}

/** A flag's signed 32-bit argument (N T R); a bad one sets BAD_TOKEN. */
function signedArg(buf: Uint8Array, off: number, len: number, m: MetaFlags): boolean {
  if (parseI32(buf, off + 1, len - 1)) return true;
  m.error = MetaError.BAD_TOKEN;
  return false;
}

// ---- base64 (memcached's key decoding rules, checked against 1.6.18) ----

const base64_values = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table[61 /* = */] = 0;
  return table;
})();

/**
 * Decodes buf[off, off+len) in place; returns the decoded length, 0 on failure. Bytes outside the
 * alphabet are skipped; the rest must come in groups of 4; a group with `=` padding ends the
 * decoding (one `=`: 2 bytes, two: 1 byte, more: failure). memcached 1.6.18 decodes alike:
 * `YQ==` -> "a", `YQ==YQ==` -> "a", `YQ` / `YQ==Y` / `====` fail.
 */
export function base64DecodeInPlace(buf: Uint8Array, off: number, len: number): number {
  let valid = 0;
  for (let i = off; i < off + len; i++) if (base64_values[buf[i]!]! >= 0) valid++;
  if (valid === 0 || valid % 4 !== 0) return 0;
  let out = off;
  let count = 0;
  let pad = 0;
  let block = 0;
  for (let i = off; i < off + len; i++) {
    const byte = buf[i]!;
    const value = base64_values[byte]!;
    if (value < 0) continue;
    if (byte === 61) pad++;
    block = (block << 6) | value;
    if (++count < 4) continue;
    buf[out++] = (block >>> 16) & 255;
    buf[out++] = (block >>> 8) & 255;
    buf[out++] = block & 255;
    count = 0;
    block = 0;
    if (pad === 0) continue;
    if (pad === 1) out -= 1;
    else if (pad === 2) out -= 2;
    else return 0;
    break;
  }
  return out - off;
}

/** Standard base64 of buf[off, off+len) written at `at` of `dest`; returns the offset after it. */
export function base64Encode(dest: Uint8Array, at: number, buf: Uint8Array, off: number, len: number): number {
  const alphabet = base64_alphabet;
  let i = off;
  const end = off + len;
  for (; i + 3 <= end; i += 3) {
    const block = (buf[i]! << 16) | (buf[i + 1]! << 8) | buf[i + 2]!;
    dest[at++] = alphabet[block >>> 18]!;
    dest[at++] = alphabet[(block >>> 12) & 63]!;
    dest[at++] = alphabet[(block >>> 6) & 63]!;
    dest[at++] = alphabet[block & 63]!;
  }
  const left = end - i;
  if (left === 0) return at;
  const block = (buf[i]! << 16) | (left === 2 ? buf[i + 1]! << 8 : 0);
  dest[at++] = alphabet[block >>> 18]!;
  dest[at++] = alphabet[(block >>> 12) & 63]!;
  dest[at++] = left === 2 ? alphabet[(block >>> 6) & 63]! : 61;
  dest[at++] = 61;
  return at;
}

const base64_alphabet = new TextEncoder().encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

/** Bytes base64 needs for len bytes. */
export function base64Bytes(len: number): number {
  return Math.ceil(len / 3) * 4;
}
