// Runs claimed ahead per slot: the number doubles while claims come back full and calls are short,
// never past what PREFETCH_WORK_MS of calls at the current pace covers (at most 256 per slot), halves
// when the queue runs dry, and no claim is made while every slot is busy (while calls are short, a
// slot runs one call and holds a few more sent behind it: callsBehind, 8 for 1 ms calls, 1 for 25 ms
// ones). The claim source and the executor are fakes: the executor reports its average call length
// directly, nothing sleeps. While calls are short a claim goes out with the calls behind the last
// one still in flight (their ends are a turn away): it asks for that many fewer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ControlPlane } from "../../src/worker/control-plane.ts";
import type { RunExecutor, RunRow } from "../../src/worker/run-executor.ts";
import { RunLoop } from "../../src/worker/run-loop.ts";

interface Claim {
  max: number;
  /** How long the control plane may hold the claim open while the queue is empty. */
  waitMs: number;
  /** Hand back `n` runs. */
  answer(n: number): void;
}

/** A claim route that waits for the test to answer each claim. */
function fakeClaims() {
  const asked: Claim[] = [];
  const waiting: Array<(c: Claim) => void> = [];
  let seq = 0;
  const run = (): RunRow => ({ id: `run_${++seq}`, attempt: 1, maxRetries: 0, retryBackoffMs: 0, timeoutMs: null, workspaceId: "ws", deploymentId: "dep", versionId: "ver", args: [], traceparent: null, cancelRequested: false });
  const cp = {
    call(route: string, input: { body: { max: number; waitMs: number }; signal?: AbortSignal }) {
      assert.equal(route, "POST /worker/claim");
      return new Promise((resolve, reject) => {
        input.signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        const claim: Claim = { max: input.body.max, waitMs: input.body.waitMs, answer: (n) => resolve({ runs: Array.from({ length: n }, run) }) };
        const w = waiting.shift();
        if (w) w(claim);
        else asked.push(claim);
      });
    },
  } as unknown as ControlPlane;
  return {
    cp,
    /** The next claim the loop makes. */
    next: () => new Promise<Claim>((r) => (asked.length ? r(asked.shift()!) : waiting.push(r))),
    get pending() {
      return asked.length;
    },
  };
}

/** Calls end at once, or (with `hold`) when the test ends them. */
class FakeExecutor {
  averageCallMs: number | undefined = 1;
  callsAreShort = true;
  stopping = false;
  hold = false;
  started = 0;
  private readonly held: Array<() => void> = [];
  async concurrencyOf(_versionId: string): Promise<number> {
    return 0;
  }
  execute(): Promise<{ settled: Promise<"succeeded"> }> {
    this.started++;
    const done = { settled: Promise.resolve("succeeded" as const) };
    return this.hold ? new Promise((r) => this.held.push(() => r(done))) : Promise.resolve(done);
  }
  /** End the oldest held call (its slot is free). */
  endOne(): void {
    this.held.shift()!();
  }
  cancel(): boolean {
    return false;
  }
  readonly cancelledBeforeStart: string[] = [];
  async cancelBeforeStart(run: RunRow): Promise<void> {
    this.cancelledBeforeStart.push(run.id);
  }
  readonly released: string[] = [];
  async release(run: RunRow): Promise<boolean> {
    this.released.push(run.id);
    return true;
  }
  abortAll(): void {
    for (const end of this.held.splice(0)) end();
  }
  async drain(): Promise<void> {}
}

/** Let the loop react (the fakes answer in microtasks: one turn of the event loop is enough). */
const turn = () => new Promise((r) => setImmediate(r));

function loopWith(slots: number, longCallMs?: number) {
  const claims = fakeClaims();
  const executor = new FakeExecutor();
  const loop = new RunLoop({ cp: claims.cp, me: { id: "wrk_test" }, slots, executor: executor as unknown as RunExecutor, held: { hold() {} }, ...(longCallMs !== undefined ? { longCallMs } : {}) });
  return { claims, executor, loop };
}

/**
 * Answer `count` claims in full, returning the sizes asked for. `first` runs when the first one
 * arrives, before it is answered (a claim's size was decided by the answers before it; changing the
 * pace any earlier would race with the loop taking the previous answer).
 */
