// The magent proxy and the meta protocol: it does not route meta commands. mg md ma me answer
// ERROR (unknown to the proxy), mn answers MN, and an `ms` is refused with its data block skipped
// — never parsed as commands (`ms evil 11` + `flush_all 0` must not flush the backends).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient, type Spawned, startMagent, startOurs } from "../helpers/procs.ts";

describe("magent and meta commands", () => {
  let backend: Spawned;
  let proxy: Spawned;
  beforeAll(async () => {
    backend = await startOurs();
    proxy = await startMagent(["-s", `127.0.0.1:${backend.port}`]);
  });
  afterAll(async () => {
    await proxy.stop();
    await backend.stop();
  });

  test("an ms is refused and its data block skipped, never run as a command", async () => {
    const c = await RawClient.connect(proxy.port);
    expect(await c.call("set victim 0 0 5\r\nalive\r\n")).toBe("STORED\r\n");
    expect(await c.call("ms evil 11\r\nflush_all 0\r\nmn\r\n", "MN\r\n")).toBe("ERROR\r\nMN\r\n");
    // split across packets: the skip goes on in the next read
    c.send("ms evil 11\r\nflush_");
    await Bun.sleep(20);
    expect(await c.call("all 0\r\nmn\r\n", "MN\r\n")).toBe("ERROR\r\nMN\r\n");
    expect(await c.call("get victim\r\n", "END\r\n")).toBe("VALUE victim 0 5\r\nalive\r\nEND\r\n");
    c.close();
  });

  test("a binary request (the proxy speaks text) closes the connection at once; text clients go on", async () => {
    const c = await RawClient.connect(proxy.port);
    const getk = Buffer.alloc(24 + 3);
    getk[0] = 0x80; // request magic
    getk[1] = 0x0c; // GETK
    getk.writeUInt16BE(3, 2);
    getk.writeUInt32BE(3, 8);
    getk.write("foo", 24);
    c.send(getk);
    expect(await c.waitClosed(5_000)).toBe(true);
    const d = await RawClient.connect(proxy.port);
    expect(await d.call("get victim\r\n", "END\r\n")).toBe("VALUE victim 0 5\r\nalive\r\nEND\r\n");
    d.close();
  });

  test("mg md ma me answer ERROR, mn answers MN, in order with routed commands", async () => {
    const c = await RawClient.connect(proxy.port);
    const reply = await c.call("mg victim v\r\nget victim\r\nmd victim\r\nma n\r\nme victim\r\nmn\r\n", "MN\r\n");
    expect(reply).toBe("ERROR\r\nVALUE victim 0 5\r\nalive\r\nEND\r\nERROR\r\nERROR\r\nERROR\r\nMN\r\n");
    c.close();
  });

  test("an ms without a usable length is answered, then the connection closes", async () => {
    const c = await RawClient.connect(proxy.port);
    c.send("ms evil x\r\nflush_all 0\r\n");
    expect(await c.readText()).toBe("ERROR\r\n");
    expect(await c.waitClosed()).toBe(true);
    const d = await RawClient.connect(proxy.port);
    expect(await d.call("get victim\r\n", "END\r\n")).toBe("VALUE victim 0 5\r\nalive\r\nEND\r\n");
    d.close();
  });
});
