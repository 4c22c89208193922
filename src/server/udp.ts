// memcached's UDP transport (-U): one request per datagram, replies framed per response object.
//
// Contract (each point checked against memcached 1.6.18 in test/integration/udp.test.ts):
// - Every datagram starts with an 8-byte header: request id, sequence number, total datagrams,
//   reserved (u16 each, big-endian). A request is one datagram: more than 8 bytes and total == 1;
//   anything else is dropped unanswered (memcached ignores the sequence number and reserved field).
// - The payload holds text commands, parsed and executed exactly as on TCP (parser.ts, execute.ts,
//   the server's executeAdmin). Storage commands need their whole data block in the datagram.
// - memcached answers per *response object*: one per command, one per key of a multi-get (its END
//   rides on the last key's). A response of n bytes goes out as ceil(n / 1392) datagrams of at most
//   1400 bytes, header included, numbered 0..total-1; each response numbers from 0 again.
// - Responses are transmitted in groups: after a get-like command, `mn`, `quit`, every
//   requests_per_event_max commands (-R), at a line without '\n', and at the end of the datagram.
//   Within a group a response with no bytes goes out as a bare header (total 0) only when it heads
//   the group; after a sent response it is retired silently. noreply responses never go out.
// - What memcached drops, we drop: an overlong get key drops every unsent response and answers the
//   error alone; an HTTP line, a too-long line, `shutdown` and `quit` end the datagram; a storage
//   command whose data block is incomplete ends it and drops the unsent responses (memcached would
//   wait for the rest and swallow the client's next datagram as value bytes; we do not). Nothing
//   carries over between datagrams (memcached also keeps `quit`'s close-after-write flag on its
//   worker's UDP connection, cutting every later datagram short at its first flush; we do not).
// - Bounds: a request's replies are capped at udpReplyBytesMax() (past it, the rest of the datagram
//   is not executed and its unsent replies are dropped); datagrams the kernel refuses (backpressure)
//   queue up to udp_pending_bytes_max and go out on drain, later ones are dropped.
// Replies are collected in the shared Output (out.flush points here while a datagram runs) and
// copied into this transport's staging buffer, so they never mix with a TCP connection's output.

import type { udp } from "bun";
import { Cmd, Command, Parse, key_bytes_max, key_cursor, nextKey, parseCommand } from "../protocol/parser.ts";
import { executeGet, executeKeyCommand, executeStoreInline, isStorage, type Context } from "../protocol/execute.ts";
import { Reply } from "../protocol/replies.ts";
import { executeMeta, executeMetaSet, isMetaKind } from "../protocol/meta_execute.ts";
import { listenAddressSplit } from "../config.ts";
import type { Closable } from "./connection.ts";
import { output_headroom_bytes, output_pending_bytes_max } from "./limits.ts";

/** memcached's UDP_HEADER_SIZE. */
export const udp_header_bytes = 8;
/** memcached's UDP_MAX_PAYLOAD_SIZE: a reply datagram, header included, is at most this long. */
export const udp_datagram_bytes_max = 1400;
/** memcached's UDP_DATA_SIZE: reply bytes per datagram. */
export const udp_data_bytes_max = udp_datagram_bytes_max - udp_header_bytes;
/** The largest UDP payload over IPv4 (65535 - 20 IP header - 8 UDP header). */
export const udp_request_bytes_max = 65507;
/** The header's "total datagrams" is a u16: no response may need more. */
export const udp_datagrams_per_response_max = 0xffff;
/** Reply bytes of a request below which nothing is dropped, whatever -I is. */
export const udp_reply_bytes_floor = 4 * 1024 * 1024;
/** Datagrams waiting for the socket to drain; later ones are dropped (UDP is lossy anyway). */
export const udp_pending_bytes_max = output_pending_bytes_max;
/** Responses one request can create: at most one per payload byte (`\n\n\n` answers ERROR thrice). */
const responses_max = udp_request_bytes_max - udp_header_bytes;
const staging_bytes_initial = 64 * 1024;

/**
 * Reply bytes one request may cause, summed over its datagrams. UDP answers an unverified source
 * address, so one 64 KiB multi-get must not turn into gigabytes: the floor lets a multi-get of many
 * ordinary values through, item_size_max + headroom the largest single value, and the ceiling is
 * what one response's u16 datagram count can number.
 */
