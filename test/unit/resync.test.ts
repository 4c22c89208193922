// The re-pair state machine (src/replication/resync.ts) without sockets: every order of its
// events, for both peer kinds and both roles.
import { describe, expect, test } from "bun:test";
import { Phase, Resync, type PeerKind, type Role } from "../../src/replication/resync.ts";

type Event = "copySent" | "peerCopyIn";

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe("resync", () => {
  test("two repcached-bun nodes: both copy, both wait; synced only after both, in either order", () => {
    for (const role of ["accepted", "connected"] as Role[]) {
      for (const order of permutations<Event>(["copySent", "peerCopyIn"])) {
        const r = new Resync();
        expect(r.keep_tombstones).toBe(true);
        expect(r.begin("ours", role)).toBe(true);
        expect(r.phase).toBe(Phase.COPYING);
        expect(r.peer_data_in).toBe(false);
        for (const [i, event] of order.entries()) {
          expect(r.keep_tombstones).toBe(true); // no tombstone expires before both copies are done
          r[event]();
          expect(r.phase).toBe(i === order.length - 1 ? Phase.SYNCED : Phase.COPYING);
        }
        expect(r.keep_tombstones).toBe(false);
        expect(r.peer_data_in).toBe(true);
      }
    }
  });

  test("a classic peer: only the listener copies, only the connector waits", () => {
    const listener = new Resync();
    expect(listener.begin("classic", "accepted")).toBe(true);
    expect(listener.peer_data_in).toBe(true); // it waits for nothing
    expect(listener.phase).toBe(Phase.COPYING);
    listener.copySent();
    expect(listener.phase).toBe(Phase.SYNCED);
    const connector = new Resync();
    expect(connector.begin("classic", "connected")).toBe(false);
    expect(() => connector.copySent()).toThrow();
    expect(connector.peerCopyIn()).toBe(true);
    expect(connector.phase).toBe(Phase.SYNCED);
    expect(connector.peerCopyIn()).toBe(false); // a second marugoto_end only repeats the log line
  });

  test("events out of place change nothing: before the handshake, after close", () => {
    const r = new Resync();
    expect(r.peerCopyIn()).toBe(false);
    expect(r.phase).toBe(Phase.HANDSHAKE);
    r.begin("ours" as PeerKind, "connected");
    expect(() => r.begin("ours", "connected")).toThrow();
    r.close();
    expect(r.peerCopyIn()).toBe(false);
    expect(r.phase).toBe(Phase.CLOSED);
    expect(r.keep_tombstones).toBe(true);
  });
});
