// `nbx workers`: the workers registered with the control plane (admin token).
import type { Command } from "commander";
import { client } from "./client.ts";
import { ago, printJson, printTable } from "./output.ts";

export function registerWorkers(program: Command): void {
  program
    .command("workers")
    .description("list workers: live ones, and those gone in the last day (admin token)")
    .option("--all", "also workers gone longer ago")
    .option("--json", "print JSON")
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const { workers } = await client().call("GET /workers", { query: o.all ? { all: "true" } : {} });
      if (o.json) return printJson(workers);
      printTable(
        ["ID", "NAME", "STATE", "SLOTS", "RUNNING", "SANDBOX", "LAST SEEN", "ADDRESS"],
        workers.map((w) => [
          w.id,
          w.name + (w.local ? " (local)" : ""),
          w.alive ? "alive" : `gone ${ago(w.goneAt)}`,
          String(w.slots),
          String(w.running),
          w.sandbox ?? "-",
          ago(w.lastSeenAt),
          w.address ?? "-",
        ]),
        "(no workers)",
      );
    });
}
