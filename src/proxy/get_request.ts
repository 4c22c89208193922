// A read: get/gets/gat/gats of one or many keys.
//
// Contract:
// - Keys are grouped by the server that answers them: the key's main server, or its backup when
//   the main server is down (never another main server). One part per group; a group holding every
//   key in request order is sent as the client wrote it, others as `<cmd> k1 k2 ...`.
// - The reply lists hits in REQUEST KEY ORDER whatever order the servers answer in: each server
//   answers its keys in the order asked, so one cursor per group merges them in one pass.
// - A group whose server fails is asked again of the keys' backups (reads are safe to repeat).
//   A key that no server can answer makes the whole request SERVER_ERROR (as twemproxy does).
// - Backup fill (the fix of magent's flaw): a key its main server misses is looked up on the
//   key's backup — `mg <key> v f t` where the backup speaks memcached 1.6's meta protocol (learnt on
//   first use: a server answering ERROR does not), else `get` — and a hit is served and written
//   back to the main server with `add` (never overwriting a newer value), keeping the flags and
//   the remaining TTL from `mg` (exptime 0 when only `get` could tell; gat/gats use their exptime).
// - gat/gats also send `touch <key> <exptime>` to the backup of every key.
// - A reply whose server answered an error line (SERVER_ERROR ...) is that error, alone.
// - A get/gets line longer than get_line_bytes_max is routed in parts as its keys arrive (GetLine):
//   one request per part, answered in order; only the last part's reply keeps END, and a part whose
//   reply is an error ends the line's reply (the parts after it write nothing), as our server does.

import { Cmd, key_bytes_max, key_cursor, nextKey, type Command } from "../protocol/parser.ts";
import { Part } from "./part.ts";
import { ReplyKind, lineIs, meta_line, readMetaLine, readValueLine, value_line } from "./reply.ts";
import { ProxyReply, Request, client_error_replies, type ReplyQueue } from "./request.ts";
import { MetaSupport, type Backend } from "./backend.ts";
import type { Router } from "./router.ts";
import { exptime_relative_s_max } from "./limits.ts";

/** The per-key table's fields (see GetRequest.table). */
const OFF = 0;
const LEN = 1;
const MAIN = 2;
const BACKUP = 3;
const GROUP = 4;
const key_fields = 5;
const no_keys = new Int32Array(0);

/** Part tags at or above this are backup-fill lookups of key (tag - fill_tag_base). */
const fill_tag_base = 1 << 20;
const END_LEN = 5;

class Group {
  readonly backend: Backend;
  readonly via_backup: boolean;
  reply: Uint8Array | null = null;
  /** Its keys were asked again elsewhere (the server failed). */
  moved = false;

  constructor(backend: Backend, via_backup: boolean) {
    this.backend = backend;
    this.via_backup = via_backup;
  }
}

function verb(kind: number): string {
  switch (kind) {
    case Cmd.GETS: return "gets";
    case Cmd.GAT: return "gat";
    case Cmd.GATS: return "gats";
  }
  return "get";
}

/**
 * A get line longer than get_line_bytes_max, routed as consecutive parts (a GetRequest each) while
 * it arrives, so the proxy holds at most one part of it (the client's input bound), never the line.
 */
export class GetLine {
  readonly kind: number;
  /** A part so far named a key (a line of spaces only is memcached's ERROR). */
  keys_seen = false;
  /** The rest of the line up to its '\n' carries nothing to route (a NUL, a key too long). */
  skipping = false;
  /** A part's error reply was written: the line's reply is over, later parts write nothing. */
  ended = false;
  /** Parts routed whose turn to be written has not come (bounded by get_line_parts_max). */
  parts_unwritten = 0;

  constructor(kind: number) {
    this.kind = kind;
  }
}

