// `nbx deploy <file.ts>:<export>`: pack, upload, install, register; `--dry-run` shows the bundle manifest.
import type { Command } from "commander";
import type { DryRunResult } from "../bundle/index.ts";
import { formatBytes } from "../bundle/format.ts";
import type { Operator } from "../operator/operator.ts";
import type { AnyClass, DeployType, Resource, Schedule } from "../operator/types.ts";
import type { DeployStep } from "../remote/deploy.ts";
import type { DeploymentInfo } from "../remote/types.ts";
import { client, enc, WORKSPACE_HELP, workspaceOf } from "./client.ts";
import { fail, parseIntOption, parseJsonArg, printJson, printTable, Progress } from "./output.ts";
import { wrappedClassMeta } from "../operator/wrap-class.ts";
import { loadTarget } from "./target.ts";

interface DeployCliOptions {
  workspace?: string;
  type?: string;
  dryRun?: boolean;
  json?: boolean;
  cpu?: string;
  memory?: string;
  timeout?: string;
  retries?: string;
  cron?: string;
  timezone?: string;
  init?: string;
  name?: string;
}

export function registerDeploy(program: Command): void {
  program
    .command("deploy")
    .description("deploy an operator as a job or a serving")
    .argument("<target>", "<file.ts>:<export>, e.g. ops.ts:foo")
    .option("-w, --workspace <name>", `${WORKSPACE_HELP}; created if missing, with an admin token`)
    .option("-t, --type <type>", "job | serving (default: job for functions/operators, serving for classes)")
    .option("--dry-run", "show what would be uploaded (files, sizes, ignored) without deploying")
    .option("--json", "print JSON")
    .option("--cpu <cpu>", 'CPU request, e.g. "500m"')
    .option("--memory <mem>", 'memory request, e.g. "512Mi"')
    .option("--timeout <ms>", "run timeout in milliseconds")
    .option("--retries <n>", "retries after a failed attempt")
    .option("--cron <expr>", 'run on a schedule, e.g. "*/5 * * * *"')
    .option("--timezone <tz>", "timezone of --cron, e.g. Europe/Paris")
    .option("--init <json>", "constructor arguments (JSON array) for classes and Operator subclasses")
    .option("--name <name>", "deployment name (default: the export's name)")
    .action(deployCommand);
}

function buildOptions(o: DeployCliOptions) {
  let type: DeployType | undefined;
  if (o.type !== undefined) {
    if (o.type !== "job" && o.type !== "serving") fail(`--type must be "job" or "serving", got ${JSON.stringify(o.type)}`);
    type = o.type as DeployType;
  }
  const resource: Resource = {};
  if (o.cpu !== undefined) resource.cpu = o.cpu;
  if (o.memory !== undefined) resource.memory = o.memory;
  if (o.timeout !== undefined) resource.timeoutMs = parseIntOption(o.timeout, "--timeout");
  if (o.retries !== undefined) resource.maxRetries = parseIntOption(o.retries, "--retries");
  if (o.timezone && !o.cron) fail("--timezone needs --cron");
  const schedule: Schedule | undefined = o.cron ? { cron: o.cron, ...(o.timezone ? { timezone: o.timezone } : {}) } : undefined;
  let init: unknown[] | undefined;
  if (o.init !== undefined) {
    const v = parseJsonArg(o.init, "--init");
    init = Array.isArray(v) ? v : [v];
  }
  return { type, resource, schedule, init, ...(o.name ? { name: o.name } : {}) };
}

