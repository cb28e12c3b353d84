import type { Context, Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { DASHBOARD_HTML } from "./page.ts";
import { DASHBOARD_JS } from "./script.ts";
import { DASHBOARD_CSS } from "./styles.ts";

/**
 * Headers of every dashboard response. The page holds an admin-capable token, so: no inline or
 * foreign script or style (an injected `<script>` or `onerror=` does not run), no framing
 * (clickjacking), no MIME sniffing, no referrer. HSTS is left to whatever terminates TLS.
 */
const dashboardHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  xContentTypeOptions: "nosniff",
  strictTransportSecurity: false,
});

// Revalidated on every load, so an upgraded platform never pairs a new page with an old script.
const asset = (type: string, body: string) => (c: Context) => c.body(body, 200, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-cache" });

/** Mount the dashboard at `/` (it reads everything through `/api/v1`, like any client). */
export function mountDashboard(app: Hono): void {
  app.get("/", dashboardHeaders, (c) => c.html(DASHBOARD_HTML));
  app.get("/dashboard.js", dashboardHeaders, asset("text/javascript", DASHBOARD_JS));
  app.get("/dashboard.css", dashboardHeaders, asset("text/css", DASHBOARD_CSS));
  // Browsers ask for it on every page load; answer without a 404 in the console.
  app.get("/favicon.ico", dashboardHeaders, (c) => c.body(null, 204));
}
