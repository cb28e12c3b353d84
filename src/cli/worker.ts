// `nbx worker --platform URL --token T`: run jobs and host servings for a control plane, from any
// folder on any machine that reaches it. Holds nothing but the worker token.
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { describeSandbox } from "../worker/setup.ts";
import { MIN_CACHE_KEEP_MS } from "../worker/cache-evict.ts";
import type { Worker } from "../worker/worker.ts";
import { durationOption, fail, parseIntOption, printError } from "./output.ts";

/** The worker token may come from the environment instead of the command line (where `ps` shows it). */
export const WORKER_TOKEN_ENV = "NBOX_WORKER_TOKEN";
const STOP_GRACE_MS = 20_000;
// User processes get SIGTERM, then SIGKILL half a second later: this is only a backstop.
const ABANDON_GRACE_MS = 5_000;

interface WorkerCliOptions {
  platform: string;
  token?: string;
  slots?: string;
  cache?: string;
  cacheKeep?: string;
  sandbox: boolean;
  passEnv?: string[];
  hide?: string[];
  name?: string;
  local?: boolean;
  wait?: string;
}

export function registerWorker(program: Command): void {
  program
    .command("worker")
    .description("run jobs and host servings for a platform (user code runs only in workers)")
    .requiredOption("--platform <url>", "URL of the control plane (nbx up)")
    .option("--token <token>", `a worker token (nbx token create --worker); default $${WORKER_TOKEN_ENV}`)
    .option("--slots <n>", "calls at once (default: the number of cores)")
    .option("--cache <dir>", "worker cache: bundles, versions, dependencies, scratch folders (default $NBOX_CACHE_DIR, else ~/.cache/nbox)")
    .option("--cache-keep <duration>", "remove cached versions and dependencies no worker used for this long (e.g. 12h, 7d; default 7d, at least 1h)")
    .option("--no-sandbox", "run user code without the bubblewrap sandbox")
    .option("--pass-env <name...>", "environment variables handed to user code besides the allow-list")
    .option("--hide <dir...>", "folders user code must never see (sandboxed)")
    .option("--name <name>", "how the worker is listed (default host:pid)")
    .option("--wait <duration>", "how long to wait for an unreachable control plane at start (e.g. 30s, 5m; 0 = exit at once; default: until it answers)")
    .addOption(new Option("--local", "started by nbx up: stop when it stops").hideHelp())
    .action((o: WorkerCliOptions, cmd: Command) => worker({ ...o, token: o.token ?? (cmd.optsWithGlobals() as { token?: string }).token }));
}

async function worker(o: WorkerCliOptions): Promise<void> {
  const token = o.token ?? process.env[WORKER_TOKEN_ENV];
  delete process.env[WORKER_TOKEN_ENV];
  if (!token) fail("nbx worker needs a worker token", `Pass --token or set ${WORKER_TOKEN_ENV} (create one with \`nbx token create --worker\`)`);
  if (!/^https?:\/\//.test(o.platform)) fail(`--platform must be an http(s) URL, got ${JSON.stringify(o.platform)}`);
  // Signals are heard from the start: one that arrives while the worker joins stops it once it has
  // joined (it must leave, not vanish with a registration the platform still counts as live).
  let stopping = false;
  let started: ((w: Worker) => void) | undefined;
  // A signal while it still waits for its control plane ends the wait: there is nothing to leave yet.
  const waiting = new AbortController();
  let stopCode = 0;
  const joined = new Promise<Worker>((r) => (started = r));
  const out = (s: string) => process.stdout.write(s + "\n");
  const stop = async (why: string, code: number) => {
    if (stopping) process.exit(code || 130);
    stopping = true;
    out(`${why}: stopping the worker…`);
    stopCode = code;
    waiting.abort();
    setTimeout(() => process.exit(1), STOP_GRACE_MS).unref();
    try {
      await (await joined).close();
    } catch (err) {
      printError(err);
      process.exit(1);
    }
    process.exit(code);
  };
  // A local worker runs in a process group of its own, but may still be signalled with `nbx up`'s
  // (kill -INT -<group>): its platform stops it (SIGTERM, after which it hands its runs back and
  // leaves), and a second signal must not cut that short.
  if (!o.local) process.on("SIGINT", () => void stop("SIGINT", 0));
  else process.on("SIGINT", () => {});
  process.on("SIGTERM", () => void stop("SIGTERM", 0));
  // Started by `nbx up`: when it goes (even killed), this worker goes too and takes its children
  // along at once — there is no one left to hand runs back to (its next start takes them back).
  let joinedWorker: Worker | undefined;
  if (o.local && process.send) {
    const abandon = () => {
      out("the control plane went away: stopping the worker and its user processes");
      setTimeout(() => process.exit(1), ABANDON_GRACE_MS).unref();
      if (!joinedWorker) process.exit(0); // nothing of its own runs yet
      void joinedWorker.abandon().finally(() => process.exit(0));
    };
    process.on("disconnect", abandon);
    if (!process.connected) abandon(); // gone before this process listened
  }

  const { startWorker } = await import("../worker/worker.ts");
  const w = await startWorker({
    platformUrl: o.platform,
    token: token!,
    ...(o.slots !== undefined ? { slots: parseIntOption(o.slots, "--slots", 1) } : {}),
    ...(o.cache !== undefined ? { cacheDir: resolve(o.cache) } : {}),
    ...(o.cacheKeep !== undefined ? { cacheKeepMs: durationOption(o.cacheKeep, "--cache-keep", MIN_CACHE_KEEP_MS) } : {}),
    sandbox: o.sandbox,
    passEnv: o.passEnv ?? [],
    hide: (o.hide ?? []).map((d) => resolve(d)),
    ...(o.name ? { name: o.name } : {}),
    local: o.local ?? false,
    // Started by `nbx up`, its control plane is up: one that does not answer is an error at once.
    waitForPlatformMs: o.local ? 0 : o.wait !== undefined ? durationOption(o.wait, "--wait") : Infinity,
    signal: waiting.signal,
  }).catch((err) => {
    // Stopped while it waited for its control plane: it never joined, and that is no error.
    if (stopping) process.exit(stopCode);
    printError(err);
    process.exit(1);
  });
  joinedWorker = w;
  started!(w);
  out(`nbox worker ${w.id} joined ${o.platform}`);
  out(`  cache:   ${w.paths.cache}`);
  out(`  sandbox: ${describeSandbox(w.sandbox)}`);
  void w.ended.then((why) => {
    process.stderr.write(`error: ${why}\n`);
    void stop("refused", 1);
  });
  // Runs until a signal, a refusal or (local) the control plane's end stops it.
  await new Promise<never>(() => {});
}
