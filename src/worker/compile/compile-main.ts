// The process a version's compile runs in (started by compile-version.ts): the compiler works on
// text the user wrote, so whatever it does (crashes, runs out of stack or memory, never ends) ends
// this process, never the worker. Prints the outcome as one JSON line.
import { watchParent } from "../runtime/parent-watch.ts";
import { parentToWatch } from "../runtime/protocol.ts";
import { compileGraph } from "./compile-graph.ts";
import { KeepLoader } from "./keep-loader.ts";

// Unsandboxed, nothing ends this process with a worker that was killed: it watches for that itself
// (from a thread, as user processes do: the compile may hold its own thread for long).
const parent = parentToWatch(process.env);
if (parent !== undefined) watchParent(undefined, parent);
const [dir, entry] = process.argv.slice(2);
let outcome: { compiled: string } | { why: string };
try {
  outcome = { compiled: await compileGraph(dir!, entry!, `node${process.versions.node}`) };
} catch (err) {
  // Only nbox's own reasons are told in full: another error's message may name the worker's files.
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.name : "unknown error");
  outcome = { why: err instanceof KeepLoader ? err.message : `the compile failed (${String(code)})` };
}
process.stdout.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
