// Example "bar", deployed as a serving: `npm install` once, start the platform (`npx nbx up` in the repo), then `npm run deploy`.
import { deploy, fromServing, isMain } from "nbox";
import { Bar } from "./ops.ts";

if (isMain(import.meta)) {
  const bar = new Bar();
  // `deploy(Bar, …)` is the typed form of `Bar.deploy(…)` (TypeScript cannot type statics added by a decorator).
  const barRemote = await deploy(Bar, "examples");
  await barRemote.$set("x", 1); // a redeploy of unchanged code keeps the running instance: start from 1 again
  // increment the numbers
  bar.inc();
  await barRemote.inc();
  // directly access the values (a remote read is awaited)
  console.log(`bar.x === await barRemote.x: ${bar.x === (await barRemote.x)}`);
  console.log(bar.jj_guverner, await barRemote.jj_guverner);
  const again = await fromServing<Bar>(barRemote.$url, barRemote.$token);
  console.log(`fromServing(url, token).getvalue() = ${await again.getvalue()}`);
}
