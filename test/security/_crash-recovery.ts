// kill -9 of `nbx up` while it holds runs, shared by the crash-recovery tests of both stores: a
// platform made to hold runs claimed ahead and runs started, killed, and what recovery must show.
import assert from "node:assert/strict";
import { join } from "node:path";
import { toWire } from "../../src/codec/index.ts";
import { PlatformClient } from "../../src/remote/client.ts";
import { triggerRuns } from "../../src/remote/trigger.ts";
import type { RunInfo } from "../../src/remote/types.ts";
import type { NbxUp } from "../cli/_harness.ts";
import { eventually, importProject, wsName } from "../platform/jobs/_helpers.ts";
import { startGate } from "../worker/_gate.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "crash");
// Two slots hold the gate runs; in the third, a tiny run could start but for its deployment's limit
// of one (the second gate run holds it). Calls that turn long leave as many runs waiting ahead as
// slots free of one: that one tiny run stays claimed, unstarted, until the kill.
export const SLOTS = 3;
// Short, so recovery comes soon; not so short that a busy machine's late heartbeat gets a live worker
// declared dead (two platforms share the store in one case: each would take back the other's runs,
// and a run started there would count an attempt).
export const LEASE_MS = 4_000;
const TINY_PER_BATCH = 100;


const client = (up: NbxUp) => new PlatformClient({ url: up.url, token: up.token });
const listRuns = async (up: NbxUp, ws: string) =>
  (await client(up).call("GET /runs", { query: { workspace: ws, limit: 1000 } })).runs;
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
/** Undone in reverse order after the suite: processes, gates, schemas. */
export type Cleanup = Array<() => Promise<void>>;

interface Held {
  ws: string;
  gate: Awaited<ReturnType<typeof startGate>>;
  /** Tiny runs held by the killed platform, claimed ahead and never started. */
  claimedAhead: string[];
  /** Gate runs executing when it was killed: maxRetries 0 and 1. */
  started0: string;
  started1: string;
  tinyIds: string[];
}

/**
 * On `up`: 100 tiny runs finish; a gate run fills one slot; then one trigger queues a second gate
 * run and 100 tiny runs behind it. The claim that takes the second gate run (for a free slot)
 * takes tiny runs ahead with it; once both gate calls ran long, all but one of those went back to
 * the queue, and that one stays held, unstarted (its deployment's limit of one is taken by the
 * second gate run). Then (after `beforeKill`) the platform is killed with SIGKILL.
 */
export async function crashWhileHolding(up: NbxUp, cleanup: Cleanup, beforeKill: () => Promise<void> = async () => {}): Promise<Held> {
  const ws = wsName("crash");
  const gate = await startGate();
  cleanup.push(() => gate.close());
  const { mod } = await importProject(FIXTURE);
  const c = client(up);
  const gate0 = await mod.gate.deploy(ws, { client: c, name: "gate0", resource: { maxRetries: 0 } });
  // Tiny runs and the second gate run share a deployment, so one trigger queues them in order.
  await mod.tinyOrGate.deploy(ws, { client: c, name: "tiny", resource: { maxRetries: 1, retryBackoffMs: 100, concurrency: 1 } });
  const batch = async (items: Array<number | string>) =>
    (await triggerRuns(c, { workspace: ws, name: "tiny" }, { batch: items.map((x) => toWire([x]) as unknown[]) })).map((r) => r.id);
  const upTo = (from: number) => Array.from({ length: TINY_PER_BATCH }, (_, i) => from + i);
  const runsNow = async () => new Map((await listRuns(up, ws)).map((r) => [r.id, r]));
  const startedNow = (runs: Map<string, RunInfo>, id: string) => runs.get(id)?.status === "running" && !!runs.get(id)?.startedAt;

  const first = await batch(upTo(0));
  await eventually(async () => {
    const runs = await runsNow();
    return first.every((id) => runs.get(id)?.status === "succeeded");
  }, 120_000, "the first batch to finish");
  // Its own path: the gate can tell its polls from the other gate run's.
  const started0 = (await gate0.trigger(`${gate.url}gate0`)).id;
  await eventually(async () => startedNow(await runsNow(), started0), 120_000, "the first gate run to start");
  const [started1, ...second] = await batch([gate.url, ...upTo(TINY_PER_BATCH)]);
  await eventually(
    async () => startedNow(await runsNow(), started1!),
    120_000,
    "the second gate run to start",
  );
  // Past a short call's length: the calls have turned long and the runs that cannot wait went back.
  await new Promise((r) => setTimeout(r, 1_000));
  const held = await runsNow();
  const claimedAhead = second.filter((id) => held.get(id)?.status === "running");
  assert.equal(claimedAhead.length, 1, "the platform holds one tiny run it claimed ahead (one slot is free of a long call)");
  for (const id of claimedAhead) assert.equal(held.get(id)?.startedAt, null, `${id} was claimed, not started`);
  assert.ok(second.some((id) => held.get(id)?.status === "queued"), "killed mid-way: some runs are still queued");
  await beforeKill();
  await up.kill9();
  return { ws, gate, claimedAhead, started0, started1: started1!, tinyIds: [...first, ...second] };
}

