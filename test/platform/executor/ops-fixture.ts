// Source of the ops.ts written into temp projects (kept as a string: it imports "nbox" from the temp project).
export const OPS = `
import { operator, Operator } from "nbox";
import { exec, execSync, spawn } from "node:child_process";
import { write, writeFileSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";

export const square = operator(function square(x: number) { return x * x; });
export const addLater = operator(async function addLater(a: number, b: number) {
  await new Promise((r) => setTimeout(r, 5));
  return a + b;
});
export const rich = operator(function rich() { return new Map<string, unknown>([["when", new Date(0)], ["big", 10n]]); });
export const whoami = operator(function whoami() { return process.pid; });
/** Prints one line when \`loud\`, then waits \`ms\`; returns \`tag\`. */
export const maybeLoud = operator(async function maybeLoud(tag: string, loud: boolean, ms = 0) {
  if (loud) console.log("loud " + tag);
  await new Promise((r) => setTimeout(r, ms));
  return tag;
});

/**
 * Holds the thread for \`blockMs\`, then answers its own call early over the channel (as if it had
 * ended: call id \`id\`), then goes on for another \`restMs\` before it really ends.
 */
export const answersEarly = operator(async function answersEarly(id: number, blockMs: number, restMs: number) {
  const until = Date.now() + blockMs;
  while (Date.now() < until) {}
  process.send!([{ type: "result", id, ok: true, value: null }]);
  await new Promise((r) => setTimeout(r, restMs));
  return "late";
});

/** Answers its own call (id 1: the first call of a fresh process) as taken back, then ends. */
export const forgeDropped = operator(async function forgeDropped() {
  process.send!([{ type: "result", id: 1, ok: false, dropped: true, error: null }]);
  await new Promise((r) => setTimeout(r, 50));
  return "ran";
});

export const chatty = operator(async function chatty(tag: string, ms = 0) {
  console.log("out " + tag + " 1");
  console.error("err " + tag);
  await new Promise((r) => setTimeout(r, ms));
  console.log("out " + tag + " 2");
  process.stdout.write("partial " + tag);
  return tag;
});

// Output that does not go through console or process.stdout: file descriptors and subprocesses.
export const bypass = operator(async function bypass(how: "none" | "fd" | "file" | "thread" | "subprocess" | "promisified", tag: string) {
  if (how === "file") writeFileSync(1, "file " + tag + "\\n");
  if (how === "thread") {
    // A worker thread has its own fs: what it writes to fd 1 cannot be watched call by call.
    const w = new Worker("require('node:fs').writeSync(1, 'thread " + tag + "\\\\n')", { eval: true });
    await new Promise((resolve, reject) => { w.on("exit", resolve); w.on("error", reject); });
  }
  if (how === "promisified") {
    // The watched functions keep their promisified forms: fs.write resolves to an object, exec to { stdout, stderr }.
    const written = await promisify(write)(1, "promised " + tag + "\\n");
    const ran = await promisify(exec)(JSON.stringify(process.execPath) + " -e \\"console.log(6 * 7)\\"");
    return [Object.keys(written).sort(), ran.stdout.trim()];
  }
  if (how === "fd") {
    writeSync(1, "fd1 " + tag + "\\n");
    writeSync(2, "fd2 " + tag + "\\n");
  }
  if (how === "subprocess") {
    const script = "console.log('child out " + tag + "'); console.error('child err " + tag + "')";
    execSync(JSON.stringify(process.execPath) + " -e " + JSON.stringify(script), { stdio: "inherit" });
    await new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ["-e", "console.log('spawned " + tag + "')"], { stdio: "inherit" });
      p.on("exit", resolve);
      p.on("error", reject);
    });
  }
  return tag;
});

// Output after the call returned: a timer, and an fs write that completes later (how async loggers flush).
// A negative delay prints nothing. With \`sleepMs\`, the call itself says so and takes that long.
export const late = operator(async function late(tag: string, ms: number, sleepMs = 0) {
  if (ms >= 0) setTimeout(() => {
    console.log("late " + tag);
    write(2, "late fd " + tag + "\\n", () => {});
  }, ms);
  if (sleepMs > 0) {
    console.log("sleeping " + tag);
    await new Promise((r) => setTimeout(r, sleepMs));
  }
  return tag;
});

// A logger made on first use: its pump, and so every write it makes later, runs in the context of
// the call that made it.
const lazyQueue: string[] = [];
let lazyPump: ReturnType<typeof setInterval> | undefined;
export const lazyLog = operator(async function lazyLog(tag: string) {
  lazyQueue.push("logged " + tag);
  lazyPump ??= setInterval(() => {
    for (const line of lazyQueue.splice(0)) console.log(line);
  }, 5);
  await new Promise((r) => setTimeout(r, 60));
  return tag;
});

class ValidationError extends Error { override name = "ValidationError"; }
export const check = operator(function check(x: number) {
  if (x < 0) throw new ValidationError("x must be >= 0, got " + x);
  if (x === 0) throw new TypeError("zero");
  return process.pid;
});

export const exit3 = operator(function exit3(code = 3) {
  console.error("about to exit");
  process.exit(code);
});
export const spin = operator(function spin() { console.log("spinning"); while (true) {} });
/** Starts a long subprocess (output not inherited, not waited for), says its pid, then spins. */
export const spawnThenSpin = operator(function spawnThenSpin() {
  const sub = spawn("sleep", ["300"], { stdio: "ignore" });
  console.log(\`subprocess \${sub.pid}\`);
  while (true) {}
});
/** Starts a long subprocess in a session of its own (detached: setsid, so outside this process's group), says its pid, then spins. */
export const spawnDetachedThenSpin = operator(function spawnDetachedThenSpin() {
  const sub = spawn("sleep", ["300"], { stdio: "ignore", detached: true });
  sub.unref();
  console.log(\`subprocess \${sub.pid}\`);
  while (true) {}
});
export const sleep = operator(async function sleep(ms: number) {
  console.log("sleeping");
  await new Promise((r) => setTimeout(r, ms));
  return "slept";
});
export const timerThrow = operator(async function timerThrow() {
  setTimeout(() => { throw new RangeError("from a timer"); }, 1);
  await new Promise((r) => setTimeout(r, 200));
  return "unreachable";
});

export class Doubler extends Operator {
  constructor(private k = 2) { super(); }
  forward(x: number) { return x * this.k; }
}
export class MyOperator extends Operator {
  a: number; b: Doubler;
  constructor(a: number, b: number) { super(); this.a = a; this.b = new Doubler(b); }
  async forward(x: number): Promise<number> {
    let y = this.a + x;
    y = (await this.b(y)) + x;
    return y;
  }
}

const inits: Record<string, number> = {};
const order: string[] = [];
export class InitChild extends Operator {
  remoteInit() { inits.child = (inits.child ?? 0) + 1; order.push("child"); }
  forward() { return 0; }
}
export class InitCounter extends Operator {
  child = new InitChild();
  async remoteInit() { inits.root = (inits.root ?? 0) + 1; order.push("root"); }
  async forward() { await this.child(); return { ...inits, order, pid: process.pid }; }
}
`;
