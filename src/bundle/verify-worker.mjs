// Worker thread that verifies uploaded bundles. Plain JS so it can install the TypeScript loader first
// (Node 20 does not hand the parent's `--import tsx` hooks to worker threads).
import { register } from "tsx/esm/api";

register();
const { runVerifyTask } = await import("./verify-task.ts");

export default runVerifyTask;