/** After recovery on `up`: every tiny run succeeded as attempt 1; the started runs count their attempt. */
export async function assertRecovered(up: NbxUp, held: Held, cause: RegExp): Promise<void> {
  held.gate.open();
  const all = await eventually(
    async () => {
      const runs = await listRuns(up, held.ws);
      return runs.length === held.tinyIds.length + 2 && runs.every((r) => TERMINAL.has(r.status)) && runs;
    },
    120_000,
    "every run to finish after the crash",
  );
  const byId = new Map(all.map((r) => [r.id, r]));
  const tiny = held.tinyIds.map((id) => byId.get(id)!);
  const failed = tiny.filter((r) => r.status !== "succeeded");
  assert.deepEqual(failed.map((r) => [r.id, r.status, r.error?.message]), [], "no tiny run failed");
  // They may retry once: a tiny run that was counted as started would show attempt 2.
  for (const id of held.claimedAhead) assert.equal(byId.get(id)!.attempt, 1, `${id} never started: no attempt spent`);
  assert.ok(tiny.every((r) => r.attempt === 1));

  const s1 = byId.get(held.started1)!;
  assert.deepEqual([s1.status, s1.attempt, s1.result], ["succeeded", 2, "passed"], "maxRetries 1: succeeds on the second attempt");
  const s0 = byId.get(held.started0)!;
  assert.deepEqual([s0.status, s0.attempt, s0.error?.name], ["failed", 1, "WorkerCrashError"], "maxRetries 0: the started attempt was its only one");
  assert.match(s0.error!.message, new RegExp(`run ${held.started0} \\(attempt 1 of 1\\) was running on worker `));
  assert.match(s0.error!.message, cause);
  assert.match(s0.error!.message, /no retries left/);
  // The killed platform's user code did not outlive it: the run it was executing stopped polling
  // before another platform recorded that run failed (its local worker took its processes along at once).
  const lastPoll = held.gate.lastPolled("/gate0");
  assert.ok(lastPoll !== undefined && lastPoll < Date.parse(s0.finishedAt!), `the killed platform's gate run polled at ${lastPoll && new Date(lastPoll).toISOString()}, after the run was recorded failed at ${s0.finishedAt}`);
}

/** The killed start's local-worker token was revoked by the restart; the new local worker's is live. */
export async function assertEarlierWorkerTokenRevoked(up: NbxUp): Promise<void> {
  const tokens = (await client(up).call("GET /tokens", {})).tokens.filter((t) => t.scope === "worker");
  const live = tokens.filter((t) => t.revokedAt === null);
  assert.equal(tokens.length, 2, `a worker token for each start's local worker: ${JSON.stringify(tokens)}`);
  assert.equal(live.length, 1, `only the running local worker's token is live: ${JSON.stringify(tokens)}`);
  assert.equal(Date.parse(live[0]!.createdAt), Math.max(...tokens.map((t) => Date.parse(t.createdAt))));
}

