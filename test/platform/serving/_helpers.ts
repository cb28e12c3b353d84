// Shared setup for the serving end-to-end tests: a real platform on port 0 with a fresh data dir,
// deployable projects copied to temp folders (node_modules/nbox -> this repo), a raw HTTP helper.
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PlatformConfig } from "../../../src/platform/config.ts";
import type { Platform } from "../../../src/platform/platform.ts";
import { PlatformClient } from "../../../src/remote/client.ts";

// Temp folders and fresh (template-copied) data dirs are shared with the job suite.
export { REPO, tempDir, freshDataDir, eventually, testCacheDir } from "../jobs/_helpers.ts";
import { REPO, tempDir, startTestPlatform as startJobsPlatform } from "../jobs/_helpers.ts";

export interface TestPlatform {
  platform: Platform;
  client: PlatformClient;
  url: string;
  token: string;
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

/** A fresh platform on the backend under test (the job suite's: embedded, or Postgres + Redis + more workers). */
export async function startTestPlatform(config: Partial<PlatformConfig> = {}): Promise<TestPlatform> {
  const started = await startJobsPlatform(config);
  const platform = started.platform;
  return {
    platform,
    client: new PlatformClient({ url: platform.url, token: platform.adminToken }),
    url: platform.url,
    token: platform.adminToken,
    async api(method, path, body, token = platform.adminToken) {
      const res = await fetch(`${platform.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    close: () => started.close(),
  };
}

/** Copy a folder (or write `files`) into a temp project with node_modules/nbox linked; import its ops.ts. */
export async function importProject<T = any>(src: string | Record<string, string>): Promise<{ dir: string; mod: T }> {
  const dir = tempDir("nbx-serving-proj-");
  if (typeof src === "string") cpSync(src, dir, { recursive: true, filter: (s) => !s.split("/").includes("node_modules") });
  else for (const [name, text] of Object.entries(src)) writeFileSync(join(dir, name), text);
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules", "nbox"), "dir");
  const mod = (await import(pathToFileURL(join(dir, "ops.ts")).href)) as T;
  return { dir, mod };
}

/** Raw HTTP against a serving URL (for status-code cases the SDK would hide). */
export async function raw(url: string, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const h: Record<string, string> = { ...headers };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  const res = await fetch(url + path, { method, headers: h, body: payload });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

let n = 0;
export const wsName = (tag: string) => `t-${tag}-${process.pid}-${++n}`;

/** A test project: async, generator, throwing, hanging and crashing methods. */
export const KIT_FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "serving-kit", private: true, type: "module" }),
  "ops.ts": `import { operator, Operator } from "nbox";

const PROCESS_ID = Math.floor(Math.random() * 2 ** 31) + 1;

export class Boom extends Error {
  override name = "Boom";
}

@operator()
export class Kit {
  x = 1;
  label = "kit";
  _secret = "hidden";
  cancelled = 0;
  produced = 0;
  ready = false;
  constructor(x = 1) {
    this.x = x;
  }
  remoteInit() {
    this.ready = true;
  }
  get double() {
    return this.x * 2;
  }
  inc() {
    this.x += 1;
    return this.x;
  }
  shout(msg: string) {
    console.log("shout: " + msg);
    return msg;
  }
  add(a: number, b = 0) {
    this.x += a + b;
    return this.x;
  }
  async slowInc(ms: number) {
    const before = this.x;
    await new Promise((r) => setTimeout(r, ms));
    this.x = before + 1;
    return this.x;
  }
  echo(v: unknown) {
    return v;
  }
  fail(msg: string) {
    throw new Boom(msg);
  }
  async hang() {
    await new Promise(() => {});
  }
  die() {
    process.exit(1);
  }
  crash() {
    setTimeout(() => process.exit(1), 5);
    return "bye";
  }
  pid() {
    // Which process this is: in a sandbox (its own pid namespace) process.pid is the same for all.
    return PROCESS_ID;
  }
  async *count(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
  *letters() {
    yield "a";
    yield "b";
  }
  async *forever() {
    try {
      for (let i = 0; ; i++) {
        this.produced = i;
        await new Promise((r) => setTimeout(r, 5));
        yield i;
      }
    } finally {
      this.cancelled += 1;
    }
  }
  _private() {
    return "nope";
  }
}

@operator({ concurrency: 4 })
export class Par {
  active = 0;
  peak = 0;
  async work(ms: number) {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    await new Promise((r) => setTimeout(r, ms));
    this.active--;
    return this.peak;
  }
}

export class Doubler extends Operator {
  constructor(private k = 2) {
    super();
  }
  forward(x: number) {
    return x * this.k;
  }
}

@operator()
export class BadStart {
  constructor() {
    console.error("about to fail in the constructor");
    throw new TypeError("no database configured");
  }
  ping() {
    return 1;
  }
}

/** Fails to start with a NUL in its error message (which text in the store cannot hold). */
@operator()
export class NulStart {
  constructor() {
    throw new TypeError("bad\\u0000byte");
  }
  ping() {
    return 1;
  }
}
`,
};
