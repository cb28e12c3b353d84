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
