// options: the one command-line reader of repcached-bun, used by the server (src/config.ts), the
// proxy (src/proxy/config.ts) and the benchmark (bench/lib/cli.ts). Each caller keeps its own flag
// table, its own value checks and its own messages; this module only splits argv, as getopt_long:
//
//   -p 11211  -p11211          a short flag's value, separate or attached
//   -vvv  -dM  -dp11211        clustered short flags; a value-taking flag ends the cluster
//   --port 11211 --port=11211  a long flag's value, separate or after '='
//   --po=11211                 a unique prefix of a long name, when the caller allows it (memcached)
//   -o a=b,c                   sub-options: suboptionsSplit, as getsubopt (the server's -o table)
//   --                         ends the options; what follows is positional
//
// Flags whose value is optional take it only attached (-vX, --name=X), as GNU getopt's "x::".
// Nothing is printed and nothing is thrown: every problem is an event (kind "error") that names
// the flag as typed, and the caller words it (memcached's, magent's or bench's messages).
//
// Why not node:util parseArgs: it has no optional values, no unique-prefix long names, and it
// reads `-p11211` as clustered booleans unless every letter is declared; its errors are thrown
// with its own wording, so memcached's and magent's messages and exit codes could not be kept,
// and it parses all of argv before any value is checked (memcached checks each flag as it reads
// it, so the first bad flag is the one reported). A small reader (this file) keeps those rules.

export type ValueKind = "none" | "required" | "optional";

/** What the reader needs to know about one flag; callers extend it with their own fields. */
export interface OptionSpec {
  short: string | null; // one letter, or null: long only
  long: string | null; // the long name without "--", or null: short only
  takes: ValueKind; // whether it takes a value
}

export interface ReadRules {
  /** A unique prefix of a long name selects it (getopt_long); else long names must be exact. */
  long_prefixes: boolean;
}

export type OptionEvent<S extends OptionSpec> =
  /** `opt` is the flag as named (-p or --port, the full long name); value null when none was given. */
  | { kind: "option"; spec: S; opt: string; value: string | null }
  /** A non-option argument (after "--", or where an option was expected). */
  | { kind: "positional"; arg: string; after_dashes: boolean }
  | { kind: "error"; error: OptionError<S> };

export type OptionError<S extends OptionSpec> =
  | { reason: "unknown-short"; letter: string; arg: string }
  | { reason: "unknown-long"; name: string; arg: string }
  | { reason: "ambiguous"; name: string; matches: S[] }
  | { reason: "missing-value"; spec: S; opt: string }
  | { reason: "unexpected-value"; spec: S; opt: string; value: string };

function longFind<S extends OptionSpec>(specs: readonly S[], name: string, rules: ReadRules):
  { spec: S } | { error: OptionError<S> } {
  const exact = specs.find((spec) => spec.long === name);
  if (exact !== undefined) return { spec: exact };
  const matches = rules.long_prefixes && name !== "" ? specs.filter((spec) => spec.long?.startsWith(name)) : [];
  if (matches.length === 1) return { spec: matches[0]! };
  if (matches.length === 0) return { error: { reason: "unknown-long", name, arg: `--${name}` } };
  return { error: { reason: "ambiguous", name, matches } };
}

/**
 * Reads argv lazily, in order: the caller applies each option before the next is read, and may
 * stop early (e.g. at -h). After an error event the reader stops.
 */
export function* optionsRead<S extends OptionSpec>(
  argv: readonly string[],
  specs: readonly S[],
  rules: ReadRules,
): Generator<OptionEvent<S>, void, undefined> {
  const by_short = new Map<string, S>();
  for (const spec of specs) if (spec.short !== null) by_short.set(spec.short, spec);
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index++]!;
    if (arg === "--") {
      for (const rest of argv.slice(index)) yield { kind: "positional", arg: rest, after_dashes: true };
      return;
    }
    if (arg.startsWith("--")) {
      const body = arg.slice(2);
      const equals = body.indexOf("=");
      const found = longFind(specs, equals < 0 ? body : body.slice(0, equals), rules);
      if ("error" in found) {
        yield { kind: "error", error: found.error };
        return;
      }
      const spec = found.spec;
      const opt = `--${spec.long}`;
      const attached = equals < 0 ? null : body.slice(equals + 1);
      if (spec.takes === "none" && attached !== null) {
        yield { kind: "error", error: { reason: "unexpected-value", spec, opt, value: attached } };
        return;
      }
      if (spec.takes === "required" && attached === null) {
        if (index >= argv.length) {
          yield { kind: "error", error: { reason: "missing-value", spec, opt } };
          return;
        }
        yield { kind: "option", spec, opt, value: argv[index++]! };
        continue;
      }
      yield { kind: "option", spec, opt, value: attached };
      continue;
    }
    if (!arg.startsWith("-") || arg.length < 2) {
      yield { kind: "positional", arg, after_dashes: false };
      continue;
    }
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at]!;
      const spec = by_short.get(letter);
      if (spec === undefined) {
        yield { kind: "error", error: { reason: "unknown-short", letter, arg } };
        return;
      }
      const opt = `-${letter}`;
      if (spec.takes === "none") {
        yield { kind: "option", spec, opt, value: null };
        continue;
      }
      const attached = at + 1 < arg.length ? arg.slice(at + 1) : null;
      if (attached === null && spec.takes === "required") {
        if (index >= argv.length) {
          yield { kind: "error", error: { reason: "missing-value", spec, opt } };
          return;
        }
        yield { kind: "option", spec, opt, value: argv[index++]! };
        break;
      }
      yield { kind: "option", spec, opt, value: attached };
      break;
    }
  }
}

export interface Suboption {
  /** The item as written ("hashpower=20"): memcached's messages quote it whole. */
  item: string;
  name: string;
  value: string | null; // null: no '=' (a switch)
}

/** Splits a -o list ("a=b,c") into items, as memcached's getsubopt loop. Empty items are kept. */
export function suboptionsSplit(text: string): Suboption[] {
  return text.split(",").map((item) => {
    const equals = item.indexOf("=");
    return equals < 0 ? { item, name: item, value: null } : { item, name: item.slice(0, equals), value: item.slice(equals + 1) };
  });
}
