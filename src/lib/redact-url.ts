// Connection URLs (Postgres, Redis) carry passwords: messages and logs show them masked.

/** `scheme://user:secret@host/x` → `scheme://user:***@host/x`; `<unparsable …>` for a URL that does not parse. */
export function redactUrl(url: string, what = "URL"): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return `<unparsable ${what}>`;
  }
}