export class GetRequest extends Request {
  private readonly kind: number;
  /** The long line this request is a part of, or null for a whole line. */
  private readonly line: GetLine | null;
  /** The line's last part: its reply keeps END. */
  private readonly last: boolean;
  /** Its reply is an error line, not values + END (it ends a long line's reply). */
  private is_error = false;
  private readonly exptime: number;
  private readonly router: Router;
  /** Key bytes: the client's line (during routing) or a copy of its keys (afterwards). */
  private keys: Uint8Array = ProxyReply.END;
  private count = 0;
  /** Per key, `key_fields` numbers: offset and length in `keys`, main and backup server (indexes
   *  into router.mains / router.backups, -1: none) and the group that asks for it. One allocation. */
  private table: Int32Array = no_keys;
  private readonly groups: Group[] = [];
  private waiting = 0;
  private fill_possible = false;
  /** After the merge: where each key's VALUE block lies (group, offsets), or group -1 for a miss. */
  private found_group: Int32Array | null = null;
  private found_off: Int32Array | null = null;
  private found_end: Int32Array | null = null;
  private fill_blocks: Array<Uint8Array | null> | null = null;

  constructor(client: ReplyQueue, router: Router, cmd: Command, line: GetLine | null = null, last = true) {
    super(client, false);
    this.kind = cmd.kind;
    this.exptime = cmd.exptime;
    this.router = router;
    this.line = line;
    this.last = last;
    if (line !== null) line.parts_unwritten++;
  }

  /**
   * A part of a long line keeps END only when last; an error reply is marked for takesItsTurn.
   * Then the keys, tables and server replies are let go: the client's queue may keep a finished
   * request until the requests ahead of it are written.
   */
  override finish(buf: Uint8Array, off: number, len: number): void {
    if (this.finished) return;
    if (this.line !== null) {
      const ends = len >= END_LEN && lineIs(buf, off + len - END_LEN, off + len, "END\r\n");
      if (!ends || (len > END_LEN && !readValueLine(buf, off, off + len))) this.is_error = true;
      else if (!this.last) len -= END_LEN;
    }
    super.finish(buf, off, len);
    this.release();
  }

  private release(): void {
    this.keys = ProxyReply.END;
    this.table = no_keys;
    this.groups.length = 0;
    this.found_group = this.found_off = this.found_end = null;
    this.fill_blocks = null;
  }

  /** In the client's order: nothing after a long line's error; an error ends the line's reply. */
  override takesItsTurn(): boolean {
    const line = this.line;
    if (line === null) return true;
    line.parts_unwritten--;
    if (line.ended) return false;
    if (this.is_error) line.ended = true;
    return true;
  }

  private get prefix(): string {
    const touching = this.kind === Cmd.GAT || this.kind === Cmd.GATS;
    return touching ? `${verb(this.kind)} ${this.exptime} ` : `${verb(this.kind)} `;
  }

  private keyOff(i: number): number {
    return this.table[i * key_fields + OFF]!;
  }

  private keyLen(i: number): number {
    return this.table[i * key_fields + LEN]!;
  }

  private groupOf(i: number): number {
    return this.table[i * key_fields + GROUP]!;
  }

  private mainOf(i: number): Backend {
    return this.router.mains[this.table[i * key_fields + MAIN]!]!;
  }

  private backupOf(i: number): Backend | null {
    const index = this.table[i * key_fields + BACKUP]!;
    return index < 0 ? null : this.router.backups[index]!;
  }

  route(cmd: Command, buf: Uint8Array): void {
    if (!this.collectKeys(cmd, buf)) return;
    if (this.count === 0) return this.finishWith(ProxyReply.END); // `gat 10` with no key, as memcached
    if (!this.placeKeys()) return this.finishWith(ProxyReply.UNAVAILABLE);
    if (this.groups.length === 1 && this.line === null) this.sendWhole(cmd, buf);
    else for (let g = 0; g < this.groups.length; g++) this.sendGroup(g);
    if (this.kind === Cmd.GAT || this.kind === Cmd.GATS) this.touchBackups();
  }

