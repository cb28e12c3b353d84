// Example "bar", deployed as a serving: `npm install` once, start the platform (`npx nbx up` in the repo), then `npm run deploy`.
import { deploy, fromServing, isMain } from "nbox";
import { Bar } from "./ops.ts";

if (isMain(import.meta)) {
  const bar = new Bar();
  // `deploy(Bar, …)` is the typed form of `Bar.deploy(…)` (TypeScript cannot type statics added by a decorator).
  const barRemote = await deploy(Bar, "examples");
  bar.inc();
  await barRemote.$set("x", 1);
  await barRemote.inc();
  console.log(`bar.x === await barRemote.x: ${bar.x === (await barRemote.x)}`);
  const again = await fromServing<Bar>(barRemote.$url, barRemote.$token);
  console.log(`fromServing(url, token).getvalue() = ${await again.getvalue()}`);
}
