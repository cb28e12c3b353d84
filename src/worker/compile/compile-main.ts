// The process a version's compile runs in (started by compile-version.ts): the compiler works on
// text the user wrote, so whatever it does (crashes, runs out of stack or memory, never ends) ends
// this process, never the worker. Prints the outcome as one JSON line.
import { compileGraph } from "./compile-graph.ts";
import { KeepLoader } from "./keep-loader.ts";

const [dir, entry] = process.argv.slice(2);
let outcome: { compiled: string } | { why: string };
try {
  outcome = { compiled: await compileGraph(dir!, entry!, `node${process.versions.node}`) };
} catch (err) {
  const message = err instanceof KeepLoader ? err.message : `the compiler failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`;
  // Relative to the version: where the worker keeps its cache is not the bundle's business.
  outcome = { why: message.split(dir!).join(".") };
}
process.stdout.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
