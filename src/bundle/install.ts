// Installs a bundle's npm dependencies on the platform, once per dependency set, into a shared cache.
// Layout: <cacheDir>/<key>/node_modules (built in a temp dir, then renamed: atomic, so concurrent processes can't
// observe half an install). The bundle gets its own node_modules folder whose entries are symlinks into the cache,
// plus node_modules/nbox -> the platform's own nbox (user projects point at nbox with `file:../..`, which can't
// resolve here, so it is stripped from the staged package.json/lock before npm runs).
import { touch } from "../lib/touch.ts";
import { writerTag } from "../lib/writer-tag.ts";
import { syncTree } from "../lib/sync-tree.ts";
import { syncFolder } from "../lib/write-file-atomic.ts";
import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { DependencyInstallError } from "./errors.ts";
import { canonicalJson, sha256Hex } from "./hash.ts";

export const NBOX_PACKAGE = "nbox";
const DEP_FIELDS = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"] as const;
/** Fields of package.json that affect what npm installs; everything else is left out of the staged copy and the key. */
const STAGED_FIELDS = ["name", "version", ...DEP_FIELDS, "overrides", "bundleDependencies", "bundledDependencies"];

export type InstallOptions = {
  /** Shared cache root; each dependency set gets <cacheDir>/<key>/node_modules. */
  cacheDir: string;
  /** The platform's nbox package folder; the bundle's node_modules/nbox links here. */
  nboxPackageDir: string;
  log?: (line: string) => void;
  /** npm's own download cache (`--cache`); default: npm's default. Pre-filled, it makes installs work offline. */
  npmCacheDir?: string;
  /** Also install devDependencies. Default false: bundles run code, they don't build it. */
  includeDev?: boolean;
  /** Kill npm after this long. Default 10 minutes. */
  timeoutMs?: number;
};

export type InstallResult = {
  /** Cache key of the dependency set, or null on the fast path (nothing but nbox). */
  key: string | null;
  /** True when npm ran for this call (false: fast path or cache hit). */
  ranNpm: boolean;
};

type Json = Record<string, unknown>;

/** In-process de-duplication: concurrent installs of the same key share one npm run. */
const inflight = new Map<string, Promise<string>>();

