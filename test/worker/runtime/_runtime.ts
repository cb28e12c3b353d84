// Child runtimes over a temp project, for the runtime's own tests and the serving app's.
import { toWire } from "../../../src/codec/index.ts";
import type { OperatorKind } from "../../../src/operator/locate.ts";
import { RuntimeProcess, type CallResult } from "../../../src/worker/runtime/runtime-process.ts";
import type { SurfaceInfo } from "../../../src/worker/runtime/surface.ts";
import { createServingApp, type ServingAppOptions } from "../../../src/worker/serving/app.ts";
import type { TempProject } from "../../platform/executor/_project.ts";

/** A serving-mode runtime for `exportName`, loaded and ready, with the surface it reported. */
export async function servingRuntime(
  project: TempProject,
  exportName: string,
  o: { kind?: OperatorKind; signature?: Record<string, unknown>; init?: unknown[]; concurrency?: number; timeoutMs?: number } = {},
) {
  const { kind = "class", init = [], concurrency = 1, timeoutMs = 1000 } = o;
  const locator = project.locator(exportName, kind, init.map((a) => toWire(a)));
  const rt = new RuntimeProcess({ mode: "serving", bundleDir: project.dir, locator, name: exportName, signature: o.signature, concurrency, timeoutMs });
  const loaded = await rt.loaded;
  if (!loaded.ok) throw new Error(`${exportName} did not load: ${JSON.stringify(loaded.error)}`);
  return { rt, surface: loaded.surface! };
}

/** The serving app in this process over a ready runtime (no socket, no platform): `app.request()`. */
export function appOver(rt: RuntimeProcess, surface: SurfaceInfo, name: string, o: Partial<ServingAppOptions> = {}) {
  return createServingApp({ runtime: rt, surface, meta: { name, kind: "class", version: "v1" }, maxBodyBytes: 1024, ...o });
}

export const post = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
export const get = { headers: {} };

/** The value of a successful call, or a failure naming what went wrong. */
export function ok(r: CallResult): unknown {
  if (!r.ok) throw new Error(`call failed (${r.reason}${r.refused ? `, refused ${r.refused}` : ""}): ${JSON.stringify(r.error)}`);
  return r.value;
}
