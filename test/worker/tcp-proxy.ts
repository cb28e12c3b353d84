// A TCP proxy a test can cut: an outage of the service behind it (Redis) for everything that
// connects through it, without touching the service itself, which other tests share.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** `redis://127.0.0.1:<port>` style address for `scheme`. */
  url(scheme: string): string;
  /** Destroy every open connection; new ones are closed as soon as they arrive, until {@link restore}. */
  cut(): void;
  /** Forward new connections again. */
  restore(): void;
  /** Connections accepted and closed at once while cut (a client's reconnect attempts). */
  readonly refused: number;
  close(): Promise<void>;
}

/** Listen on a free port and forward every connection to `host:port`. */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let down = false;
  let refused = 0;
  const track = (s: Socket) => {
    open.add(s);
    s.on("close", () => open.delete(s));
    // A cut connection errors on both sides; the proxy has nothing to say about it.
    s.on("error", () => {});
  };
  const server: Server = createServer((client) => {
    if (down) {
      refused++;
      client.on("error", () => {});
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    // One side gone: the other goes too, as with a real peer.
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of open) s.destroy();
    },
    restore() {
      down = false;
    },
    get refused() {
      return refused;
    },
    async close() {
      down = true;
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
