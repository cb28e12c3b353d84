// Cron schedules of job deployments: `nbx schedules`, `nbx schedule pause|resume <deployment>`.
import type { Command } from "commander";
import { client, WORKSPACE_HELP, workspaceOf } from "./client.ts";
import { fromNow, printJson, printTable } from "./output.ts";


export function registerSchedules(program: Command): void {
  const sch = program.command("schedule").alias("schedules").description("list, pause and resume cron schedules (set at deploy with --cron)");
  sch
    .command("list", { isDefault: true })
    .description("list schedules with their next and last fire")
    .option("-w, --workspace <name>", "only this workspace")
    .option("--json", "print JSON")
    .action(async (o: { workspace?: string; json?: boolean }) => {
      const { schedules } = await client().call("GET /schedules", { query: { workspace: o.workspace } });
      if (o.json) return printJson(schedules);
      printTable(
        ["DEPLOYMENT", "WORKSPACE", "CRON", "TIMEZONE", "STATE", "NEXT", "LAST"],
        schedules.map((s) => [s.deployment, s.workspace, s.cron, s.timezone, s.enabled ? (s.nextTickAt === null ? "ended" : "active") : "paused", s.enabled ? fromNow(s.nextTickAt) : "-", fromNow(s.lastTickAt)]),
        "(no schedules: deploy a job with --cron)",
      );
    });
  for (const [verb, enabled, what] of [
    ["pause", false, "stop firing until resumed (kept across redeploys)"],
    ["resume", true, "fire again from the next tick (what fell in the pause is not replayed)"],
  ] as const) {
    sch
      .command(verb)
      .description(`${verb} a deployment's schedule: ${what}`)
      .argument("<deployment>", "job deployment name")
      .option("-w, --workspace <name>", WORKSPACE_HELP)
      .option("--json", "print JSON")
      .action(async (name: string, o: { workspace?: string; json?: boolean }) => {
        const { schedule } = await client().call("POST /workspaces/{ws}/deployments/{name}/schedule", { params: { ws: await workspaceOf(o.workspace), name }, body: { enabled } });
        if (o.json) return printJson(schedule);
        process.stdout.write(`${schedule.workspace}/${schedule.deployment}: "${schedule.cron}" ${schedule.enabled ? `active, next ${fromNow(schedule.nextTickAt)}` : "paused"}\n`);
      });
  }
}
