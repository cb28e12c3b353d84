// The serving child: build the instance from the bundle with its recorded `init`, run
// `remoteInit` (whole Operator trees via triggerRemoteInit), then serve it over HTTP on the unix
// socket the parent chose (127.0.0.1:<any port> if that fails) and tell the parent where.
// Spans go to the parent in small batches.
import { chmodSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createAdaptorServer } from "@hono/node-server";
import { isOperator } from "../../operator/brand.ts";
import { materialize } from "../../operator/materialize.ts";
import { getTracer } from "../../trace/tracer.ts";
import type { Span } from "../../trace/span.ts";
import { createServingApp } from "./app.ts";
import { CONFIG_FILE_ENV, SECRET_ENV, type ChildMessage, type ServingChildConfig } from "./protocol.ts";
import { surfaceOf } from "./surface.ts";
import { relativeSpanStack } from "../../codec/stack-paths.ts";
import { wireError } from "./wire.ts";

const SPAN_FLUSH_MS = 100;
const SPAN_BATCH = 500;

const cfg = readConfig();
const secret = process.env[SECRET_ENV];
delete process.env[SECRET_ENV]; // user code has no business with it

/** The config the platform wrote to this process's scratch folder; removed once read (the folder is the user's HOME's parent). */
function readConfig(): ServingChildConfig | null {
  const file = process.env[CONFIG_FILE_ENV];
  delete process.env[CONFIG_FILE_ENV];
  if (!file) return null;
  const text = readFileSync(file, "utf8");
  rmSync(file, { force: true });
  return JSON.parse(text) as ServingChildConfig;
}

function send(msg: ChildMessage): void {
  if (process.connected) process.send!(msg);
}

let spans: Span[] = [];
let flushTimer: NodeJS.Timeout | undefined;
function flushSpans(): void {
  flushTimer = undefined;
  if (spans.length === 0) return;
  const batch = spans;
  spans = [];
  try {
    send({ type: "spans", spans: batch });
  } catch {
    // A span the IPC channel cannot serialise: drop the batch, never the process.
  }
}
getTracer().addSink({
  push(span) {
    relativeSpanStack(span, cfg?.bundleDir);
    spans.push(span);
    if (spans.length >= SPAN_BATCH) flushSpans();
    else flushTimer ??= setTimeout(flushSpans, SPAN_FLUSH_MS);
  },
});

async function remoteInit(t: unknown): Promise<void> {
  if (isOperator(t)) await t.triggerRemoteInit();
  else if (t !== null && typeof t === "object" && typeof (t as { remoteInit?: unknown }).remoteInit === "function") {
    await (t as { remoteInit(): unknown }).remoteInit();
  }
}

async function main(): Promise<void> {
  if (!cfg || !secret) throw new Error(`serving runtime started without ${CONFIG_FILE_ENV}/${SECRET_ENV}`);
  const t0 = performance.now();
  const target = await materialize({ file: path.resolve(cfg.bundleDir, cfg.entry), exportName: cfg.exportName, kind: cfg.kind, init: cfg.init, state: cfg.state });
  await getTracer().withSpan("remote-init", () => remoteInit(target), { attributes: { serving: cfg.name } });
  const surface = surfaceOf(target, cfg.kind, cfg.signature);
  const app = createServingApp({
    surface,
    meta: { name: cfg.name, kind: cfg.kind, version: cfg.version },
    timeoutMs: cfg.timeoutMs,
    concurrency: cfg.concurrency,
    maxBodyBytes: cfg.maxBodyBytes,
    secret,
    publicUrl: cfg.publicUrl,
    bundleRoot: cfg.bundleDir,
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  const ready = (address: Extract<ChildMessage, { type: "ready" }>["address"]) => send({ type: "ready", address, loadMs: performance.now() - t0 });
  const listenTcp = () => {
    server.once("error", (err) => {
      send({ type: "load-failed", error: wireError(err, cfg.bundleDir) });
      process.exit(1);
    });
    server.listen(0, "127.0.0.1", () => ready({ host: "127.0.0.1", port: (server.address() as AddressInfo).port }));
  };
  const socketPath = cfg.socketPath;
  if (socketPath) {
    // A unix socket: no TCP stack between platform and child, and only this user may connect.
    server.once("error", listenTcp);
    server.listen(socketPath, () => {
      server.off("error", listenTcp);
      if (process.platform !== "win32") chmodSync(socketPath, 0o600);
      ready({ socketPath });
    });
  } else listenTcp();
  // Keep-alive sockets from the platform stay open between calls.
  (server as { keepAliveTimeout?: number }).keepAliveTimeout = 60_000;
}

main().catch((err) => {
  process.stderr.write(`nbox serving: startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  send({ type: "load-failed", error: wireError(err, cfg?.bundleDir) });
  // Give the IPC message a moment to leave before exiting.
  setTimeout(() => process.exit(1), 50);
});

// A stray error from user code (a timer, an unawaited promise) is logged; the serving keeps serving.
const stray = (err: unknown) => process.stderr.write(`nbox serving: uncaught error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
process.on("uncaughtException", stray);
process.on("unhandledRejection", stray);
// The platform is gone: nothing will ever reach us again.
process.on("disconnect", () => {
  flushSpans();
  process.exit(0);
});
