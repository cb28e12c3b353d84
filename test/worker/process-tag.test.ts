// The tag that finds a user process's descendants after they left its process group.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { processAlive as alive } from "../../src/lib/process-alive.ts";
import { carriesTag, killTagged, newProcessTag, PROCESS_TAG_ENV } from "../../src/worker/process-tag.ts";

describe("process tag", () => {
  it("matches the whole entry only, first or later in the environment", () => {
    const env = (...entries: string[]) => Buffer.from(entries.map((e) => `${e}\0`).join(""));
    assert.equal(carriesTag(env(`${PROCESS_TAG_ENV}=abc`, "PATH=/bin"), "abc"), true);
    assert.equal(carriesTag(env("PATH=/bin", `${PROCESS_TAG_ENV}=abc`), "abc"), true);
    assert.equal(carriesTag(env("PATH=/bin", `${PROCESS_TAG_ENV}=abcd`), "abc"), false, "a longer tag is another tag");
    assert.equal(carriesTag(env(`X_${PROCESS_TAG_ENV}=abc`), "abc"), false, "another name ending the same");
    assert.equal(carriesTag(env(`OTHER=${PROCESS_TAG_ENV}=abc`), "abc"), false, "the entry inside another's value");
    assert.equal(carriesTag(Buffer.alloc(0), "abc"), false, "a zombie's empty environment");
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
});
