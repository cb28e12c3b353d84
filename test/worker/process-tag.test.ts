// The tag that finds a user process's descendants after they left its process group.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processAlive as alive } from "../../src/lib/process-alive.ts";
import { spawnRuntime } from "../../src/worker/spawn-runtime.ts";
import { carriesTag, fileCarriesTag, killTagged, newProcessTag, parseStartTime, PROCESS_TAG_ENV, startTime, TagMatcher, taggedPids } from "../../src/worker/process-tag.ts";

/** Gone, or a zombie: an orphan lingers as one until its new parent reaps it. */
const dead = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return ["Z", "X"].includes(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return true;
  }
};

const env = (...entries: string[]) => Buffer.from(entries.map((e) => `${e}\0`).join(""));

/** Feeds `bytes` to a matcher in pieces of `size` bytes. */
const inChunks = (bytes: Buffer, tag: string, size: number) => {
  const m = new TagMatcher(tag);
  for (let at = 0; at < bytes.length; at += size) if (m.push(bytes.subarray(at, at + size))) return true;
  return false;
};

/** A stat line as the kernel writes it; `start` is field 22. */
const stat = (pid: number, comm: string, start: number) => `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${start} 1000 100 18446744073709551615\n`;

describe("process tag", () => {
  it("matches the whole entry only, first or later in the environment", () => {
    assert.equal(carriesTag(env(`${PROCESS_TAG_ENV}=abc`, "PATH=/bin"), "abc"), true);
    assert.equal(carriesTag(env("PATH=/bin", `${PROCESS_TAG_ENV}=abc`), "abc"), true);
    assert.equal(carriesTag(env("PATH=/bin", `${PROCESS_TAG_ENV}=abcd`), "abc"), false, "a longer tag is another tag");
    assert.equal(carriesTag(env(`X_${PROCESS_TAG_ENV}=abc`), "abc"), false, "another name ending the same");
    assert.equal(carriesTag(env(`OTHER=${PROCESS_TAG_ENV}=abc`), "abc"), false, "the entry inside another's value");
    assert.equal(carriesTag(Buffer.alloc(0), "abc"), false, "a zombie's empty environment");
  });

  it("matches the same way fed in chunks, the entry across any boundary", () => {
    const cases: Array<[Buffer, boolean]> = [
      [env(`${PROCESS_TAG_ENV}=abc`, "PATH=/bin"), true],
      [env("PATH=/bin", `${PROCESS_TAG_ENV}=abc`, "HOME=/h"), true],
      [env("A=1", `${PROCESS_TAG_ENV}=abc`), true],
      [env("PATH=/bin", `${PROCESS_TAG_ENV}=abcd`), false],
      [env(`X_${PROCESS_TAG_ENV}=abc`), false],
      [env(`OTHER=${PROCESS_TAG_ENV}=abc`), false],
      [Buffer.from(`${PROCESS_TAG_ENV}=abc`), false], // no NUL closes it
    ];
    for (const [bytes, want] of cases) {
      for (let size = 1; size <= bytes.length + 1; size++) {
        assert.equal(inChunks(bytes, "abc", size), want, `${JSON.stringify(bytes.toString())} in chunks of ${size}`);
      }
    }
  });

  it("reads an environ file a chunk at a time, only until the entry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-tag-"));
    try {
      const file = join(dir, "environ");
      const tagged = env("A=1", `${PROCESS_TAG_ENV}=abc`, `B=${"x".repeat(100)}`);
      writeFileSync(file, tagged);
      for (let size = 1; size <= 40; size++) assert.equal(await fileCarriesTag(file, "abc", Buffer.alloc(size)), true, `chunks of ${size}`);
      writeFileSync(file, env("A=1", `B=${"x".repeat(100)}`, `${PROCESS_TAG_ENV}=abd`));
      for (let size = 1; size <= 40; size++) assert.equal(await fileCarriesTag(file, "abc", Buffer.alloc(size)), false, `chunks of ${size}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads the start time after the last parenthesis of comm", () => {
    assert.equal(parseStartTime(stat(42, "sleep", 12345)), 12345);
    assert.equal(parseStartTime(stat(42, "a) (b c) 9 9", 777)), 777, "comm with spaces and parentheses");
    assert.equal(parseStartTime("42 (trunc"), undefined);
    assert.equal(parseStartTime(""), undefined);
  });

  it("never reads the environment of a process older than the tag, nor its own", async () => {
    const proc = mkdtempSync(join(tmpdir(), "nbox-proc-"));
    const tag = newProcessTag();
    const fake = (pid: number, comm: string, start: number, tagged: boolean) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), "stat"), stat(pid, comm, start));
      writeFileSync(join(proc, String(pid), "environ"), tagged ? env("A=1", `${PROCESS_TAG_ENV}=${tag}`) : env("A=1"));
    };
    try {
      fake(10, "older) 9999 (x", 999, true); // started before the tag: cannot carry it, whatever it reads
      fake(11, "self", 1500, true);
      fake(12, "young", 1000, true); // the same tick counts
      fake(13, "young) (x y", 2000, true);
      fake(14, "other", 2000, false);
      mkdirSync(join(proc, "self"));
      const read: string[] = [];
      const spy = (file: string, t: string, chunk: Buffer) => {
        read.push(file.slice(proc.length + 1));
        return fileCarriesTag(file, t, chunk);
      };
      const checked = new Map<number, number>();
      const found = await taggedPids(tag, { proc, since: 1000, self: 11, carries: spy }, checked);
      assert.deepEqual(found.sort(), [12, 13]);
      assert.deepEqual(read.sort(), ["12/environ", "13/environ", "14/environ"]);
      read.length = 0;
      assert.deepEqual(await taggedPids(tag, { proc, since: 1000, self: 11, carries: spy }, checked), [], "a later pass reads none again");
      assert.deepEqual(read, []);
      // A pid used again by a process started later is read again.
      writeFileSync(join(proc, "14", "stat"), stat(14, "other", 3000));
      assert.deepEqual(await taggedPids(tag, { proc, since: 1000, self: 11, carries: spy }, checked), []);
      assert.deepEqual(read, ["14/environ"]);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it("kills the processes that carry the tag, in sessions of their own, and only those", async () => {
    const tag = newProcessTag();
    const start = (env: NodeJS.ProcessEnv) => {
      const p = spawn("sleep", ["300"], { env, detached: true, stdio: "ignore" });
      p.unref();
      return p.pid!;
    };
    const tagged = [start({ ...process.env, [PROCESS_TAG_ENV]: tag }), start({ ...process.env, [PROCESS_TAG_ENV]: tag })];
    const other = start({ ...process.env, [PROCESS_TAG_ENV]: newProcessTag() });
    try {
      assert.equal(await killTagged(tag), 2);
      for (let i = 0; i < 200 && tagged.some(alive); i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(tagged.map(alive), [false, false]);
      assert.equal(alive(other), true, "a process with another tag is left alone");
    } finally {
      for (const pid of [...tagged, other]) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  it("a sweep still running when the process exits is finished on the way out", async () => {
    // The sweep runs beside a user process's exit, not in its path: a worker that exits right
    // after (a stop) must not leave the tagged processes running.
    const tag = newProcessTag();
    const module = fileURLToPath(new URL("../../src/worker/process-tag.ts", import.meta.url));
    const code = `
      import { spawn } from "node:child_process";
      import { killTagged, PROCESS_TAG_ENV } from ${JSON.stringify(module)};
      const p = spawn("sleep", ["300"], { env: { ...process.env, [PROCESS_TAG_ENV]: ${JSON.stringify(tag)} }, detached: true, stdio: "ignore" });
      p.unref();
      console.log(p.pid);
      void killTagged(${JSON.stringify(tag)});
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8" });
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0, r.stderr);
    try {
      // Bounded wait for the kill to land (a hang guard, not a timing assertion).
      for (let i = 0; i < 200 && !dead(pid); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(dead(pid), true, `the tagged process ${pid} outlived the exit`);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  it("leaves a process that started before the tagged one alone, even carrying the tag", async () => {
    const tag = newProcessTag();
    const start = () => {
      const p = spawn("sleep", ["300"], { env: { ...process.env, [PROCESS_TAG_ENV]: tag }, detached: true, stdio: "ignore" });
      p.unref();
      return p.pid!;
    };
    const older = start();
    const pids = [older];
    try {
      // The tagged process proper, started a clock tick later at least (ticks are 10 ms).
      let young = start();
      pids.push(young);
      for (let i = 0; i < 100 && startTime(young)! <= startTime(older)!; i++) {
        process.kill(young, "SIGKILL");
        await new Promise((r) => setTimeout(r, 5));
        young = start();
        pids.push(young);
      }
      const since = startTime(young)!;
      assert.ok(startTime(older)! < since);
      assert.equal(await killTagged(tag, { since }), 1);
      for (let i = 0; i < 200 && alive(young); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(alive(young), false);
      assert.equal(alive(older), true, "the older process was not even read");
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  it("a user process's exit does not wait for the sweep, which still ends what it left in a session of its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-tag-run-"));
    const script = join(dir, "main.mjs");
    writeFileSync(
      script,
      `import { spawn } from "node:child_process";
      const p = spawn(process.execPath, ["-e", "setTimeout(() => {}, 300000)"], { detached: true, stdio: "ignore" });
      p.unref();
      process.stdout.write(p.pid + "\\n", () => process.exit(0));`,
    );
    let daemon = 0;
    try {
      const run = spawnRuntime({ script, runtime: "job", bundleDir: dir, launch: { scratchRoot: join(dir, "scratch") } });
      let out = "";
      run.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      await run.reaped;
      daemon = Number(out.trim());
      assert.ok(daemon > 0, `the process said its subprocess: ${JSON.stringify(out)}`);
      // Settled before the sweep could read a single environment (the crash result and the slot wait on it).
      assert.equal(dead(daemon), false, "the sweep is not in the exit's path");
      assert.equal(existsSync(run.scratch.dir), true, "the scratch folder goes after the sweep");
      // Bounded wait for the sweep to land (a hang guard, not a timing assertion).
      for (let i = 0; i < 200 && (!dead(daemon) || existsSync(run.scratch.dir)); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(dead(daemon), true, "the sweep ended the detached subprocess");
      assert.equal(existsSync(run.scratch.dir), false);
    } finally {
      if (daemon > 0 && !dead(daemon)) process.kill(daemon, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