export function udpReplyBytesMax(item_size_max: number): number {
  const largest_reply_bytes = Math.max(udp_reply_bytes_floor, item_size_max + output_headroom_bytes);
  return Math.min(largest_reply_bytes, udp_datagrams_per_response_max * udp_data_bytes_max);
}

/** How a response object is transmitted. */
const Resp = { DATA: 0, EMPTY: 1, SKIP: 2 } as const;

export interface UdpHost {
  ctx: Context;
  executeAdmin(conn: Closable, cmd: Command, buf: Uint8Array): void;
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
  /** Unix seconds of the server's clock tick (meta ttl replies). */
  readonly now_s: number;
}

export interface UdpSettings {
  port: number;
  /** -l entries ("host", "host:port", "[v6]:port"); empty means every IPv4 interface. */
  listen_addresses: string[];
  requests_per_event_max: number;
  item_size_max: number;
}

type UdpSocket = udp.Socket<"buffer">;

const command = new Command();
/** A one-key view of a multi-get, handed to executeGet key by key. */
const key_command = new Command();

export class UdpTransport implements Closable {
  private readonly host: UdpHost;
  private readonly settings: UdpSettings;
  private readonly reply_bytes_max: number;
  private readonly flushOut: () => void;
  private sockets: UdpSocket[] = [];
  private stopped = false;
  // The request being executed.
  private socket: UdpSocket | null = null;
  private request_id = 0;
  private reply_port = 0;
  private reply_address = "";
  private closing = false;
  private overflow = false;
  private sent_bytes = 0;
  // Responses of the current group: staging[resp_off[i], +resp_len[i]).
  private staging = new Uint8Array(staging_bytes_initial);
  private staged = 0;
  private readonly resp_off = new Int32Array(responses_max);
  private readonly resp_len = new Int32Array(responses_max);
  private readonly resp_kind = new Uint8Array(responses_max);
  private resp_count = 0;
  private readonly datagram = new Uint8Array(udp_datagram_bytes_max);
  // Backpressure queue: whole datagrams with their sockets and destinations, oldest first.
  private pending: Array<{ socket: UdpSocket; data: Uint8Array; port: number; address: string }> = [];
  private pending_bytes = 0;
  /** Datagrams dropped because the pending queue was full (no stat name in memcached). */
  dropped_datagrams = 0;

  constructor(host: UdpHost, settings: UdpSettings) {
    if (settings.port <= 0) throw new RangeError("UDP port must be set");
    if (settings.requests_per_event_max < 1) throw new RangeError("requests_per_event_max must be >= 1");
    this.host = host;
    this.settings = settings;
    this.reply_bytes_max = udpReplyBytesMax(settings.item_size_max);
    this.flushOut = () => this.drainOutput();
  }

  /** Binds one socket per -l address. Bun binds synchronously: a taken port throws here. */
  start(): void {
    const entries = this.settings.listen_addresses.length > 0 ? this.settings.listen_addresses : ["0.0.0.0"];
    for (const entry of entries) {
      const address = listenAddressSplit(entry);
      if (address === null) throw new Error(`bad listen address '${entry}'`);
      const bound = Bun.udpSocket({
        hostname: address.host,
        port: address.port ?? this.settings.port,
        binaryType: "buffer",
        socket: {
          data: (socket, data, port, from) => this.onDatagram(socket, data, port, from),
          drain: () => this.writePending(),
        },
      });
      void bound.then((socket) => (this.stopped ? socket.close() : void this.sockets.push(socket)));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const socket of this.sockets) socket.close();
    this.sockets = [];
    this.pending = [];
    this.pending_bytes = 0;
  }

  /** Closable: `shutdown` (and an HTTP line) end the datagram; memcached drops what is unsent. */
  close(): void {
    this.closing = true;
  }

  private onDatagram(socket: UdpSocket, data: Uint8Array, port: number, address: string): void {
    if (this.stopped || data.length <= udp_header_bytes) return;
    this.host.bytesRead(data.length);
    // memcached: "If this is a multi-packet request, drop it." (total must be exactly 1)
    if (data[4] !== 0 || data[5] !== 1) return;
    const out = this.host.ctx.out;
    if (out.len !== 0) throw new Error("UDP request started with unflushed TCP output");
    out.flush = this.flushOut;
    this.socket = socket;
    this.request_id = (data[0]! << 8) | data[1]!;
    this.reply_port = port;
    this.reply_address = address;
    this.closing = false;
    this.overflow = false;
    this.sent_bytes = 0;
    this.staged = 0;
    this.resp_count = 0;
    this.run(data, udp_header_bytes, data.length);
    out.len = 0;
    this.socket = null;
  }

