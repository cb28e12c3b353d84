// Bundle poisoning across workspaces, end to end: a workspace token uploads other code under another
// workspace's content hash, overwrites a stored bundle, or registers a deployment from a bundle that was
// never verified. The platform re-hashes every upload, never rewrites a stored bundle, and only deploys
// verified ones; a crash's leftovers are never taken for bundles.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeTarGz } from "../../src/bundle/tar-writer.ts";
import { PlatformClient } from "../../src/remote/client.ts";
import { eventually, freshDataDir, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { putBundle, sdkBundle, tarEntries, whoProject } from "./bundle-helpers.ts";

describe("security: bundle poisoning", () => {
  let tp: TestPlatform;
  let alphaWs: string;
  let betaWs: string;
  let alphaToken: string;
  let betaToken: string;
  let alpha: Awaited<ReturnType<typeof whoProject>>;
  let beta: Awaited<ReturnType<typeof whoProject>>;
  const bundlePath = (hash: string) => join(tp.dataDir, "bundles", `${hash}.tgz`);

  before(async () => {
    tp = await startTestPlatform();
    alphaWs = wsName("alpha");
    betaWs = wsName("beta");
    alphaToken = (await tp.api("POST", "/tokens", { workspace: alphaWs, name: "alpha" })).json.secret;
    betaToken = (await tp.api("POST", "/tokens", { workspace: betaWs, name: "beta" })).json.secret;
    alpha = await whoProject("alpha");
    beta = await whoProject("beta");
  });
  after(async () => {
    await tp?.close();
  });

  /** Beta's code under alpha's nbox.json: what an attacker uploads as alpha's next bundle. */
  async function poisonFor(a: { manifest: unknown }, b: { tarball: Buffer }): Promise<Buffer> {
    const code = (await tarEntries(b.tarball)).filter((e) => e.path !== "nbox.json");
    return writeTarGz([{ path: "nbox.json", type: "File", mode: 0o644, data: Buffer.from(JSON.stringify(a.manifest, null, 2) + "\n") }, ...code]);
  }

  it("other code under alpha's hash is refused (400 naming both hashes); alpha's deploy then uploads and runs alpha's code", async () => {
    const a = await sdkBundle(alpha.dir, alpha.mod.who, alphaWs);
    const b = await sdkBundle(beta.dir, beta.mod.who, betaWs);
    assert.notEqual(a.hash, b.hash);
    const poison = await poisonFor(a, b);

    // Uploaded first, under alpha's (predictable) hash.
    const r = await putBundle(tp.url, betaToken, a.hash, poison);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "BAD_REQUEST");
    // The message names the claimed hash and the one the content really has (beta's files under
    // alpha's manifest fields, so neither alpha's nor, when the manifests differ, beta's hash).
    const real = /hashes to ([0-9a-f]{64})/.exec(r.json.error.message)?.[1];
    assert.ok(r.json.error.message.includes(a.hash) && real && real !== a.hash, r.json.error.message);
    // Under the hash its content really has, its nbox.json (alpha's) gives it away.
    const own = await putBundle(tp.url, betaToken, real, poison);
    assert.equal(own.status, 400, JSON.stringify(own.json));
    assert.match(own.json.error.message, new RegExp(`says contentHash ${a.hash}`));
    assert.equal((await tp.api("GET", `/bundles/${a.hash}`)).json.exists, false);
    assert.equal(existsSync(bundlePath(a.hash)), false, "nothing was written under alpha's hash");

    const steps: string[] = [];
    const client = new PlatformClient({ url: tp.url, token: alphaToken });
    const remote = await alpha.mod.who.deploy(alphaWs, { client, onStep: (s: string, d?: string) => steps.push(`${s}:${d ?? ""}`) });
    assert.equal(remote.deployment.contentHash, a.hash);
    assert.ok(!steps.includes("upload:unchanged, 0 bytes"), `alpha's bundle must be uploaded, not found: ${steps.join(", ")}`);
    assert.equal(await remote(), "alpha");
  });

  it("a stored bundle is immutable: a second upload of its hash (garbage or poison) is a no-op, and alpha keeps running alpha's code", async () => {
    const a = await sdkBundle(alpha.dir, alpha.mod.who, alphaWs);
    const b = await sdkBundle(beta.dir, beta.mod.who, betaWs);
    const client = new PlatformClient({ url: tp.url, token: alphaToken });
    await alpha.mod.who.deploy(alphaWs, { client }); // stored (by this test or the one before)
    const file = bundlePath(a.hash);
    const before = { bytes: readFileSync(file), st: statSync(file) };

    for (const body of [Buffer.from("garbage, not a bundle at all"), await poisonFor(a, b), a.tarball]) {
      const r = await putBundle(tp.url, betaToken, a.hash, body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual({ stored: r.json.stored, existed: r.json.existed }, { stored: false, existed: true });
    }
    const st = statSync(file);
    assert.ok(readFileSync(file).equals(before.bytes), "the stored bundle's bytes are unchanged");
    assert.equal(st.ino, before.st.ino, "the stored bundle was not replaced");
    assert.equal(st.mtimeMs, before.st.mtimeMs, "the stored bundle was not written");

    const steps: string[] = [];
    const again = await alpha.mod.who.deploy(alphaWs, { client, onStep: (s: string, d?: string) => steps.push(`${s}:${d ?? ""}`) });
    assert.ok(steps.includes("upload:unchanged, 0 bytes"), steps.join(", "));
    assert.equal(await again(), "alpha");
  });

  it("a stored bundle a power cut left cut short is taken again by the next upload (it is not counted as stored)", async () => {
    const a = await sdkBundle(alpha.dir, alpha.mod.who, alphaWs);
    const client = new PlatformClient({ url: tp.url, token: alphaToken });
    await alpha.mod.who.deploy(alphaWs, { client }); // stored (by this test or one before)
    const file = bundlePath(a.hash);
    const whole = readFileSync(file);
    // Its name and record were written, the end of its bytes never reached the disk.
    writeFileSync(file, whole.subarray(0, whole.length >> 1));
    assert.equal((await tp.api("GET", `/bundles/${a.hash}`)).json.exists, false, "not counted as stored");
    const r = await putBundle(tp.url, alphaToken, a.hash, a.tarball);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.deepEqual({ stored: r.json.stored, existed: r.json.existed }, { stored: true, existed: false });
    assert.ok(readFileSync(file).equals(whole), "whole again");
    assert.equal(await (await alpha.mod.who.deploy(alphaWs, { client }))(), "alpha");
  });

  it("a deployment is registered only from a verified upload, with the manifest inside it", async () => {
    const a = await sdkBundle(alpha.dir, alpha.mod.who, alphaWs);
    await alpha.mod.who.deploy(alphaWs, { client: new PlatformClient({ url: tp.url, token: alphaToken }) });
    // Alpha's verified bundle under a manifest it was not packed with (another name and init).
    const forged = await fetch(`${tp.url}/api/v1/workspaces/${betaWs}/deployments`, {
      method: "POST",
      headers: { authorization: `Bearer ${betaToken}`, "content-type": "application/json" },
      body: JSON.stringify({ manifest: { ...a.manifest, name: "stolen", init: [1] } }),
    });
    assert.equal(forged.status, 400);
    assert.match(((await forged.json()) as any).error.message, /does not match the nbox\.json inside bundle/);

    // A file in the bundles folder the platform never verified (no store record) is not a bundle.
    const { dir, mod } = await whoProject("planted");
    const c = await sdkBundle(dir, mod.who, betaWs);
    writeFileSync(bundlePath(c.hash), c.tarball);
    assert.equal((await tp.api("GET", `/bundles/${c.hash}`)).json.exists, false);
    const planted = await tp.api("POST", `/workspaces/${betaWs}/deployments`, { manifest: c.manifest }, { authorization: `Bearer ${betaToken}` });
    assert.equal(planted.status, 400, JSON.stringify(planted.json));
    assert.match(planted.json.error.message, /has not been uploaded/);
    // Uploading it for real verifies it and makes it usable.
    assert.equal((await putBundle(tp.url, betaToken, c.hash, c.tarball)).status, 201);
    const ok = await tp.api("POST", `/workspaces/${betaWs}/deployments`, { manifest: c.manifest }, { authorization: `Bearer ${betaToken}` });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
  });

  it("an interrupted upload's temp file is never taken for a bundle, and stale ones are swept at startup", async () => {
    const a = await sdkBundle(alpha.dir, alpha.mod.who, alphaWs);
    const dataDir = await freshDataDir();
    const incoming = join(dataDir, "bundles", ".incoming");
    mkdirSync(incoming, { recursive: true });
    // What kill -9 leaves: a complete (even valid) upload that was never verified, renamed or recorded.
    const temp = join(incoming, `${a.hash}.999999.deadbeef.part`);
    const legacy = join(dataDir, "bundles", `${a.hash}.tgz.999999.1.tmp`);
    writeFileSync(temp, a.tarball);
    copyFileSync(temp, legacy);
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(temp, old, old);
    utimesSync(legacy, old, old);

    const other = await startTestPlatform({}, dataDir);
    try {
      assert.equal((await other.api("GET", `/bundles/${a.hash}`)).json.exists, false);
      const r = await other.api("POST", `/workspaces/${alphaWs}/deployments`, { manifest: a.manifest });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(r.json.error.message, /has not been uploaded/);
      await eventually(async () => !existsSync(temp) && !existsSync(legacy), 10_000, "stale upload temps swept");
      assert.deepEqual(readdirSync(join(dataDir, "bundles")).filter((f) => f.endsWith(".tgz")), []);
    } finally {
      await other.close();
    }
  });
});
