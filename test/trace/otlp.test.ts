// OTLP/HTTP export: a process with NBOX_OTLP_ENDPOINT sends its spans (nested, with status) to a collector.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { toOtlpSpan } from "../../src/trace/otlp.ts";

const OPS = fileURLToPath(new URL("../operator/fixtures/ops.ts", import.meta.url));

test("toOtlpSpan maps ids, nanosecond times, attributes and error status", () => {
  const s = toOtlpSpan({ traceId: "a".repeat(32), spanId: "b".repeat(16), parentSpanId: null, op: "b", name: "Doubler", start: 1000.5, end: 1002, status: "error", error: { name: "RangeError", message: "odd" }, attributes: { n: 3, ok: true, ratio: 0.5, what: "x" } });
  assert.equal(s.startTimeUnixNano, "1000500000");
  assert.equal(s.endTimeUnixNano, "1002000000");
  assert.equal("parentSpanId" in s, false);
  assert.deepEqual(s.status, { code: 2, message: "RangeError: odd" });
  const attrs = Object.fromEntries(s.attributes.map((a) => [a.key, a.value]));
  assert.deepEqual(attrs.n, { intValue: "3" });
  assert.deepEqual(attrs.ok, { boolValue: true });
  assert.deepEqual(attrs.ratio, { doubleValue: 0.5 });
  assert.deepEqual(attrs["nbox.name"], { stringValue: "Doubler" });
});

test("a process with NBOX_OTLP_ENDPOINT exports its operator spans before it exits", async () => {
  const bodies: any[] = [];
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      bodies.push({ url: req.url, body: JSON.parse(data) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const script = `const { MyOperator } = await import(${JSON.stringify(OPS)}); console.log(await new MyOperator(1, 3)(2));`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, NBOX_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "otlp-test" }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    const code = await new Promise((r) => child.on("exit", r));
    assert.equal(code, 0);
    assert.equal(out.trim(), "11");
    assert.ok(bodies.length >= 1, "the collector received a request");
    assert.equal(bodies[0].url, "/v1/traces");
    const rs = bodies[0].body.resourceSpans[0];
    assert.deepEqual(rs.resource.attributes[0], { key: "service.name", value: { stringValue: "otlp-test" } });
    const spans = bodies.flatMap((b) => b.body.resourceSpans[0].scopeSpans[0].spans);
    const root = spans.find((s: any) => s.name === "MyOperator");
    const child2 = spans.find((s: any) => s.name === "b");
    assert.ok(root && child2, `root and child spans: ${spans.map((s: any) => s.name)}`);
    assert.equal(child2.parentSpanId, root.spanId);
    assert.equal(child2.traceId, root.traceId);
  } finally {
    server.close();
  }
});
