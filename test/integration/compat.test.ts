// Differential protocol-compatibility suite: every case of compat_cases.ts runs against stock memcached 1.6.18
// and against our server (same flags), in lockstep, and the replies must be byte-identical step by step,
// except where a step names an explicit normalizer.
//
//   bun test test/integration/compat.test.ts                              memcached vs ours (the real check)
//   COMPAT_ONLY_MEMCACHED=1 bun test test/integration/compat.test.ts      memcached vs memcached (determinism)
//   COMPAT_DUMP=1 ...                                                     print every normalized reply
//   COMPAT_CASE=substring ...                                             run only matching cases
//
// If our server cannot start, every case FAILS (it is never skipped).
import { afterAll, describe, expect, test } from "bun:test";
import { RawClient, startMemcached, startOurs, test_threads, type Spawned } from "../helpers/procs";
import { cases as text_cases, EXTENSION_STAT_NAMES, type Case, type Norm, type Step } from "./compat_cases";
import { meta_cases, metaCasOrdinals, metaTimes, recordMetaCas } from "./meta_compat_cases";

const cases: Case[] = [...text_cases, ...meta_cases];

const ONLY_MEMCACHED = process.env.COMPAT_ONLY_MEMCACHED === "1";
const DUMP = process.env.COMPAT_DUMP === "1";
const CASE_FILTER = process.env.COMPAT_CASE ?? "";
const A_LABEL = "memcached";
const B_LABEL = ONLY_MEMCACHED ? "memcached#2" : "ours";
const SENTINEL = "mn\r\n";
const SENTINEL_REPLY = Buffer.from("MN\r\n", "latin1");
const START_MS_MAX = 15_000;

// ---------------------------------------------------------------------------------------------------------
// servers

const started: Spawned[] = [];
/** Start failures of our server by flags: a later start with the same flags (or any start, once the default
 *  flags failed) fails at once instead of waiting again. */
const oursStartErrors = new Map<string, Error>();

/** Starts our server without the helper's blind 15 s port wait: fails at once if the process exits. */
async function startOursChecked(args: string[]): Promise<Spawned> {
  const key = JSON.stringify(args);
  const earlier = oursStartErrors.get(key) ?? oursStartErrors.get("[]");
  if (earlier) throw new Error(`our server failed to start earlier: ${earlier.message}`);
  const fail = (error: Error) => { oursStartErrors.set(key, error); return error; };
  const server = await startOurs(args, { wait: false });
  started.push(server);
  const deadline = Date.now() + START_MS_MAX;
  while (Date.now() < deadline) {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) {
      await Bun.sleep(50); // let the output pumps drain
      throw fail(new Error(`our server exited (code ${server.proc.exitCode ?? server.proc.signalCode}) before listening on ${server.port}; args ${key}\n${server.output()}`));
    }
    try {
      const probe = await RawClient.connect(server.port);
      probe.close();
      return server;
    } catch {
      await Bun.sleep(50);
    }
  }
  await server.stop("SIGKILL");
  throw fail(new Error(`our server did not listen on ${server.port} within ${START_MS_MAX} ms; args ${key}\n${server.output()}`));
}

async function startA(args: string[]): Promise<Spawned> {
  const server = await startMemcached(args);
  started.push(server);
  return server;
}
async function startB(args: string[]): Promise<Spawned> {
  if (ONLY_MEMCACHED) return await startA(args);
  return await startOursChecked(args);
}

interface Pair { a: Spawned; b: Spawned }
async function startPair(args: string[]): Promise<Pair> {
  const [a, b] = await Promise.allSettled([startA(args), startB(args)]);
  if (a.status === "rejected" || b.status === "rejected") {
    if (a.status === "fulfilled") await a.value.stop();
    if (b.status === "fulfilled") await b.value.stop();
    throw a.status === "rejected" ? a.reason : (b as PromiseRejectedResult).reason;
  }
  return { a: a.value, b: b.value };
}
async function stopPair(pair: Pair): Promise<void> {
  await Promise.all([pair.a.stop(), pair.b.stop()]);
}

