// Example "my-operator", deployed: `npm install` once, start the platform (`npx nbx up` in the repo), then `npm run deploy`.
import { fromJob, isMain } from "nbox";
import { job } from "./ops.ts";

if (isMain(import.meta)) {
  // deploy this as a batch process …
  const remote = await job.deploy("examples");
  console.log(`remote(2) = ${await remote(2)} (local: ${await job(2)})`);
  // … with full visibility on the platform: the Shell step's output is in the run log, every operator a span.
  const run = await remote.trigger(2);
  await run.result();
  console.log(`run log: ${(await run.logs()).filter((l) => l.line.startsWith("step")).map((l) => l.line).join(", ")}`);
  // One span per operator of the tree (a cold start adds spans of its own: cold-start, remote-init).
  const ops = new Set((await run.spans()).map((s) => s.op).filter((op) => op !== "cold-start" && op !== "remote-init"));
  console.log(`run spans: ${[...ops].sort().join(", ")}`);
  // … or as an API endpoint, called like the local operator.
  const api = await job.deploy("examples", { type: "serving", name: "job-api" });
  console.log(`api(2) = ${await api(2)}`);
  // latch an existing job so that it can be called as an operator
  const again = await fromJob<typeof job>("job", { workspace: "examples" });
  console.log(`fromJob("job")(3) = ${await again(3)}`);
}
