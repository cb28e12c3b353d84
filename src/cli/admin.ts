// Workspaces and tokens: `nbx workspace create|list`, `nbx token create|list|revoke|rotate`.
import type { Command } from "commander";
import { client, enc, WORKSPACE_HELP, workspaceOf } from "./client.ts";
import { ago, fail, printJson, printTable } from "./output.ts";


async function workspaces() {
  return (await client().call("GET /workspaces")).workspaces;
}

export function registerAdmin(program: Command): void {
  const ws = program.command("workspace").alias("workspaces").description("manage workspaces");
  ws.command("create")
    .description("create a workspace (admin token)")
    .argument("<name>", "workspace name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const { workspace } = await client().call("POST /workspaces", { body: { name } });
      if (o.json) return printJson(workspace);
      process.stdout.write(`workspace ${workspace.name} (${workspace.id})\n`);
    });
  ws.command("list", { isDefault: true })
    .description("list workspaces")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const list = await workspaces();
      if (o.json) return printJson(list);
      printTable(["NAME", "ID", "CREATED"], list.map((w) => [w.name, w.id, ago(w.createdAt)]), "(no workspaces)");
    });

  const tok = program.command("token").alias("tokens").description("manage API tokens");
  tok.command("create")
    .description("create a token (scoped to a workspace, or --admin, or --worker)")
    .option("-w, --workspace <name>", "workspace the token may use (created if missing)", "default")
    .option("--admin", "an admin token (every workspace)")
    .option("--worker", "a worker token: for `nbx worker`, the worker API only")
    .option("--name <name>", "a label for the token")
    .option("--json", "print JSON")
    .action(async (o: { workspace: string; admin?: boolean; worker?: boolean; name?: string; json?: boolean }, cmd: Command) => {
      if (o.admin && cmd.getOptionValueSource("workspace") === "cli") fail("--admin and --workspace exclude each other", "An admin token is valid in every workspace");
      if (o.worker && (o.admin || cmd.getOptionValueSource("workspace") === "cli")) fail("--worker excludes --admin and --workspace", "A worker token belongs to no workspace");
      if (o.worker) {
        const { token, secret } = await client().call("POST /tokens", { body: { worker: true, name: o.name ?? "worker (nbx token create)" } });
        if (o.json) return printJson({ ...token, secret });
        process.stdout.write(secret + "\n");
        process.stderr.write(`worker token ${token.id}; the secret above is shown only once. Use it: nbx worker --platform <url> --token <secret>\n`);
        return;
      }
      const body = o.admin ? { admin: true, name: o.name ?? "admin (nbx token create)" } : { workspace: o.workspace, name: o.name ?? `nbx token create (${o.workspace})` };
      const { token, secret } = await client().call("POST /tokens", { body });
      if (o.json) return printJson({ ...token, secret });
      process.stdout.write(secret + "\n");
      process.stderr.write(`token ${token.id} (${o.admin ? "admin" : `workspace ${o.workspace}`}); the secret above is shown only once\n`);
    });
  tok.command("list", { isDefault: true })
    .description("list tokens (never their secrets)")
    .option("--all", "include revoked tokens")
    .option("--json", "print JSON")
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const { tokens } = await client().call("GET /tokens");
      const shown = o.all ? tokens : tokens.filter((t) => t.revokedAt === null || t.revokedAt === undefined);
      if (o.json) return printJson(shown);
      const names = new Map((await workspaces().catch(() => [])).map((w) => [w.id, w.name]));
      printTable(
        ["ID", "NAME", "SCOPE", "WORKSPACE", "CREATED", ...(o.all ? ["REVOKED"] : [])],
        shown.map((t) => [
          t.id,
          t.name,
          t.scope,
          t.workspaceId ? (names.get(t.workspaceId) ?? t.workspaceId) : "*",
          ago(t.createdAt),
          ...(o.all ? [t.revokedAt ? ago(t.revokedAt) : "-"] : []),
        ]),
        "(no tokens)",
      );
    });
  tok.command("revoke")
    .description("revoke a token by id (effective at once, on the API and on serving URLs)")
    .argument("<id>", "token id (see `nbx token list`)")
    .action(async (id: string) => {
      await client().call("DELETE /tokens/{id}", { params: { id } });
      process.stdout.write(`revoked ${id}\n`);
    });
  tok.command("rotate")
    .description("give a serving a new token and revoke its current one (redeploys keep the token; this replaces it)")
    .argument("<serving>", "serving name (see `nbx servings`)")
    .option("-w, --workspace <name>", WORKSPACE_HELP)
    .option("--json", "print JSON")
    .action(async (serving: string, o: { workspace?: string; json?: boolean }) => {
      const ws = await workspaceOf(o.workspace);
      const { token, secret, revoked } = await client().call("POST /workspaces/{ws}/servings/{name}/token", { params: { ws, name: serving } });
      if (o.json) return printJson({ ...token, secret, revoked });
      process.stdout.write(secret + "\n");
      process.stderr.write(`token ${token.id} for serving ${ws}/${serving}; deploys of this serving return it until the next rotate${revoked.length ? `; revoked ${revoked.join(", ")}` : ""}\n`);
    });
}