let sharedPair: Promise<Pair> | null = null;
const exited = (server: Spawned) => server.proc.exitCode !== null || server.proc.signalCode !== null;
/** The pair with default flags that most cases share; restarted if a server died (so one crash fails one case). */
async function shared(): Promise<Pair> {
  if (sharedPair) {
    const pair = await sharedPair;
    if (!exited(pair.a) && !exited(pair.b)) return pair;
    await stopPair(pair);
    sharedPair = null;
  }
  sharedPair = startPair([]);
  return await sharedPair;
}

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
});

// ---------------------------------------------------------------------------------------------------------
// one side of a case

class Side {
  conns = new Map<number, RawClient>();
  /** last CAS seen per key (for `{{cas:KEY}}`) */
  casByKey = new Map<string, string>();
  /** CAS value -> ordinal of first appearance (normalization) */
  casOrdinal = new Map<string, number>();
  constructor(readonly label: string, readonly server: Spawned) {}

  async conn(index: number): Promise<RawClient> {
    let client = this.conns.get(index);
    if (!client) {
      client = await RawClient.connect(this.server.port);
      this.conns.set(index, client);
    }
    return client;
  }
  closeAll(): void {
    for (const client of this.conns.values()) client.close();
    this.conns.clear();
  }
}

interface Reply {
  /** raw bytes (latin1), plus markers for how the reply ended */
  raw: string;
  /** what is compared */
  canon: string;
  /** stat names printed (stats normalizer), for the "ours ⊆ memcached" check */
  statNames?: string[];
}

const tick = (ms: number) => Bun.sleep(ms);
const endsWith = (buffer: Buffer, suffix: Buffer) =>
  buffer.length >= suffix.length && buffer.subarray(buffer.length - suffix.length).equals(suffix);

function substitute(text: string, side: Side): string {
  return text.replace(/\{\{cas:([^}]+)\}\}/g, (_, key: string) => side.casByKey.get(key) ?? "NO_CAS_SEEN");
}

async function sendPackets(client: RawClient, step: Step, side: Side): Promise<void> {
  const sentinel = (step.until ?? "sentinel") === "sentinel" ? SENTINEL : "";
  let packets = (Array.isArray(step.send) ? step.send : [step.send]).map((p) => substitute(p, side));
  if (step.bytewise) packets = [...packets.join("")].map((ch) => ch);
  const gap = step.gapMs ?? 20;
  for (let i = 0; i < packets.length; i++) {
    const last = i === packets.length - 1;
    client.send(last ? packets[i]! + sentinel : packets[i]!);
    if (!last) await tick(gap);
  }
  if (packets.length === 0) client.send(sentinel);
}

/** A socket error (e.g. the server died) becomes part of the reply, so the mismatch report shows it. */
async function runStepSafe(side: Side, step: Step): Promise<Reply> {
  try {
    return await runStep(side, step);
  } catch (error) {
    const text = `<<error: ${error instanceof Error ? error.message : String(error)}>>`;
    return { raw: text, canon: text };
  }
}

async function runStep(side: Side, step: Step): Promise<Reply> {
  if (step.sleepMs) await tick(step.sleepMs);
  const client = await side.conn(step.conn ?? 0);
  await sendPackets(client, step, side);
  const ms = step.ms ?? 3_000;
  const until = step.until ?? "sentinel";
  let raw: string;
  if (until === "sentinel") {
    const bytes = await client.readUntil((b) => endsWith(b, SENTINEL_REPLY), ms);
    if (endsWith(bytes, SENTINEL_REPLY)) raw = bytes.subarray(0, bytes.length - SENTINEL_REPLY.length).toString("latin1");
    else raw = bytes.toString("latin1") + (client.closed ? "<<closed before the sentinel's MN>>" : `<<no MN within ${ms} ms>>`);
  } else if (until === "close") {
    const bytes = await client.readUntil(() => false, ms);
    raw = bytes.toString("latin1") + (client.closed ? "<<closed>>" : `<<still open after ${ms} ms>>`);
  } else {
    const bytes = await client.readUntil(() => false, until.quietMs);
    raw = bytes.toString("latin1") + (client.closed ? "<<closed>>" : "");
  }
  if (step.serverExits) {
    const code = await Promise.race([side.server.proc.exited, tick(5_000).then(() => "still running after 5 s")]);
    raw += `<<server exit: ${code}>>`;
  }
  recordCas(side, raw);
  return normalize(side, step.norm ?? [], raw);
}

