// Switches the job, serving and chaos suites to the scale path for the importing test file. Redis absent: outside CI
// the file is skipped with the reason; in CI (CI=true) that is a failure.
import { test } from "node:test";
import { redisSkip } from "../queue/_redis.ts";

export async function scaleBackend(name: string): Promise<boolean> {
  const why = await redisSkip();
  if (why) {
    test(`e2e on Postgres + Redis + 2 workers: ${name}`, { skip: why }, () => {});
    return false;
  }
  process.env.NBOX_TEST_STORE = "postgres";
  process.env.NBOX_TEST_QUEUE = "bullmq";
  process.env.NBOX_TEST_WORKERS = "2";
  return true;
}