  /** Executes the payload buf[start, end) the way memcached's state machine walks it. */
  private run(buf: Uint8Array, start: number, end: number): void {
    const requests_max = this.settings.requests_per_event_max;
    let requests_left = requests_max;
    let at = start;
    while (at < end) {
      const parse = parseCommand(buf, at, end, command);
      // memcached flushes what it holds while it waits for the rest of a line (it never comes).
      if (parse === Parse.NEED_MORE) return this.transmit();
      // (a datagram is shorter than get_line_bytes_max: a get line never comes in parts here)
      if (parse === Parse.CLOSE || parse === Parse.GET_PART) return this.discard();
      at = this.runCommand(command, buf, end);
      if (at < 0 || this.closing || this.overflow) return this.discard();
      if (command.kind === Cmd.QUIT) return;
      // memcached's conn_new_cmd: after -R requests the connection yields, flushing its responses;
      // the next event spends one count on re-entering conn_new_cmd.
      requests_left--;
      if (requests_left < 0) {
        this.transmit();
        requests_left = requests_max - 1;
      }
    }
    this.transmit();
  }

  /** Executes one parsed command; returns the offset after it, or -1 when its data is incomplete. */
  private runCommand(cmd: Command, buf: Uint8Array, end: number): number {
    const ctx = this.host.ctx;
    if (isStorage(cmd.kind)) {
      const data_end = cmd.next + cmd.data_len + 2;
      if (data_end > end) return -1;
      executeStoreInline(ctx, cmd, buf, cmd.next);
      this.endResponse(cmd.noreply);
      return data_end;
    }
    if (cmd.kind === Cmd.MS) {
      const data_end = cmd.next + cmd.data_len + 2;
      if (data_end > end) return -1;
      executeMetaSet(ctx, cmd, buf, cmd.next);
      this.endResponse(false);
      return data_end;
    }
    if (cmd.kind !== Cmd.MN && isMetaKind(cmd.kind)) {
      const skip_rest = executeMeta(ctx, cmd, buf, this.host.now_s); // an ms without a usable length
      this.endResponse(false);
      return skip_rest ? end : cmd.next;
    }
    switch (cmd.kind) {
      case Cmd.GET:
      case Cmd.GETS:
      case Cmd.GAT:
      case Cmd.GATS:
        this.executeGetLike(cmd, buf);
        return cmd.next;
      case Cmd.MN:
        ctx.out.put(Reply.MN);
        this.endResponse(false);
        this.transmit(); // mn forces a flush in memcached
        return cmd.next;
      case Cmd.QUIT:
        this.endResponse(false); // an empty response: a bare header when it heads the group
        this.transmit();
        return cmd.next;
      case Cmd.CLOSE:
        this.close();
        return cmd.next;
    }
    this.executeOther(cmd, buf);
    this.endResponse(cmd.noreply);
    return cmd.next;
  }

  private executeOther(cmd: Command, buf: Uint8Array): void {
    if (!executeKeyCommand(this.host.ctx, cmd, buf)) this.host.executeAdmin(this, cmd, buf);
  }

  /**
   * A get-like command, one key at a time so each key gets its own response object; the END that
   * executeGet writes after every key is kept only after the last one. Ends with a flush, as
   * memcached's process_get_command does.
   */
  private executeGetLike(cmd: Command, buf: Uint8Array): void {
    const ctx = this.host.ctx;
    const one = key_command;
    one.kind = cmd.kind;
    one.exptime = cmd.exptime;
    if (!nextKey(buf, cmd.keys_off, cmd.line_end)) {
      executeGet(ctx, cmd, buf); // `gat 10` without keys: END alone
      this.endResponse(false);
      return this.transmit();
    }
    for (;;) {
      const key_off = key_cursor.off;
      const key_len = key_cursor.len;
      one.keys_off = key_off;
      one.line_end = key_off + key_len;
      executeGet(ctx, one, buf);
      if (key_len > key_bytes_max) return this.answerAlone();
      const more = nextKey(buf, key_off + key_len, cmd.line_end);
      if (more) ctx.out.len -= Reply.END.length;
      this.endResponse(false);
      if (this.overflow) return;
      if (!more) return this.transmit();
    }
  }

