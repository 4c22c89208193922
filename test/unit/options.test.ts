// Unit tests for src/options.ts, the one argv reader of the server, magent and bun bench: getopt_long's
// syntax (attached and separate values, clusters, optional values, long names and prefixes, "--").
import { describe, expect, test } from "bun:test";
import { optionsRead, suboptionsSplit, type OptionEvent, type OptionSpec } from "../../src/options.ts";

const specs: OptionSpec[] = [
  { short: "p", long: "port", takes: "required" },
  { short: "v", long: "verbose", takes: "none" },
  { short: "d", long: "daemon", takes: "none" },
  { short: "o", long: "extended", takes: "required" },
  { short: "z", long: "zeta", takes: "optional" },
  { short: null, long: "listen-backlog", takes: "required" },
  { short: null, long: "listen", takes: "required" },
  { short: null, long: "lisp", takes: "none" },
];

function read(argv: string[], long_prefixes = true): Array<string> {
  return [...optionsRead(argv, specs, { long_prefixes })].map((event: OptionEvent<OptionSpec>) => {
    if (event.kind === "option") return `${event.opt}=${event.value}`;
    if (event.kind === "positional") return `positional:${event.arg}:${event.after_dashes}`;
    return `error:${event.error.reason}`;
  });
}

describe("optionsRead", () => {
  test("memcached's short forms: -p11211, -p 11211, -vv, -dvp11211", () => {
    expect(read(["-p11211"])).toEqual(["-p=11211"]);
    expect(read(["-p", "11211"])).toEqual(["-p=11211"]);
    expect(read(["-vv"])).toEqual(["-v=null", "-v=null"]);
    expect(read(["-dvp11211", "-v"])).toEqual(["-d=null", "-v=null", "-p=11211", "-v=null"]);
    expect(read(["-p", "-v"])).toEqual(["-p=-v"]); // a required value takes the next word, as getopt
  });

  test("optional values are attached only", () => {
    expect(read(["-z"])).toEqual(["-z=null"]);
    expect(read(["-zX"])).toEqual(["-z=X"]);
    expect(read(["-z", "X"])).toEqual(["-z=null", "positional:X:false"]);
    expect(read(["--zeta=X", "--zeta"])).toEqual(["--zeta=X", "--zeta=null"]);
  });

  test("long names: =value, separate value, unique prefixes (when allowed), ambiguity", () => {
    expect(read(["--port=1", "--port", "2"])).toEqual(["--port=1", "--port=2"]);
    expect(read(["--po=3"])).toEqual(["--port=3"]);
    expect(read(["--po=3"], false)).toEqual(["error:unknown-long"]);
    expect(read(["--listen", "x"])).toEqual(["--listen=x"]); // exact beats prefix of listen-backlog
    expect(read(["--lis"])).toEqual(["error:ambiguous"]);
    expect(read(["--verbose=1"])).toEqual(["error:unexpected-value"]);
    expect(read(["--port"])).toEqual(["error:missing-value"]);
  });

  test("errors stop the reading; -- ends the options", () => {
    expect(read(["-q", "-v"])).toEqual(["error:unknown-short"]);
    expect(read(["-v", "-p"])).toEqual(["-v=null", "error:missing-value"]);
    expect(read(["-v", "--", "-p", "x"])).toEqual(["-v=null", "positional:-p:true", "positional:x:true"]);
    expect(read(["x", "-v"])).toEqual(["positional:x:false", "-v=null"]);
  });

  test("reads lazily: a caller may stop at -h before a later error", () => {
    const events = optionsRead(["-v", "-q"], specs, { long_prefixes: true });
    expect(events.next().value).toMatchObject({ kind: "option", opt: "-v" });
  });
});

describe("suboptionsSplit", () => {
  test("memcached's -o lists: name, name=value, the item kept whole for messages", () => {
    expect(suboptionsSplit("hashpower=20,no_lru_crawler,ext_path=/x:1G=y")).toEqual([
      { item: "hashpower=20", name: "hashpower", value: "20" },
      { item: "no_lru_crawler", name: "no_lru_crawler", value: null },
      { item: "ext_path=/x:1G=y", name: "ext_path", value: "/x:1G=y" },
    ]);
    expect(suboptionsSplit("a,,b").map((s) => s.item)).toEqual(["a", "", "b"]);
  });
});