async function fullClaims(claims: ReturnType<typeof fakeClaims>, count: number, first?: () => void): Promise<number[]> {
  const maxes: number[] = [];
  for (let i = 0; i < count; i++) {
    const c = await claims.next();
    if (i === 0) first?.();
    maxes.push(c.max);
    c.answer(c.max);
  }
  return maxes;
}

/** Calls of this length on average (short below 100 ms, as RunExecutor counts them). */
function pace(executor: FakeExecutor, averageCallMs: number): void {
  executor.averageCallMs = averageCallMs;
  executor.callsAreShort = averageCallMs < 100;
}

/** A run of deployment `dep` (its version is named after it too). */
const runOf = (id: string, dep: string): RunRow => ({ id, attempt: 1, maxRetries: 0, retryBackoffMs: 0, timeoutMs: null, workspaceId: "ws", deploymentId: dep, versionId: dep, args: [], traceparent: null, cancelRequested: false });

/**
 * A loop on `slots` whose claims get `answers` in turn, then nothing after a moment; every call is
 * held (long), and each deployment's limit is `limits[dep]` (none when absent).
 */
function scriptedLoop(slots: number, answers: RunRow[][], limits: Record<string, number>, longCallMs?: number) {
  const excluded: string[][] = [];
  const cp = {
    async call(_route: string, input: { body: { exclude: string[] } }) {
      excluded.push(input.body.exclude);
      const next = answers.shift();
      if (next) return { runs: next };
      await new Promise((r) => setTimeout(r, 5));
      return { runs: [] };
    },
  } as unknown as ControlPlane;
  const executor = new FakeExecutor();
  executor.hold = true;
  executor.callsAreShort = false;
  executor.concurrencyOf = async (versionId: string) => limits[versionId] ?? 0;
  const loop = new RunLoop({ cp, me: { id: "wrk_test" }, slots, executor: executor as unknown as RunExecutor, held: { hold() {} }, ...(longCallMs !== undefined ? { longCallMs } : {}) });
  const waiting = () => (loop as unknown as { ready: RunRow[] }).ready.map((r) => r.id);
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  };
  return { loop, executor, excluded, waiting, until };
}

