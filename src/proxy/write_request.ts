// A single-key write: set/add/replace/append/prepend/cas, incr/decr, delete, touch.
//
// Contract (what magent does, made safe):
// - The command goes to the key's main server, and a copy goes to the key's backup. The client
//   gets the main server's reply.
// - set/append/prepend/incr/decr/delete/touch are copied to the backup verbatim, at once.
//   add/replace/cas are conditional on the main server's state (and a cas unique is only valid
//   there), so the backup gets a plain `set` of the same item once the main server said STORED.
// - Main server down: the command goes to the backup only, and the client gets its reply.
// - Main server failed before the command left the proxy (it never connected): the backup's copy
//   answers instead (or the command is sent there now). Failed after it was sent: whether it was
//   applied is unknown, so the client gets SERVER_ERROR.
// - Neither server available: SERVER_ERROR at once.

import { Cmd, type Command } from "../protocol/parser.ts";
import { Part } from "./part.ts";
import { ReplyKind, lineIs } from "./reply.ts";
import { ProxyReply, Request, type ReplyQueue } from "./request.ts";
import { copyCommand, putBytes, putCommand } from "./wire.ts";
import type { Backend } from "./backend.ts";
import type { Router } from "./router.ts";

const Tag = { MAIN: 0, MIRROR: 1, BACKUP: 2 } as const;

function isConditional(kind: number): boolean {
  return kind === Cmd.ADD || kind === Cmd.REPLACE || kind === Cmd.CAS;
}

export class WriteRequest extends Request {
  private backup: Backend | null = null;
  /** The command as sent (conditional writes with a backup: for the backup's `set` or a resend). */
  private held: Uint8Array | null = null;
  private held_key_off = 0;
  private held_key_len = 0;
  private data_len = 0;
  private flags = 0;
  private exptime = 0;
  private mirror_sent = false;
  private mirror_failed = false;
  private mirror_reply: Uint8Array | null = null;
  private waiting_for_mirror = false;

  constructor(client: ReplyQueue, noreply: boolean) {
    super(client, noreply);
  }

  /** Routes the command in buf[cmd.line_start, end) (end: after the data block, if any). */
  route(router: Router, cmd: Command, buf: Uint8Array, end: number): void {
    const placement = router.place(buf, cmd.key_off, cmd.key_len);
    const main = placement.main;
    const backup = placement.backup;
    this.backup = backup;
    const backup_usable = backup !== null && backup.usable();
    if (!main.usable()) {
      if (!backup_usable) return this.finishWith(ProxyReply.UNAVAILABLE);
      backup.counters.failover_parts++;
      return putCommand(backup.send(new Part(this, ReplyKind.LINE, Tag.BACKUP, backup), this.client), buf, cmd, end);
    }
    if (backup_usable && isConditional(cmd.kind)) this.hold(buf, cmd, end);
    putCommand(main.send(new Part(this, ReplyKind.LINE, Tag.MAIN, main), this.client), buf, cmd, end);
    if (!backup_usable || this.held !== null) return;
    this.mirror_sent = true;
    backup.counters.mirrored++;
    putCommand(backup.send(new Part(this, ReplyKind.LINE, Tag.MIRROR, backup), this.client), buf, cmd, end);
  }

  private hold(buf: Uint8Array, cmd: Command, end: number): void {
    this.held = copyCommand(buf, cmd, end);
    this.held_key_off = cmd.key_off - cmd.line_start;
    this.held_key_len = cmd.key_len;
    this.data_len = cmd.data_len;
    this.flags = cmd.flags;
    this.exptime = cmd.exptime;
  }

  partDone(part: Part, buf: Uint8Array, off: number, len: number): void {
    if (part.tag === Tag.MAIN) {
      if (this.held !== null && lineIs(buf, off, off + len, "STORED\r\n")) this.mirrorAsSet();
      return this.finish(buf, off, len);
    }
    if (part.tag === Tag.BACKUP || this.waiting_for_mirror) return this.finish(buf, off, len);
    if (!this.finished) this.mirror_reply = buf.slice(off, off + len);
  }

  partFailed(part: Part, sent: boolean): void {
    if (part.tag === Tag.MIRROR) {
      this.mirror_failed = true;
      if (this.waiting_for_mirror) this.finishWith(ProxyReply.FAILED);
      return;
    }
    if (part.tag === Tag.BACKUP || sent) return this.finishWith(ProxyReply.FAILED);
    this.mainNeverSent();
  }

  /** The main server never got the command: the backup's answer stands in for it. */
  private mainNeverSent(): void {
    if (this.mirror_sent) {
      if (this.mirror_reply !== null) return this.finishWith(this.mirror_reply);
      if (this.mirror_failed) return this.finishWith(ProxyReply.FAILED);
      this.waiting_for_mirror = true;
      return;
    }
    const backup = this.backup;
    if (this.held === null || backup === null || !backup.usable()) return this.finishWith(ProxyReply.UNAVAILABLE);
    backup.counters.failover_parts++;
    putBytes(backup.send(new Part(this, ReplyKind.LINE, Tag.BACKUP, backup), this.client), this.held);
    this.held = null;
  }

  /** After the main server stored an add/replace/cas: the backup gets the same item by `set`. */
  private mirrorAsSet(): void {
    const backup = this.backup!;
    const held = this.held!;
    this.held = null;
    if (!backup.usable()) return;
    backup.counters.mirrored++;
    const upstream = backup.send(new Part(null, ReplyKind.LINE, Tag.MIRROR, backup), this.client);
    upstream.putText("set ");
    upstream.put(held, this.held_key_off, this.held_key_len);
    upstream.putText(` ${this.flags} ${this.exptime} ${this.data_len}\r\n`);
    upstream.put(held, held.length - this.data_len - 2, this.data_len + 2);
  }
}
