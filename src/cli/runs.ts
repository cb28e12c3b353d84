// Job runs: `nbx run`, `nbx runs`, `nbx logs`, `nbx cancel`, `nbx retry`.
import type { Command } from "commander";
import { fromWire, toWire } from "../codec/index.ts";
import { RemoteError } from "../remote/remote-error.ts";
import { Run, type LogLine } from "../remote/run.ts";
import { RUN_STATUSES, TERMINAL_STATUSES, type RunInfo } from "../remote/types.ts";
import { triggerRun } from "../remote/trigger.ts";
import { client, enc, WORKSPACE_HELP, workspaceOf } from "./client.ts";
import { toPlain } from "../codec/to-plain.ts";
import { ago, debug, duration, fail, parseIntOption, parseJsonArg, printJson, printTable, printValue } from "./output.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerRuns(program: Command): void {
  program
    .command("run")
    .description("trigger a run of a deployed job")
    .argument("<name>", "deployment name (or id)")
    .option("-w, --workspace <name>", WORKSPACE_HELP)
    .option("-a, --arg <json>", "an argument as JSON (repeat for several: --arg 1 --arg '\"x\"')", collect, [])
    .option("--wait", "wait for the result (non-zero exit when the run fails)")
    .option("--logs", "with --wait: stream the run's log lines to stderr while waiting")
    .option("--json", "print the run as JSON")
    .action(runCommand);

  program
    .command("runs")
    .description("list runs, newest first")
    .option("-w, --workspace <name>", "only this workspace (a workspace token lists its own)")
    .option("-s, --status <status>", `only this status (${RUN_STATUSES.join(", ")})`)
    .option("-d, --deployment <name>", "only runs of this deployment")
    .option("-n, --limit <n>", "at most this many", "20")
    .option("--json", "print JSON")
    .action(listRuns);

  program
    .command("logs")
    .description("print a run's log lines")
    .argument("<runId>", "run id")
    .option("-f, --follow", "keep printing new lines until the run ends")
    .option("--json", "print JSON lines objects")
    .action(logsCommand);

  program
    .command("cancel")
    .description("cancel a queued or running run")
    .argument("<runId>", "run id")
    .option("--json", "print the run as JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const { run } = await client().call("POST /runs/{id}/cancel", { params: { id } });
      if (o.json) return printJson(run);
      process.stdout.write(`run ${run.id}: ${run.status}${run.status === "running" ? " (cancel requested)" : ""}\n`);
    });

  program
    .command("retry")
    .description("run again with the same arguments")
    .argument("<runId>", "run id")
    .option("--call <n>", "of a batched run (remote map's short items): run only its call n (0-based) again, alone", (v: string) => parseIntOption(v, "--call"))
    .option("--json", "print the new run as JSON")
    .action(async (id: string, o: { json?: boolean; call?: number }) => {
      const { run } = await client().call("POST /runs/{id}/retry", { params: { id }, body: o.call !== undefined ? { call: o.call } : {} });
      if (o.json) return printJson(run);
      process.stdout.write(run.id + "\n");
    });
}

async function runCommand(name: string, o: { workspace?: string; arg: string[]; wait?: boolean; logs?: boolean; json?: boolean }): Promise<void> {
  const args = o.arg.map((a, i) => parseJsonArg(a, `--arg #${i + 1}`));
  const c = client();
  const run = await triggerRun(c, { workspace: await workspaceOf(o.workspace), name }, { args: toWire(args, { path: "args" }) as unknown[] });
  if (!o.wait) {
    if (o.json) printJson(run);
    else process.stdout.write(run.id + "\n");
    return;
  }
  if (!o.json) process.stderr.write(`run ${run.id} (${run.deployment} in ${run.workspace}) queued; waiting…\n`);
  const handle = new Run(c, run.id);
  const ctrl = new AbortController();
  const streaming = o.logs ? pipeLogs(handle, ctrl.signal) : Promise.resolve();
  let final: RunInfo;
  try {
    await handle.result();
    final = await handle.info();
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    final = await handle.info();
  } finally {
    await Promise.race([streaming, new Promise((r) => setTimeout(r, 2000))]);
    ctrl.abort();
  }
  if (o.json) {
    printJson({ ...final, result: final.status === "succeeded" ? toPlain(fromWire(final.result)) : null });
    if (final.status !== "succeeded") process.exitCode = 1;
    return;
  }
  if (final.status === "succeeded") {
    printValue(fromWire(final.result));
    return;
  }
  const e = final.error;
  const why = e ? `${e.name}: ${e.message}` : `ended ${final.status}`;
  process.stderr.write(`error: run ${final.id} ${final.status.replace("_", " ")}: ${why}\n`);
  if (e?.stack && debug()) process.stderr.write(`--- remote stack ---\n${e.stack}\n`);
  process.stderr.write(`hint: see its logs with \`nbx logs ${final.id}\`${e?.stack && !debug() ? " (NBOX_DEBUG=1 shows the remote stack)" : ""}\n`);
  process.exitCode = 1;
}

async function pipeLogs(run: Run, signal: AbortSignal): Promise<void> {
  try {
    for await (const l of run.followLogs(signal)) process.stderr.write(`${l.stream === "system" ? "[nbox] " : ""}${l.line}\n`);
  } catch {
    // Aborted or the platform went away: the result is what matters.
  }
}

async function listRuns(o: { workspace?: string; status?: string; deployment?: string; limit: string; json?: boolean }): Promise<void> {
  const status = RUN_STATUSES.find((s) => s === o.status);
  if (o.status && !status) fail(`unknown status "${o.status}"`, `Use one of ${RUN_STATUSES.join(", ")}`);
  const query = { workspace: o.workspace, status, deployment: o.deployment, limit: parseIntOption(o.limit, "--limit", 1) };
  const { runs } = await client().call("GET /runs", { query });
  if (o.json) return printJson(runs);
  printTable(
    ["ID", "DEPLOYMENT", "WORKSPACE", "STATUS", "ATTEMPT", "CREATED", "DURATION"],
    runs.map((r) => [
      r.id,
      r.calls ? `${r.deployment} ×${r.calls}` : r.deployment,
      r.workspace,
      r.status,
      `${r.attempt}/${r.maxRetries + 1}`,
      ago(r.createdAt),
      TERMINAL_STATUSES.includes(r.status) || r.startedAt ? duration(r.startedAt, r.finishedAt) : "-",
    ]),
    "(no runs)",
  );
}

function printLine(l: LogLine): void {
  (l.stream === "stderr" ? process.stderr : process.stdout).write(`${l.stream === "system" ? "[nbox] " : ""}${l.line}\n`);
}

async function logsCommand(id: string, o: { follow?: boolean; json?: boolean }): Promise<void> {
  const run = new Run(client(), id);
  if (o.follow) {
    const ctrl = new AbortController();
    process.once("SIGINT", () => ctrl.abort());
    try {
      for await (const l of run.followLogs(ctrl.signal)) (o.json ? process.stdout.write(JSON.stringify(l) + "\n") : printLine(l));
    } catch (err) {
      if ((err as Error).name !== "AbortError") throw err;
    }
    return;
  }
  const logs = await run.logs();
  if (o.json) return printJson(logs);
  for (const l of logs) printLine(l);
}