async function deployCommand(targetText: string, o: DeployCliOptions): Promise<void> {
  const opts = buildOptions(o);
  const progress = await Progress.create(!!o.json || !!o.dryRun);
  progress.step(`loading ${targetText}`);
  let target: Operator | AnyClass;
  let exportOverride: string | undefined;
  try {
    const t = await loadTarget(targetText);
    if (t.kind === "operatorClass") {
      // An Operator subclass is deployed as "build it with --init on the worker".
      try {
        target = new (t.value as unknown as new (...a: unknown[]) => Operator)(...(opts.init ?? []));
      } catch (err) {
        return fail(`constructing ${t.spec.exportName} failed: ${(err as Error).message}`, "Pass constructor arguments with --init '[...]'");
      }
      exportOverride = t.spec.exportName;
    } else {
      target = t.value;
      exportOverride = t.spec.exportName;
      // The CLI prints what it gets, so a wrapper's own type choice stands here (no handle type to keep).
      if (t.kind === "wrappedClass") opts.type ??= wrappedClassMeta(t.value)?.options.type;
    }
  } catch (err) {
    progress.failed();
    throw err;
  }

  const { deploy } = await import("../remote/deploy.ts");
  const labels: Record<DeployStep, string> = { bundle: "bundling", upload: "uploading", install: "installing", ready: "ready" };
  const onStep = (step: DeployStep, detail?: string) => {
    if (step === "ready") return;
    progress.step(detail ? `${labels[step]} (${detail})` : labels[step]);
  };
  if (o.dryRun) {
    const dry = (await deploy(target, o.workspace, { ...opts, export: exportOverride, dryRun: true })) as DryRunResult;
    if (o.json) printJson(dry);
    else printDryRun(dry);
    return;
  }
  let remote: any;
  try {
    remote = await deploy(target, o.workspace, { ...opts, export: exportOverride, client: client(), onStep });
  } catch (err) {
    progress.failed();
    throw err;
  }
  // A serving handle is a Proxy whose property reads become calls (`$url` is its own): read the
  // deployment from the API instead.
  const serving = typeof remote?.$url === "string";
  const info: DeploymentInfo =
    !serving && remote?.deployment
      ? remote.deployment
      : (
          await client().call("GET /workspaces/{ws}/deployments/{name}", { params: { ws: await workspaceOf(o.workspace), name: opts.name ?? exportOverride ?? "" } })
        ).deployment;
  progress.done(`ready: ${info.name} (${info.type}) version ${info.versionId}`);
  if (o.json) {
    printJson({ ...info, ...(serving ? { servingUrl: remote.$url, servingToken: remote.$token } : {}) });
    return;
  }
  const out = (s: string) => process.stdout.write(s + "\n");
  out(`deployed ${info.name} (${info.type}, ${info.kind}) to workspace "${info.workspace}"`);
  out(`  version: ${info.versionId}`);
  out(`  content: ${info.contentHash.slice(0, 12)}`);
  if (info.type === "job") {
    out(`  run it:  nbx run ${info.name}${info.workspace !== "default" ? ` --workspace ${info.workspace}` : ""} --arg … --wait`);
    if (opts.schedule) out(`  schedule: ${opts.schedule.cron}${opts.schedule.timezone ? ` (${opts.schedule.timezone})` : ""}`);
  } else {
    const url = serving ? remote.$url : info.servingUrl;
    if (url) out(`  url:     ${url}`);
    // One token per serving, the same across redeploys until `nbx token rotate`.
    if (serving) out(`  token:   ${remote.$token}`);
    out(`  call it: nbx call ${info.name} <method> [JSON…]${info.workspace !== "default" ? ` --workspace ${info.workspace}` : ""}`);
  }
}

function printDryRun(dry: DryRunResult): void {
  const m = dry.manifest;
  const out = (s: string) => process.stdout.write(s + "\n");
  out(`dry run: ${m.name} (${m.type}, ${m.kind}) from ${m.entry}:${m.export}`);
  printTable(
    ["FILE", "SIZE"],
    dry.files.map((f) => [f.kind === "symlink" ? `${f.path} -> ${f.target ?? "?"}` : f.path, formatBytes(f.size)]),
    "(no files)",
  );
  out(`total: ${dry.files.length} file${dry.files.length === 1 ? "" : "s"}, ${formatBytes(dry.totalBytes)} (limit ${formatBytes(dry.maxBytes)})`);
  out(`ignored: ${dry.ignoredCount} path${dry.ignoredCount === 1 ? "" : "s"} (.gitignore, .nboxignore, node_modules, …)`);
  out(`content hash: ${m.contentHash}`);
  if (dry.overLimit) out(`warning: the bundle is over the limit; deploying would fail. Exclude files with .nboxignore`);
}
