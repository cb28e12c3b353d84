import { relative, sep } from "node:path";
import { dryRunManifest, findProjectRoot, packBundle, type DryRunResult, type ManifestInput } from "../bundle/index.ts";
import { NboxError } from "../errors.ts";
import { assertNotInRuntime } from "../runtime-context.ts";
import { parseMemory } from "../lib/quantity.ts";
import { isOperator } from "../operator/brand.ts";
import { stateOf } from "../operator/invoke.ts";
import { locateOperator } from "../operator/locate.ts";
import type { Operator } from "../operator/operator.ts";
import { minArgsOf, signatureOf, type FnSignature } from "../operator/signature.ts";
import { deriveTypes } from "../schema/from-ts.ts";
import type { AnyClass, DeployType, Resource, Schedule } from "../operator/types.ts";
import { wrappedClassMeta } from "../operator/wrap-class.ts";
import { classSurface } from "./class-surface.ts";
import { connect, type PlatformClient } from "./client.ts";
import { remoteJob } from "./job-proxy.ts";
import { remoteServing } from "./serving-proxy.ts";
import type { DeploymentInfo } from "./types.ts";

export const DEPLOY_STEPS = ["bundle", "upload", "install", "ready"] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

export interface DeployOptions {
  type?: DeployType;
  resource?: Resource;
  /** Extra ignore patterns (gitignore syntax) on top of .gitignore/.nboxignore. */
  ignore?: string[];
  /** Constructor arguments for classes and Operator subclasses. */
  init?: unknown[];
  /** Deployment name (default: the export's name). */
  name?: string;
  schedule?: Schedule;
  /** Return the bundle manifest (files, sizes, total, ignored count) without uploading. */
  dryRun?: boolean;
  /** Project root override (default: nearest package.json above the defining file). */
  root?: string;
  /** Export name override (default: found by identity). */
  export?: string;
  maxBundleBytes?: number;
  client?: PlatformClient;
  onStep?: (step: DeployStep, detail?: string) => void;
}

export type DryRun = DryRunResult;

const RESOURCE_KEYS = ["cpu", "memory", "timeoutMs", "maxRetries", "retryBackoffMs", "concurrency"] as const;

