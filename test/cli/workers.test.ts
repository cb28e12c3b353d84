// `nbx workers` lists the platform's workers for an admin token (table and --json), and a
// workspace token is told it needs an admin token.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { nbx } from "./_harness.ts";

describe("nbx workers", { timeout: 300_000 }, () => {
  let tp: TestPlatform;
  let env: Record<string, string>;
  before(async () => {
    tp = await startTestPlatform({ slots: 2 });
    env = { NBOX_URL: tp.url, NBOX_TOKEN: tp.token };
  });
  after(async () => {
    await tp?.close();
  });

  it("prints the local worker as a table, and as JSON with --json", async () => {
    const table = await nbx(["workers"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+NAME\s+STATE\s+SLOTS\s+RUNNING\s+SANDBOX\s+LAST SEEN\s+ADDRESS$/m);
    assert.match(table.stdout, /^wrk_\S+\s+.+ \(local\)\s+alive\s+2\s+0\s+(bwrap|none)\s+/m);

    const json = await nbx(["workers", "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Array<{ local: boolean; alive: boolean; slots: number; running: number }>;
    assert.ok(list.some((w) => w.local && w.alive && w.slots === 2 && w.running === 0), json.stdout);
  });

  it("a workspace token is refused with a message naming the admin token", async () => {
    const { json } = await tp.api("POST", "/tokens", { workspace: wsName("cli-workers") });
    const r = await nbx(["workers"], { env: { ...env, NBOX_TOKEN: json.secret } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /admin token/);
  });
});
