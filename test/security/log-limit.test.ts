// A run that prints without end must not fill the platform's store: each run keeps at most
// `--max-run-log` bytes of log lines, says once that it stopped keeping them, and still finishes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { LOG_LINE_OVERHEAD_BYTES } from "../../src/platform/store/logs-repo.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";

const LIMIT = 5_000;

describe("security: a run's log has a limit", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform({ maxRunLogBytes: LIMIT });
  });
  after(async () => {
    await tp?.close();
  });

  it("a run printing far past the limit keeps the lines that fit, one note, and its result", async () => {
    const { mod } = await importProject("basic");
    const remote = await mod.flood.deploy(wsName("flood"), { client: tp.client });
    const run = await remote.trigger(2_000); // 200 kB of output against a 5 kB limit
    assert.equal(await run.result(), 2_000);
    const logs = (await run.logs()) as Array<{ stream: string; line: string }>;
    const out = logs.filter((l) => l.stream === "stdout");
    const notes = logs.filter((l) => l.line.includes("reached its limit"));
    // Every line counts, the platform's own too, with a fixed cost per line; the lines kept fill the
    // limit but for less than one more 100-byte line, and every one is whole and in order.
    const line = (l: { line: string }) => Buffer.byteLength(l.line) + LOG_LINE_OVERHEAD_BYTES;
    const kept = logs.filter((l) => !notes.includes(l)).reduce((n, l) => n + line(l), 0);
    assert.ok(kept <= LIMIT && kept + 100 + LOG_LINE_OVERHEAD_BYTES > LIMIT, `${kept} bytes kept against a limit of ${LIMIT}`);
    assert.ok(out.length > 0 && out.length <= LIMIT / 100, `${out.length} lines of output kept`);
    assert.deepEqual(out.map((l) => l.line.slice(0, 11)), Array.from({ length: out.length }, (_, i) => `line ${String(i).padStart(6, "0")}`));
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.equal(notes[0]!.stream, "system");
    assert.match(notes[0]!.line, new RegExp(`limit of ${LIMIT} bytes`));
    // A second run of the same deployment has its own limit.
    const again = await remote.trigger(3);
    assert.equal(await again.result(), 3);
    assert.equal(((await again.logs()) as Array<{ stream: string }>).filter((l) => l.stream === "stdout").length, 3);
  });
});
