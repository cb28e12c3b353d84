export { connect, PlatformClient, type ClientOptions } from "./client.ts";
export { deploy, type DeployOptions, type DeployStep } from "./deploy.ts";
export { fromJob } from "./from-job.ts";
export { fromServing, type RemoteServing, type WhoAreYou } from "./serving-proxy.ts";
export { RemoteError } from "./remote-error.ts";
export { Run, type LogLine } from "./run.ts";
export type { RemoteJob, RunInfo, RunStatus, DeploymentInfo, JobArgs, JobResult, RemoteSettled } from "./types.ts";