function checkResource(r: Resource | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r ?? {})) {
    if (!(RESOURCE_KEYS as readonly string[]).includes(k)) {
      throw new NboxError("BAD_REQUEST", `resource.${k} is not a known resource field`, `Use one of ${RESOURCE_KEYS.join(", ")}`);
    }
    if (v === undefined) continue;
    if ((k === "cpu" || k === "memory") && typeof v !== "string") throw new NboxError("BAD_REQUEST", `resource.${k} must be a string like "500m" / "512Mi", got ${JSON.stringify(v)}`);
    if (k === "memory") parseMemory(v as string); // a bad quantity fails at deploy, not at run time
    if (k !== "cpu" && k !== "memory" && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw new NboxError("BAD_REQUEST", `resource.${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    out[k] = v;
  }
  return out;
}

function scheduleJson(s: Schedule | undefined): Record<string, unknown> | null {
  if (!s) return null;
  const iso = (d: string | Date | undefined) => (d === undefined ? undefined : new Date(d).toISOString());
  return { cron: s.cron, timezone: s.timezone, startsAt: iso(s.startsAt), endsAt: iso(s.endsAt) };
}

/**
 * A job run calls the deployed thing: an operator, or `forward` of a class's instance (built once per
 * worker process with `init`). Anything else fails here, not at its first run.
 */
function assertRunnableAsJob(target: Operator | AnyClass): void {
  const fix = "Add a forward(...) method (each run calls it), or deploy it as a serving (the default for classes)";
  if (!isOperator(target)) {
    if (!classSurface(target).forward) {
      throw new NboxError("BAD_REQUEST", `${target.name} cannot be deployed as a job: it has no forward() method (a class deployed as a job runs forward(...args) once per run)`, fix);
    }
    return;
  }
  const st = stateOf(target);
  const inner = (target as unknown as { target?: { forward?: unknown } }).target;
  if (st.kind === "instance" && typeof inner?.forward !== "function") {
    throw new NboxError("BAD_REQUEST", `${st.name} cannot be deployed as a job: the wrapped object has no forward() method`, fix);
  }
}

/**
 * The callable surface the manifest records: parameters as the running code has them, with what
 * TypeScript adds (`?` parameters, and JSON Schemas of parameters, results and fields) read from
 * the source. The manifest is part of the content hash, so this is deterministic for a given source.
 */
async function recordedSignature(target: Operator | AnyClass, op: Operator | undefined, loc: { file: string; exportName: string; kind: "fn" | "class" | "operator" | "instance" }) {
  const surface: { methods?: Record<string, FnSignature>; forward: FnSignature | null } =
    loc.kind === "class" ? classSurface(target as AnyClass) : { forward: signatureOf((op as any).forward) };
  const methods = surface.methods ?? {};
  const { schemas, optional } = await deriveTypes({ file: loc.file, exportName: loc.exportName, kind: loc.kind, methods: Object.keys(methods), forward: surface.forward !== null });
  const withTsOptional = (name: string, sig: FnSignature) => {
    const flags = optional[name];
    if (!flags) return;
    sig.params = sig.params.map((p, i) => (flags[i] && !p.optional ? { ...p, optional: true } : p));
    sig.minArgs = minArgsOf(sig.params);
  };
  for (const [name, sig] of Object.entries(methods)) withTsOptional(name, sig);
  if (surface.forward) withTsOptional("forward", surface.forward);
  return { ...surface, schemas };
}

/**
 * Pack the project that defines `target`, upload it if the platform lacks it, register a
 * deployment version and return the remote handle (job or serving). Without a workspace it goes
 * to the token's own (a workspace token), else to "default".
 */
export async function deploy(target: Operator | AnyClass, workspace?: string, opts: DeployOptions = {}): Promise<any> {
  assertNotInRuntime("deploy()");
  const op = isOperator(target) ? target : undefined;
  const meta = op ? undefined : wrappedClassMeta(target);
  if (!op && !meta) {
    throw new NboxError("BAD_REQUEST", `deploy() needs an operator or a class wrapped with operator(); got ${(target as Function)?.name ?? typeof target}`, "Wrap it: export const x = operator(fn) or @operator() class X {}");
  }
  const kindDefault: DeployType = op && stateOf(op).kind !== "instance" ? "job" : "serving";
  const options = op ? stateOf(op).options : meta!.options;
  // TypeScript cannot see a wrapper's options, so a class wrapped as a job would get a serving's
  // handle type: the type that differs from the default must be chosen at deploy, where it is typed.
  if (meta && opts.type === undefined && options.type !== undefined && options.type !== kindDefault) {
    const name = (target as AnyClass).name;
    throw new NboxError(
      "BAD_REQUEST",
      `${name} was wrapped with { type: "${options.type}" }, which its deploy() handle cannot be typed from (a wrapped class deploys as a ${kindDefault} by default)`,
      `Choose the type at deploy, where it is typed: deploy(${name}, workspace, { type: "${options.type}" })`,
    );
  }
  const type = opts.type ?? options.type ?? kindDefault;
  if (type === "job") assertRunnableAsJob(target);
  opts.onStep?.("bundle");
  const loc = await locateOperator(target, { exportName: opts.export, init: opts.init });
  const root = opts.root ?? options.root ?? findProjectRoot(loc.file);
  const entry = relative(root, loc.file).split(sep).join("/");
  if (entry.startsWith("..")) throw new NboxError("BAD_REQUEST", `${loc.file} is outside the project root ${root}`, "Pass { root } pointing at a folder that contains it");

  const signature = await recordedSignature(target, op, loc);
  const input: ManifestInput = {
    entry,
    export: loc.exportName,
    kind: loc.kind,
    init: loc.init,
    type,
    name: opts.name ?? options.name ?? loc.exportName,
    resource: checkResource(opts.resource),
    schedule: scheduleJson(opts.schedule),
    ...(loc.state ? { state: loc.state } : {}),
    signature: JSON.parse(JSON.stringify(signature, (_k, v) => (v === Infinity ? null : v))),
    options: { concurrency: options.concurrency },
  };
  if (opts.dryRun) return dryRunManifest(root, input, { ignore: opts.ignore, maxBytes: opts.maxBundleBytes });

  const packed = await packBundle(root, input, { ignore: opts.ignore, maxBytes: opts.maxBundleBytes });
  const client = opts.client ?? connect();
  const hash = packed.manifest.contentHash;
  const { exists } = await client.call("GET /bundles/{hash}", { params: { hash } });
  if (!exists) {
    opts.onStep?.("upload", `${packed.tarball.length} bytes`);
    await client.call("PUT /bundles/{hash}", { params: { hash }, raw: packed.tarball });
  } else opts.onStep?.("upload", "unchanged, 0 bytes");
  opts.onStep?.("install");
  const { deployment } = await client.call("POST /workspaces/{ws}/deployments", { params: { ws: workspace ?? (await client.defaultWorkspace()) }, body: { manifest: packed.manifest as unknown as Record<string, unknown> } });
  opts.onStep?.("ready", deployment.versionId);
  return deployment.type === "serving" ? remoteServing(deployment) : remoteJob(client, deployment);
}
