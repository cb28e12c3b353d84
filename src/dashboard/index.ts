import type { Hono } from "hono";
import { DASHBOARD_HTML } from "./page.ts";

/** Mount the dashboard at `/` (it reads everything through `/api/v1`, like any client). */
export function mountDashboard(app: Hono): void {
  app.get("/", (c) => c.html(DASHBOARD_HTML));
  // Browsers ask for it on every page load; answer without a 404 in the console.
  app.get("/favicon.ico", (c) => c.body(null, 204));
}
