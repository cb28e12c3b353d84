// Shared setup for the worker tests: `nbx worker` processes started from a folder of their own
// (each in its own process group, so a kill takes its user processes along), worker tokens, and
// a look at /proc for processes a killed control plane or worker may have left behind.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "../platform/jobs/_helpers.ts";

export { REPO, tempDir, eventually, importProject, copyProject, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";

export const NBX = join(REPO, "bin", "nbx.js");
export const CRASH_FIXTURE = join(REPO, "test/security/fixtures/crash");

/** The process `pid` is still there. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export interface WorkerProc {
  /** The worker id it printed when it joined. */
  id: string;
  /** Its pid, also its process group id. */
  pid: number;
  /** The folder it was started in, and its cache. */
  cwd: string;
  cache: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL to its whole process group (no shutdown code runs); resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (it puts its runs back and leaves), then the group is killed. */
  stop(): Promise<void>;
}

// Every process group a test started: killed when the test process exits, whatever happened.
const groups = new Set<number>();
process.on("exit", () => {
  for (const pgid of groups) killGroup(pgid, "SIGKILL");
});

/** Signal a whole process group; false when it is gone already. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The environment of a process that must know nothing of the test's platform but what it is given. */
export function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NBOX_DEBUG: "", NBOX_HOME: join(tempDir("nbx-worker-home-"), "home"), ...extra };
  for (const k of ["NBOX_URL", "NBOX_TOKEN", "NBOX_WORKER_TOKEN", "NBOX_CACHE_DIR"]) if (!(k in extra)) delete env[k];
  return env;
}

/**
 * `nbx worker --platform URL --token T --cache DIR` run from an empty temp folder (nothing of the
 * repo or the platform's data folder in reach); resolves once it printed that it joined.
 */
export async function startWorkerProcess(o: { url: string; token: string; slots?: number; args?: string[]; timeoutMs?: number }): Promise<WorkerProc> {
  const cwd = tempDir("nbx-worker-cwd-");
  const cache = tempDir("nbx-worker-cache-");
  const args = [NBX, "worker", "--platform", o.url, "--token", o.token, "--cache", cache];
  if (o.slots !== undefined) args.push("--slots", String(o.slots));
  args.push(...(o.args ?? []));
  const child = spawn(process.execPath, args, { cwd, env: isolatedEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  const pid = child.pid!;
  groups.add(pid);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const gone = async () => {
    await exited;
    groups.delete(pid);
  };
  const kill9 = async () => {
    killGroup(pid, "SIGKILL");
    await gone();
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => killGroup(pid, "SIGKILL"), 25_000);
    await exited;
    clearTimeout(t);
    // Its user processes go with it; anything left of the group does not outlive the test.
    killGroup(pid, "SIGKILL");
    groups.delete(pid);
  };
  try {
    const id = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nbx worker did not join within ${(o.timeoutMs ?? 60_000) / 1000} s\n${out}`)), o.timeoutMs ?? 60_000);
      const check = () => {
        const m = /nbox worker (\S+) joined/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on("data", check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nbx worker exited before joining (${child.exitCode ?? child.signalCode})\n${out}`));
      });
    });
    return { id, pid, cwd, cache, child, output: () => out, kill9, stop };
  } catch (err) {
    await kill9();
    throw err;
  }
}

/** A worker token from the admin API; `revoke()` removes it again. */
export async function createWorkerToken(url: string, adminToken: string, name = "test worker"): Promise<{ id: string; secret: string; revoke(): Promise<void> }> {
  const res = await fetch(`${url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ worker: true, name }),
  });
  const body = (await res.json()) as { token: { id: string }; secret: string };
  if (res.status !== 201) throw new Error(`creating a worker token failed with HTTP ${res.status}: ${JSON.stringify(body)}`);
  return {
    id: body.token.id,
    secret: body.secret,
    revoke: async () => {
      // The platform may be gone already (a killed control plane): nothing left to revoke then.
      await fetch(`${url}/api/v1/tokens/${body.token.id}`, { method: "DELETE", headers: { authorization: `Bearer ${adminToken}` } }).catch(() => {});
    },
  };
}

export interface ProcInfo {
  pid: number;
  cmd: string;
}

/** Live processes (of any parent) whose command line contains `fragment`, or whose working folder is inside `fragment`. */
export function processesMatching(fragment: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim();
      // Zombies have an empty command line: they are gone, only not reaped yet.
      if (!cmd) continue;
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${name}/cwd`);
      } catch {
        // Not ours to read, or exiting.
      }
      if (cmd.includes(fragment) || cwd.startsWith(fragment)) out.push({ pid, cmd });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** Poll `check` every `everyMs` until it returns a truthy value; `ms` is a hang guard, not an expectation. */
export async function until<T>(check: () => Promise<T | undefined | null | false>, ms: number, what: string, everyMs = 500): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Raw JSON call with any token (for status codes the SDK would turn into exceptions). */
export async function call(url: string, token: string, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** A port free right now (a control plane that must come back where its workers look). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as import("node:net").AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
