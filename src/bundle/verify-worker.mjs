// Worker thread that verifies uploaded bundles. Plain JS so it can install the TypeScript loader first
// (Node 20 does not hand the parent's `--import tsx` hooks to worker threads).
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { register } from "tsx/esm/api";

// Background work: on Linux a thread has its own nice value, so under CPU pressure the API's event loop
// runs first and a hostile upload only slows its own verification.
try {
  setPriority(Number(readlinkSync("/proc/thread-self").split("/").pop()), 10);
} catch {
  // not Linux, or not allowed: normal priority
}
register();
const { runVerifyTask } = await import("./verify-task.js");

export default runVerifyTask;
