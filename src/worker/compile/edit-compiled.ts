// Rewriting a compiled module's import names after the compiler has mapped its text back to the
// source: each edit moves what follows it on its line, so the map's columns move along with it.
import { decode, encode } from "@jridgewell/sourcemap-codec";
import { lineOf, lineStarts } from "../../lib/line-starts.ts";

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** `code` with `edits` applied (they must not overlap), and its source map (JSON) adjusted to match. */
export function applyEdits(code: string, map: string, edits: readonly TextEdit[]): { code: string; map: string } {
  if (edits.length === 0) return { code, map };
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  const starts = lineStarts(code);
  const parsed = JSON.parse(map) as { mappings: string };
  const lines = decode(parsed.mappings);
  let out = "";
  let at = 0;
  // Per line, the edits on it: a segment's column (absolute once decoded) moves by every edit that starts before it.
  const byLine = new Map<number, Array<{ column: number; delta: number }>>();
  for (const e of sorted) {
    out += code.slice(at, e.start) + e.text;
    at = e.end;
    const line = lineOf(starts, e.start);
    const list = byLine.get(line) ?? [];
    list.push({ column: e.start - starts[line]!, delta: e.text.length - (e.end - e.start) });
    byLine.set(line, list);
  }
  out += code.slice(at);
  for (const [line, list] of byLine) {
    for (const seg of lines[line] ?? []) {
      const column = seg[0];
      for (const e of list) if (e.column < column) seg[0] += e.delta;
    }
  }
  parsed.mappings = encode(lines);
  return { code: out, map: JSON.stringify(parsed) };
}