// ---------------------------------------------------------------------------------------------------------
// reply parsing and normalizers

interface ValueHeader { start: number; end: number; key: string; flags: string; bytes: number; cas?: string }

/** Walks a retrieval reply structurally (VALUE header, then exactly `bytes` + CRLF of data). */
function valueHeaders(raw: string): ValueHeader[] {
  const out: ValueHeader[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const eol = raw.indexOf("\r\n", pos);
    if (eol < 0) break;
    const line = raw.slice(pos, eol);
    const m = /^VALUE (\S+) (\d+) (\d+)(?: (\S+))?$/.exec(line);
    if (m) {
      const bytes = Number(m[3]);
      out.push({ start: pos, end: eol, key: m[1]!, flags: m[2]!, bytes, cas: m[4]! });
      pos = eol + 2 + bytes + 2;
    } else {
      pos = eol + 2;
    }
  }
  return out;
}

function recordCas(side: Side, raw: string): void {
  for (const h of valueHeaders(raw)) if (h.cas !== undefined) side.casByKey.set(h.key, h.cas);
  recordMetaCas(side.casByKey, raw);
}

function normalize(side: Side, norms: Norm[], raw: string): Reply {
  let canon = raw;
  let statNames: string[] | undefined;
  for (const norm of norms) {
    switch (norm.kind) {
      case "version":
        canon = /^VERSION \S+\r\n$/.test(canon) ? "VERSION <any>\r\n" : canon;
        break;
      case "cas":
        canon = normalizeCas(side, canon);
        break;
      case "stats": {
        const result = normalizeStats(canon, norm, side.server.port);
        canon = result.canon;
        statNames = result.names;
        break;
      }
      case "statsNames":
        canon = normalizeStatNames(canon);
        break;
      case "runs":
        canon = normalizeRuns(canon);
        break;
      case "metaCas":
        canon = metaCasOrdinals(side.casOrdinal, canon);
        break;
      case "metaTimes":
        canon = metaTimes(canon);
        break;
    }
  }
  return { raw, canon, statNames };
}

function normalizeCas(side: Side, raw: string): string {
  let out = "";
  let last = 0;
  for (const h of valueHeaders(raw)) {
    if (h.cas === undefined) continue;
    let token: string;
    if (/^[1-9]\d*$/.test(h.cas)) {
      let ordinal = side.casOrdinal.get(h.cas);
      if (ordinal === undefined) {
        ordinal = side.casOrdinal.size + 1;
        side.casOrdinal.set(h.cas, ordinal);
      }
      token = `<cas#${ordinal}>`;
    } else {
      token = `<cas not a positive integer: ${h.cas}>`;
    }
    out += raw.slice(last, h.start) + `VALUE ${h.key} ${h.flags} ${h.bytes} ${token}`;
    last = h.end;
  }
  return out + raw.slice(last);
}

function matches(name: string, spec: readonly string[] | RegExp | undefined): boolean {
  if (!spec) return false;
  return spec instanceof RegExp ? spec.test(name) : spec.includes(name);
}

function shape(value: string): string {
  if (/^-?\d+$/.test(value)) return "<int>";
  if (/^-?\d+\.\d+$/.test(value)) return "<float>";
  return value.length > 0 ? "<text>" : "<empty>";
}

/** Splits a reply into what precedes its trailing `STAT ...\r\n`* `END\r\n` block, and that block's lines. */
function splitStatsBlock(raw: string): { prefix: string; lines: string[] } | null {
  if (!raw.endsWith("END\r\n")) return null;
  const body = raw.slice(0, -"END\r\n".length);
  const lines = body.split("\r\n");
  lines.pop(); // after the last CRLF (or the whole body when it is empty)
  let first = lines.length;
  while (first > 0 && lines[first - 1]!.startsWith("STAT ")) first--;
  const prefix = lines.slice(0, first).map((line) => line + "\r\n").join("");
  return { prefix, lines: lines.slice(first) };
}

