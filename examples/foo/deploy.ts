// Example "foo", deployed as a job: `npm install` once, start the platform (`npx nbx up` in the repo), then `npm run deploy`.
import { fromJob, isMain } from "nbox";
import { foo } from "./ops.ts";

// to deploy the operator
if (isMain(import.meta)) {
  // pass { type: "serving" } to make an API
  const fooRemote = await foo.deploy("examples");
  console.log(`fooRemote() === foo(): ${(await fooRemote()) === (await foo())}`);
  console.log(`fooRemote(10) = ${await fooRemote(10)} (local: ${await foo(10)})`);
  const run = await fooRemote.trigger(7);
  console.log(`run ${run.id}: ${await run.result()} (${await run.status()})`);
  console.log(`fooRemote.map([1, 2, 3]) = ${JSON.stringify(await fooRemote.map([1, 2, 3]))}`);
  const again = await fromJob<typeof foo>("foo", { workspace: "examples" });
  console.log(`fromJob("foo")() = ${await again()}`);
}
