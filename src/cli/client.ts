// The platform connection every remote command uses: --url/--token, else NBOX_URL/NBOX_TOKEN, else a local `nbx up`.
import { connect, type PlatformClient } from "../remote/client.ts";

let override: { url?: string; token?: string } = {};
let cached: PlatformClient | undefined;

export function setConnection(opts: { url?: string; token?: string }): void {
  override = opts;
  cached = undefined;
}

export function client(): PlatformClient {
  return (cached ??= connect({ ...(override.url ? { url: override.url } : {}), ...(override.token ? { token: override.token } : {}) }));
}

export const enc = encodeURIComponent;

/** Help of the `--workspace` option of commands that address one workspace. */
export const WORKSPACE_HELP = `workspace (default: the token's own, else "default")`;

/** The workspace a command addresses: the one named, else the token's own, else "default". */
export async function workspaceOf(named: string | undefined): Promise<string> {
  return named ?? client().defaultWorkspace();
}
