// `nbx up`: run the platform in the foreground; `--with-examples` deploys and runs the repo's examples.
import { existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { NboxError } from "../errors.ts";
import { ADMIN_TOKEN_FILE } from "../remote/discovery.ts";
import { clearCurrentPlatform, writeCurrentPlatform } from "../remote/current-platform.ts";
import { describeSandbox } from "../worker/setup.ts";
import { STORE_DEFAULTS } from "../platform/store/defaults.ts";
import { DEFAULT_MAX_RUN_SPANS } from "../platform/config.ts";
import { MIN_CACHE_KEEP_MS } from "../worker/cache-evict.ts";
import { MIN_RETAIN_MS } from "../platform/retention.ts";
import { durationOption, fail, formatValue, parseIntOption, printError } from "./output.ts";
import { importUserModule } from "./user-module.ts";

const STOP_GRACE_MS = 20_000;
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface UpOptions {
  port: string;
  host?: string;
  data: string;
  database?: string;
  redis?: string;
  redisPrefix?: string;
  maxBody?: string;
  maxBundle?: string;
  maxBundleUnpacked?: string;
  maxBundleEntries?: string;
  maxBundleFile?: string;
  maxRunLog?: string;
  maxRunSpans?: string;
  slots?: string;
  lease?: string;
  withExamples?: boolean;
  cache?: string;
  cacheKeep?: string;
  retain?: string;
  /** false with --no-sandbox. */
  sandbox: boolean;
  /** false with --no-local-worker. */
  localWorker: boolean;
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("start the control plane (API, scheduler, serving router, dashboard) and one local worker in the foreground")
    .option("-p, --port <port>", "port to listen on (0 = any free port)", "7070")
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option("--data <dir>", "data folder (embedded database, bundles, admin token)", ".nbox")
    .option("--database <url>", "use this Postgres database instead of the embedded one (postgres://…)")
    .option("--redis <url>", "queue runs through BullMQ on this Redis (redis://…); workers consume it directly")
    .option("--redis-prefix <prefix>", "key prefix of the BullMQ queues (default nbx)")
    .option("--max-body <bytes>", "largest accepted request body (default 10 MiB)")
    .option("--max-bundle <bytes>", "largest accepted bundle upload, compressed (default 100 MiB)")
    .option("--max-bundle-unpacked <bytes>", "most a bundle may expand to (default 1 GiB)")
    .option("--max-bundle-entries <n>", "most files, links and folders in a bundle (default 50000)")
    .option("--max-bundle-file <bytes>", "largest single file in a bundle (default 256 MiB)")
    .option("--max-run-log <bytes>", `bytes of log lines one run keeps; what it prints past that is dropped (default ${STORE_DEFAULTS.maxRunLogBytes / 1024 / 1024} MiB)`)
    .option("--max-run-spans <n>", `spans one run keeps (per attempt); spans past that are dropped (default ${DEFAULT_MAX_RUN_SPANS})`)
    .option("--slots <n>", "slots of the local worker (calls running at once)")
    .option("--no-local-worker", "start no local worker: runs wait for `nbx worker` processes")
    .option("--lease <ms>", `how long a claimed run is held without a heartbeat before any node takes it back (default ${STORE_DEFAULTS.leaseMs})`)
    .option("--cache <dir>", "worker cache: extracted versions, dependencies, scratch folders; outside the data folder (default $NBOX_CACHE_DIR, else $XDG_CACHE_HOME/nbox or ~/.cache/nbox)")
    .option("--cache-keep <duration>", "remove cached versions and dependencies no worker used for this long (e.g. 12h, 7d; default 7d, at least 1h)")
    .option("--retain <duration>", "delete runs (with their logs and spans), events and serving spans that ended this long ago (e.g. 30d; at least 1h; default: keep everything)")
    .option("--no-sandbox", "run user code without the bubblewrap sandbox (it can then read every file this OS user can)")
    .option("--with-examples", "deploy examples/foo, examples/my-operator (jobs) and examples/bar (serving) and use each once")
    .action(up);
}

async function up(o: UpOptions): Promise<void> {
  if (o.redis && !/^rediss?:\/\//.test(o.redis)) fail(`--redis must be a redis:// URL, got ${JSON.stringify(o.redis)}`, "e.g. --redis redis://127.0.0.1:6379");
  const port = parseIntOption(o.port, "--port");
  const config = {
    port,
    host: o.host,
    dataDir: resolve(o.data),
    ...(o.cache !== undefined ? { cacheDir: resolve(o.cache) } : {}),
    ...(o.cacheKeep !== undefined ? { cacheKeepMs: durationOption(o.cacheKeep, "--cache-keep", MIN_CACHE_KEEP_MS) } : {}),
    ...(o.retain !== undefined ? { retainMs: durationOption(o.retain, "--retain", MIN_RETAIN_MS) } : {}),
    sandbox: o.sandbox,
    executor: o.localWorker,
    ...(o.database ? { databaseUrl: o.database } : {}),
    ...(o.redis ? { redisUrl: o.redis } : {}),
    ...(o.redisPrefix ? { queuePrefix: o.redisPrefix } : {}),
    ...(o.maxBody !== undefined ? { maxBodyBytes: parseIntOption(o.maxBody, "--max-body", 1) } : {}),
    ...(o.maxBundle !== undefined ? { maxBundleBytes: parseIntOption(o.maxBundle, "--max-bundle", 1) } : {}),
    ...(o.maxBundleUnpacked !== undefined ? { maxBundleUnpackedBytes: parseIntOption(o.maxBundleUnpacked, "--max-bundle-unpacked", 1) } : {}),
    ...(o.maxBundleEntries !== undefined ? { maxBundleEntries: parseIntOption(o.maxBundleEntries, "--max-bundle-entries", 1) } : {}),
    ...(o.maxBundleFile !== undefined ? { maxBundleFileBytes: parseIntOption(o.maxBundleFile, "--max-bundle-file", 1) } : {}),
    ...(o.maxRunLog !== undefined ? { maxRunLogBytes: parseIntOption(o.maxRunLog, "--max-run-log", 1) } : {}),
    ...(o.maxRunSpans !== undefined ? { maxRunSpans: parseIntOption(o.maxRunSpans, "--max-run-spans", 0) } : {}),
    ...(o.slots !== undefined ? { slots: parseIntOption(o.slots, "--slots", 1) } : {}),
    ...(o.lease !== undefined ? { leaseMs: parseIntOption(o.lease, "--lease", 100) } : {}),
  };
  if (o.database && !/^postgres(ql)?:\/\//.test(o.database)) fail(`--database must be a postgres:// URL, got ${JSON.stringify(o.database)}`);

  const { startPlatform } = await import("../platform/platform.ts");
  const started = Date.now();
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  try {
    platform = await startPlatform(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") fail(`port ${port} on ${o.host} is already in use`, "Stop the other process or pick another port with --port (0 = any free port)");
    throw err;
  }
  const tokenFile = join(config.dataDir, ADMIN_TOKEN_FILE);
  const out = (s: string) => process.stdout.write(s + "\n");
  out(`nbox platform is up at ${platform.url} (${Date.now() - started} ms)`);
  out(`  dashboard:   ${platform.url}/#token=${encodeURIComponent(platform.adminToken)}  (the link logs the browser in)`);
  out(`  API:         ${platform.url}/api/v1  (OpenAPI: ${platform.url}/api/v1/openapi.json)`);
  out(`  admin token: ${platform.adminToken}${platform.firstStart ? "  (new)" : ""}`);
  out(`  token file:  ${tokenFile}`);
  out(`  data:        ${config.databaseUrl ?? config.dataDir}`);
  out(`  queue:       ${o.redis ? `BullMQ on ${o.redis.replace(/\/\/[^@/]*@/, "//***@")}` : "the store (embedded)"}`);
  out(`  cache:       ${platform.ctx.config.cacheDir}`);
  out(`  worker:      ${o.localWorker ? `local, sandbox ${describeSandbox(platform.sandbox)}` : "none started here (--no-local-worker): start `nbx worker --platform " + platform.url + " --token <worker token>`"}`);
  // Commands and deploy scripts in any other folder find this platform through the user's record.
  const record = writeCurrentPlatform({ source: "up", url: platform.url, tokenFile, pid: process.pid, dataDir: config.dataDir, writtenAt: new Date().toISOString() });
  out(`  recorded in: ${record}  (nbx and the SDK find this platform from any folder)`);
  out(`  use it:      export NBOX_URL=${platform.url} NBOX_TOKEN=$(cat ${tokenFile})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    out(`\n${signal}: stopping the platform…`);
    // A stop that hangs (e.g. a child that never exits) must not leave a zombie `nbx up` behind.
    setTimeout(() => {
      process.stderr.write(`error: the platform did not stop within ${STOP_GRACE_MS / 1000} s; exiting anyway\n`);
      process.exit(1);
    }, STOP_GRACE_MS).unref();
    clearCurrentPlatform(process.pid);
    try {
      await platform.close();
      out("stopped");
      process.exit(0);
    } catch (err) {
      printError(err);
      process.exit(1);
    }
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  if (o.withExamples) {
    try {
      await runExamples(platform.url, platform.adminToken);
    } catch (err) {
      // The platform stays up: a broken example is reported, not fatal.
      printError(err);
    }
  }
  out("Press Ctrl+C to stop.");
  // The HTTP server keeps the process alive until a signal arrives.
  await new Promise<never>(() => {});
}

/** Make `import "nbox"` resolve inside an example without `npm install`. */
export function linkExample(dir: string): void {
  const link = join(dir, "node_modules", "nbox");
  if (existsSync(join(link, "package.json"))) return;
  mkdirSync(dirname(link), { recursive: true });
  try {
    if (lstatSync(link, { throwIfNoEntry: false })) unlinkSync(link);
    symlinkSync("../../..", link, "dir");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !existsSync(join(link, "package.json"))) throw err;
  }
}

// Each example is deployed and used once, the way its README shows, so the dashboard has real runs.
const EXAMPLES: Array<{ dir: string; export: string; use(remote: any): Promise<string> }> = [
  { dir: "foo", export: "foo", use: async (r) => `foo() = ${formatValue(await r())}` },
  { dir: "my-operator", export: "job", use: async (r) => `job(2) = ${formatValue(await r(2))}` },
  { dir: "bar", export: "Bar", use: async (r) => (await r.inc(), `Bar serving at ${r.$url}: after inc(), x = ${formatValue(await r.x)}`) },
];

async function runExamples(url: string, token: string): Promise<void> {
  const { PlatformClient } = await import("../remote/client.ts");
  const client = new PlatformClient({ url, token });
  const out = (s: string) => process.stdout.write(s + "\n");
  out(`\ndeploying examples to workspace "examples"…`);
  await Promise.all(
    EXAMPLES.map(async (ex) => {
      const dir = join(REPO_ROOT, "examples", ex.dir);
      const label = `examples/${ex.dir}`;
      try {
        if (!existsSync(join(dir, "ops.ts"))) throw new NboxError("NOT_FOUND", `${label}/ops.ts not found`);
        linkExample(dir);
        const mod = (await importUserModule(join(dir, "ops.ts"))) as Record<string, any>;
        const op = mod[ex.export];
        if (typeof op?.deploy !== "function") throw new NboxError("BAD_REQUEST", `${label}/ops.ts does not export an operator "${ex.export}"`);
        const t0 = Date.now();
        const steps: string[] = [];
        const remote = await op.deploy("examples", { client, onStep: (s: string, d?: string) => steps.push(d ? `${s} (${d})` : s) });
        out(`  ${label}: deployed "${ex.export}" in ${Date.now() - t0} ms [${steps.join(" → ")}]`);
        const t1 = Date.now();
        out(`  ${label}: ${await ex.use(remote)}  (${Date.now() - t1} ms)`);
      } catch (err) {
        process.stderr.write(`  ${label}: failed\n`);
        printError(err);
      }
    }),
  );
  out(`try: NBOX_URL=${url} NBOX_TOKEN=… nbx run foo --workspace examples --arg 7 --wait`);
}
