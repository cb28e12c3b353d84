// Temp user projects for executor tests: package.json, node_modules/nbox → this repo, ops.ts.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { OperatorKind, OperatorLocator } from "../../../src/operator/locate.ts";
import type { Span } from "../../../src/trace/span.ts";
import type { ExecuteCallOptions } from "../../../src/worker/jobs/index.ts";

const REPO = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));

export interface TempProject {
  dir: string;
  locator(exportName: string, kind?: OperatorKind, init?: unknown[]): OperatorLocator;
  cleanup(): Promise<void>;
}

export async function tempProject(ops: string): Promise<TempProject> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "nbox-exec-"));
  await writeFile(path.join(dir, "package.json"), JSON.stringify({ name: "exec-test", type: "module", private: true }));
  await mkdir(path.join(dir, "node_modules"));
  await symlink(REPO, path.join(dir, "node_modules", "nbox"), "dir");
  await writeFile(path.join(dir, "ops.ts"), ops);
  return {
    dir,
    locator: (exportName, kind = "fn", init = []) => ({ file: path.join(dir, "ops.ts"), exportName, kind, init }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Collects what executeCall reports for one call. */
export function recorder() {
  const logs: { stream: string; line: string }[] = [];
  const spans: Span[] = [];
  return {
    logs,
    spans,
    onLog: (stream: string, line: string) => void logs.push({ stream, line }),
    onSpan: (span: Span) => void spans.push(span),
    lines: (stream: string) => logs.filter((l) => l.stream === stream).map((l) => l.line),
  } satisfies Partial<ExecuteCallOptions> & Record<string, unknown>;
}

export const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
export const PARENT_SPAN = "00f067aa0ba902b7";
export const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

let seq = 0;
export const runId = (): string => `run-${process.pid}-${++seq}`;
