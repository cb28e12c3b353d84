// A report the control plane refused as larger than its body limit (`--max-body`): dropped, it took
// every finish in it along (those runs lapsed back and ran again, or ended as crashed). Sent again
// instead as parts that fit, in the order the control plane applies a report; what cannot fit in any
// part is made to: a result too large fails its run with ResultTooLargeError, an error's text is cut,
// a span that large is dropped (spans are diagnostics).
import type { z } from "@hono/zod-openapi";
import type { WorkerReport } from "../contract/routes-worker.ts";

type Report = z.input<typeof WorkerReport>;
type Section = "started" | "logs" | "spans" | "finished" | "requeued" | "servings" | "claim";
/** Sections in the order the control plane applies them (a run's logs before its finish). */
const SECTIONS: readonly Section[] = ["started", "logs", "spans", "finished", "requeued", "servings", "claim"];
/** Room left in a part for the JSON around its items and the request's own framing. */
const HEADROOM = 0.8;
/** An error's message or stack is cut to this many characters when it alone does not fit. */
const ERROR_TEXT_CHARS = 16 * 1024;

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? "");

/** Whether `err` is the control plane refusing a request as larger than its body limit. */
export function isTooLarge(err: unknown): boolean {
  return (err as { status?: unknown }).status === 413 || (err as { code?: unknown }).code === "PAYLOAD_TOO_LARGE";
}

/** `report` as parts of at most `limit` bytes each (as far as each item can be made to fit), in apply order. */
export function splitReport(report: Report, limit: number): Report[] {
  const room = Math.floor(limit * HEADROOM);
  const fitted: { [S in Section]?: unknown[] } = {
    ...Object.fromEntries(SECTIONS.map((s) => [s, [...((report[s] as unknown[] | undefined) ?? [])]])),
    logs: (report.logs ?? []).flatMap((l) => chunkLines(l, room)),
    // An item that fits in a part alone is kept as it is (it may get a part of its own).
    spans: (report.spans ?? []).filter((s) => bytes(s) <= room),
    finished: (report.finished ?? []).map((f) => (bytes(f) <= room ? f : fitFinish(f, limit))),
    requeued: (report.requeued ?? []).map((q) => (bytes(q) <= room ? q : { ...q, error: q.error && cutError(q.error) })),
  };
  const parts: Report[] = [];
  const empty = bytes(emptyPart(report.workerId));
  let part = emptyPart(report.workerId);
  let used = empty;
  for (const section of SECTIONS) {
    for (const item of fitted[section] ?? []) {
      const size = bytes(item) + 1;
      if (used + size > room && used > empty) {
        parts.push(part);
        part = emptyPart(report.workerId);
        used = empty;
      }
      (part[section] as unknown[]).push(item);
      used += size;
    }
  }
  parts.push(part);
  return parts;
}

type Logs = NonNullable<Report["logs"]>[number];

/**
 * One run's log lines as entries of at most `max` bytes each (lines are short: the child cuts them),
 * each with the number of its own first line.
 */
function chunkLines(l: Logs, max: number): Logs[] {
  if (bytes(l) <= max) return [l];
  const out: Logs[] = [];
  let lines: Logs["lines"] = [];
  let used = 0;
  let done = 0;
  const entry = (): Logs => {
    const e: Logs = l.first === undefined ? { runId: l.runId, lines } : { runId: l.runId, first: l.first + done, lines };
    done += lines.length;
    return e;
  };
  for (const line of l.lines) {
    const size = bytes(line) + 1;
    if (used + size > max && lines.length > 0) {
      out.push(entry());
      lines = [];
      used = 0;
    }
    lines.push(line);
    used += size;
  }
  if (lines.length > 0) out.push(entry());
  return out;
}

function emptyPart(workerId: string): Report {
  return { workerId, started: [], logs: [], spans: [], finished: [], requeued: [], servings: [], claim: [] };
}

type Finished = NonNullable<Report["finished"]>[number];

function fitFinish(f: Finished, limit: number): Finished {
  const error = f.error ? cutError(f.error) : f.error;
  if (f.result === undefined) return { ...f, error };
  return {
    ...f,
    status: "failed",
    result: undefined,
    error: {
      name: "ResultTooLargeError",
      message: `the run's result is ${bytes(f.result)} bytes as sent, more than the control plane takes in one request (${limit} bytes, its --max-body); return large values by reference (a file or a store of yours), or start the platform with a larger --max-body`,
    },
  };
}

function cutError<E extends { message: unknown; stack?: unknown }>(e: E): E {
  const cut = (v: unknown) => (typeof v === "string" && v.length > ERROR_TEXT_CHARS ? `${v.slice(0, ERROR_TEXT_CHARS)}… (cut: too large to report)` : v);
  return { ...e, message: cut(e.message), ...(e.stack === undefined ? {} : { stack: cut(e.stack) }) };
}