function normalizeStats(raw: string, norm: Extract<Norm, { kind: "stats" }>, port: number): { canon: string; names?: string[] } {
  const block = splitStatsBlock(raw);
  if (!block || block.lines.length === 0) return { canon: raw }; // not a stats reply: compare raw
  const names: string[] = [];
  let canon = block.prefix;
  for (const line of block.lines) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (!m) return { canon: raw };
    const name = m[1]!;
    const value = m[2]!;
    names.push(name);
    if (!matches(name, norm.promised)) continue;
    if (norm.ownPort?.includes(name)) canon += `STAT ${name} ${value === String(port) ? "<own port>" : value}\r\n`;
    else if (matches(name, norm.values)) canon += `STAT ${name} ${value}\r\n`;
    else canon += `STAT ${name} ${shape(value)}\r\n`;
  }
  return { canon: canon + "END\r\n", names };
}

function normalizeStatNames(raw: string): string {
  const block = splitStatsBlock(raw);
  if (!block || block.lines.length === 0) return raw;
  const names = new Set<string>();
  for (const line of block.lines) {
    const m = /^STAT \d+:(\S+) \S.*$/.exec(line);
    if (!m) return raw;
    names.add(m[1]!);
  }
  return `${block.prefix}STAT names: ${[...names].sort().join(",")}\r\nEND\r\n`;
}

function normalizeRuns(raw: string): string {
  const lines = raw.split("\r\n");
  const tail = lines.pop(); // "" when raw ends with CRLF
  let out = "";
  let i = 0;
  while (i < lines.length) {
    let j = i;
    while (j < lines.length && lines[j] === lines[i]) j++;
    out += `${lines[i]} [xN>=1]\r\n`;
    i = j;
  }
  return out + (tail ?? "");
}

// ---------------------------------------------------------------------------------------------------------
// comparison

