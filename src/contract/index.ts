// Every /api/v1 route, declared once and named "METHOD /path": the server mounts these, the
// OpenAPI document is generated from them, and the SDK's client takes its types from them.
import { adminContract } from "./routes-admin.ts";
import { deploymentContract } from "./routes-deployments.ts";
import { runContract } from "./routes-runs.ts";
import { workerContract } from "./routes-worker.ts";
import { workersAdminContract } from "./routes-workers-admin.ts";

export const apiContract = { ...adminContract, ...deploymentContract, ...runContract, ...workerContract, ...workersAdminContract } as const;
export type ApiContract = typeof apiContract;
export type RouteKey = keyof ApiContract;
