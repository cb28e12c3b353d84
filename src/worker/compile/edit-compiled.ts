// Rewriting a compiled module's import names after the compiler has mapped its text back to the
// source: each edit moves what follows it on its line, so the map's columns move along with it.
import { decode, encode } from "@jridgewell/sourcemap-codec";
import { lineOf, lineStarts } from "../../lib/line-starts.ts";

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/**
 * `code` with `edits` applied (they must not overlap; one with `start === end` inserts), and its
 * source map (JSON), if it has one, adjusted to match.
 */
export function applyEdits<M extends string | undefined>(code: string, map: M, edits: readonly TextEdit[]): { code: string; map: M } {
  if (edits.length === 0 || map === undefined) return { code: spliced(code, edits), map };
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  const starts = lineStarts(code);
  const parsed = JSON.parse(map) as { mappings: string };
  const lines = decode(parsed.mappings);
  // Per line, the edits on it: a segment's column (absolute once decoded) moves by every edit that starts before it.
  const byLine = new Map<number, Array<{ column: number; delta: number; insert: boolean }>>();
  for (const e of sorted) {
    const line = lineOf(starts, e.start);
    const list = byLine.get(line) ?? [];
    list.push({ column: e.start - starts[line]!, delta: e.text.length - (e.end - e.start), insert: e.start === e.end });
    byLine.set(line, list);
  }
  for (const [line, list] of byLine) {
    for (const seg of lines[line] ?? []) {
      const column = seg[0];
      // What starts where text is inserted moves with it; a replaced text's own start stays.
      for (const e of list) if (e.column < column || (e.insert && e.column === column)) seg[0] += e.delta;
    }
  }
  parsed.mappings = encode(lines);
  return { code: spliced(code, sorted), map: JSON.stringify(parsed) as M };
}

function spliced(code: string, edits: readonly TextEdit[]): string {
  let out = "";
  let at = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + code.slice(at);
}
