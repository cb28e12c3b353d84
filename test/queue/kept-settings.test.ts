// Queue settings asked for while Redis is away (a deploy's concurrency, a schedule) are kept, the
// latest per key, and applied once Redis answers; the deploy asking for them does not fail.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RedisUnavailableError } from "../../src/platform/queue/bullmq-queue.ts";
import { KeptSettings } from "../../src/platform/queue/kept-settings.ts";

function fakeRedis() {
  const state = { down: true, applied: [] as string[], logs: [] as string[] };
  const set = (what: string) => async () => {
    if (state.down) throw new RedisUnavailableError("redis://x:6379", "connection refused");
    state.applied.push(what);
  };
  return { state, set, settings: new KeptSettings((m) => state.logs.push(m)) };
}

describe("KeptSettings", () => {
  it("applies at once while Redis answers", async () => {
    const { state, set, settings } = fakeRedis();
    state.down = false;
    await settings.apply("concurrency:d1", set("d1=2"));
    assert.deepEqual(state.applied, ["d1=2"]);
    assert.equal(settings.size, 0);
  });

  it("keeps the latest setting per key while Redis is away, says so once, and applies them when it is back", async () => {
    const { state, set, settings } = fakeRedis();
    await settings.apply("concurrency:d1", set("d1=2"));
    await settings.apply("concurrency:d1", set("d1=5"));
    await settings.apply("schedule:s1", set("upsert s1"));
    await settings.apply("schedule:s1", set("remove s1"));
    await settings.apply("concurrency:d2", set("d2=1"));
    assert.equal(settings.size, 3);
    assert.equal(state.logs.length, 1, state.logs.join("\n"));
    assert.match(state.logs[0]!, /wait for Redis/);
    await settings.reconnected(); // a reconnect that fails again keeps them
    assert.equal(settings.size, 3);
    state.down = false;
    await settings.reconnected();
    assert.deepEqual(state.applied, ["d1=5", "remove s1", "d2=1"]);
    assert.equal(settings.size, 0);
  });

  it("other errors are the caller's", async () => {
    const { settings } = fakeRedis();
    await assert.rejects(
      settings.apply("concurrency:d1", async () => {
        throw new Error("bad pattern");
      }),
      /bad pattern/,
    );
    assert.equal(settings.size, 0);
  });
});
