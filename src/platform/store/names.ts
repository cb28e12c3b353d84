import { StoreError } from "./errors.ts";

/** Workspace and deployment names appear in URLs (`/s/<workspace>/<name>/`): keep them URL-safe. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkName(what: string, name: string): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new StoreError(
      "BAD_INPUT",
      `invalid ${what} name ${JSON.stringify(name)}`,
      "Use 1-100 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
    );
  }
  return name;
}
