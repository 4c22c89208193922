// privileges: `-u <user>`, as memcached does it — a root process becomes the user's own uid and
// gid from its passwd entry, with no supplementary groups. The user is looked up at start, before
// anything is allocated (`identityPlan`); the switch happens once every socket is bound
// (`identityAssume`), so ports below 1024 work.
//
// Messages and exit codes are memcached 1.6's: `can't find the user <name> to switch to` (67,
// EX_NOUSER), `failed to drop supplementary groups: …`, `failed to assume identity of user <name>`
// (71, EX_OSERR). Where we differ: root without -u is memcached's refusal printed as a warning
// (every root-run tool and test would otherwise need -u); -u without root is a warning where
// memcached says nothing (the flag cannot take effect, and no flag is silently ignored).
import { readFileSync } from "node:fs";

export const exit_code_no_user = 67; // EX_NOUSER
export const exit_code_os_error = 71; // EX_OSERR
export const root_warning =
  "warning: can't run as root without the -u switch (memcached refuses to start; repcached-bun runs on as root)";

export interface Identity {
  name: string;
  uid: number;
  gid: number;
}

export type IdentityPlan =
  | { kind: "stay"; warning: string | null }
  | { kind: "switch"; identity: Identity }
  | { kind: "error"; message: string; exit_code: number };

/** The entry for `name` in passwd(5) text: `name:password:uid:gid:gecos:home:shell`. */
export function passwdParse(text: string, name: string): Identity | null {
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 4 || fields[0] !== name) continue;
    const [uid, gid] = [fields[2] ?? "", fields[3] ?? ""];
    if (!/^\d{1,10}$/.test(uid) || !/^\d{1,10}$/.test(gid)) return null;
    return { name, uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

/** /etc/passwd, else `getent passwd` (users from NSS: LDAP, systemd-userdb ...). */
export function passwdLookup(name: string): Identity | null {
  try {
    const local = passwdParse(readFileSync("/etc/passwd", "utf8"), name);
    if (local !== null) return local;
  } catch {
    // no /etc/passwd: ask NSS below
  }
  const getent = Bun.which("getent");
  if (getent === null || name.includes("\n")) return null;
  const result = Bun.spawnSync([getent, "passwd", "--", name], { stdout: "pipe", stderr: "ignore" });
  return result.exitCode === 0 ? passwdParse(result.stdout.toString(), name) : null;
}

/** What -u asks of a process running as `uid` (null: not a POSIX host). Pure but for `lookup`. */
export function identityPlan(
  user: string | null,
  uid: number | null,
  lookup: (name: string) => Identity | null = passwdLookup,
): IdentityPlan {
  if (uid === null) return { kind: "stay", warning: null };
  if (uid !== 0) {
    if (user === null || lookup(user)?.uid === uid) return { kind: "stay", warning: null };
    return { kind: "stay", warning: `warning: -u ${user} has no effect: not running as root (uid ${uid})` };
  }
  if (user === null) return { kind: "stay", warning: root_warning };
  const identity = lookup(user);
  if (identity === null) {
    return { kind: "error", message: `can't find the user ${user} to switch to`, exit_code: exit_code_no_user };
  }
  return { kind: "switch", identity };
}

/**
 * Becomes `identity`: no supplementary groups, then its gid (or `group`, magent's -g), then its
 * uid. Returns memcached's message on failure, null on success.
 */
export function identityAssume(identity: Identity, group: string | number = identity.gid): string | null {
  // These are POSIX-only in Node's types; on Linux they always exist.
  try {
    process.setgroups!([]);
  } catch (error) {
    return `failed to drop supplementary groups: ${(error as Error).message}`;
  }
  try {
    process.setgid!(group);
    process.setuid!(identity.uid);
  } catch {
    return `failed to assume identity of user ${identity.name}`;
  }
  return null;
}
