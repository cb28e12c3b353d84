// A deployable project whose operators try, from inside a job or a serving, what hostile user code
// would: read files, look at its environment, discover the platform, use the token it was given.
// Every attempt returns { ok, value } or { ok: false, code, message } instead of throwing.

const OPS = `import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { connect, fromJob, operator } from "nbox";

function attempt(fn: () => unknown) {
  try {
    return { ok: true, value: fn() };
  } catch (e: any) {
    return { ok: false, code: e?.code, message: String(e?.message ?? e) };
  }
}

async function attemptAsync(fn: () => Promise<unknown>) {
  try {
    return { ok: true, value: await fn() };
  } catch (e: any) {
    return { ok: false, code: e?.code, message: String(e?.message ?? e) };
  }
}

const probes = {
  read: (p: string) => attempt(() => readFileSync(p, "utf8")),
  list: (p: string) => attempt(() => readdirSync(p)),
  /** Write into the working folder (the bundle) and into the scratch folders. */
  write: () => ({
    bundle: attempt(() => writeFileSync("probe.txt", "x")),
    home: attempt(() => writeFileSync(join(homedir(), "probe.txt"), "x")),
    tmp: attempt(() => writeFileSync(join(tmpdir(), "probe.txt"), "x")),
  }),
  env: () => ({ ...process.env }),
  where: () => ({ cwd: process.cwd(), home: homedir(), tmp: tmpdir() }),
  /** connect() as user code would, optionally without the injected variables. */
  discover: (cwd?: string, clearEnv = false) => {
    const saved = { url: process.env.NBOX_URL, token: process.env.NBOX_TOKEN };
    if (clearEnv) {
      delete process.env.NBOX_URL;
      delete process.env.NBOX_TOKEN;
    }
    try {
      return attempt(() => {
        const c = connect(cwd ? { cwd } : {});
        return { url: c.url, token: c.token };
      });
    } finally {
      if (saved.url !== undefined) process.env.NBOX_URL = saved.url;
      if (saved.token !== undefined) process.env.NBOX_TOKEN = saved.token;
    }
  },
  /** A raw API call with the token the platform injected. */
  api: (method: string, path: string, body?: unknown) =>
    attemptAsync(async () => {
      const res = await fetch(process.env.NBOX_URL + path, {
        method,
        headers: { authorization: "Bearer " + process.env.NBOX_TOKEN, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    }),
  /** A nested job call through the SDK (the way user code calls another deployment); "" names no workspace. */
  nested: (name: string, workspace: string, x: number) =>
    attemptAsync(async () => {
      const job = await fromJob<(x: number) => number>(name, workspace === "" ? {} : { workspace });
      return await job(x);
    }),
  /** A nested job call, with the process's token before and after it (and which process made it). */
  tokenAround: (name: string, workspace: string, x: number) =>
    attemptAsync(async () => {
      const before = process.env.NBOX_TOKEN;
      const job = await fromJob<(x: number) => number>(name, { workspace });
      const value = await job(x);
      return { before, after: process.env.NBOX_TOKEN, value, pid: process.pid };
    }),
};

export const read = operator(function read(p: string) { return probes.read(p); });
export const list = operator(function list(p: string) { return probes.list(p); });
export const write = operator(function write() { return probes.write(); });
export const env = operator(function env() { return probes.env(); });
export const where = operator(function where() { return probes.where(); });
export const discover = operator(function discover(cwd?: string, clearEnv?: boolean) { return probes.discover(cwd, clearEnv); });
export const api = operator(function api(method: string, path: string, body?: unknown) { return probes.api(method, path, body); });
export const nested = operator(function nested(name: string, workspace: string, x: number) { return probes.nested(name, workspace, x); });
export const tokenAround = operator(function tokenAround(name: string, workspace: string, x: number) { return probes.tokenAround(name, workspace, x); });
export const square = operator(function square(x: number) { return x * x; });

/** The same probes from a serving process. */
@operator()
export class Probe {
  read(p: string) { return probes.read(p); }
  list(p: string) { return probes.list(p); }
  write() { return probes.write(); }
  env() { return probes.env(); }
  where() { return probes.where(); }
  discover(cwd?: string, clearEnv?: boolean) { return probes.discover(cwd, clearEnv); }
  api(method: string, path: string, body?: unknown) { return probes.api(method, path, body); }
  nested(name: string, workspace: string, x: number) { return probes.nested(name, workspace, x); }
  tokenAround(name: string, workspace: string, x: number) { return probes.tokenAround(name, workspace, x); }
}
`;

export const PROBE_FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "security-probe", private: true, type: "module" }),
  "ops.ts": OPS,
};

export type Attempt<T = unknown> = { ok: true; value: T } | { ok: false; code?: string; message: string };
