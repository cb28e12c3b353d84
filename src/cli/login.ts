// `nbx login <url> --token T` / `nbx logout`: remember which platform this user works with, so the
// CLI and SDK find it from any folder (NBOX_URL/NBOX_TOKEN and a local .nbox still win).
import type { Command } from "commander";
import { PlatformClient } from "../remote/client.ts";
import { currentFile, forgetCurrentPlatform, writeCurrentPlatform } from "../remote/current-platform.ts";
import { fail, printJson } from "./output.ts";

export function registerLogin(program: Command): void {
  program
    .command("login <url>")
    .description("remember a platform (URL + token) in ~/.nbox/current.json for every folder")
    // --token is the program's global option (an API token of that platform, admin or workspace).
    .option("--json", "print the record as JSON")
    .action(async (url: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as { token?: string; json?: boolean };
      const token = o.token || fail("nbx login needs --token <token>", "Pass an admin or workspace token of that platform: nbx login <url> --token T");
      if (!/^https?:\/\/[^/]/.test(url)) fail(`"${url}" is not a platform URL`, "Give its base URL, e.g. nbx login http://build-box:7070 --token …");
      const base = url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
      // Check the pair before recording it: a typo must not become the default for every folder.
      const workspaces = await new PlatformClient({ url: base, token }).call("GET /workspaces");
      const file = writeCurrentPlatform({ source: "login", url: base, token, writtenAt: new Date().toISOString() });
      if (o.json) return printJson({ url: base, file, workspaces: workspaces.workspaces.map((w) => w.name) });
      process.stdout.write(`logged in to ${base} (workspaces: ${workspaces.workspaces.map((w) => w.name).join(", ") || "none yet"})\n  recorded in ${file}\n`);
    });
  program
    .command("logout")
    .description("forget the platform recorded by nbx login / nbx up")
    .action(() => {
      process.stdout.write(forgetCurrentPlatform() ? `removed ${currentFile()}\n` : `nothing recorded (${currentFile()} does not exist)\n`);
    });
}