  /** Finds the keys; copies them when they are needed after this event. False: answered already. */
  private collectKeys(cmd: Command, buf: Uint8Array): boolean {
    let n = 0;
    for (let from = cmd.keys_off; nextKey(buf, from, cmd.line_end); from = key_cursor.off + key_cursor.len) {
      if (key_cursor.len > key_bytes_max) {
        if (this.line !== null) this.line.skipping = true; // as our server: the rest of the line is skipped
        this.finishWith(client_error_replies[0]!); // memcached: the error alone
        return false;
      }
      n++;
    }
    if (n === 0) return true;
    // Key bytes are needed after this event to merge several servers' replies, ask a backup, or
    // fill a miss: then they are copied once.
    const keep = this.router.backups.length > 0 || (this.router.mains.length > 1 && n > 1);
    const base = keep ? cmd.keys_off : 0;
    this.keys = keep ? buf.slice(cmd.keys_off, cmd.line_end) : buf;
    this.count = n;
    this.table = new Int32Array(n * key_fields);
    let i = 0;
    for (let from = cmd.keys_off; nextKey(buf, from, cmd.line_end); from = key_cursor.off + key_cursor.len) {
      this.table[i * key_fields + OFF] = key_cursor.off - base;
      this.table[i * key_fields + LEN] = key_cursor.len;
      i++;
    }
    return true;
  }

  private placeKeys(): boolean {
    const router = this.router;
    const table = this.table;
    for (let i = 0; i < this.count; i++) {
      const row = i * key_fields;
      const p = router.place(this.keys, table[row + OFF]!, table[row + LEN]!);
      table[row + MAIN] = p.main_index;
      table[row + BACKUP] = p.backup_index;
      let target: Backend | null = p.main;
      if (!p.main.usable()) target = p.backup !== null && p.backup.usable() ? p.backup : null;
      if (target === null) return false;
      table[row + GROUP] = this.groupFor(target, target !== p.main);
      if (target === p.main && p.backup !== null && router.backup_fill) this.fill_possible = true;
    }
    return true;
  }

  private groupFor(backend: Backend, via_backup: boolean): number {
    for (let g = 0; g < this.groups.length; g++) {
      const group = this.groups[g]!;
      if (group.backend === backend && group.via_backup === via_backup && !group.moved) return g;
    }
    const group = new Group(backend, via_backup);
    if (via_backup) backend.counters.failover_parts++;
    this.groups.push(group);
    return this.groups.length - 1;
  }

  /** One server answers every key: the client's line goes as it is. */
  private sendWhole(cmd: Command, buf: Uint8Array): void {
    const group = this.groups[0]!;
    const upstream = group.backend.send(new Part(this, ReplyKind.VALUES, 0, group.backend), this.client);
    upstream.put(buf, cmd.line_start, cmd.next - cmd.line_start);
    this.waiting++;
  }

  private sendGroup(g: number): void {
    const group = this.groups[g]!;
    const upstream = group.backend.send(new Part(this, ReplyKind.VALUES, g, group.backend), this.client);
    upstream.putText(this.prefix.trimEnd());
    for (let i = 0; i < this.count; i++) {
      if (this.groupOf(i) !== g) continue;
      upstream.putText(" ");
      upstream.put(this.keys, this.keyOff(i), this.keyLen(i));
    }
    upstream.putText("\r\n");
    this.waiting++;
  }

  private touchBackups(): void {
    for (let i = 0; i < this.count; i++) {
      const backup = this.backupOf(i);
      if (backup === null || !backup.usable()) continue;
      if (this.groups[this.groupOf(i)]!.via_backup) continue;
      backup.counters.mirrored++;
      const upstream = backup.send(new Part(null, ReplyKind.LINE, 0, backup), this.client);
      upstream.putText("touch ");
      upstream.put(this.keys, this.keyOff(i), this.keyLen(i));
      upstream.putText(` ${this.exptime}\r\n`);
    }
  }

  /** A reply still arriving for this client: it counts against the client's output bound. */
  partHeld(_part: Part, bytes: number): boolean {
    if (this.finished) return false;
    if (this.client.holding(bytes)) return true;
    this.finished = true;
    return false;
  }

  partDone(part: Part, buf: Uint8Array, off: number, len: number): void {
    if (this.finished) return;
    if (part.tag >= fill_tag_base) return this.fillDone(part, buf, off, len);
    const group = this.groups[part.tag]!;
    if (this.groups.length === 1 && (!this.fill_possible || this.allHits(buf, off, off + len))) {
      return this.finish(buf, off, len);
    }
    group.reply = buf.slice(off, off + len);
    if (--this.waiting === 0) this.merge();
  }

