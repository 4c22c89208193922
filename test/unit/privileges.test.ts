// src/privileges.ts without a process switch: passwd parsing and what -u asks for as root, as
// another user, and with an unknown name (memcached's messages and exit codes).
import { describe, expect, test } from "bun:test";
import { identityPlan, passwdLookup, passwdParse, root_warning, type Identity } from "../../src/privileges.ts";

const passwd = [
  "root:x:0:0:root:/root:/bin/bash",
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  "memcache:x:104:110:Memcached,,,:/nonexistent:/bin/false",
  "broken:x:12a:7:::",
  "",
].join("\n");
const table = (name: string): Identity | null => passwdParse(passwd, name);

describe("passwdParse", () => {
  test("the user's own uid and gid, by exact name", () => {
    expect(passwdParse(passwd, "nobody")).toEqual({ name: "nobody", uid: 65534, gid: 65534 });
    expect(passwdParse(passwd, "memcache")).toEqual({ name: "memcache", uid: 104, gid: 110 });
    expect(passwdParse(passwd, "memc")).toBeNull();
    expect(passwdParse(passwd, "")).toBeNull();
  });

  test("an entry whose ids are not numbers is no entry", () => {
    expect(passwdParse(passwd, "broken")).toBeNull();
  });

  test("passwdLookup reads this host's passwd: root is 0/0", () => {
    expect(passwdLookup("root")).toEqual({ name: "root", uid: 0, gid: 0 });
    expect(passwdLookup("no_such_user_13")).toBeNull();
  });
});

describe("identityPlan", () => {
  test("root with -u: switch to the entry; unknown: memcached's message, exit 67", () => {
    expect(identityPlan("memcache", 0, table)).toEqual({ kind: "switch", identity: { name: "memcache", uid: 104, gid: 110 } });
    expect(identityPlan("ghost", 0, table)).toEqual({ kind: "error", message: "can't find the user ghost to switch to", exit_code: 67 });
  });

  test("root without -u: memcached's refusal as a warning", () => {
    expect(identityPlan(null, 0, table)).toEqual({ kind: "stay", warning: root_warning });
    expect(root_warning).toContain("can't run as root without the -u switch");
  });

  test("not root: -u naming someone else warns; naming ourselves or nothing is quiet", () => {
    expect(identityPlan("nobody", 104, table)).toEqual({ kind: "stay", warning: "warning: -u nobody has no effect: not running as root (uid 104)" });
    expect(identityPlan("ghost", 104, table).kind).toBe("stay");
    expect(identityPlan("memcache", 104, table)).toEqual({ kind: "stay", warning: null });
    expect(identityPlan(null, 104, table)).toEqual({ kind: "stay", warning: null });
    expect(identityPlan("nobody", null, table)).toEqual({ kind: "stay", warning: null });
  });
});
