// The API's OpenAPI document is generated from the same declarations that validate requests: a real
// validator accepts it, a client generated from it (openapi-typescript + openapi-fetch) type-checks
// real calls and rejects wrong ones, and bad input of each kind gets a 400 naming the field.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compileErrors, validate } from "@readme/openapi-parser";
import openapiTS, { astToString } from "openapi-typescript";
import { REPO, startTestPlatform, tempDir, type TestPlatform } from "../jobs/_helpers.ts";

// Calls a user of a generated client would write; the @ts-expect-error lines must stay errors.
const SAMPLE = `import createClient from "openapi-fetch";
import type { paths } from "./api.ts";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:7070/api/v1", headers: { authorization: "Bearer t" } });

export async function sample(): Promise<string[]> {
  const trigger = await api.POST("/workspaces/{ws}/deployments/{name}/runs", { params: { path: { ws: "default", name: "square" } }, body: { args: [7], wait: true } });
  if (trigger.error) return [trigger.error.error.code, trigger.error.error.message];
  const started = "run" in trigger.data ? trigger.data.run : trigger.data.runs[0]!;
  const read = await api.GET("/runs/{id}", { params: { path: { id: started.id } } });
  if (!read.data) return [];
  const status: "queued" | "running" | "succeeded" | "failed" | "cancelled" | "timed_out" = read.data.run.status;
  const attempt: number = read.data.run.attempt;
  const finished: string | null = read.data.run.finishedAt;
  const list = await api.GET("/workspaces/{ws}/deployments", { params: { path: { ws: "default" } } });
  const names: string[] = (list.data?.deployments ?? []).map((d) => \`\${d.name}:\${d.type}:\${d.contentHash}\`);
  const runs = await api.GET("/runs", { params: { query: { workspace: "default", status: "failed", limit: 10 } } });
  return [status, String(attempt), String(finished), ...names, ...(runs.data?.runs.map((r) => r.id) ?? [])];
}

export async function wrong(): Promise<void> {
  // @ts-expect-error wait is a boolean
  await api.POST("/workspaces/{ws}/deployments/{name}/runs", { params: { path: { ws: "w", name: "n" } }, body: { wait: "yes" } });
  // @ts-expect-error the path parameter id is required
  await api.GET("/runs/{id}", { params: { path: {} } });
  // @ts-expect-error no such route
  await api.GET("/runz");
  const read = await api.GET("/runs/{id}", { params: { path: { id: "x" } } });
  // @ts-expect-error a run's status is a string, not a number
  const n: number = read.data!.run.status;
  // @ts-expect-error status is one of the run statuses
  await api.GET("/runs", { params: { query: { status: "exploded" } } });
  void n;
}
`;

describe("platform API: one schema per route", () => {
  let tp: TestPlatform;
  let doc: Record<string, any>;
  before(async () => {
    tp = await startTestPlatform({ executor: false });
    const res = await fetch(`${tp.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as Record<string, any>;
  });
  after(async () => {
    await tp?.close();
  });

  it("the generated document is valid OpenAPI 3.1 with request and response schemas", async () => {
    assert.equal(doc.openapi, "3.1.0");
    const result = await validate(structuredClone(doc) as never);
    assert.ok(result.valid, compileErrors(result));
    const trigger = doc.paths["/workspaces/{ws}/deployments/{name}/runs"].post;
    assert.ok(trigger.requestBody.content["application/json"].schema, "trigger body schema");
    assert.ok(trigger.responses["201"].content["application/json"].schema, "trigger answer schema");
    assert.ok(trigger.responses["400"].content["application/json"].schema, "error envelope");
    const limit = doc.paths["/runs"].get.parameters.find((p: { name: string }) => p.name === "limit");
    assert.equal(limit.schema.type, "integer");
    assert.ok(doc.components.schemas.Run && doc.components.schemas.Deployment && doc.components.schemas.Error);
    // Raw uploads are documented with their media type.
    assert.ok(doc.paths["/bundles/{hash}"].put.requestBody.content["application/octet-stream"]);
  });

  it("a client generated with openapi-typescript + openapi-fetch type-checks real calls and rejects wrong ones", async () => {
    const dir = tempDir("nbx-openapi-client-");
    writeFileSync(join(dir, "api.ts"), astToString(await openapiTS(doc as never)));
    writeFileSync(join(dir, "sample.ts"), SAMPLE);
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"), "dir");
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true, types: [] }, files: ["sample.ts"] }),
    );
    try {
      execFileSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      assert.fail(`the generated client does not type-check:\n${(err as { stdout?: string }).stdout}`);
    }
  });

  const bad = async (method: string, path: string, body: unknown, code: string, message: RegExp) => {
    const r = await tp.api(method, path, body);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.ok, false);
    assert.equal(r.json.error.code, code);
    assert.equal(typeof r.json.error.name, "string");
    assert.match(r.json.error.message, message);
  };

  it("a bad path parameter → 400 naming it and what was expected", async () => {
    await bad("GET", "/bundles/not-a-hash", undefined, "BAD_REQUEST", /^params\.hash: expected a bundle hash \(64 lowercase hex characters\), got string "not-a-hash"$/);
  });

  it("a bad query parameter → 400 naming it and what was expected", async () => {
    await bad("GET", "/runs?limit=abc", undefined, "BAD_REQUEST", /^query\.limit: expected an integer, got string "abc"$/);
    await bad("GET", "/runs?status=exploded", undefined, "BAD_REQUEST", /^query\.status: unknown status "exploded"; use one of queued, /);
  });

  it("a bad body → 400 naming the field and what was expected", async () => {
    await bad("POST", "/workspaces/w/deployments/square/runs", { args: "x" }, "BAD_ARGS", /^body\.args: expected array, got string "x"$/);
    await bad("POST", "/runs/wait", { ids: [] }, "BAD_REQUEST", /^body\.ids: .*>=1/);
    await bad("POST", "/workspaces", {}, "BAD_REQUEST", /^body\.name: expected string, got nothing$/);
    await bad("POST", "/workspaces/w/deployments/square/runs", { wait: "yes" }, "BAD_REQUEST", /^body\.wait: expected boolean, got string "yes"$/);
  });

  it("authentication comes before validation: no token → 401, whatever the input", async () => {
    const r = await fetch(`${tp.url}/api/v1/bundles/not-a-hash`);
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "UNAUTHORIZED");
  });
});