function show(text: string, max = 1500): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max)}... (${text.length} chars)` : json;
}

function firstDifference(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function describeMismatch(c: Case, index: number, step: Step, a: Reply, b: Reply, why: string): string {
  const sent = Array.isArray(step.send) ? step.send.join("") : step.send;
  const at = firstDifference(a.canon, b.canon);
  const from = Math.max(0, at - 200);
  return [
    `case "${c.name}", step ${index} (conn ${step.conn ?? 0}): ${why}`,
    `  sent:            ${show(sent, 400)}`,
    `  ${A_LABEL} (canonical): ${show(a.canon)}`,
    `  ${B_LABEL} (canonical): ${show(b.canon)}`,
    `  first difference at offset ${at}:`,
    `    ${A_LABEL}: ${show(a.canon.slice(from, at + 200), 800)}`,
    `    ${B_LABEL}: ${show(b.canon.slice(from, at + 200), 800)}`,
    a.canon !== a.raw || b.canon !== b.raw ? `  raw ${B_LABEL}: ${show(b.raw, 800)}` : "",
  ].filter(Boolean).join("\n");
}

function compareStep(c: Case, index: number, step: Step, a: Reply, b: Reply): void {
  if (DUMP) console.log(`[${c.name}] step ${index}: ${show(a.canon, 3000)}`);
  if (a.canon !== b.canon) throw new Error(describeMismatch(c, index, step, a, b, "replies differ"));
  if (a.statNames && b.statNames) {
    const known = new Set(a.statNames);
    const invented = b.statNames.filter((name) => !known.has(name) && !EXTENSION_STAT_NAMES.test(name));
    if (invented.length > 0) {
      throw new Error(describeMismatch(c, index, step, a, b, `${B_LABEL} prints stat names memcached does not have: ${invented.join(", ")}`));
    }
  }
}

async function runSteps(c: Case, pair: Pair): Promise<void> {
  const a = new Side(A_LABEL, pair.a);
  const b = new Side(B_LABEL, pair.b);
  try {
    for (const [index, step] of c.steps.entries()) {
      const [ra, rb] = await Promise.all([runStepSafe(a, step), runStepSafe(b, step)]);
      compareStep(c, index, step, ra, rb);
    }
  } finally {
    a.closeAll();
    b.closeAll();
  }
}

// ---------------------------------------------------------------------------------------------------------
// special: connection limit

const TOO_MANY = "ERROR Too many open connections\r\n";

async function connLimitSide(server: Spawned, unordered = false): Promise<{ canon: string; accepted: number }> {
  const K = 40;
  const clients: RawClient[] = [];
  const notes: string[] = [];
  try {
    await tick(200); // let the start-up probe connection be reaped
    for (let i = 0; i < K; i++) clients.push(await RawClient.connect(server.port));
    // nothing is sent on a socket before we know whether it was rejected (writing into a closed socket can
    // turn the server's FIN into an RST and lose the error line)
    await tick(500);
    const verdict = await Promise.all(clients.map(async (client) => {
      const bytes = (await client.readUntil(() => true, 1)).toString("latin1");
      return client.closed ? `rejected:${bytes}` : bytes === "" ? "open" : `open-with-bytes:${bytes}`;
    }));
    // With worker threads (REPCACHED_TEST_THREADS) each worker accepts from its own queue, so
    // which connections got the slots is the kernel's order, not the clients': compare how many
    // (the open ones first). One event loop (and memcached's one accept thread) keeps arrival order.
    if (unordered) {
      const order = clients.map((_, i) => i).sort((x, y) => Number(verdict[x] !== "open") - Number(verdict[y] !== "open"));
      const sorted_clients = order.map((i) => clients[i]!);
      const sorted_verdict = order.map((i) => verdict[i]!);
      clients.splice(0, clients.length, ...sorted_clients);
      verdict.splice(0, verdict.length, ...sorted_verdict);
    }
    const accepted = verdict.findIndex((v) => v !== "open");
    const nAccepted = accepted < 0 ? K : accepted;
    notes.push(nAccepted >= 1 ? "first connections accepted" : "no connection accepted");
    notes.push(nAccepted < K ? "later connections rejected" : `no rejection among ${K} connections`);
    const rest = new Set(verdict.slice(nAccepted));
    notes.push(`rejections: ${[...rest].map((v) => JSON.stringify(v)).join(" | ")}`);
    // accepted sockets still work
    if (nAccepted >= 2) {
      const reply = await clients[1]!.call("version\r\nmn\r\n", "MN\r\n", 3_000);
      notes.push(/^VERSION \S+\r\nMN\r\n$/.test(reply) ? "accepted socket answers" : `accepted socket answered ${JSON.stringify(reply)}`);
    }
    // a slot frees up when a client leaves
    for (const client of clients.slice(nAccepted)) client.close();
    clients[0]?.close();
    let reconnected = "no free slot within 3 s";
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      const client = await RawClient.connect(server.port);
      clients.push(client);
      await tick(200);
      if (client.closed) { client.close(); await tick(100); continue; }
      const reply = await client.call("version\r\nmn\r\n", "MN\r\n", 3_000);
      reconnected = /^VERSION \S+\r\nMN\r\n$/.test(reply) ? "new connection accepted after one closed" : `new connection answered ${JSON.stringify(reply)}`;
      break;
    }
    notes.push(reconnected);
    return { canon: notes.join("\n"), accepted: nAccepted };
  } finally {
    for (const client of clients) client.close();
  }
}

async function runConnLimit(c: Case, pair: Pair): Promise<void> {
  const [ra, rb] = await Promise.all([connLimitSide(pair.a), connLimitSide(pair.b, !ONLY_MEMCACHED && test_threads > 1)]);
  if (DUMP) console.log(`[${c.name}] ${A_LABEL} accepted ${ra.accepted}, ${B_LABEL} accepted ${rb.accepted}\n${ra.canon}`);
  if (!ra.canon.includes(JSON.stringify(`rejected:${TOO_MANY}`))) throw new Error(`memcached did not behave as expected:\n${ra.canon}`);
  expect({ side: B_LABEL, behaviour: rb.canon }).toEqual({ side: B_LABEL, behaviour: ra.canon });
}

// ---------------------------------------------------------------------------------------------------------

async function runCase(c: Case): Promise<void> {
  const dedicated = c.flags !== undefined || c.fresh === true || c.special !== undefined;
  const pair = dedicated ? await startPair(c.flags ?? []) : await shared();
  try {
    if (c.special === "connLimit") await runConnLimit(c, pair);
    else await runSteps(c, pair);
  } finally {
    if (dedicated) await stopPair(pair);
  }
}

describe(`memcached protocol compatibility (${A_LABEL} vs ${B_LABEL})`, () => {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
    if (CASE_FILTER && !c.name.includes(CASE_FILTER)) continue;
    test(c.name, async () => { await runCase(c); }, c.timeoutMs ?? 15_000);
  }
});
