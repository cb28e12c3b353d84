import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatTraceParent, parseTraceParent } from "../../src/trace/index.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("traceparent", () => {
  it("formats the W3C header", () => {
    assert.equal(formatTraceParent({ traceId: TRACE, spanId: SPAN, sampled: true }), `00-${TRACE}-${SPAN}-01`);
    assert.equal(formatTraceParent({ traceId: TRACE, spanId: SPAN, sampled: false }), `00-${TRACE}-${SPAN}-00`);
  });

  it("parses a valid header (and round-trips)", () => {
    assert.deepEqual(parseTraceParent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
    assert.deepEqual(parseTraceParent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
    // Only bit 0 of the flags means sampled.
    assert.equal(parseTraceParent(`00-${TRACE}-${SPAN}-03`)?.sampled, true);
    assert.equal(parseTraceParent(`00-${TRACE}-${SPAN}-02`)?.sampled, false);
    const p = { traceId: TRACE, spanId: SPAN, sampled: true };
    assert.deepEqual(parseTraceParent(formatTraceParent(p)), p);
  });

  it("tolerates surrounding whitespace and upper case hex", () => {
    assert.equal(parseTraceParent(`  00-${TRACE}-${SPAN}-01 `)?.traceId, TRACE);
    assert.equal(parseTraceParent(`00-${TRACE.toUpperCase()}-${SPAN}-01`)?.traceId, TRACE);
  });

  it("returns null for missing or malformed headers", () => {
    const bad = [
      undefined,
      null,
      "",
      "garbage",
      `00-${TRACE}-${SPAN}`, // no flags
      `00-${TRACE.slice(1)}-${SPAN}-01`, // short trace id
      `00-${TRACE}-${SPAN}0-01`, // long span id
      `00-${TRACE}-${SPAN}-1`, // short flags
      `00-${TRACE.replace("4", "g")}-${SPAN}-01`, // non-hex
      `00_${TRACE}_${SPAN}_01`, // wrong separator
      `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
      `ff-${TRACE}-${SPAN}-01`, // version ff is invalid
      `0-${TRACE}-${SPAN}-01`,
    ];
    for (const h of bad) assert.equal(parseTraceParent(h), null, `header ${JSON.stringify(h)}`);
  });

  it("rejects all-zero trace and span ids", () => {
    assert.equal(parseTraceParent(`00-${"0".repeat(32)}-${SPAN}-01`), null);
    assert.equal(parseTraceParent(`00-${TRACE}-${"0".repeat(16)}-01`), null);
  });

  it("parses a future version's known fields, ignoring what it appends", () => {
    assert.deepEqual(parseTraceParent(`01-${TRACE}-${SPAN}-01-what-ever`), { traceId: TRACE, spanId: SPAN, sampled: true });
    assert.equal(parseTraceParent(`01-${TRACE}-${SPAN}-01`)?.spanId, SPAN);
  });
});
