// The dashboard holds a token that may be the admin token. Its responses carry a strict CSP (no
// inline or foreign script or style, no framing, no <base>), nosniff and no-referrer, and the page
// itself has nothing inline that such a policy would have to allow. The browser side (CSP enforced,
// token only in sessionStorage) is tested in test/dashboard/browser.test.ts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestPlatform, type TestPlatform } from "../platform/jobs/_helpers.ts";

/** `default-src 'self'; frame-ancestors 'none'` → { "default-src": ["'self'"], "frame-ancestors": ["'none'"] } */
function directives(csp: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of csp.split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = values;
  }
  return out;
}

describe("security: dashboard headers", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  for (const path of ["/", "/dashboard.js", "/dashboard.css"]) {
    it(`${path} has a strict CSP, nosniff, no-referrer and no framing`, async () => {
      const res = await fetch(tp.url + path);
      assert.equal(res.status, 200);
      const csp = res.headers.get("content-security-policy");
      assert.ok(csp, "a Content-Security-Policy header");
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|unsafe-hashes|\*|data:|http:|https:/i, csp);
      const d = directives(csp);
      assert.deepEqual(d["default-src"], ["'self'"]);
      assert.deepEqual(d["script-src"], ["'self'"]);
      assert.deepEqual(d["style-src"], ["'self'"]);
      assert.deepEqual(d["frame-ancestors"], ["'none'"]);
      assert.deepEqual(d["base-uri"], ["'none'"]);
      assert.deepEqual(d["form-action"], ["'self'"]);
      assert.deepEqual(d["object-src"], ["'none'"]);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
      await res.arrayBuffer();
    });
  }

  it("the page has no inline script, inline style or event-handler attribute", async () => {
    const html = await (await fetch(`${tp.url}/`)).text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length >= 1, "the page loads its script");
    for (const [, attrs, body] of scripts) {
      assert.match(attrs!, /\bsrc="\/[^"]+"/, "a script comes from a same-origin file");
      assert.equal(body!.trim(), "", "and has no inline body");
    }
    assert.doesNotMatch(html, /<style\b/i);
    assert.doesNotMatch(html, /\sstyle\s*=/i);
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i);
  });

  it("the script keeps the token out of localStorage and off the address bar", async () => {
    const js = await (await fetch(`${tp.url}/dashboard.js`)).text();
    assert.doesNotMatch(js, /localStorage\.setItem/);
    assert.match(js, /sessionStorage\.setItem\("?\w/);
    assert.match(js, /history\.replaceState/);
  });

  it("API and serving routes are not given the dashboard's headers", async () => {
    const res = await fetch(`${tp.url}/api/v1/runs`, { headers: { authorization: `Bearer ${tp.token}` } });
    await res.arrayBuffer();
    assert.equal(res.headers.get("content-security-policy"), null);
  });
});
