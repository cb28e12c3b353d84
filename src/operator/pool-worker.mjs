// Worker thread for `op.map(inputs, { processes })`: rebuilds the operator once per thread
// from its locator and runs items. Plain JS so it can install the TypeScript loader first.
//
// Always register tsx here: Node 20 does not apply the parent's `--import tsx` hooks to
// worker threads although `process.execArgv` still lists them (so checking execArgv made
// every pooled map fail with ERR_UNKNOWN_FILE_EXTENSION), and registering twice is harmless.
import { register } from "tsx/esm/api";

register();
// Worker threads get their own copy of process.env: mark it, so top-level code of the user's
// module that starts another pool (or deploys) fails clearly instead of multiplying threads.
process.env.NBOX_RUNTIME = "pool";
const { runPoolTask } = await import("./pool-task.js");

export default runPoolTask;
