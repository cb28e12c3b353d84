// An HTTP gate the crash fixture's `gate` job polls: closed until `open()`, so a test decides when a
// run may end. It notes when each path was last polled (a run's user code still running shows there).
import { createServer, type Server } from "node:http";

export interface Gate {
  url: string;
  open(): void;
  lastPolled(path: string): number | undefined;
  close(): Promise<void>;
}

export async function startGate(): Promise<Gate> {
  let state = "closed";
  const polled = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    polled.set(req.url ?? "/", Date.now());
    res.end(state);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  server.unref(); // a failed test must not be kept alive by it
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    open: () => (state = "open"),
    lastPolled: (path) => polled.get(path),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
