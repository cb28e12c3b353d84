// Worker thread for `op.map(inputs, { processes })`: rebuilds the operator once per thread
// from its locator and runs items. Plain JS so it can install the TypeScript loader first.
import { register } from "tsx/esm/api";

if (!process.execArgv.some((a) => a.includes("tsx"))) register();
const { runPoolTask } = await import("./pool-task.ts");

export default runPoolTask;
