// Postgres cannot keep every JavaScript string: text and jsonb refuse U+0000, and jsonb refuses a
// lone UTF-16 surrogate (half of a pair: user code makes one by slicing a string). What the store
// keeps often comes from user code (arguments, results, error messages, log lines, span names and
// attributes, a derived schema's literals), and a statement holding one such string fails as a
// whole. So writers check the JSON text of their parameter (one scan over text they build anyway) and
// only then look closer: arguments are refused, results fail their run, diagnostics lose the
// character (U+FFFD in its place).

/** What the store cannot keep, for messages. */
export const UNSTORABLE_TEXT = "a NUL character (U+0000) or a lone UTF-16 surrogate (half of a pair)";

/**
 * The JSON text of a statement's parameter may hold what the store cannot keep. JSON.stringify
 * writes a NUL as `\u0000` and a lone surrogate as `\ud8xx`..`\udfxx` (a valid pair stays as it is);
 * a literal backslash followed by such text also matches, which only costs a closer look.
 */
export const mayBeUnstorable = (json: string): boolean => json.includes("\\u") && UNSTORABLE_ESCAPE.test(json);
const UNSTORABLE_ESCAPE = /\\u(?:0000|d[89a-f])/i;

/** String methods of ES2024 (Node 20 has them; the project's lib is ES2023). */
type WellFormedString = { isWellFormed(): boolean; toWellFormed(): string };

const unstorableString = (s: string): boolean => s.includes("\u0000") || !(s as unknown as WellFormedString).isWellFormed();

/** Some string (or key) in `value` holds what the store cannot keep. */
export function holdsUnstorable(value: unknown): boolean {
  if (typeof value === "string") return unstorableString(value);
  if (Array.isArray(value)) return value.some(holdsUnstorable);
  if (value !== null && typeof value === "object") return Object.entries(value).some(([k, v]) => unstorableString(k) || holdsUnstorable(v));
  return false;
}

/** `s` with every NUL and lone surrogate replaced by U+FFFD. */
export function storableString(s: string): string {
  if (!unstorableString(s)) return s;
  return (s.replaceAll("\u0000", "\uFFFD") as unknown as WellFormedString).toWellFormed();
}

/** `value` with every string and key made storable (for diagnostics: errors, log lines, spans, events). */
export function storable<T>(value: T): T {
  if (typeof value === "string") return storableString(value) as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableString(k), storable(v)])) as T;
  return value;
}