export async function installDependencies(dir: string, opts: InstallOptions): Promise<InstallResult> {
  const log = opts.log ?? (() => {});
  const absDir = path.resolve(dir);
  const pkg = await readJson(path.join(absDir, "package.json"));
  if (pkg === null) throw new Error(`${absDir} has no package.json`);
  const lock = await readJson(path.join(absDir, "package-lock.json"));
  const stagedPkg = stripPackageJson(pkg);
  const stagedLock = lock === null ? null : stripLockfile(lock);

  const fields = opts.includeDev ? DEP_FIELDS.filter((f) => f !== "peerDependencies") : ["dependencies", "optionalDependencies"];
  const wanted = fields.flatMap((f) => Object.keys((stagedPkg[f] as Json | undefined) ?? {}));
  if (wanted.length === 0) {
    // Fast path: nothing to fetch; no npm, no cache, just the nbox link.
    await linkNodeModules(absDir, null, opts.nboxPackageDir);
    return { key: null, ranNpm: false };
  }

  const key = sha256Hex(canonicalJson({ v: 1, dev: !!opts.includeDev, pkg: stagedPkg, lock: stagedLock }));
  const cacheDir = path.resolve(opts.cacheDir);
  const final = path.join(cacheDir, key);
  let ranNpm = false;
  // A hit is stamped as used first (the worker cache evicts sets nobody used for a while, and puts
  // back one stamped while it was being removed); a set being evicted right now is built again.
  if (!(await touch(final)) || !(await exists(path.join(final, "node_modules")))) {
    let p = inflight.get(key);
    if (!p) {
      ranNpm = true;
      p = build(absDir, cacheDir, final, stagedPkg, stagedLock, opts, log).finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    await p;
  }
  await linkNodeModules(absDir, path.join(final, "node_modules"), opts.nboxPackageDir);
  return { key, ranNpm };
}

async function build(
  projectDir: string,
  cacheDir: string,
  final: string,
  pkg: Json,
  lock: Json | null,
  opts: InstallOptions,
  log: (line: string) => void,
): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  // The writer (pid and host) lets a later worker start tell a killed installer's leftover from an
  // install still running (src/worker/cache-sweep.ts); mkdtemp's random tail keeps concurrent
  // installers of one key apart.
  const tmp = await mkdtemp(`${final}.tmp-${writerTag()}-`);
  try {
    await writeFile(path.join(tmp, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
    if (lock) await writeFile(path.join(tmp, "package-lock.json"), JSON.stringify(lock, null, 2) + "\n");
    // A project .npmrc may point at a private registry.
    await copyFile(path.join(projectDir, ".npmrc"), path.join(tmp, ".npmrc")).catch(() => {});

    const common = ["--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline"];
    if (!opts.includeDev) common.push("--omit=dev");
    if (opts.npmCacheDir) common.push("--cache", path.resolve(opts.npmCacheDir));
    let args: string[];
    if (lock) {
      args = ["ci", ...common];
    } else {
      log("warning: no package-lock.json in the bundle; running `npm install`, so versions may differ from your machine (commit a lockfile for reproducible deploys)");
      args = ["install", "--no-package-lock", ...common];
    }
    log(`npm ${args.join(" ")}`);
    await runNpm(args, tmp, opts.timeoutMs ?? 10 * 60_000);
    await mkdir(path.join(tmp, "node_modules"), { recursive: true });
    // On the disk before it gets its name: after a power cut a set in the cache is whole.
    await syncTree(tmp);
    try {
      await rename(tmp, final);
      syncFolder(cacheDir);
    } catch (e) {
      // Another process finished the same key first; theirs is as good as ours.
      if (!(await exists(path.join(final, "node_modules")))) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
    return final;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

function runNpm(args: string[], cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.platform === "win32" ? "npm.cmd" : "npm", args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const keep = (c: Buffer) => {
      out = (out + c.toString()).slice(-64 * 1024); // bounded: only the tail is reported
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const fail = (why: string) => {
      const t = tail(out, 30);
      reject(new DependencyInstallError(`npm ${args[0]} ${why}${t ? `:\n${t}` : ""}`, out));
    };
    child.on("error", (e) => {
      clearTimeout(timer);
      fail(`could not start (${e.message})`);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else fail(signal ? `was killed (${signal}${signal === "SIGKILL" ? `, timeout ${timeoutMs} ms` : ""})` : `failed with exit code ${code}`);
    });
  });
}

/** (Re)creates dir/node_modules: one symlink per cached top-level entry, plus nbox -> the platform's nbox. */
async function linkNodeModules(dir: string, cached: string | null, nboxPackageDir: string): Promise<void> {
  const nm = path.join(dir, "node_modules");
  await rm(nm, { recursive: true, force: true });
  await mkdir(nm, { recursive: true });
  if (cached) {
    for (const name of await readdir(cached)) {
      if (name === NBOX_PACKAGE || name === ".package-lock.json") continue;
      // Links (not copies): instant, and packages resolve their own deps via their real path in the cache.
      await symlink(path.join(cached, name), path.join(nm, name), "junction");
    }
  }
  await symlink(path.resolve(nboxPackageDir), path.join(nm, NBOX_PACKAGE), "junction");
}

/** package.json without nbox in any dependency field, reduced to the install-relevant fields. */
export function stripPackageJson(pkg: Json): Json {
  const out: Json = {};
  for (const f of STAGED_FIELDS) {
    if (pkg[f] === undefined) continue;
    out[f] = structuredClone(pkg[f]);
  }
  for (const f of DEP_FIELDS) {
    const deps = out[f];
    if (deps && typeof deps === "object") delete (deps as Json)[NBOX_PACKAGE];
  }
  for (const f of ["bundleDependencies", "bundledDependencies"]) {
    if (Array.isArray(out[f])) out[f] = (out[f] as unknown[]).filter((n) => n !== NBOX_PACKAGE);
  }
  return out;
}

/** package-lock.json (v1-v3) without nbox: its root dependency, its node_modules entry and the linked folder's entries. */
export function stripLockfile(lock: Json): Json {
  const out = structuredClone(lock);
  const packages = out.packages as Record<string, Json> | undefined;
  if (packages && typeof packages === "object") {
    const root = packages[""];
    if (root) for (const f of DEP_FIELDS) delete (root[f] as Json | undefined)?.[NBOX_PACKAGE];
    const entry = packages[`node_modules/${NBOX_PACKAGE}`];
    delete packages[`node_modules/${NBOX_PACKAGE}`];
    // `file:` deps are recorded as a link plus an entry keyed by the target folder (e.g. "../.."); drop those too.
    if (entry && entry.link === true && typeof entry.resolved === "string") {
      const target = entry.resolved;
      for (const k of Object.keys(packages)) if (k === target || k.startsWith(`${target}/`)) delete packages[k];
    }
  }
  const v1deps = out.dependencies as Json | undefined; // lockfileVersion 1/2 tree
  if (v1deps && typeof v1deps === "object") delete v1deps[NBOX_PACKAGE];
  return out;
}

async function readJson(file: string): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Json;
  } catch (e) {
    throw new Error(`${file} is not valid: ${(e as Error).message}`);
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Last `lines` lines of npm's output, minus the usage/help block npm appends to usage errors. */
function tail(text: string, lines: number): string {
  let all = text.trimEnd().split(/\r?\n/);
  const usage = all.findIndex((l) => /^npm (error|ERR!) Usage:/.test(l));
  if (usage > 0) all = all.slice(0, usage);
  return all.slice(-lines).join("\n");
}
