// A worker: the only place user code runs. It registers with a control plane over its API,
// keeps its leases alive with heartbeats, claims runs and executes them in warm child processes,
// reports what happened in batches, and hosts the servings placed on it. It holds no store
// connection and no admin token: everything goes through the worker API with a worker token.
import { NboxError } from "../errors.ts";
import { availableParallelism, hostname } from "node:os";
import { resolve } from "node:path";
import { resolveLimits } from "../bundle/limits.ts";
import { WORKER_PROTOCOL } from "../contract/routes-worker.ts";
import { ProcessPool } from "./jobs/index.ts";
import { ControlPlane, isTransient } from "./control-plane.ts";
import { defaultCacheDir } from "../lib/cache-root.ts";
import { sleepUnless } from "../lib/pause.ts";
import { joinWhenReachable } from "./first-join.ts";
import { CacheKeeper } from "./cache-keeper.ts";
import { sweepCache } from "./cache-sweep.ts";
import type { RuntimeLauncher } from "./launcher.ts";
import { workerPaths, type WorkerPaths } from "./paths.ts";
import { ReportBatcher, type WorkerLoad } from "./report-batcher.ts";
import { RunExecutor } from "./run-executor.ts";
import { RunLoop } from "./run-loop.ts";
import { ServingHost } from "./serving-host.ts";
import type { SandboxStatus } from "../contract/vocabulary.ts";
import { setupLauncher } from "./setup.ts";
import { Versions } from "./versions.ts";

export interface WorkerOptions {
  /** The control plane's URL. */
  platformUrl: string;
  /** A worker token (`nbx token create --worker`). */
  token: string;
  /** Calls at once (child processes running calls); default: the machine's cores. */
  slots?: number;
  cacheDir?: string;
  /** Run user processes under bubblewrap where the OS allows it (default true). */
  sandbox?: boolean;
  /** Extra environment variable names handed to user processes. */
  passEnv?: string[];
  /** Folders user processes must never see (the local control plane's data folder). */
  hide?: string[];
  /** Keep cached versions and dependencies used this recently (default 7 days, at least 1 hour). */
  cacheKeepMs?: number;
  /** Started by `nbx up` (dies with it). */
  local?: boolean;
  name?: string;
  /** Where servings listen for the control plane's proxied requests (default 127.0.0.1, any port). */
  listenHost?: string;
  listenPort?: number;
  /** The URL the control plane reaches that listener at, when not the listening address (NAT, 0.0.0.0). */
  advertise?: string;
  /** How long the first registration waits for an unreachable control plane (ms; default 0, Infinity = until it answers). */
  waitForPlatformMs?: number;
  /** Aborting it stops that wait (a signal before the worker joined). */
  signal?: AbortSignal;
}

export interface Worker {
  id: string;
  sandbox: SandboxStatus;
  paths: WorkerPaths;
  /** Resolves when the worker stopped on its own (declared dead, token revoked), with why. */
  readonly ended: Promise<string>;
  /** Stop claiming, put held runs back, stop servings, leave. */
  close(): Promise<void>;
  /**
   * The control plane is gone for good (the local worker of a killed `nbx up`): nothing can be
   * reported and its next start takes back every run held here, so user code stops now — it must
   * not run on beside the next start's worker while a graceful close waits on a dead control plane.
   */
  abandon(): Promise<void>;
}

const EVENTS_WAIT_MS = 25_000;

