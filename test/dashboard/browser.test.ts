// The dashboard in a real browser (Debian chromium driven by playwright-core): the #token= link
// logs in (the token goes to sessionStorage, never localStorage), the runs table shows a real run,
// a click opens its trace timeline and logs, and the page's CSP stops injected inline script.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";

const CHROMIUM = process.env.NBOX_CHROMIUM ?? "/usr/bin/chromium";
// Flags from the machine notes: no sandbox as root, and no background networking on a closed network.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

describe("dashboard in a browser", { skip: existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)` }, () => {
  let tp: TestPlatform;
  let browser: Browser;
  let runId: string;
  before(async () => {
    tp = await startTestPlatform();
    const { mod } = await importProject("basic");
    const chatty = await mod.chatty.deploy(wsName("dash"), { client: tp.client });
    const run = await chatty.trigger(2);
    await run.result();
    runId = run.id;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  after(async () => {
    await browser?.close();
    await tp?.close();
  });

  it("logs in from the #token= link, lists the run, and shows its trace and logs", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${tp.url}/#token=${encodeURIComponent(tp.token)}`);
    const row = page.locator(`tr[data-run="${runId}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.innerText(), /succeeded/);
    assert.equal(new URL(page.url()).hash, "", "the token is removed from the address bar");
    const stored: { local: object; session: string | null } = await page.evaluate(`({ local: { ...localStorage }, session: sessionStorage.getItem("nbox.token") })`);
    assert.deepEqual(stored.local, {}, "nothing (no token) in localStorage");
    assert.equal(stored.session, tp.token, "the token is kept for this tab only");
    await row.click();
    await page.locator("h4", { hasText: "Trace" }).waitFor({ timeout: 10_000 });
    assert.ok((await page.locator(".bar").count()) >= 1, "the trace timeline has a bar per span");
    const logs = await page.locator("pre").last().innerText();
    assert.match(logs, /\[stdout\]/);
    await page.getByText("Deployments").click();
    await page.getByText("chatty").first().waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, [], "no console errors (a CSP violation would show as one)");
  });

  it("markup injected into the page cannot run script (the CSP refuses inline script)", async () => {
    const page = await browser.newPage();
    await page.goto(`${tp.url}/#token=${encodeURIComponent(tp.token)}`);
    await page.locator(`tr[data-run="${runId}"]`).waitFor({ timeout: 15_000 });
    // As if a value escaped the page's HTML escaping: an inline handler and an inline <script>.
    // Plain JS text: tsx would add helpers to a compiled function that the page does not have.
    const outcome: { pwned: string[]; blocked: string[] } = await page.evaluate(`new Promise((resolve) => {
      const blocked = [];
      // Each payload either runs (and says so) or is blocked (a violation event): wait for both outcomes.
      let settled = 0;
      const settle = () => { if (++settled === 2) resolve({ pwned: window.pwned ?? [], blocked }); };
      document.addEventListener("securitypolicyviolation", (e) => { blocked.push(e.violatedDirective); settle(); });
      window.addEventListener("pwned", settle);
      const ran = (what) => "(window.pwned ??= []).push('" + what + "'); dispatchEvent(new Event('pwned'))";
      const host = document.createElement("div");
      host.innerHTML = '<img src="/favicon.ico" onerror="' + ran("handler") + '">';
      document.body.append(host);
      const script = document.createElement("script");
      script.textContent = ran("script");
      document.body.append(script);
    })`);
    assert.deepEqual(outcome.pwned, []);
    assert.equal(outcome.blocked.length, 2);
    assert.ok(outcome.blocked.every((d) => d.startsWith("script-src")), outcome.blocked.join(", "));
    await page.close();
  });

  it("without a token it asks for one instead of failing", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${tp.url}/`);
    await page.getByText("Paste a token").waitFor({ timeout: 10_000 });
    await ctx.close();
  });
});
