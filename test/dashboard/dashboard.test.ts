// The dashboard is one static page over the public API: it is served at `/`, needs no token
// to load, and every API path it reads exists and answers with the token it is given.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DASHBOARD_JS } from "../../src/dashboard/script.ts";
import { startTestPlatform, type TestPlatform } from "../platform/jobs/_helpers.ts";

describe("dashboard", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  it("serves the page at / without a token", async () => {
    const res = await fetch(`${tp.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    const html = await res.text();
    assert.match(html, /<title>nbox<\/title>/);
    assert.match(html, /<script type="module" src="\/dashboard\.js"><\/script>/);
    assert.match(html, /<link rel="stylesheet" href="\/dashboard\.css">/);
  });

  it("serves its script and stylesheet as files, without a token", async () => {
    const js = await fetch(`${tp.url}/dashboard.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.equal(await js.text(), DASHBOARD_JS);
    assert.match(DASHBOARD_JS, /location\.hash\.match\(\/token=/, "the #token= link logs the browser in");
    const css = await fetch(`${tp.url}/dashboard.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    assert.match(await css.text(), /\.bar\{/);
  });

  it("has a Workers tab: the workers the platform lists, and a note instead of an error for workspace tokens", async () => {
    const html = await (await fetch(`${tp.url}/`)).text();
    assert.match(html, /<a data-view="workers">Workers<\/a>/);
    assert.match(DASHBOARD_JS, /async workers\(\) \{/);
    assert.match(DASHBOARD_JS, /e\.status === 403/, "a workspace token's 403 is shown as a note, not the login form");
    const { status, json } = await tp.api("GET", "/workers");
    assert.equal(status, 200);
    assert.ok(json.workers.some((w: { local: boolean; alive: boolean }) => w.local && w.alive), "the local worker is there to show");
    const ws = await tp.api("POST", "/tokens", { workspace: "dashboard-workers" });
    const res = await fetch(`${tp.url}/api/v1/workers`, { headers: { authorization: `Bearer ${ws.json.secret}` } });
    assert.equal(res.status, 403);
  });

  it("every API path the page reads answers 200 with a token and 401 without", async () => {
    const paths = [...DASHBOARD_JS.matchAll(/api\("(\/[a-z]+)/g)].map((m) => m[1]!);
    assert.deepEqual([...new Set(paths)].sort(), ["/events", "/runs", "/schedules", "/servings", "/workers", "/workspaces"]);
    for (const p of new Set(paths)) {
      const ok = await fetch(`${tp.url}/api/v1${p}`, { headers: { authorization: `Bearer ${tp.token}` } });
      assert.equal(ok.status, 200, p);
      const no = await fetch(`${tp.url}/api/v1${p}`);
      assert.equal(no.status, 401, p);
    }
  });
});
