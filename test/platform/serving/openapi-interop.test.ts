// A client generated from a deployed serving's /openapi.json with openapi-typescript gets the
// methods' real argument and result types: a sample openapi-fetch client type-checks under a
// strict tsconfig (wrong calls are type errors), then runs against the serving over plain JSON.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { compileErrors, validate } from "@readme/openapi-parser";
import openapiTS, { astToString } from "openapi-typescript";
import { importProject, raw, REPO, startTestPlatform, tempDir, wsName, type TestPlatform } from "./_helpers.ts";

const run = promisify(execFile);

const CLIENT = `import createClient from "openapi-fetch";
import type { components, paths } from "./schema.ts";

type Client = ReturnType<typeof createClient<paths>>;
type AddBody = paths["/call/add"]["post"]["requestBody"]["content"]["application/json"];

export const connect = (baseUrl: string, token: string): Client =>
  createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });

export async function sample(client: Client) {
  const added = await client.POST("/call/add", { body: { args: ["from openapi-fetch"] } });
  if (!added.data) throw new Error(JSON.stringify(added.error));
  const note: components["schemas"]["Note"] = added.data.value;
  const title: string = note.title;
  const at: string = note.at;
  const tags: string[] = note.tags;
  const both = await client.POST("/call/add", { body: { args: ["t", "b"] } });
  const body: string | undefined = both.data?.value.body;
  const since = await client.POST("/call/since", { body: { args: ["1970-01-01T00:00:02.000Z"] } });
  const ms: number | undefined = since.data?.value;
  const found = await client.POST("/call/find", { body: { args: [{ kind: "todo", limit: 2 }] } });
  const kind: string | undefined = found.data?.value;
  const sum = await client.POST("/call/sum", { body: { args: [1, 2, 3] } });
  const count = await client.GET("/attr/count");
  const n: number | undefined = count.data?.value;
  const failed = await client.POST("/call/fail", { body: { args: ["boom"] } });
  const code: components["schemas"]["nbox.ServingError"]["error"]["code"] | undefined = failed.error?.error.code;
  return { title, at, tags, body, ms, kind, sum: sum.data?.value, n, code, status: failed.response.status };
}

/** Never run: each line must be a type error. */
export async function wrong(client: Client) {
  // @ts-expect-error a number is not a title
  await client.POST("/call/add", { body: { args: [5] } });
  // @ts-expect-error add takes 1-2 arguments
  const tooMany: AddBody = { args: ["a", "b", "c"] };
  // @ts-expect-error add needs its title
  const tooFew: AddBody = { args: [] };
  // @ts-expect-error a bigint travels as a decimal string
  await client.POST("/call/double", { body: { args: [12] } });
  // @ts-expect-error sum takes numbers
  await client.POST("/call/sum", { body: { args: [1, "2"] } });
  // @ts-expect-error kind is "todo" | "done"
  await client.POST("/call/find", { body: { args: [{ kind: "later" }] } });
  // @ts-expect-error since() answers a number
  const s: string | undefined = (await client.POST("/call/since", { body: { args: ["x"] } })).data?.value;
  // @ts-expect-error no such method
  await client.POST("/call/nope", { body: { args: [] } });
  return [s, tooMany, tooFew];
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "ESNext",
    moduleResolution: "Bundler",
    lib: ["ES2022", "DOM"],
    types: [],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
  },
  include: ["*.ts"],
};

describe("a client generated from a serving's OpenAPI document", () => {
  let tp: TestPlatform;
  let typed: any;
  before(async () => {
    tp = await startTestPlatform();
    const { mod } = await importProject(join(REPO, "test/platform/serving/fixtures/typed"));
    typed = await mod.Typed.deploy(wsName("interop"));
  });
  after(async () => {
    await tp?.close();
  });

  it("openapi-typescript + openapi-fetch: typed arguments and results, checked by tsc, working against the serving", async () => {
    const doc = await raw(typed.$url, typed.$token, "GET", "openapi.json");
    assert.equal(doc.status, 200);
    // The serving's document is valid OpenAPI by a real validator, like the platform's own.
    const checked = await validate(structuredClone(doc.json) as never);
    assert.ok(checked.valid, compileErrors(checked));
    const dir = tempDir("nbx-openapi-client-");
    writeFileSync(join(dir, "schema.ts"), astToString(await openapiTS(doc.json)));
    writeFileSync(join(dir, "client.ts"), CLIENT);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(REPO, "node_modules/openapi-fetch"), join(dir, "node_modules/openapi-fetch"), "dir");

    const tsc = await run(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", dir], { cwd: dir }).then(
      () => "",
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
    );
    assert.equal(tsc, "", `the generated client does not type-check:\n${tsc}`);

    const client = (await import(pathToFileURL(join(dir, "client.ts")).href)) as { connect(url: string, token: string): unknown; sample(client: unknown): Promise<unknown> };
    const got = await client.sample(client.connect(typed.$url, typed.$token));
    assert.deepEqual(got, {
      title: "from openapi-fetch",
      at: "2024-05-06T07:08:09.000Z",
      tags: ["new"],
      body: "b",
      ms: 2000,
      kind: "todo:2",
      sum: 6,
      n: 2,
      code: "USER_CODE",
      status: 500,
    });
  });
});
