// `npm run bench` runs every benchmark; `npm run bench -- <name>…` only those whose name (or one
// of whose rows) contains one of the arguments. Prints a table and writes bench/results.json (the shape is in harness.ts).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { CASES } from "./cases/index.ts";
import type { BenchResult } from "./harness.ts";

const RESULTS_FILE = fileURLToPath(new URL("./results.json", import.meta.url));

function table(rows: BenchResult[]): string {
  const head = ["name", "value", "unit", "baseline", "baselineValue", "ratio", "target", "meets"];
  const cells = rows.map((r) => [r.name, String(r.value), r.unit, r.baseline, String(r.baselineValue), String(r.ratio), `${r.better === "lower" ? "≤" : "≥"} ${r.target}`, r.meets ? "yes" : "NO"]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

const filters = process.argv.slice(2);
const selected = CASES.filter((c) => filters.length === 0 || filters.some((f) => [c.name, ...(c.rows ?? [])].some((n) => n.includes(f))));
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(" ")}; known: ${CASES.map((c) => c.name).join(", ")}`);
  process.exit(1);
}
if (process.env.NBOX_TRACE === "0") console.warn("warning: NBOX_TRACE=0, operator calls are not traced in this run");

const results: BenchResult[] = [];
const started = Date.now();
for (const c of selected) {
  console.error(`running ${c.name}: ${c.description}`);
  const t0 = Date.now();
  results.push(...(await c.run()));
  console.error(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// A partial run (`npm run bench -- x`) replaces only its own entries in results.json.
const previous: BenchResult[] = filters.length && existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, "utf8")).results ?? [] : [];
const fresh = new Set(results.map((r) => r.name));
const merged = [...previous.filter((r) => !fresh.has(r.name)), ...results];
const report = { date: new Date().toISOString(), node: process.version, cores: availableParallelism(), results: merged };
writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
console.log(table(results));
writeFileSync(fileURLToPath(new URL("./results.md", import.meta.url)), `Measured ${report.date.slice(0, 10)} · node ${report.node} · ${report.cores} cores\n\n${table(merged)}\n`);
console.log(`\n${results.filter((r) => r.meets).length}/${results.length} meet their target · node ${report.node} · ${report.cores} cores · load ${loadavg()[0]!.toFixed(1)} · ${((Date.now() - started) / 1000).toFixed(1)} s · wrote bench/results.json`);
