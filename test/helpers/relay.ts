// A TCP relay the tests control, to cut and heal a replication link without killing either node.
// Bounded: it holds only sockets; `cut()` destroys every relayed connection and refuses new ones
// until `heal()`; `close()` stops it.
import { createServer, Socket, type Server } from "node:net";

export class Relay {
  private server: Server;
  private sockets = new Set<Socket>();
  private cut_now = false;
  port = 0;
  connections = 0;

  private constructor(target_port: number) {
    this.server = createServer((client) => {
      if (this.cut_now) return client.destroy();
      this.connections++;
      const upstream = new Socket();
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      upstream.connect(target_port, "127.0.0.1", () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
  }

  static async start(target_port: number, port = 0): Promise<Relay> {
    const relay = new Relay(target_port);
    await new Promise<void>((resolve) => relay.server.listen(port, "127.0.0.1", () => resolve()));
    const address = relay.server.address();
    relay.port = typeof address === "object" && address ? address.port : 0;
    return relay;
  }

  cut(): void {
    this.cut_now = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cut_now = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