  /** memcached's overlong get key: every unsent response is dropped, the error goes out alone. */
  private answerAlone(): void {
    this.discard();
    this.endResponse(false);
  }

  /** Closes the response the last command wrote into the Output. */
  private endResponse(noreply: boolean): void {
    const start = this.staged;
    this.drainOutput();
    if (this.overflow) return;
    const len = this.staged - start;
    const at = this.resp_count;
    if (at >= responses_max) throw new Error("UDP response table overflow");
    this.resp_off[at] = start;
    this.resp_len[at] = len;
    this.resp_kind[at] = len > 0 ? Resp.DATA : noreply ? Resp.SKIP : Resp.EMPTY;
    this.resp_count = at + 1;
  }

  /** The Output's flush while a datagram runs: moves its bytes into the staging buffer. */
  private drainOutput(): void {
    const out = this.host.ctx.out;
    const n = out.len;
    out.len = 0;
    if (n === 0 || this.overflow) return;
    const need = this.staged + n;
    if (this.sent_bytes + need > this.reply_bytes_max) {
      this.overflow = true;
      return;
    }
    if (need > this.staging.length) this.growStaging(need);
    this.staging.set(out.buf.subarray(0, n), this.staged);
    this.staged = need;
  }

  private growStaging(need: number): void {
    let size = this.staging.length;
    while (size < need) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.reply_bytes_max));
    grown.set(this.staging.subarray(0, this.staged));
    this.staging = grown;
  }

  /** Drops the responses not yet transmitted (the Output holds none: endResponse drained it). */
  private discard(): void {
    this.staged = 0;
    this.resp_count = 0;
  }

  /**
   * memcached's transmit_udp loop over the group: a response heading the queue goes out (an empty
   * one as a bare header with total 0); once a response is sent, the empty and noreply ones right
   * behind it are retired with it.
   */
  private transmit(): void {
    let i = 0;
    const count = this.resp_count;
    while (i < count) {
      const kind = this.resp_kind[i]!;
      if (kind !== Resp.SKIP) {
        this.sendResponse(this.resp_off[i]!, this.resp_len[i]!);
        i++;
        while (i < count && this.resp_kind[i] !== Resp.DATA) i++;
      } else {
        i++;
      }
    }
    this.sent_bytes += this.staged;
    this.staged = 0;
    this.resp_count = 0;
  }

  /** One response: ceil(len / 1392) datagrams numbered from 0, or a bare header when len is 0. */
  private sendResponse(off: number, len: number): void {
    const total = Math.ceil(len / udp_data_bytes_max);
    if (total > udp_datagrams_per_response_max) throw new Error("UDP response exceeds the u16 datagram count");
    let seq = 0;
    do {
      const n = Math.min(udp_data_bytes_max, len - seq * udp_data_bytes_max);
      this.header(seq, total);
      this.datagram.set(this.staging.subarray(off + seq * udp_data_bytes_max, off + seq * udp_data_bytes_max + n),
        udp_header_bytes);
      this.send(this.datagram.subarray(0, udp_header_bytes + n));
      seq++;
    } while (seq < total);
  }

  private header(seq: number, total: number): void {
    const d = this.datagram;
    d[0] = this.request_id >>> 8;
    d[1] = this.request_id & 0xff;
    d[2] = seq >>> 8;
    d[3] = seq & 0xff;
    d[4] = total >>> 8;
    d[5] = total & 0xff;
    d[6] = 0;
    d[7] = 0;
  }

  private send(data: Uint8Array): void {
    const socket = this.socket!;
    if (this.pending.length === 0 && socket.send(data, this.reply_port, this.reply_address)) {
      this.host.bytesWritten(data.length);
      return;
    }
    if (this.pending_bytes + data.length > udp_pending_bytes_max) {
      this.dropped_datagrams++;
      return;
    }
    this.pending.push({ socket, data: data.slice(), port: this.reply_port, address: this.reply_address });
    this.pending_bytes += data.length;
  }

  /** drain: sends queued datagrams, in order, until a socket pushes back again. */
  private writePending(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      if (head.socket.closed || !head.socket.send(head.data, head.port, head.address)) return;
      this.host.bytesWritten(head.data.length);
      this.pending_bytes -= head.data.length;
      this.pending.shift();
    }
  }
}
