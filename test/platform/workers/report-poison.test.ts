// A report part the store fails on for a reason other than being unreachable (a bug, data it
// refuses) does not fail the whole report — the worker would send it again forever, holding back all
// it reports later. The part is applied item by item and only the item that fails is skipped. An
// unreachable store still fails the report (the worker sends it again), and failed claims come back
// as "held" (delivered again later), never lost.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { StoreQueue } from "../../../src/platform/queue/run-queue.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";
import { ReportWriter, type Report } from "../../../src/platform/workers/report.ts";
import { resolveConfig } from "../../../src/platform/config.ts";

const report = (r: Partial<Report>): Report => ({ workerId: "w1", started: [], logs: [], spans: [], finished: [], requeued: [], servings: [], claim: [], ...r });

describe("a report part the store fails on", () => {
  let dir: string;
  let store: Store;
  let poison = new Set<string>();
  let unreachable = false;
  let writer: ReportWriter;
  let queued: (n: number) => Promise<RunRow[]>;
  let runs: (n: number) => Promise<RunRow[]>;
  const logged: string[] = [];
  const original = console.error;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-report-poison-"));
    store = await openStore({ dataDir: dir });
    const failing = Object.create(store) as Store;
    const check = (ids: string[]) => {
      if (unreachable) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
      const bad = ids.find((id) => poison.has(id));
      if (bad) throw new Error(`a bug on ${bad}`);
    };
    failing.finishRuns = async (items) => (check(items.map((i) => i.id)), store.finishRuns(items));
    failing.claimRuns = async (ids, w, o) => (check(ids), store.claimRuns(ids, w, o));
    failing.getRuns = async (ids, o) => (check(ids), store.getRuns(ids, o));
    const events = new RunEvents();
    const ctx = { config: resolveConfig({ leaseMs: 20_000 }), store: failing, events, queue: new StoreQueue(events) } as unknown as PlatformContext;
    writer = new ReportWriter(ctx);
    const ws = await store.ensureWorkspace("poison");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-poison", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    queued = (n) => store.createRuns(Array.from({ length: n }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
    runs = async (n) => store.claimRuns((await queued(n)).map((r) => r.id), "w1");
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
  });
  after(async () => {
    console.error = original;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies the rest of the report and skips only the item that fails, saying so", async () => {
    const [a, b, c] = await runs(3);
    poison = new Set([a!.id]);
    const out = await writer.apply(
      report({
        logs: [{ runId: a!.id, lines: [{ stream: "stdout", line: "from a", ts: 1 }] }],
        finished: [a!, b!, c!].map((r, i) => ({ id: r.id, attempt: 1, status: "succeeded" as const, result: i })),
      }),
    );
    assert.deepEqual(out.finished.sort(), [b!.id, c!.id].sort());
    assert.equal((await store.getRun(a!.id))!.status, "running", "the skipped finish left its run to lapse back");
    assert.equal((await store.getRun(b!.id))!.status, "succeeded");
    assert.deepEqual((await store.getLogs(a!.id)).map((l) => l.line), ["from a"], "its log lines, applied before, are there once");
    assert.ok(logged.some((l) => l.includes(a!.id) && l.includes("skipped")), logged.join("\n"));
    poison = new Set();
  });

  it("claims that fail come back as held; an unreachable store fails the report", async () => {
    const [d] = await queued(1);
    poison = new Set([d!.id]);
    const out = await writer.apply(report({ claim: [d!.id] }));
    assert.deepEqual([out.claimed, out.held], [[], [d!.id]]);
    poison = new Set();
    const [e] = await runs(1);
    unreachable = true;
    await assert.rejects(writer.apply(report({ finished: [{ id: e!.id, attempt: 1, status: "succeeded", result: 1 }] })), /ECONNREFUSED/);
    unreachable = false;
    assert.equal((await store.getRun(e!.id))!.status, "running", "nothing was skipped: the worker sends it again");
  });

  it("spans that cannot be taken are dropped, not the report", async () => {
    const [f, g] = await runs(2);
    poison = new Set([g!.id]); // looking up whether this worker holds g fails
    const span = (runId: string) => ({ traceId: "t".repeat(32), spanId: runId.slice(-16), op: "Op", name: "forward", start: 1, end: 2, status: "ok" as const, attributes: {}, runId });
    const out = await writer.apply(report({ finished: [{ id: f!.id, attempt: 1, status: "succeeded", result: 1 }], spans: [span(g!.id)] }));
    assert.deepEqual(out.finished, [f!.id]);
    assert.ok(logged.some((l) => l.includes("span(s)") && l.includes("dropped")), logged.join("\n"));
    poison = new Set();
  });
});