describe("worker run loop: runs claimed ahead", () => {
  it("grows while claims come back full and calls are short, up to 256 per slot for 1 ms calls", async () => {
    const { claims, executor, loop } = loopWith(1);
    executor.averageCallMs = undefined;
    executor.callsAreShort = false;
    loop.start();
    try {
      assert.deepEqual(await fullClaims(claims, 2), [4, 4], "no call measured yet: no growth");
      assert.deepEqual(await fullClaims(claims, 8, () => pace(executor, 1)), [4, 4, 12, 24, 56, 120, 248, 248], "8 calls behind in flight at each claim");
      assert.deepEqual(await fullClaims(claims, 4, () => pace(executor, 400)), [248, 128, 64, 32], "long calls: full claims no longer grow it (the first still sent with 8 calls behind in flight)");
    } finally {
      await loop.stop();
    }
  });

  it("the cap follows the average call length: 50 ms calls hold at most 10 per slot", async () => {
    const { claims, executor, loop } = loopWith(1);
    pace(executor, 50);
    loop.start();
    try {
      assert.deepEqual(await fullClaims(claims, 4), [4, 7, 9, 9], "500 ms of 50 ms calls (one behind in flight)");
      assert.deepEqual(await fullClaims(claims, 6, () => pace(executor, 1)), [9, 12, 32, 72, 152, 248]);
      assert.deepEqual(await fullClaims(claims, 2, () => pace(executor, 50)), [248, 9], "calls got longer: back under the cap at once");
    } finally {
      await loop.stop();
    }
  });

  it("shrinks back when the queue runs dry", async () => {
    const { claims, loop } = loopWith(1);
    loop.start();
    try {
      assert.deepEqual(await fullClaims(claims, 4), [4, 4, 12, 24]);
      const short = await claims.next();
      assert.equal(short.max, 56);
      short.answer(10);
      const maxes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const c = await claims.next();
        maxes.push(c.max);
        c.answer(0);
      }
      assert.deepEqual(maxes, [24, 16, 8, 4, 4, 4], "halved by every short or empty claim, down to 4 (the first sent with 8 calls behind in flight)");
    } finally {
      await loop.stop();
    }
  });

  it("makes no claim while every slot is busy, even once the runs claimed ahead are all started", async () => {
    const { claims, executor, loop } = loopWith(2);
    executor.hold = true;
    pace(executor, 25); // one call behind each running one
    loop.start();
    try {
      const first = await claims.next();
      assert.equal(first.max, 8);
      first.answer(8);
      await turn();
      assert.equal(executor.started, 4, "one call per slot, and one more sent behind each (calls are short)");
      assert.equal(claims.pending, 0, "slots full: no claim");
      // Each call that ends frees its place for a run already claimed: still no claim.
      for (let i = 0; i < 4; i++) {
        executor.endOne();
        await turn();
        assert.equal(claims.pending, 0);
      }
      assert.equal(executor.started, 8);
      executor.endOne();
      const next = await claims.next();
      assert.equal(next.max, 2 * 8 - 3, "room for a call and none ahead: claims for the doubled prefetch, minus the calls in flight");
    } finally {
      await loop.stop();
    }
  });

  it("1 ms calls: each slot runs a call with eight sent behind it, and claims no more once all are placed", async () => {
    const { claims, executor, loop } = loopWith(2);
    executor.hold = true;
    loop.start();
    try {
      const first = await claims.next();
      first.answer(first.max);
      const second = await claims.next();
      second.answer(second.max + 4);
      await turn();
      assert.equal(executor.started, 18, "two running, eight behind each");
      assert.equal(claims.pending, 0, "every place taken: no claim");
      executor.endOne();
      await turn();
      assert.equal(executor.started, 19, "an end lets one more in, from the runs claimed ahead");
    } finally {
      await loop.stop();
    }
  });

  it("with a call in every slot, a claim for runs ahead is not held open (a run arriving later is left to another worker)", async () => {
    const { claims, executor, loop } = loopWith(2);
    executor.hold = true;
    loop.start();
    try {
      const first = await claims.next();
      assert.equal(first.waitMs, 20_000, "nothing running: held open until a run comes");
      first.answer(1);
      const second = await claims.next();
      assert.equal(second.waitMs, 200, "a free slot: held open a moment");
      second.answer(1);
      const ahead = await claims.next();
      assert.equal(ahead.waitMs, 0, "every slot has a call: only runs already queued");
      ahead.answer(0);
      await turn();
      assert.equal(claims.pending, 0, "an empty answer is not asked again until a call ends");
      executor.endOne();
      const afterEnd = await claims.next();
      assert.equal(afterEnd.waitMs, 200);
    } finally {
      await loop.stop();
    }
  });
  it("calls that turn long give back the runs waiting beyond the slots free of a long call, oldest kept, untouched", async () => {
    const { claims, executor, loop } = loopWith(3, 150);
    executor.hold = true;
    pace(executor, 25); // one call behind each running one
    loop.start();
    try {
      const first = await claims.next();
      first.answer(12);
      await turn();
      assert.equal(executor.started, 6, "one call per slot and one behind each (calls are short)");
      assert.deepEqual(executor.released, []);
      // The six calls run on past a short call's length: no slot is free of a long call.
      executor.callsAreShort = false;
      await new Promise((r) => setTimeout(r, 400));
      // Each call turning long leaves room for one waiting run less: the newest go first.
      assert.deepEqual(executor.released, ["run_9", "run_10", "run_11", "run_12", "run_8", "run_7"], "every waiting run went back, newest first");
      // Five end (their runs done); the sixth still runs long: two slots are free of it.
      for (let i = 0; i < 5; i++) executor.endOne();
      await turn();
      const next = await claims.next();
      assert.ok(next.max <= 3 * 4, `claims no more ahead than the least per slot (asked ${next.max})`);
      next.answer(next.max);
      await turn();
      assert.equal(executor.started, 8, "two more calls, one per slot free of the long call");
      assert.equal(executor.released.length, 6 + next.max - 2 - 2, "of the rest, as many wait as slots free of a long call; the others went back");
      // Those two run long too: nothing can wait here now.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(executor.released.length, 6 + next.max - 2);
    } finally {
      await loop.stop();
    }
  });

  it("a cancel for a run whose claim is on its way cancels it on arrival; cancels about runs no longer coming are forgotten", async () => {
    const { claims, executor, loop } = loopWith(1);
    executor.hold = true;
    loop.start();
    try {
      const first = await claims.next();
      first.answer(1);
      const second = await claims.next();
      // Cancels about runs that ended here or were handed back (none of them is coming), and one
      // about a run the claim on its way brings.
      for (let i = 0; i < 100; i++) loop.cancel(`run_gone_${i}`);
      loop.cancel("run_2");
      second.answer(2);
      await turn();
      assert.deepEqual(executor.cancelledBeforeStart, ["run_2"]);
      const pending = (loop as unknown as { cancelSoon: Map<string, number> }).cancelSoon;
      assert.equal(pending.size, 100, "they arrived after that claim went out: one of its runs could still have been among them");
      executor.endOne();
      await turn();
      const third = await claims.next();
      third.answer(0);
      await turn();
      assert.equal(pending.size, 0, "a claim sent after them answered without them: forgotten");
    } finally {
      await loop.stop();
    }
  });

  it("a call turning long gives back the runs that cannot wait, while the loop goes on claiming for the free slot", async () => {
    const { loop, executor, excluded, waiting, until } = scriptedLoop(2, [[runOf("run_a1", "A"), runOf("run_a2", "A"), runOf("run_a3", "A"), runOf("run_a4", "A")]], { A: 1 }, 20);
    loop.start();
    try {
      await until(() => executor.released.length >= 2);
      assert.equal(executor.started, 1, "deployment A runs one at a time");
      assert.deepEqual(executor.released, ["run_a3", "run_a4"], "one slot is free of the long call: the oldest waiting run stays, the others went back");
      assert.deepEqual(waiting(), ["run_a2"]);
      assert.ok(excluded.at(-1)!.includes("A"), "and A is left out of the claims that follow");
    } finally {
      await loop.stop();
    }
  });

  it("runs held back by their deployment's limit do not keep a free slot idle: the loop claims other deployments' runs for it", async () => {
    // The second claim brings only a run the limit holds back, the third another deployment's.
    const { loop, executor, excluded, waiting, until } = scriptedLoop(2, [[runOf("run_a1", "A")], [runOf("run_a2", "A")], [runOf("run_b1", "B")]], { A: 1 });
    loop.start();
    try {
      await until(() => executor.started >= 2);
      assert.equal(executor.started, 2, "run_a1 and, in the other slot, run_b1");
      assert.deepEqual(excluded[2], ["A"], "the third claim left A out (its limit is taken and a run of it waits)");
      assert.deepEqual(waiting(), ["run_a2"]);
      executor.endOne(); // run_a1 ends: run_a2 takes its place
      await until(() => executor.started >= 3);
      assert.equal(executor.started, 3);
    } finally {
      await loop.stop();
    }
  });

  it("a run waiting for its deployment's limit starts when the run before it ends, without waiting for the claim on its way", async () => {
    // The first claim brings three runs of a deployment limited to one; every later claim stays
    // open (as a control plane holds one while runs are in flight) until the loop stops.
    const answers = [[runOf("run_a1", "A"), runOf("run_a2", "A"), runOf("run_a3", "A")]];
    let openClaims = 0;
    const cp = {
      call(_route: string, input: { signal?: AbortSignal }) {
        const next = answers.shift();
        if (next) return Promise.resolve({ runs: next });
        openClaims++;
        return new Promise((_, reject) => input.signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      },
    } as unknown as ControlPlane;
    const executor = new FakeExecutor();
    executor.hold = true;
    executor.concurrencyOf = async (versionId: string) => (versionId === "A" ? 1 : 0);
    const loop = new RunLoop({ cp, me: { id: "wrk_test" }, slots: 2, executor: executor as unknown as RunExecutor, held: { hold() {} } });
    loop.start();
    try {
      for (let i = 0; i < 400 && (executor.started < 1 || openClaims < 1); i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual([executor.started, openClaims], [1, 1], "run_a1 runs; a claim for the free slot is on its way");
      executor.endOne();
      for (let i = 0; i < 400 && executor.started < 2; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(executor.started, 2, "run_a2 started at run_a1's end, the claim still open");
      executor.endOne();
      for (let i = 0; i < 400 && executor.started < 3; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(executor.started, 3, "and run_a3 at run_a2's");
    } finally {
      await loop.stop();
    }
  });
});
