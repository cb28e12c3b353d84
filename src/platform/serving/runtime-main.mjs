// Entry of a serving child process (forked by serving-process.ts). Plain JS so it can install the
// TypeScript loader before importing the runtime and the user's bundle.
import { register } from "tsx/esm/api";

if (!process.execArgv.some((a) => a.includes("tsx"))) register();
await import("./runtime.js");
