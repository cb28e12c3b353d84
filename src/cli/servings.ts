// Deployments and servings: `nbx deployments`, `nbx servings`, `nbx call <serving> <method> [JSON…]`.
import type { Command } from "commander";
import { isNboxError } from "../errors.ts";
import { ServingClient } from "../remote/serving-proxy.ts";
import type { DeploymentInfo } from "../remote/types.ts";
import { client, enc, WORKSPACE_HELP, workspaceOf } from "./client.ts";
import { toPlain } from "../codec/to-plain.ts";
import { fail, parseJsonArg, printJson, printTable, printValue } from "./output.ts";

interface ServingRow {
  workspace: string;
  name: string;
  url?: string | null | undefined;
  status?: string;
  [k: string]: unknown;
}

async function deploymentsOf(workspace: string | undefined): Promise<DeploymentInfo[]> {
  const c = client();
  const names = workspace ? [workspace] : (await c.call("GET /workspaces")).workspaces.map((w) => w.name);
  const lists = await Promise.all(names.map((w) => c.call("GET /workspaces/{ws}/deployments", { params: { ws: w } })));
  return lists.flatMap((l) => l.deployments);
}

export function registerServings(program: Command): void {
  program
    .command("deployments")
    .description("list deployments (jobs and servings)")
    .option("-w, --workspace <name>", "only this workspace")
    .option("--json", "print JSON")
    .action(async (o: { workspace?: string; json?: boolean }) => {
      const list = await deploymentsOf(o.workspace);
      if (o.json) return printJson(list);
      printTable(
        ["NAME", "WORKSPACE", "TYPE", "KIND", "VERSION", "CONTENT"],
        list.map((d) => [d.name, d.workspace, d.type, d.kind, d.versionId, d.contentHash.slice(0, 12)]),
        "(no deployments)",
      );
    });

  program
    .command("servings")
    .description("list servings and their status")
    .option("-w, --workspace <name>", "only this workspace")
    .option("--json", "print JSON")
    .action(async (o: { workspace?: string; json?: boolean }) => {
      let rows: ServingRow[];
      try {
        rows = (await client().call("GET /servings", { query: { workspace: o.workspace } })).servings;
      } catch (err) {
        // Platforms without the servings listing route: derive it from the deployments.
        if (!(isNboxError(err) && err.code === "NOT_FOUND" && /no API route|failed with HTTP 404/.test(err.message))) throw err;
        rows = (await deploymentsOf(o.workspace))
          .filter((d) => d.type === "serving")
          .map((d) => ({ workspace: d.workspace, name: d.name, url: d.servingUrl, status: d.servingUrl ? "deployed" : "not running", versionId: d.versionId }));
      }
      if (o.json) return printJson(rows);
      printTable(
        ["NAME", "WORKSPACE", "STATUS", "URL"],
        rows.map((s) => [String(s.name), String(s.workspace), String(s.status ?? "-"), String(s.url ?? "-")]),
        "(no servings)",
      );
    });

  program
    .command("serving-logs")
    .description("recent output of a serving's process (stdout and stderr)")
    .argument("<serving>", "serving name")
    .option("-w, --workspace <name>", WORKSPACE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string, o: { workspace?: string; json?: boolean }) => {
      const { logs } = await client().call("GET /workspaces/{ws}/servings/{name}/logs", { params: { ws: await workspaceOf(o.workspace), name } });
      if (o.json) return printJson(logs);
      process.stdout.write(logs.length ? logs.join("\n") + "\n" : "(no output yet)\n");
    });

  program
    .command("call")
    .description("call a method of a deployed serving")
    .argument("<serving>", "serving (deployment) name")
    .argument("<method>", 'method name ("forward" for the instance call)')
    .argument("[args...]", "arguments, each as JSON")
    .option("-w, --workspace <name>", WORKSPACE_HELP)
    .option("--json", 'print { "value": … } as JSON')
    .action(async (serving: string, method: string, rawArgs: string[], o: { workspace?: string; json?: boolean }) => {
      const args = rawArgs.map((a, i) => parseJsonArg(a, `argument #${i + 1}`));
      const c = client();
      const { deployment } = await c.call("GET /workspaces/{ws}/deployments/{name}", { params: { ws: await workspaceOf(o.workspace), name: serving } });
      if (deployment.type !== "serving") fail(`"${deployment.name}" is a job, not a serving`, `Run it with: nbx run ${deployment.name} --arg … --wait`);
      if (!deployment.servingUrl) fail(`serving "${deployment.name}" has no URL (is it running?)`, "Check `nbx servings`, or redeploy it");
      const url = deployment.servingUrl!.endsWith("/") ? deployment.servingUrl! : deployment.servingUrl + "/";
      // The CLI's own token (admin or workspace) is accepted by servings of its workspace.
      const value = await new ServingClient(url, c.token).call(method, args);
      if (o.json) return printJson({ value: toPlain(value) });
      printValue(value);
    });
}
