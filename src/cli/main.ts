// `nbx`: the command-line interface. Each command group lives in its own file;
// heavy layers (platform, bundler) are imported only by the commands that need them.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerAdmin } from "./admin.ts";
import { setConnection } from "./client.ts";
import { registerDeploy } from "./deploy.ts";
import { registerInspect } from "./inspect.ts";
import { registerLogin } from "./login.ts";
import { printError } from "./output.ts";
import { registerRuns } from "./runs.ts";
import { registerSchedules } from "./schedules.ts";
import { registerServings } from "./servings.ts";
import { registerUp } from "./up.ts";
import { registerWorker } from "./worker.ts";
import { registerWorkers } from "./workers.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

export function buildProgram(): Command {
  const program = new Command("nbx")
    .description("nbox: run TypeScript operators in-process, as jobs or as stateful servings")
    .version(pkg.version, "-v, --version")
    .option("--url <url>", "platform URL (default: NBOX_URL, else the local `nbx up`)")
    .option("--token <token>", "API token (default: NBOX_TOKEN, else the local admin token)")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();
  program.hook("preAction", (cmd) => {
    const o = cmd.optsWithGlobals() as { url?: string; token?: string };
    setConnection({ url: o.url, token: o.token });
  });
  registerUp(program);
  registerWorker(program);
  registerWorkers(program);
  registerDeploy(program);
  registerRuns(program);
  registerServings(program);
  registerSchedules(program);
  registerInspect(program);
  registerAdmin(program);
  registerLogin(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `nbx logs … | head`: a closed pipe ends the command quietly.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed usage errors; help/version exit 0.
      return err.exitCode;
    }
    printError(err);
    return 1;
  }
}

const code = await main(process.argv);
// Exit explicitly: imported user modules or keep-alive sockets must not hold the CLI open.
process.exit(code);