  private allHits(buf: Uint8Array, off: number, end: number): boolean {
    let at = off;
    let hits = 0;
    while (readValueLine(buf, at, end)) {
      hits++;
      at = value_line.block_end;
    }
    return hits === this.count && lineIs(buf, at, end, "END\r\n");
  }

  partFailed(part: Part, _sent: boolean): void {
    if (this.finished) return;
    if (part.tag >= fill_tag_base) {
      if (--this.waiting === 0) this.emit();
      return;
    }
    const g = part.tag;
    if (this.groups[g]!.via_backup) return this.finishWith(ProxyReply.FAILED);
    for (let i = 0; i < this.count; i++) {
      if (this.groupOf(i) !== g) continue;
      const backup = this.backupOf(i);
      if (backup === null || !backup.usable()) return this.finishWith(ProxyReply.FAILED);
    }
    this.groups[g]!.moved = true;
    this.waiting--;
    const first_new = this.groups.length;
    for (let i = 0; i < this.count; i++) {
      if (this.groupOf(i) === g) this.table[i * key_fields + GROUP] = this.groupFor(this.backupOf(i)!, true);
    }
    for (let next = first_new; next < this.groups.length; next++) this.sendGroup(next);
  }

  /** Every group answered: match blocks to keys, then fill misses or answer. */
  private merge(): void {
    for (const group of this.groups) {
      if (group.moved) continue;
      const reply = group.reply!;
      if (!readValueLine(reply, 0, reply.length) && !lineIs(reply, 0, reply.length, "END\r\n")) {
        return this.finishWith(reply);
      }
    }
    const n = this.count;
    this.found_group = new Int32Array(n).fill(-1);
    this.found_off = new Int32Array(n);
    this.found_end = new Int32Array(n);
    const cursors = new Int32Array(this.groups.length);
    for (let i = 0; i < n; i++) this.match(i, cursors);
    if (this.fill_possible) this.startFills();
    if (this.waiting === 0) this.emit();
  }

  private match(i: number, cursors: Int32Array): void {
    const g = this.groupOf(i);
    const reply = this.groups[g]!.reply!;
    if (!readValueLine(reply, cursors[g]!, reply.length)) return;
    if (!this.keyEquals(i, reply, value_line.key_off, value_line.key_len)) return;
    this.found_group![i] = g;
    this.found_off![i] = cursors[g]!;
    this.found_end![i] = value_line.block_end;
    cursors[g] = value_line.block_end;
  }

  private keyEquals(i: number, buf: Uint8Array, off: number, len: number): boolean {
    if (len !== this.keyLen(i)) return false;
    const keys = this.keys;
    const key_off = this.keyOff(i);
    for (let j = 0; j < len; j++) if (keys[key_off + j] !== buf[off + j]) return false;
    return true;
  }

  private startFills(): void {
    for (let i = 0; i < this.count; i++) {
      if (this.found_group![i] !== -1) continue;
      if (this.groups[this.groupOf(i)]!.via_backup) continue;
      const backup = this.backupOf(i);
      if (backup === null || !backup.usable()) continue;
      if (this.fill_blocks === null) this.fill_blocks = new Array<Uint8Array | null>(this.count).fill(null);
      this.sendFill(i, backup);
    }
  }

  private sendFill(i: number, backup: Backend): void {
    const by_meta = backup.meta !== MetaSupport.NO && (this.kind === Cmd.GET || this.kind === Cmd.GETS);
    const part = new Part(this, by_meta ? ReplyKind.META : ReplyKind.VALUES, fill_tag_base + i, backup);
    const upstream = backup.send(part, this.client);
    upstream.putText(by_meta ? "mg " : this.prefix);
    upstream.put(this.keys, this.keyOff(i), this.keyLen(i));
    upstream.putText(by_meta ? (this.kind === Cmd.GETS ? " v f t c\r\n" : " v f t\r\n") : "\r\n");
    this.waiting++;
  }

