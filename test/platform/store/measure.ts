// Store timings (not a test): `npx tsx test/platform/store/measure.ts [cycles]`.
// Prints PGlite open times (fresh and existing data folder) and createRun+claim+finish cycles per backend.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { makePostgresHarness, postgresUnavailable } from "./pg-harness.ts";

const CYCLES = Number(process.argv[2] ?? 1000);

async function cycles(store: Store): Promise<number> {
  const ws = await store.ensureWorkspace("bench");
  const { deployment, version } = await store.upsertDeploymentVersion({
    workspaceId: ws.id, name: "foo", type: "job", kind: "fn", contentHash: "h", manifest: {}, bundleBytes: 1,
  });
  const t0 = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    await store.createRun({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: { v: 1, value: [i] } });
    const run = await store.claimNextRun("w1");
    if (!run) throw new Error("nothing claimed");
    if (!(await store.finishRun(run.id, { status: "succeeded", result: { v: 1, value: i * i }, workerId: "w1" }))) {
      throw new Error("finish not applied");
    }
  }
  return performance.now() - t0;
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const dataDir = await mkdtemp(path.join(tmpdir(), "nbox-measure-"));
try {
  let t0 = performance.now();
  let store = await openStore({ dataDir });
  console.log(`pglite open, fresh folder (initdb + migrate): ${fmt(performance.now() - t0)}`);
  await store.close();
  for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    store = await openStore({ dataDir });
    console.log(`pglite open, existing folder #${i + 1}: ${fmt(performance.now() - t0)}`);
    await store.close();
  }
  store = await openStore({ dataDir });
  const ms = await cycles(store);
  console.log(`pglite: ${CYCLES} createRun+claim+finish: ${fmt(ms)} (${((ms * 1000) / CYCLES).toFixed(0)} µs/cycle)`);
  await store.close();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

const why = await postgresUnavailable();
if (why) console.log(`postgres: skipped (${why})`);
else {
  const h = await makePostgresHarness();
  try {
    const store = await h.open();
    const ms = await cycles(store);
    console.log(`postgres: ${CYCLES} createRun+claim+finish: ${fmt(ms)} (${((ms * 1000) / CYCLES).toFixed(0)} µs/cycle)`);
    await store.close();
  } finally {
    await h.dispose();
  }
}
