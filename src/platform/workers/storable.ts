// What a worker reports comes from user code, and the store's JSON refuses a lone UTF-16 surrogate
// (half of a pair: user code makes one by slicing a string). A part of a report refused every time
// was skipped every time; these give it a form the store can keep, as the store does with a NUL.
import type { FinishRunInput } from "../store/runs-repo.ts";

export type FinishInput = FinishRunInput & { id: string };

/** What a run whose result the store cannot keep fails with. */
const RESULT_NOT_STORABLE = {
  name: "ResultNotStorableError",
  message: "the run's result contains a lone UTF-16 surrogate (half of a pair), which the store cannot keep; return such data encoded (base64, or a Buffer/Uint8Array)",
};

/**
 * A finish as the store can keep it. JSON text carries a lone UTF-16 surrogate (user code makes one
 * by slicing a string), the store's JSON refuses it, and a finish refused every time was skipped every
 * time: its run lapsed back into the queue and ran again, forever when it had no started mark. As
 * with a NUL: a result holding one fails its run; errors and spans lose it.
 */
export function storableFinish(f: FinishInput): FinishInput {
  const spans = f.spans && wellFormed(f.spans);
  if (holdsLoneSurrogate(f.result)) return { ...f, status: "failed", result: undefined, error: RESULT_NOT_STORABLE, spans };
  return { ...f, error: wellFormed(f.error), spans };
}

/** String methods of ES2024 (Node 20 has them; the project's lib is ES2023). */
type WellFormedString = { isWellFormed(): boolean; toWellFormed(): string };

export function holdsLoneSurrogate(value: unknown): boolean {
  if (typeof value === "string") return !(value as unknown as WellFormedString).isWellFormed();
  if (Array.isArray(value)) return value.some(holdsLoneSurrogate);
  if (value !== null && typeof value === "object") return Object.entries(value).some(([k, v]) => holdsLoneSurrogate(k) || holdsLoneSurrogate(v));
  return false;
}

/** `value` with every lone surrogate in its strings and keys replaced by U+FFFD (for diagnostics). */
export function wellFormed<T>(value: T): T {
  if (typeof value === "string") return (value as unknown as WellFormedString).toWellFormed() as T;
  if (Array.isArray(value)) return value.map(wellFormed) as T;
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormed(v)])) as T;
  return value;
}