  private fillDone(part: Part, buf: Uint8Array, off: number, len: number): void {
    const i = part.tag - fill_tag_base;
    const backup = part.backend;
    if (part.kind === ReplyKind.META) {
      if (!readMetaLine(buf, off, off + len)) {
        if (backup.meta !== MetaSupport.YES) backup.meta = MetaSupport.NO;
        if (backup.meta === MetaSupport.NO && backup.usable()) {
          this.waiting--;
          return this.sendFill(i, backup); // ask again with get
        }
      } else {
        backup.meta = MetaSupport.YES;
        if (meta_line.hit) this.metaHit(i, buf);
      }
    } else if (readValueLine(buf, off, off + len) && this.keyEquals(i, buf, value_line.key_off, value_line.key_len)) {
      this.fill_blocks![i] = buf.slice(off, value_line.block_end);
      const touching = this.kind === Cmd.GAT || this.kind === Cmd.GATS;
      const flags = decodeLatin1(buf, value_line.flags_off, value_line.flags_len);
      this.writeBack(i, flags, touching ? this.exptime : 0, buf, value_line.data_off, value_line.data_len);
    }
    if (--this.waiting === 0) this.emit();
  }

  /** A `VA` hit: the VALUE block the client expects, and the write-back with the remaining TTL. */
  private metaHit(i: number, buf: Uint8Array): void {
    const m = meta_line;
    const cas = this.kind === Cmd.GETS ? ` ${m.cas_len > 0 ? decodeLatin1(buf, m.cas_off, m.cas_len) : "0"}` : "";
    const header = `VALUE ${decodeLatin1(this.keys, this.keyOff(i), this.keyLen(i))} ${m.flags} ${m.data_len}${cas}\r\n`;
    const block = new Uint8Array(header.length + m.data_len + 2);
    for (let j = 0; j < header.length; j++) block[j] = header.charCodeAt(j);
    block.set(buf.subarray(m.data_off, m.data_off + m.data_len + 2), header.length);
    this.fill_blocks![i] = block;
    this.writeBack(i, String(m.flags), exptimeOfTtl(m.ttl_s), buf, m.data_off, m.data_len);
  }

  private writeBack(i: number, flags: string, exptime: number, buf: Uint8Array, data_off: number, data_len: number): void {
    const main = this.mainOf(i);
    main.counters.fills++;
    if (!main.usable()) return;
    main.counters.write_backs++;
    const upstream = main.send(new Part(null, ReplyKind.LINE, 0, main), this.client);
    upstream.putText("add ");
    upstream.put(this.keys, this.keyOff(i), this.keyLen(i));
    upstream.putText(` ${flags} ${exptime} ${data_len}\r\n`);
    upstream.put(buf, data_off, data_len);
    upstream.putText("\r\n");
  }

  /** The merged reply: every key's block in request order, then END. */
  private emit(): void {
    const n = this.count;
    let total = END_LEN;
    for (let i = 0; i < n; i++) {
      if (this.found_group![i] !== -1) total += this.found_end![i]! - this.found_off![i]!;
      else if (this.fill_blocks !== null && this.fill_blocks[i] !== null) total += this.fill_blocks[i]!.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const g = this.found_group![i]!;
      if (g !== -1) {
        const reply = this.groups[g]!.reply!;
        out.set(reply.subarray(this.found_off![i]!, this.found_end![i]!), at);
        at += this.found_end![i]! - this.found_off![i]!;
      } else if (this.fill_blocks !== null && this.fill_blocks[i] !== null) {
        out.set(this.fill_blocks[i]!, at);
        at += this.fill_blocks[i]!.length;
      }
    }
    out.set(ProxyReply.END, at);
    this.finishWith(out);
  }
}

/** The exptime that keeps an item's remaining TTL (meta `t`: -1 = never expires). */
export function exptimeOfTtl(ttl_s: number): number {
  if (ttl_s < 0) return 0;
  if (ttl_s === 0) return 1; // expiring this very second: keep it one more, not forever
  if (ttl_s > exptime_relative_s_max) return Math.floor(Date.now() / 1000) + ttl_s;
  return ttl_s;
}

function decodeLatin1(buf: Uint8Array, off: number, len: number): string {
  let text = "";
  for (let i = off; i < off + len; i++) text += String.fromCharCode(buf[i]!);
  return text;
}
