import { NboxError } from "../errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration such as "90s", "30m", "12h", "7d" or "1500ms"; `what` names it in the error. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!m) throw new NboxError("BAD_REQUEST", `${what} must be a duration, got ${JSON.stringify(text)}`, 'Use a number with a unit: ms, s, m, h or d (e.g. "12h", "7d")');
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}
