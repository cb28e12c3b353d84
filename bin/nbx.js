#!/usr/bin/env node
// nbox ships TypeScript sources; tsx compiles them (and user projects) on the fly.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
