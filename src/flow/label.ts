// Labels are for humans scanning a tree: one line, bounded length.
export const MAX_LABEL = 80;

export function shortLabel(text: string): string {
  const one = text.replace(/\s+/g, " ").trim().replace(/;$/, "");
  return one.length <= MAX_LABEL ? one : one.slice(0, MAX_LABEL - 1) + "…";
}
