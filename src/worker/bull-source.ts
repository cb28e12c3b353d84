// Runs delivered by BullMQ (`nbx up --redis`): every delivery is claimed at the control plane
// (the store stays what users see), executed like any run, and its verdict handed back to BullMQ —
// a retry as a failed attempt (BullMQ's backoff schedules the next), a run that can never work as
// an UnrecoverableError, a worker stopping as a job moved back to wait without spending an attempt.
import type { ControlPlane } from "./control-plane.ts";
import { BullRunConsumer, type Delivery, type Outcome } from "./bullmq-consumer.ts";
import type { RunExecutor, Verdict } from "./run-executor.ts";

export interface BullSourceOptions {
  cp: ControlPlane;
  me: { id: string };
  executor: RunExecutor;
  redisUrl: string;
  prefix: string;
  slots: number;
  leaseMs: number;
}

export class BullRunSource {
  private readonly consumer: BullRunConsumer;

  constructor(private readonly o: BullSourceOptions) {
    this.consumer = new BullRunConsumer({ url: o.redisUrl, prefix: o.prefix, slots: o.slots, leaseMs: o.leaseMs, process: (d) => this.process(d), workerName: o.me.id });
  }

  /** Consume the queues of these job deployments (the control plane lists them in heartbeats). */
  setDeployments(ids: string[]): void {
    this.consumer.setDeployments(ids);
  }

  get busy(): boolean {
    return this.consumer.busySlots > 1;
  }

  /** Stop taking deliveries; runs in flight end (released when the worker is stopping) and report first. */
  close(): Promise<void> {
    return this.consumer.close({ timeoutMs: 10_000 });
  }

  private async process(d: Delivery): Promise<Outcome> {
    // Cron fires through the control plane's scheduler, which queues ordinary runs.
    if (d.kind !== "run") return { kind: "done" };
    const { run } = await this.o.cp.call("POST /worker/claim-run", { body: { workerId: this.o.me.id, runId: d.runId, stalled: d.stalled > 0 } });
    // Finished, cancelled or held elsewhere: nothing to do for this delivery.
    if (!run) return { kind: "done" };
    if (this.o.executor.stopping) {
      await this.o.executor.release(run);
      return { kind: "release" };
    }
    const { settled } = await this.o.executor.execute(run);
    return outcomeOf(await settled, run.id);
  }
}

function outcomeOf(v: Verdict, runId: string): Outcome {
  switch (v) {
    case "succeeded":
    case "cancelled":
      return { kind: "done" };
    case "retry":
      return { kind: "retry", error: new Error(`run ${runId} failed; retrying`) };
    case "released":
      return { kind: "release" };
    case "failed":
    case "unrecoverable":
      return { kind: "fail", error: new Error(`run ${runId} failed`), unrecoverable: true };
  }
}
