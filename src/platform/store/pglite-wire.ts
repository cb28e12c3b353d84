// The messages between the control plane's thread and the embedded store's thread (see
// pglite-thread-client.ts). Values cross by structured clone; database errors cross as plain
// fields, because a clone keeps an Error's message and stack but drops `code` and the rest.

/** The code of the error every statement gets once the store's thread has stopped (closed or died). */
export const STORE_STOPPED = "NBOX_STORE_STOPPED";

export type StoreRequest =
  | { id: number; op: "query"; text: string; params: unknown[]; rowMode?: "array" | "object"; identity: number[]; tx?: number }
  | { id: number; op: "exec"; text: string }
  | { id: number; op: "begin" }
  | { id: number; op: "end"; tx: number; commit: boolean }
  | { id: number; op: "close" };

export type StoreReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireDbError };

export interface WireDbError {
  name: string;
  message: string;
  stack?: string;
  /** The error's own primitive fields (`code`, `detail`, `constraint`, `query`…). */
  fields: Record<string, string | number | boolean | null>;
}

export function errorToWire(err: unknown): WireDbError {
  if (!(err instanceof Error)) return { name: "Error", message: String(err), fields: {} };
  const fields: WireDbError["fields"] = {};
  for (const [k, v] of Object.entries(err)) {
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) fields[k] = v as string | number | boolean | null;
  }
  return { name: err.name, message: err.message, stack: err.stack, fields };
}

export function errorFromWire(w: WireDbError): Error {
  const err = Object.assign(new Error(w.message), w.fields);
  err.name = w.name;
  if (w.stack) err.stack = w.stack;
  return err;
}
