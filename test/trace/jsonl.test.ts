import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Span } from "../../src/index.ts";
import { JsonlSink } from "../../src/trace/index.ts";

const run = promisify(execFile);
const FIXTURES = fileURLToPath(new URL("../operator/fixtures/ops.ts", import.meta.url));

/** Run a module snippet in a fresh node (with tsx) and the given env. */
function runChild(code: string, env: Record<string, string>) {
  return run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    env: { ...process.env, ...env },
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
  });
}

describe("tracing: JSONL sink (NBOX_TRACE_FILE)", () => {
  it("a process with NBOX_TRACE_FILE appends one JSON span per line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-trace-"));
    try {
      const file = join(dir, "spans.jsonl");
      const { stdout } = await runChild(
        `const { MyOperator } = await import(${JSON.stringify(FIXTURES)});
         const job = new MyOperator(1, 3);
         console.log(await job(2));
         console.log(await job(3));`,
        { NBOX_TRACE_FILE: file },
      );
      assert.deepEqual(stdout.trim().split("\n"), ["11", "15"]);
      const text = readFileSync(file, "utf8");
      assert.ok(text.endsWith("\n"));
      const spans = text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Span);
      assert.deepEqual(
        spans.map((s) => s.op),
        ["b", "MyOperator", "b", "MyOperator"],
      );
      for (const s of spans) {
        assert.equal(s.status, "ok");
        assert.match(s.traceId, /^[0-9a-f]{32}$/);
        assert.match(s.spanId, /^[0-9a-f]{16}$/);
        assert.equal(typeof s.start, "number");
        assert.ok(s.end >= s.start);
        assert.deepEqual(s.attributes, {});
      }
      assert.equal(spans[0]!.parentSpanId, spans[1]!.spanId);
      assert.equal(spans[1]!.parentSpanId, null);
      assert.notEqual(spans[1]!.traceId, spans[3]!.traceId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("errors are written with name and message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-trace-"));
    try {
      const file = join(dir, "spans.jsonl");
      await runChild(
        `const { failsOnOdd } = await import(${JSON.stringify(FIXTURES)});
         await failsOnOdd(1).catch(() => {});`,
        { NBOX_TRACE_FILE: file },
      );
      const [span] = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Span);
      assert.equal(span!.status, "error");
      assert.equal(span!.error!.name, "RangeError");
      assert.equal(span!.error!.message, "odd 1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an unwritable NBOX_TRACE_FILE does not break operator calls", async () => {
    const { stdout } = await runChild(
      `const { foo } = await import(${JSON.stringify(FIXTURES)});
       console.log(await foo());`,
      { NBOX_TRACE_FILE: join(tmpdir(), "nbox-no-such-dir", "x", "spans.jsonl") },
    );
    assert.equal(stdout.trim(), "16");
  });

  it("NBOX_TRACE=0 turns tracing off: calls work and no span is written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-trace-"));
    try {
      const file = join(dir, "spans.jsonl");
      const { stdout } = await runChild(
        `const { MyOperator, failsOnOdd } = await import(${JSON.stringify(FIXTURES)});
         const { getTracer } = await import(${JSON.stringify(fileURLToPath(new URL("../../src/index.ts", import.meta.url)))});
         console.log(await new MyOperator(1, 3)(2));
         console.log(await failsOnOdd(3).catch((e) => e.constructor.name + ":" + e.message));
         console.log(getTracer().memory.spans().length);`,
        { NBOX_TRACE_FILE: file, NBOX_TRACE: "0" },
      );
      assert.deepEqual(stdout.trim().split("\n"), ["11", "RangeError:odd 3", "0"]);
      assert.equal(existsSync(file), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("JsonlSink appends to the file in order", () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-trace-"));
    try {
      const sink = new JsonlSink(join(dir, "s.jsonl"));
      for (let i = 0; i < 3; i++) {
        sink.push({ traceId: "t", spanId: String(i), parentSpanId: null, op: "o", name: "n", start: i, end: i, status: "ok", attributes: { i } });
      }
      const lines = readFileSync(join(dir, "s.jsonl"), "utf8").trim().split("\n");
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).attributes.i),
        [0, 1, 2],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
