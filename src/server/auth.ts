// Client authentication: a password file of `user:password` lines (memcached's format for both
// its SASL password database, MEMCACHED_SASL_PWDB, and its ASCII auth file, -Y), SASL PLAIN's
// message, and the `auth_cmds` / `auth_errors` counters.
//
// Contract: `PasswordFile.load` reads the file once at start and throws an Error naming the file
// when it cannot be read or has no entry. `check` compares in time independent of where the
// password differs (node:crypto timingSafeEqual over SHA-256 digests, so lengths do not leak
// either). Passwords live in memory as their digests only.

import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

/** Entries a password file may hold (a bound on start-up work, far above real use). */
export const password_entries_max = 65_536;

export interface AuthCounters {
  auth_cmds: number;
  auth_errors: number;
}

function digest(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

export class PasswordFile {
  private readonly users = new Map<string, Buffer>();

  static load(path: string): PasswordFile {
    let text: string;
    try {
      text = readFileSync(path, "latin1");
    } catch (error) {
      throw new Error(`Could not open password file ${path}: ${(error as Error).message}`);
    }
    const file = new PasswordFile();
    for (const raw of text.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      if (file.users.size >= password_entries_max) throw new Error(`password file ${path}: more than ${password_entries_max} entries`);
      file.users.set(line.slice(0, colon), digest(Buffer.from(line.slice(colon + 1), "latin1")));
    }
    if (file.users.size === 0) throw new Error(`password file ${path} has no user:password line`);
    return file;
  }

  /** Whether `user` is listed with `password` (bytes, latin1 as the file is read). */
  check(user: string, password: Uint8Array): boolean {
    const wanted = this.users.get(user);
    const given = digest(password);
    if (wanted === undefined) {
      timingSafeEqual(given, given); // the same work for an unknown user
      return false;
    }
    return timingSafeEqual(wanted, given);
  }
}

/**
 * SASL PLAIN (RFC 4616): `[authzid] NUL user NUL password`. Returns whether it names a listed user
 * with the right password (an authzid other than empty or the user is refused).
 */
export function plainAuthenticates(file: PasswordFile, data: Uint8Array): boolean {
  const first = data.indexOf(0);
  if (first < 0) return false;
  const second = data.indexOf(0, first + 1);
  if (second < 0) return false;
  const authzid = Buffer.from(data.subarray(0, first)).toString("latin1");
  const user = Buffer.from(data.subarray(first + 1, second)).toString("latin1");
  if (authzid !== "" && authzid !== user) return false;
  return file.check(user, data.subarray(second + 1));
}

/**
 * memcached's ASCII auth token (the data of a `set` before authentication): `user password`.
 * Returns null when the token has no space (memcached: "bad authentication token format"),
 * else whether it authenticates. Spaces after the first are skipped before the password.
 */
export function tokenAuthenticates(file: PasswordFile, data: Uint8Array): boolean | null {
  const space = data.indexOf(32);
  if (space <= 0) return null;
  let at = space + 1;
  while (at < data.length && data[at] === 32) at++;
  const user = Buffer.from(data.subarray(0, space)).toString("latin1");
  return file.check(user, data.subarray(at));
}
