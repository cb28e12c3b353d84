// setuid/setgid/sticky bits in an uploaded bundle, end to end: the tarball carries files with mode
// 04755 / 02755 / 01644 and a world-writable setgid folder; the bundle verifies (modes beyond the x bit
// are not part of the content), and the deployed job itself sees only 0755 / 0644 files and 0755 folders.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeTarGz, type TarEntry } from "../../src/bundle/tar-writer.ts";
import { eventually, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { putBundle, sdkBundle, tarEntries, whoProject } from "./bundle-helpers.ts";

const MODES_JOB = `import { statSync } from "node:fs";
import { operator } from "nbox";
const mode = (f: string) => (statSync(new URL(f, import.meta.url)).mode & 0o7777).toString(8);
export const modes = operator(function modes() {
  return { suid: mode("./tools/suid.sh"), sgid: mode("./tools/sgid.sh"), sticky: mode("./data.txt"), dir: mode("./tools") };
});
`;

describe("security: modes of extracted bundles", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  it("setuid, setgid and sticky bits are stripped: files 0755/0644, folders 0755", async () => {
    const ws = wsName("modes");
    const token = (await tp.api("POST", "/tokens", { workspace: ws, name: "modes" })).json.secret;
    const { dir, mod } = await whoProject("unused", { "ops.ts": MODES_JOB, "data.txt": "data\n" });
    mkdirSync(join(dir, "tools"));
    for (const f of ["suid.sh", "sgid.sh"]) writeFileSync(join(dir, "tools", f), "#!/bin/sh\nid\n", { mode: 0o755 });
    const sdk = await sdkBundle(dir, mod.modes, ws);

    const odd: Record<string, number> = { "tools/suid.sh": 0o4755, "tools/sgid.sh": 0o2755, "data.txt": 0o1644 };
    const entries: TarEntry[] = (await tarEntries(sdk.tarball)).map((e) => ({ ...e, mode: odd[e.path] ?? e.mode }));
    const crafted = writeTarGz([entries[0]!, { path: "tools/", type: "Directory", mode: 0o3777 }, ...entries.slice(1)]);
    const put = await putBundle(tp.url, token, sdk.hash, crafted);
    assert.equal(put.status, 201, JSON.stringify(put.json));

    const headers = { authorization: `Bearer ${token}` };
    const dep = await tp.api("POST", `/workspaces/${ws}/deployments`, { manifest: sdk.manifest }, headers);
    assert.equal(dep.status, 201, JSON.stringify(dep.json));
    const started = await tp.api("POST", `/workspaces/${ws}/deployments/${dep.json.deployment.name}/runs`, { args: [], wait: true }, headers);
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const run = await eventually(async () => {
      const r = (await tp.api("GET", `/runs/${started.json.run.id}`, undefined, headers)).json.run;
      return ["queued", "running"].includes(r.status) ? undefined : r;
    }, 60_000, "the modes run to finish");
    assert.equal(run.status, "succeeded", JSON.stringify(run));
    assert.deepEqual(run.result, { suid: "755", sgid: "755", sticky: "644", dir: "755" });
  });
});
