// Postgres text and jsonb cannot hold U+0000, and what the store keeps often comes from user code
// (arguments, results, error messages, span names and attributes). A statement with one NUL fails as
// a whole, so writers check their JSON parameter (one `includes` over text they build anyway) and only
// then look closer: arguments are refused, results fail their run, diagnostics lose the NUL.

/** The JSON text of a statement's parameter may hold a NUL (also true for a literal backslash + "u0000"). */
export const mayHoldNul = (json: string): boolean => json.includes("\\u0000");

/** Some string (or key) in `value` holds a NUL. */
export function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(holdsNul);
  if (value !== null && typeof value === "object") return Object.entries(value).some(([k, v]) => k.includes("\u0000") || holdsNul(v));
  return false;
}

/** `value` with every NUL in its strings and keys replaced by U+FFFD (for diagnostics: errors, spans). */
export function withoutNul<T>(value: T): T {
  if (typeof value === "string") return (value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value) as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)])) as T;
  return value;
}
