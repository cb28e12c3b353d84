// Helpers for CLI tests: run `node bin/nbx.js …` as a child process, make a temp example project.
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const NBX = join(REPO, "bin", "nbx.js");

export interface NbxResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI asynchronously (the platform may live in this very process, so never block). */
export function nbx(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}): Promise<NbxResult> {
  return new Promise((resolveRun, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NBOX_DEBUG: "", ...opts.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, [NBX, ...args], { cwd: opts.cwd ?? REPO, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`nbx ${args.join(" ")} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 90_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export const EXTRA_OPS = `import { operator, Operator } from "nbox";

export const boom = operator(function boom(msg = "kaput") {
  throw new TypeError(\`boom: \${msg}\`);
});

export const slow = operator(async function slow(n = 100) {
  for (let i = 0; i < n; i++) {
    console.log(\`tick \${i}\`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return n;
});

export const chatty = operator(function chatty(k = 3) {
  for (let i = 0; i < k; i++) console.log(\`line \${i}\`);
  return { k, ok: true };
});

export class Inner extends Operator {
  forward(x: number) {
    return x * 2;
  }
}

export class Outer extends Operator {
  inner = new Inner();
  constructor(private base = 1) {
    super();
  }
  async forward(x: number) {
    if (x > 10) return this.base;
    return (await this.inner(x)) + this.base;
  }
}

export const outer = new Outer(5);
export const notAnOp = (x: number) => x;
export const answer = 42;
`;

/** A temp copy of examples/foo (plus extra.ts) whose node_modules/nbox links to this repo. */
export function tempProject(prefix = "nbx-cli-"): { dir: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const dir = join(root, "proj");
  cpSync(join(REPO, "examples", "foo"), dir, { recursive: true, filter: (src) => !src.includes("node_modules") });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules", "nbox"), "dir");
  writeFileSync(join(dir, "extra.ts"), EXTRA_OPS);
  return { dir, root };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface NbxUp {
  url: string;
  /** The admin token it printed. */
  token: string;
  child: ChildProcess;
  output(): string;
  /** `kill -9`: no shutdown code runs; resolves once the process is gone. */
  kill9(): Promise<void>;
}

/** Start `nbx up --port 0 …` as a real child process; resolves once it serves (kill it with `kill9()`). */
export async function startNbxUp(args: string[], opts: { env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<NbxUp> {
  // The platform must not pick up a test process's own connection settings.
  const env: Record<string, string | undefined> = { ...process.env, NBOX_DEBUG: "", NBOX_URL: undefined, NBOX_TOKEN: undefined, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const child = spawn(process.execPath, [NBX, "up", "--port", "0", ...args], { cwd: REPO, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let killing = false;
  const kill9 = async () => {
    killing = true;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  // A platform that dies on its own explains the test failure that follows: show why.
  void exited.then(() => killing || process.stderr.write(`nbx up ${args.join(" ")} exited (${child.exitCode ?? child.signalCode}):\n${out}\n`));
  try {
    const [url, token] = await new Promise<[string, string]>((resolveUp, reject) => {
      const timer = setTimeout(() => reject(new Error(`nbx up did not start\n${out}`)), opts.timeoutMs ?? 150_000);
      const check = () => {
        const m = /is up at (http:\/\/\S+)[\s\S]*admin token: (\S+)/.exec(out);
        if (m && out.includes("Press Ctrl+C to stop.")) {
          clearTimeout(timer);
          resolveUp([m[1]!, m[2]!]);
        }
      };
      child.stdout!.on("data", check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nbx up exited early (${child.exitCode ?? child.signalCode})\n${out}`));
      });
    });
    return { url, token, child, output: () => out, kill9 };
  } catch (err) {
    await kill9();
    throw err;
  }
}
