export type AnyFn = (...args: any[]) => any;
export type AnyClass = abstract new (...args: any[]) => any;

/** Parameters of an operator's `forward` (any[] when it has none). */
export type ForwardArgs<T> = T extends { forward: infer F extends AnyFn } ? Parameters<F> : any[];
/** Awaited result of an operator's `forward`. */
export type ForwardResult<T> = T extends { forward: infer F extends AnyFn } ? Awaited<ReturnType<F>> : unknown;

export const DEPLOY_TYPES = ["job", "serving"] as const;
export type DeployType = (typeof DEPLOY_TYPES)[number];

/** Resource limits for a deployment; every field accepts 0 (it is never replaced by a default). */
export interface Resource {
  cpu?: string;
  memory?: string;
  timeoutMs?: number;
  maxRetries?: number;
  retryBackoffMs?: number;
  concurrency?: number;
}

export interface Schedule {
  cron: string;
  timezone?: string;
  startsAt?: string | Date;
  endsAt?: string | Date;
}

/** Options given to `operator(x, opts)` / `@operator(opts)`. */
export interface OperatorOptions {
  /** Deployment type override (functions default to job, classes to serving). */
  type?: DeployType;
  /** Calls a serving instance may run at once (default 1: calls are serialised). */
  concurrency?: number;
  /** Project root override (default: nearest package.json above the defining file). */
  root?: string;
  /** Display / deployment name override. */
  name?: string;
}
