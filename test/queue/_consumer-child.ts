// A worker process for the stalled-job test: consumes one deployment's queue, reports each delivery
// as a JSON line on stdout and never finishes it, so the parent can kill it while it holds the job.
import { BullRunConsumer } from "../../src/worker/bullmq-consumer.ts";

const { NBX_TEST_REDIS_URL: url, NBX_TEST_PREFIX: prefix, NBX_TEST_DEPLOYMENT: deployment, NBX_TEST_LEASE_MS: lease } = process.env;
if (!url || !prefix || !deployment || !lease) throw new Error("missing NBX_TEST_* settings");

const consumer = new BullRunConsumer({
  url,
  prefix,
  slots: 1,
  leaseMs: Number(lease),
  workerName: `child-${process.pid}`,
  process: async (d) => {
    process.stdout.write(`${JSON.stringify({ took: d.jobId, attempt: d.attempt, stalled: d.stalled })}\n`);
    return new Promise(() => {});
  },
});
consumer.setDeployments([deployment]);
await consumer.waitUntilReady();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
