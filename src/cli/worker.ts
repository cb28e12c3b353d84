// `nbx worker --platform URL`: external workers for the Redis/BullMQ scale path (not in the platform yet).
import type { Command } from "commander";
import { fail } from "./output.ts";

export function registerWorker(program: Command): void {
  program
    .command("worker")
    .description("run jobs and host servings for a platform started with --redis (not implemented yet)")
    .requiredOption("--platform <url>", "URL of the platform")
    .option("--slots <n>", "worker slots")
    .action((o: { platform: string }) => {
      fail(
        `nbx worker is not supported yet: the platform has no Redis/BullMQ queue for external workers (asked to join ${o.platform})`,
        "Jobs run on the local worker processes of `nbx up` for now",
      );
    });
}
