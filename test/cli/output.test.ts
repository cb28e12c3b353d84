// How the CLI's tables say times relative to now.
import { it } from "node:test";
import assert from "node:assert/strict";
import { fromNow } from "../../src/cli/output.ts";

it("fromNow: a moment either way is now (a tick that just fired read \"in 0s\"); further off, ago or in", () => {
  const at = (ms: number) => new Date(Date.now() + ms).toISOString();
  assert.equal(fromNow(at(-300)), "now");
  assert.equal(fromNow(at(300)), "now");
  assert.match(fromNow(at(-90_000)), / ago$/);
  assert.match(fromNow(at(90_000)), /^in /);
  assert.equal(fromNow(null), "-");
});
