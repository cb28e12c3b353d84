/**
 * The platform's persistent store: one drizzle schema on embedded PGlite or Postgres.
 *
 * @example
 * const store = await openStore({ dataDir: ".nbox" });
 * const ws = await store.ensureWorkspace("my-workspace");
 * const run = await store.createRun({ workspaceId: ws.id, deploymentId, versionId, args });
 * const claimed = await store.claimNextRun("worker-1");
 */
export { openStore } from "./open-store.ts";
export type { OpenStoreOptions, Store, StoreRepos } from "./open-store.ts";
export { StoreError, STORE_ERROR_STATUS } from "./errors.ts";
export type { StoreErrorCode } from "./errors.ts";
export { STORE_DEFAULTS } from "./defaults.ts";
export { MIGRATIONS, LATEST_VERSION, migrate } from "./migrations.ts";
export { TOKEN_PREFIX, hashSecret } from "./tokens-repo.ts";
export { NAME_RE } from "./names.ts";
export * as tables from "./schema.ts";
export {
  RUN_STATUSES,
  TERMINAL_RUN_STATUSES,
  ACTIVE_RUN_STATUSES,
  TOKEN_SCOPES,
  DEPLOYMENT_TYPES,
  DEPLOYMENT_KINDS,
  LOG_STREAMS,
  SPAN_STATUSES,
  SERVING_STATUSES,
  EVENT_KINDS,
} from "./schema.ts";
export type {
  RunStatus,
  TerminalRunStatus,
  TokenScope,
  DeploymentType,
  DeploymentKind,
  LogStream,
  SpanStatus,
  ServingStatus,
  EventKind,
  StoredError,
  WorkspaceRow,
  DeploymentRow,
  DeploymentVersionRow,
  TokenRow,
  ScheduleRow,
  RunRow,
  RunLogRow,
  SpanRow,
  EventRow,
  ServingRow,
} from "./schema.ts";
export type { Db, StoreKind } from "./db.ts";
export type { TokenInfo, CreateTokenInput } from "./tokens-repo.ts";
export type { UpsertDeploymentVersionInput, UpsertDeploymentVersionResult } from "./deployments-repo.ts";
export type { CreateRunInput, FinishedRun, ClaimFilter, ClaimOptions, LeaseOptions, StartedInput, FinishRunInput, RequeueInput, ListRunsInput, RecoverOptions, RecoverResult } from "./runs-repo.ts";
export type { LogLineInput } from "./logs-repo.ts";
export type { SpanInput, SpanQuery } from "./spans-repo.ts";
export type { UpsertScheduleInput } from "./schedules-repo.ts";
export type { AddEventInput, ListEventsInput } from "./events-repo.ts";
export type { ServingStatusInput } from "./servings-repo.ts";
export type { RegisterWorkerInput } from "./workers-repo.ts";
