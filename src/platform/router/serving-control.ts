import type { DeploymentRow, DeploymentVersionRow } from "../store/schema.ts";

/** What the API controls servings through (the serving router places each on a worker and proxies to it). */
export interface ServingHost {
  /** Start (or restart on a new version) the serving and resolve when it is healthy. */
  deploy(d: DeploymentRow, v: DeploymentVersionRow): Promise<{ url: string; token: string }>;
  /** URL of a serving (no token: tokens are shown once at deploy or made with `nbx token create`). */
  endpoint(d: DeploymentRow): Promise<{ url: string }>;
  /** Write buffered request counts and spans to the store (before listing servings). */
  flush?(): Promise<void>;
  /** Recent output lines of a serving's current process. */
  logs?(deploymentId: string): string[];
}
