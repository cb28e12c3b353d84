import type { AnyFn } from "../operator/types.ts";
import type { FanOutOptions, SettledResult } from "../operator/fan-out.ts";
import type { Run } from "./run.ts";
import type { z } from "zod";
import type { Deployment as DeploymentSchema, Run as RunSchema } from "../contract/schemas.ts";

/** Arguments a job takes: `forward`'s parameters for operators, the parameters of a plain function type. */
export type JobArgs<T> = T extends { forward: infer F extends AnyFn } ? Parameters<F> : T extends AnyFn ? Parameters<T> : any[];
/** What a job returns (awaited). */
export type JobResult<T> = T extends { forward: infer F extends AnyFn } ? Awaited<ReturnType<F>> : T extends AnyFn ? Awaited<ReturnType<T>> : unknown;

export const RUN_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "timed_out"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "cancelled", "timed_out"];

/** A run as the API returns it (the API's declared schema). */
export type RunInfo = z.infer<typeof RunSchema>;

/** A deployment as the API returns it (the API's declared schema). */
export type DeploymentInfo = z.infer<typeof DeploymentSchema>;

export interface RemoteMapOptions extends FanOutOptions {}

/**
 * A deployed job, called like the local operator.
 * @example const fooRemote = await foo.deploy("ws"); await fooRemote(10)
 */
export type RemoteJob<T> = ((...args: JobArgs<T>) => Promise<JobResult<T>>) & {
  readonly deployment: DeploymentInfo;
  /** Start a run and return its handle at once. */
  trigger(...args: JobArgs<T>): Promise<Run<JobResult<T>>>;
  /** Calls the job once per input (one argument each); results in input order. Short calls share runs (batched calls). */
  map(inputs: Iterable<JobArgs<T>[0]>, opts: RemoteMapOptions & { settle: true }): Promise<RemoteSettled<JobResult<T>>[]>;
  map(inputs: Iterable<JobArgs<T>[0]>, opts?: RemoteMapOptions): Promise<JobResult<T>[]>;
};

/**
 * A settled remote item also names its run. Short calls travel several to a run (batched calls):
 * `call` is then the item's place in it (`run.retry()` runs all of them again; call the job with
 * the item's input to run it alone). Without `call`, the run is the item's own.
 */
export type RemoteSettled<T> = SettledResult<T> & { runId?: string; call?: number };
