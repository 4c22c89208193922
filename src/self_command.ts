// self_command: the command line that starts this program again (for -d, which Bun cannot fork).
//
// From a checkout argv is [bun, <script>, ...flags]; in a single-file binary (`bun build
// --compile`) it is ["bun", "/$bunfs/root/<name>", ...flags] and execPath is the binary itself,
// which takes the flags directly: passing the virtual script path on would make it a positional
// argument.
const compiled_script_prefixes = ["/$bunfs/", "B:/~BUN/"];

export function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  const compiled = compiled_script_prefixes.some((prefix) => script.startsWith(prefix));
  return [process.execPath, ...process.argv.slice(compiled ? 2 : 1)];
}
