import type { TokenInfo } from "../store/tokens-repo.ts";

/** Hono environment of the API: the verified token of the caller. */
export interface ApiEnv {
  Variables: { principal: TokenInfo };
}
