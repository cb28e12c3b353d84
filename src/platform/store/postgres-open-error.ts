// The first statement on a Postgres store failed: said in terms of --database (which database,
// where, what to do), never with its password. The usual three: the server is not there, the
// database was never created, the user or password is wrong.
import { NboxError } from "../../errors.ts";
import { redactUrl } from "../../lib/redact-url.ts";

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"]);

/** `err` as an error naming the database and how to fix it; other errors as they are. */
export function postgresOpenError(err: unknown, databaseUrl: string): unknown {
  const code = (err as { code?: unknown }).code;
  const shown = redactUrl(databaseUrl, "database URL");
  let where = shown;
  let name = "";
  try {
    const u = new URL(databaseUrl);
    where = `${u.hostname || "localhost"}:${u.port || 5432}`;
    name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  } catch {
    // The message then shows the redacted URL.
  }
  const why = (err as Error).message || String(code);
  if (typeof code === "string" && UNREACHABLE.has(code)) {
    return new NboxError("UNAVAILABLE", `cannot reach Postgres at ${where} (${why}) for --database ${shown}`, "Is Postgres running there? Check the host and port in --database", { cause: err });
  }
  if (code === "3D000") {
    const create = name ? `createdb ${name}, or psql -c 'CREATE DATABASE "${name}"'` : "CREATE DATABASE";
    return new NboxError("NOT_FOUND", `the database of --database ${shown} does not exist (${why})`, `Create it first (${create}), or point --database at an existing one`, { cause: err });
  }
  if (code === "28P01" || code === "28000") {
    return new NboxError("UNAUTHORIZED", `Postgres at ${where} refused the login of --database ${shown} (${why})`, "Check the user and password in --database (and the server's pg_hba.conf)", { cause: err });
  }
  return err;
}
