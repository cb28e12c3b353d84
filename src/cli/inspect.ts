// Static views of an operator: `nbx flow <file>:<export>` and `nbx tree <file>:<export>`.
import type { Command } from "commander";
import { formatFlow } from "../flow/index.ts";
import { parseJsonArg, printJson } from "./output.ts";
import { loadTarget, operatorInstance } from "./target.ts";

function initArgs(text: string | undefined): unknown[] {
  if (text === undefined) return [];
  const v = parseJsonArg(text, "--init");
  return Array.isArray(v) ? v : [v];
}

export function registerInspect(program: Command): void {
  program
    .command("flow")
    .description("print the static flow of an operator's forward (calls, branches, loops)")
    .argument("<target>", "<file.ts>:<export>")
    .option("--init <json>", "constructor arguments (JSON array) when the export is an Operator subclass")
    .option("--json", "print the flow graph as JSON")
    .action(async (target: string, o: { init?: string; json?: boolean }) => {
      const op = operatorInstance(await loadTarget(target), initArgs(o.init));
      const flow = op.getFlow();
      if (o.json) return printJson(flow);
      process.stdout.write(formatFlow(flow).replace(/\n?$/, "\n"));
    });

  program
    .command("tree")
    .description("print an operator's tree of child operators")
    .argument("<target>", "<file.ts>:<export>")
    .option("--init <json>", "constructor arguments (JSON array) when the export is an Operator subclass")
    .option("--json", 'print { root, nodes: [{ name, type }] } (dotted names, pre-order) as JSON')
    .action(async (target: string, o: { init?: string; json?: boolean }) => {
      const op = operatorInstance(await loadTarget(target), initArgs(o.init));
      if (o.json) {
        const { root, nodes } = op.getDag(); // nothing has run here: no call edges to show
        return printJson({ root, nodes });
      }
      process.stdout.write(op.toString().replace(/\n?$/, "\n"));
    });
}
