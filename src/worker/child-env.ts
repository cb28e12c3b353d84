// The environment a job or serving process starts with. An allow-list: the platform's own
// process may hold database URLs, cloud keys and its admin token in its environment, and a
// list of names to remove can never be complete, so only names known to be harmless pass.
import { RUNTIME_ENV } from "../runtime-context.ts";

/** Passed through from the platform's environment when set: locale, time zone, paths, trust roots. */
const PASSED = ["PATH", "LANG", "LANGUAGE", "TZ", "NODE_ENV", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"];
const PASSED_PREFIXES = ["LC_"];

export interface ChildEnvOptions {
  /** "job" or "serving": marks the process as an nbox runtime (discovery off, no top-level deploy). */
  runtime: string;
  /** The process's own home and temp folders (its scratch folder). */
  home: string;
  tmp: string;
  /** Extra names the operator chose to pass through (e.g. HTTPS_PROXY). */
  passEnv?: readonly string[];
  /** Set by the platform last (protocol variables, NBOX_URL/NBOX_TOKEN); undefined removes. */
  set?: Record<string, string | undefined>;
}

/** Build the child's environment from `from` (the platform's environment) and `o`. */
export function childEnv(o: ChildEnvOptions, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  const pass = new Set([...PASSED, ...(o.passEnv ?? [])]);
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && (pass.has(k) || PASSED_PREFIXES.some((p) => k.startsWith(p)))) env[k] = v;
  }
  env.HOME = o.home;
  env.TMPDIR = o.tmp;
  env[RUNTIME_ENV] = o.runtime;
  for (const [k, v] of Object.entries(o.set ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}
