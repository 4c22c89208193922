// A command for every server: flush_all and verbosity, to the main servers and the backups.
//
// Contract: the command goes (without noreply) to every distinct server that is up. The client
// gets OK when every server answered OK and none was down; otherwise the first answer that was not
// OK, or `SERVER_ERROR <n> of <m> servers unavailable` — a flush that missed a server is not a
// flush (and backups are flushed too, or backup fill would bring flushed keys back).

import type { Command } from "../protocol/parser.ts";
import { Part } from "./part.ts";
import { ReplyKind, lineIs } from "./reply.ts";
import { ProxyReply, Request, encode, type ReplyQueue } from "./request.ts";
import { putCommand } from "./wire.ts";
import type { Router } from "./router.ts";

export class BroadcastRequest extends Request {
  private waiting = 0;
  private unavailable = 0;
  private total = 0;
  private first_error: Uint8Array | null = null;

  constructor(client: ReplyQueue, noreply: boolean) {
    super(client, noreply);
  }

  route(router: Router, cmd: Command, buf: Uint8Array): void {
    const servers = router.everyServer();
    this.total = servers.length;
    for (const backend of servers) {
      if (!backend.usable()) {
        this.unavailable++;
        continue;
      }
      this.waiting++;
      putCommand(backend.send(new Part(this, ReplyKind.LINE, 0, backend), this.client), buf, cmd, cmd.next);
    }
    if (this.waiting === 0) this.answer();
  }

  partDone(_part: Part, buf: Uint8Array, off: number, len: number): void {
    if (this.first_error === null && !lineIs(buf, off, off + len, "OK\r\n")) this.first_error = buf.slice(off, off + len);
    if (--this.waiting === 0) this.answer();
  }

  partFailed(): void {
    this.unavailable++;
    if (--this.waiting === 0) this.answer();
  }

  private answer(): void {
    if (this.first_error !== null) return this.finishWith(this.first_error);
    if (this.unavailable > 0) {
      return this.finishWith(encode(`SERVER_ERROR ${this.unavailable} of ${this.total} servers unavailable\r\n`));
    }
    this.finishWith(ProxyReply.OK);
  }
}
