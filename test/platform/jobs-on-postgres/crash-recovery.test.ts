// kill -9 of `nbx up` on the Postgres store while it holds runs: recovered by the restart on the same
// data folder (that folder names its local worker), or, by another platform sharing the store, when
// their lease lapses. Runs claimed ahead go back without spending an attempt; a started run counts it.
// (A file of its own, apart from the embedded case: each takes a minute or more, and side by side
// in one file they made the longest file of the test run.)
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startNbxUp, type NbxUp } from "../../cli/_harness.ts";
import { freshPostgresSchema, tempDir } from "../jobs/_helpers.ts";
import { postgresUnavailable } from "../store/pg-harness.ts";
import { LEASE_MS, SLOTS, assertEarlierWorkerTokenRevoked, assertRecovered, crashWhileHolding, type Cleanup } from "../../security/_crash-recovery.ts";

const unavailable = await postgresUnavailable();
// In CI Postgres is part of the contract: its absence is a failure, not a skip.
const skipPostgres = unavailable && process.env.CI !== "true" ? unavailable : false;

describe("crash recovery: Postgres store (leases)", { skip: skipPostgres }, () => {
  const cleanup: Cleanup = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
  });
  const node = async (databaseUrl: string, data = tempDir("nbx-crash-data-")) => {
    const up = await startNbxUp(["--data", data, "--database", databaseUrl, "--slots", String(SLOTS), "--lease", String(LEASE_MS)]);
    cleanup.push(() => up.kill9());
    return { up, data };
  };
  const schema = async () => {
    if (unavailable) assert.fail(unavailable);
    const s = await freshPostgresSchema();
    cleanup.push(() => s.drop());
    return s.databaseUrl;
  };

  it("kill -9 then restart on the same data folder: the restarted platform takes back its own local worker's runs at once (not a lease later) and revokes that worker's token", { timeout: 300_000 }, async () => {
    const url = await schema();
    const { up: a, data } = await node(url);
    const held = await crashWhileHolding(a, cleanup);
    const { up: b } = await node(url, data);
    // The cause names the restart, not a lapsed lease: the runs came back when it started.
    await assertRecovered(b, held, /when the platform stopped/);
    await assertEarlierWorkerTokenRevoked(b);
  });

  it("two platforms on one database: when one is killed, the other takes its runs after the lease lapses (no restart)", { timeout: 300_000 }, async () => {
    const url = await schema();
    const { up: a } = await node(url);
    // The survivor comes up only now, so every held run was held by the one that dies.
    let b: NbxUp | undefined;
    const held = await crashWhileHolding(a, cleanup, async () => {
      b = (await node(url)).up;
    });
    await assertRecovered(b!, held, /whose lease on it lapsed at /);
  });
});
