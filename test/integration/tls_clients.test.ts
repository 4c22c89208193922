// Client TLS (-Z, -o ssl_*, -l notls:) against our server AND Debian's memcached 1.6 (built with
// TLS), with the same client (node:tls from the test): set/get over TLS works on both, plain text
// to a TLS port gets no answer on both, a notls: listener serves plain text on both, and
// ssl_verify_mode=2 turns away a client without a certificate on both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tlsConnect } from "node:tls";
import { readFileSync } from "node:fs";
import { freePort, RawClient, startMemcached, startOurs, type Spawned } from "../helpers/procs.ts";
import { makeCerts, type Certs } from "../helpers/certs.ts";

const reply_wait_ms = 5_000;
/** Bound on one test: a server start and a few TLS exchanges, on a shared 2-core box. */
const test_ms_max = 20_000;

let certs: Certs;
beforeAll(() => {
  certs = makeCerts(["server", "client"], { ip_san: true });
});
afterAll(() => certs.remove());

interface ClientCert {
  cert?: string;
  key?: string;
}

/**
 * Sends `request` over TLS and reads until the text ends with `suffix`; returns what arrived
 * (possibly "" when the server closed or refused the handshake) once done, closed or timed out.
 */
async function tlsCall(port: number, request: string, suffix: string, client: ClientCert = {}): Promise<string> {
  return await new Promise((resolve) => {
    let text = "";
    const socket = tlsConnect({
      host: "127.0.0.1", port, ca: readFileSync(certs.ca), servername: "server",
      cert: client.cert === undefined ? undefined : readFileSync(client.cert),
      key: client.key === undefined ? undefined : readFileSync(client.key),
      checkServerIdentity: () => undefined,
    });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(finish, reply_wait_ms);
    socket.once("secureConnect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.endsWith(suffix)) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
  });
}

/** Plain text to a port: the reply, or "" if the server closed without one (or said nothing). */
async function plainCall(port: number, request: string): Promise<string> {
  const raw = await RawClient.connect(port);
  raw.send(request);
  const text = (await raw.readUntil((b) => b.includes("\r\n"), reply_wait_ms)).toString("latin1");
  raw.close();
  return text;
}

type Starter = (args: string[], port: number) => Promise<Spawned>;
const servers: Array<[string, Starter]> = [
  ["repcached-bun", (args, port) => startOurs(args, { port })],
  ["memcached 1.6 (Debian)", (args, port) => startMemcached(args, { port })],
];

function tlsArgs(extra = ""): string[] {
  const server = certs.pairs.get("server")!;
  return ["-Z", "-o", `ssl_chain_cert=${server.cert},ssl_key=${server.key}${extra}`];
}

describe.each(servers)("client TLS on %s", (_name, start) => {
  test("set/get over TLS; plain text to the TLS port gets nothing; a notls: listener serves plain", async () => {
    const port = await freePort();
    const plain_port = await freePort();
    const server = await start([...tlsArgs(), "-l", `notls:127.0.0.1:${plain_port}`], port);
    try {
      expect(await tlsCall(port, "set tls:1 5 0 6\r\nsecret\r\n", "\r\n")).toBe("STORED\r\n");
      expect(await tlsCall(port, "get tls:1\r\n", "END\r\n")).toBe("VALUE tls:1 5 6\r\nsecret\r\nEND\r\n");
      const settings = await tlsCall(port, "stats settings\r\n", "END\r\n");
      expect(settings).toContain("STAT ssl_enabled yes\r\n");
      expect(settings).toContain(`STAT ssl_chain_cert ${certs.pairs.get("server")!.cert}\r\n`);
      expect(await plainCall(port, "get tls:1\r\n")).not.toContain("secret");
      expect(await plainCall(port, "version\r\n")).not.toContain("VERSION");
      expect(await plainCall(plain_port, "get tls:1\r\n")).toBe("VALUE tls:1 5 6\r\nsecret\r\nEND\r\n");
    } finally {
      await server.stop();
    }
  }, test_ms_max);

  test("ssl_verify_mode=2 with ssl_ca_cert: no client certificate, no service", async () => {
    const port = await freePort();
    const server = await start(tlsArgs(`,ssl_verify_mode=2,ssl_ca_cert=${certs.ca}`), port);
    try {
      expect(await tlsCall(port, "version\r\n", "\r\n")).not.toContain("VERSION");
      const client = certs.pairs.get("client")!;
      expect(await tlsCall(port, "version\r\n", "\r\n", client)).toStartWith("VERSION 1.6");
      expect(await tlsCall(port, "stats settings\r\n", "END\r\n", client)).toContain("STAT ssl_verify_mode 3\r\n");
    } finally {
      await server.stop();
    }
  }, test_ms_max);
});
