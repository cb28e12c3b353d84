import { readFileSync } from "node:fs";

/** How Node loads the `.js` (and TypeScript) files a package.json governs, by its `"type"`; throws when it is not JSON. */
export function packageTypeAt(packageJson: string): "module" | "commonjs" {
  return (JSON.parse(readFileSync(packageJson, "utf8")) as { type?: unknown } | null)?.type === "module" ? "module" : "commonjs";
}