export async function startWorker(o: WorkerOptions): Promise<Worker> {
  const cp = new ControlPlane(o.platformUrl.replace(/\/+$/, ""), o.token);
  const slots = o.slots ?? availableParallelism();
  const paths = workerPaths(resolve(o.cacheDir ?? defaultCacheDir()));
  await sweepCache(paths);
  // Its id at the control plane: set at registration, and again if it must register anew.
  const me = { id: "" };
  const launcher: RuntimeLauncher = await setupLauncher(paths, {
    sandbox: o.sandbox ?? true,
    passEnv: o.passEnv ?? [],
    hide: o.hide ?? [],
    runtimeToken: (workspaceId) => cp.call("POST /worker/runtime-token", { body: { workerId: me.id, workspaceId } }),
  });
  const versions = new Versions(
    paths,
    {
      manifest: async (id) => (await cp.call("GET /worker/versions/{id}", { params: { id } })).manifest as never,
      download: (hash, file) => cp.download(hash, file),
    },
    resolveLimits(),
    launcher.sandbox,
  );
  let loop: RunLoop | undefined;
  let bullLoad = (): WorkerLoad => "idle";
  const output = new ReportBatcher(cp, () => me.id, () => loop?.load ?? bullLoad());
  const servings = new ServingHost({ launcher, versions, output }, { maxBodyBytes: 10 * 1024 * 1024 });
  const listened = await servings.listen(o.listenHost ?? "127.0.0.1", o.listenPort ?? 0);
  const status = launcher.status;
  const register = async () => {
    const r = await cp.call("POST /worker/register", {
      body: {
        name: o.name ?? `${hostname()}:${process.pid}`,
        slots,
        protocol: WORKER_PROTOCOL,
        address: o.advertise ?? listened,
        local: o.local ?? false,
        sandbox: status.kind === "bwrap" ? { kind: "bwrap", detail: status.bwrap } : { kind: "none", detail: status.reason },
      },
    });
    me.id = r.workerId;
    servings.proxySecret = r.proxySecret;
    servings.maxBodyBytes = r.maxBodyBytes;
    output.maxBodyBytes = r.maxBodyBytes;
    return r;
  };
  const firstJoin = o.waitForPlatformMs ? joinWhenReachable(register, { url: cp.url, waitMs: o.waitForPlatformMs, ...(o.signal ? { signal: o.signal } : {}), say: (line) => console.error(`[nbox worker] ${line}`) }) : register();
  const reg = await firstJoin.catch(async (err) => {
    await servings.close();
    throw registrationError(err, cp.url);
  });
  // Output a job process prints while it runs no call (a timer a call left behind, a logger that
  // flushes after the call returned) belongs to the run it ran last: it goes to that run's log.
  const pool = new ProcessPool({ slots, onStrayLog: (_proc, stream, line, runId) => runId !== undefined && output.log(runId, stream, line) });
  const cache = new CacheKeeper(paths, versions, () => [...pool.processes().flatMap((p) => (p.alive ? [p.spawn.bundleDir] : [])), ...servings.versionDirsInUse()], {
    ...(o.cacheKeepMs !== undefined ? { keepMs: o.cacheKeepMs } : {}),
  });
  const executor = new RunExecutor({ me, pool, output, versions, launcher });
  // Runs come from claims at the control plane (embedded queue) or from BullMQ on Redis (loaded only
  // then: the embedded path never loads BullMQ and its Redis client).
  const q = reg.queue;
  const bull = q.kind === "bullmq" && q.redisUrl ? new (await import("./bull-source.ts")).BullRunSource({ cp, me, executor, redisUrl: q.redisUrl, prefix: q.prefix ?? "nbx", slots, leaseMs: reg.leaseMs, reports: output }) : undefined;
  loop = bull ? undefined : new RunLoop({ cp, me, slots, executor, held: output });
  if (bull) bullLoad = () => bull.load;

  let stopped = false;
  let endWith!: (why: string) => void;
  const ended = new Promise<string>((r) => (endWith = r));
  const life = new AbortController();
  // Declared dead while the control plane could not hear it (it was down longer than a lease, say):
  // its runs were taken back and its servings placed elsewhere, so it joins again as a new worker.
  let rejoining: Promise<void> | undefined;
  /** `was`: the id the refused call went out with (one refused after the rejoin is about an old id). */
  const rejoin = (was: string) => {
    if (stopped || was !== me.id) return;
    rejoining ??= (async () => {
      // Those runs may run elsewhere already: what still runs or waits here for them stops now,
      // unreported; what waits to be reported goes out under the old id (refused with it).
      executor.abandonAll();
      (loop ?? bull)?.rejoined();
      // Its servings were placed anew: one placed here again starts afresh, so the control plane
      // hears it ready (kept running, it stayed `starting` there and a redeploy waited in vain).
      for (const id of servings.hosted()) void servings.stop(id);
      void output.flush();
      output.forgetHolds();
      try {
        await register();
        console.error(`[nbox worker] ${was} was declared dead by the control plane; joined again as ${me.id}`);
      } catch (err) {
        if (!fatal(err, me.id)) await sleepUnless(500, life.signal);
      } finally {
        rejoining = undefined;
      }
    })();
  };
  /** A refusal that will not go away by retrying: this worker must stop (or, when it was declared dead, join again). */
  const fatal = (err: unknown, sentAs: string): boolean => {
    if (stopped || isTransient(err) || (err as Error).name === "AbortError") return false;
    if ((err as { code?: unknown }).code === "NOT_FOUND") {
      rejoin(sentAs);
      return false;
    }
    endWith(`the control plane refused this worker: ${(err as Error).message}`);
    return true;
  };

  const heartbeat = async () => {
    while (!stopped) {
      const id = me.id;
      try {
        const beat = await cp.persist("POST /worker/heartbeat", life.signal, { body: { workerId: id, servings: servings.hosted(), holding: output.held }, signal: life.signal });
        // Placements of an id given up meanwhile are not this worker's any more.
        if (id === me.id) servings.reconcile(beat.servings);
        bull?.setDeployments(beat.deployments ?? []);
      } catch (err) {
        if (fatal(err, id)) return;
      }
      await sleepUnless(reg.heartbeatMs, life.signal);
    }
  };
  const events = async () => {
    while (!stopped) {
      const as = me.id;
      try {
        // Retried with backoff while the control plane is away, said once (as the heartbeat is).
        const e = await cp.persist("POST /worker/events", life.signal, { body: { workerId: as, waitMs: EVENTS_WAIT_MS }, signal: life.signal });
        // Cancels for the old id's runs are moot once it joined again (and must not reach a run claimed anew).
        if (as !== me.id) continue;
        for (const id of e.cancel) (loop ?? bull)?.cancel(id);
        for (const id of e.stop ?? []) void servings.stop(id);
        if (e.servings) servings.reconcile(e.servings, { placed: true });
      } catch (err) {
        if (fatal(err, as)) return;
        if (!stopped) console.error(`[nbox worker] events: ${(err as Error).message}`);
        await sleepUnless(500, life.signal);
      }
    }
  };
  void heartbeat();
  void events();
  loop?.start();
  cache.start();

  let closing: Promise<void> | undefined;
  return {
    get id() {
      return me.id;
    },
    sandbox: launcher.status,
    paths,
    ended,
    close: () =>
      (closing ??= (async () => {
        stopped = true;
        executor.stopping = true;
        await cache.stop();
        await loop?.stop();
        if (bull) {
          executor.abortAll();
          await bull.close();
          await executor.drain();
        }
        await servings.close();
        await output.close();
        life.abort();
        // A registration under way must not outlive the leave (it would be counted live for a lease).
        await rejoining;
        await cp.call("POST /worker/leave", { body: { workerId: me.id } }).catch(() => {});
        await pool.close();
      })()),
    abandon: async () => {
      stopped = true;
      executor.stopping = true;
      life.abort();
      await Promise.all([pool.close(), servings.close()]);
    },
  };
}

/** A first registration refused or unanswered, said in a worker's terms (its --platform, its token). */
function registrationError(err: unknown, url: string): unknown {
  const code = (err as { code?: unknown }).code;
  const why = (err as Error).message;
  if (code === "UNAUTHORIZED") return new NboxError("UNAUTHORIZED", `the control plane at ${url} refused the worker's token (${why})`, "Create a worker token there with `nbx token create --worker`, and pass it in NBOX_WORKER_TOKEN (or --token)", { cause: err });
  if (code === "FORBIDDEN") return new NboxError("FORBIDDEN", `the control plane at ${url} refused the worker's token (${why}): an admin or workspace token is not a worker token`, "Create a worker token with `nbx token create --worker`", { cause: err });
  if (code === "UNAVAILABLE") return new NboxError("UNAVAILABLE", `cannot reach the control plane at ${url} (${((err as Error).cause as Error | undefined)?.message ?? why})`, "Is `nbx up` running there? Check --platform (the URL `nbx up` printed)", { cause: err });
  return err;
}
