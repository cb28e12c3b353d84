#!/usr/bin/env node
// The CLI runs nbox's compiled JavaScript (`npm run build` writes dist/); users' TypeScript is
// loaded with tsx only by the commands that import it.
await import("../dist/cli/main.js");
