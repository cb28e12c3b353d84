// Entry of every user process, job worker or serving (spawned by runtime-process.ts). Plain JS so
// it can install the TypeScript loader before importing anything written in TypeScript — the
// runtime and the user's bundle alike. Skipped when tsx is already loaded via execArgv or
// NODE_OPTIONS (registering twice would run every module through two loader chains).
import { register } from "tsx/esm/api";

const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
if (!flags.some((a) => a.includes("tsx"))) register();
await import("./child.js");
