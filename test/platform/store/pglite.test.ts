import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openStore } from "../../../src/platform/store/index.ts";
import { runStoreConformance } from "./conformance.ts";

runStoreConformance("pglite", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "nbox-store-"));
  return {
    shared: false,
    open: (opts) => openStore({ dataDir, ...opts }),
    dispose: () => rm(dataDir, { recursive: true, force: true }),
  };
});