describe("a serving note the store fails on", () => {
  it("is skipped (logged) and the other notes are applied; an unreachable store fails the report", async () => {
    const { Hono } = await import("hono");
    const { ServingRouter } = await import("../../../src/platform/router/serving-router.ts");
    const applied: string[] = [];
    let unreachable = false;
    const store = {
      incrementRequests: async (id: string) => {
        if (unreachable) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        if (id === "bad") throw new Error("a bug");
        applied.push(id);
      },
    };
    const router = new ServingRouter({ store } as unknown as PlatformContext, {} as never, new Hono());
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
    try {
      await router.apply("w1", [{ deploymentId: "bad", requests: 1 }, { deploymentId: "good", requests: 2 }]);
      assert.deepEqual(applied, ["good"]);
      assert.ok(logged.some((l) => l.includes("serving bad") && l.includes("skipped")), logged.join("\n"));
      unreachable = true;
      await assert.rejects(router.apply("w1", [{ deploymentId: "good", requests: 1 }]), /ECONNREFUSED/);
    } finally {
      console.error = original;
    }
  });
});

describe("serving notes of a report sent again", () => {
  it("are applied once: request counts and restarts do not double; a note the store could not take goes in when sent again", async () => {
    const { Hono } = await import("hono");
    const { ServingRouter } = await import("../../../src/platform/router/serving-router.ts");
    const requests = new Map<string, number>();
    let unreachable = false;
    const store = {
      incrementRequests: async (id: string, n: number) => {
        if (unreachable) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        requests.set(id, (requests.get(id) ?? 0) + n);
      },
    };
    const router = new ServingRouter({ store } as unknown as PlatformContext, {} as never, new Hono());
    const notes = [{ deploymentId: "a", no: 1, requests: 5 }, { deploymentId: "b", no: 2, requests: 7 }];
    await router.apply("w1", notes);
    await router.apply("w1", notes); // its answer was lost
    assert.deepEqual([...requests], [["a", 5], ["b", 7]]);
    // Applied in part: the store went away after the first note; sent again, the rest goes in once.
    const next = [{ deploymentId: "a", no: 3, requests: 1 }, { deploymentId: "b", no: 4, requests: 1 }];
    let cutAtB = false;
    const partial = { ...store, incrementRequests: async (id: string, n: number) => { if (id === "b" && cutAtB) unreachable = true; return store.incrementRequests(id, n); } };
    const flaky = new ServingRouter({ store: partial } as unknown as PlatformContext, {} as never, new Hono());
    await flaky.apply("w1", notes);
    cutAtB = true;
    await assert.rejects(flaky.apply("w1", next), /ECONNREFUSED/);
    unreachable = cutAtB = false;
    await flaky.apply("w1", next);
    assert.deepEqual([...requests], [["a", 11], ["b", 15]], "a: 5 + 5 (a new control plane) + 1; b: 7 + 7 + 1");
    // Notes without numbers (a worker of an earlier release) are applied as they come.
    await router.apply("w2", [{ deploymentId: "a", requests: 1 }, { deploymentId: "a", requests: 1 }]);
    assert.equal(requests.get("a"), 13);
  });
});
