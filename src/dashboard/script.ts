/**
 * The dashboard's script, served as `/dashboard.js` (the page's CSP allows no inline script).
 * It talks to the public API with the token handed over once via `/#token=…` (a fragment never
 * reaches the server or its logs) and kept in sessionStorage.
 */
export const DASHBOARD_JS = /* js */ `// The token lives in this tab's sessionStorage only: gone when the tab closes, never in localStorage.
const KEY = "nbox.token";
localStorage.removeItem(KEY); // a token an older dashboard left behind
const m = location.hash.match(/token=([^&]+)/);
if (m) { sessionStorage.setItem(KEY, decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname + location.search); }
const token = () => sessionStorage.getItem(KEY);
const main = document.getElementById("main");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
async function api(path) {
  const r = await fetch("/api/v1" + path, { headers: { authorization: "Bearer " + token() } });
  const j = await r.json();
  if (!r.ok) throw Object.assign(new Error(j.error?.message ?? r.status), { status: r.status });
  return j;
}
function login(msg) {
  main.innerHTML = '<div id="login"><p>' + esc(msg || "Paste a token (printed by nbx up):") + '</p><input id="tok" placeholder="nbx_…"><p><button id="go">Open</button></p></div>';
  document.getElementById("go").onclick = () => { sessionStorage.setItem(KEY, document.getElementById("tok").value.trim()); show("runs"); };
}
const ago = (iso) => iso ? new Date(iso).toLocaleTimeString() : "";
// A batched run (remote map's short items, several to a run): how many calls, and how many failed.
const batched = (r) => r.calls ? ' <span class="muted">×' + r.calls + '</span>' : "";
const callsLine = (r) => !r.calls ? "" : ' · ' + r.calls + ' batched calls' + (Array.isArray(r.result) ? ', ' + r.result.filter((c) => c && c.ok === false).length + ' failed' : "");
const views = {
  async runs() {
    const { runs } = await api("/runs?limit=100");
    return '<table><tr><th>Run</th><th>Deployment</th><th>Status</th><th>Attempt</th><th>Created</th><th>Duration</th></tr>' +
      runs.map((r) => '<tr class="click" data-run="' + esc(r.id) + '"><td><code>' + esc(r.id) + '</code></td><td>' + esc(r.workspace + "/" + r.deployment) + batched(r) +
        '</td><td class="s-' + esc(r.status) + '">' + esc(r.status) + '</td><td>' + r.attempt + '/' + (r.maxRetries + 1) + '</td><td>' + ago(r.createdAt) +
        '</td><td>' + (r.finishedAt && r.startedAt ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) + " ms" : "") + '</td></tr>').join("") + '</table>';
  },
  async run(id) {
    const [{ run }, { logs }, { spans }] = await Promise.all([api("/runs/" + id), api("/runs/" + id + "/logs"), api("/runs/" + id + "/spans")]);
    const t0 = Math.min(...spans.map((s) => s.start)), t1 = Math.max(...spans.map((s) => s.end));
    const span = (s) => '<tr class="' + (s.status === "error" ? "err" : "") + '"><td>' + esc(s.op) + '</td><td>' + esc(s.name) + '</td><td class="timeline"><div class="bar" data-left="' +
      (100 * (s.start - t0) / Math.max(1, t1 - t0)).toFixed(1) + '" data-width="' + Math.max(0.5, 100 * (s.end - s.start) / Math.max(1, t1 - t0)).toFixed(1) + '"></div></td><td>' + (s.end - s.start).toFixed(2) + ' ms</td></tr>';
    return '<h3>Run <code>' + esc(run.id) + '</code> <span class="s-' + esc(run.status) + '">' + esc(run.status) + '</span></h3>' +
      '<p>' + esc(run.workspace + "/" + run.deployment) + ' · attempt ' + run.attempt + callsLine(run) + ' · trace <code>' + esc(run.traceId) + '</code></p>' +
      (run.error ? '<pre>' + esc(run.error.name + ": " + run.error.message + "\\n" + (run.error.stack ?? "")) + '</pre>' : "") +
      '<h4>Trace</h4><table><tr><th>Operator</th><th>Name</th><th>Timeline</th><th>Time</th></tr>' + spans.map(span).join("") + '</table>' +
      '<h4>Logs</h4><pre>' + esc(logs.map((l) => "[" + l.stream + "] " + l.line).join("\\n")) + '</pre>';
  },
  async deployments() {
    const [{ workspaces }, { schedules }] = await Promise.all([api("/workspaces"), api("/schedules")]);
    // A job's cron schedule: paused, ended, or when it fires next.
    const bySchedule = new Map(schedules.map((s) => [s.deploymentId, esc(s.cron) + ' <span class="muted">' +
      (!s.enabled ? "paused" : s.nextTickAt === null ? "ended" : "next " + new Date(s.nextTickAt).toLocaleString()) + '</span>']));
    let rows = "";
    for (const w of workspaces) {
      const { deployments } = await api("/workspaces/" + encodeURIComponent(w.name) + "/deployments");
      rows += deployments.map((d) => '<tr><td>' + esc(w.name) + '</td><td>' + esc(d.name) + '</td><td>' + esc(d.type) + '</td><td>' + esc(d.kind) + '</td><td><code>' + esc(d.contentHash.slice(0, 12)) + '</code></td><td>' + (bySchedule.get(d.id) ?? "") + '</td><td>' + esc(d.servingUrl ?? "") + '</td></tr>').join("");
    }
    return '<table><tr><th>Workspace</th><th>Name</th><th>Type</th><th>Kind</th><th>Version</th><th>Schedule</th><th>URL</th></tr>' + rows + '</table>';
  },
  // Fields as the API's declared Serving and Event schemas name them (GET /servings, GET /events).
  async servings() {
    const { servings } = await api("/servings");
    return '<table><tr><th>Serving</th><th>Status</th><th>Restarts</th><th>Requests</th><th>URL</th></tr>' +
      servings.map((s) => '<tr><td>' + esc(s.workspace + "/" + s.name) + '</td><td>' + esc(s.status) + '</td><td>' + esc(s.restarts) + '</td><td>' + esc(s.requests) + '</td><td>' + esc(s.url ?? "") + '</td></tr>').join("") + '</table>';
  },
  // GET /workers answers admin tokens only: workers are shared by every workspace.
  async workers() {
    let workers;
    try { ({ workers } = await api("/workers")); } catch (e) { if (e.status === 403) return '<p class="muted">Workers are shown to admin tokens only.</p>'; throw e; }
    return '<table><tr><th>Worker</th><th>Name</th><th>State</th><th>Slots</th><th>Running</th><th>Sandbox</th><th>Registered</th><th>Last seen</th><th>Address</th></tr>' +
      workers.map((w) => '<tr><td><code>' + esc(w.id) + '</code></td><td>' + esc(w.name) + (w.local ? ' <span class="muted">(local)</span>' : "") + '</td><td class="' + (w.alive ? "w-alive" : "w-gone") + '">' +
        (w.alive ? "alive" : "gone " + esc(new Date(w.goneAt).toLocaleString())) + '</td><td>' + esc(w.slots) + '</td><td>' + esc(w.running) + '</td><td>' + esc(w.sandbox ?? "") + '</td><td>' +
        esc(new Date(w.registeredAt).toLocaleString()) + '</td><td>' + ago(w.lastSeenAt) + '</td><td>' + esc(w.address ?? "") + '</td></tr>').join("") + '</table>';
  },
  async events() {
    const { events } = await api("/events");
    return '<table><tr><th>Time</th><th>Kind</th><th>Message</th></tr>' + events.map((e) => '<tr><td>' + new Date(e.ts).toLocaleString() + '</td><td>' + esc(e.kind) + '</td><td>' + esc(e.message) + '</td></tr>').join("") + '</table>';
  },
};
// Timeline bars are placed through the DOM: the CSP refuses inline style attributes.
function placeBars() {
  for (const b of main.querySelectorAll(".bar[data-left]")) { b.style.marginLeft = b.dataset.left + "%"; b.style.width = b.dataset.width + "%"; }
}
let current = "runs", arg;
async function show(view, a) {
  current = view; arg = a;
  document.querySelectorAll("header a").forEach((x) => x.classList.toggle("on", x.dataset.view === view));
  if (!token()) return login();
  try { main.innerHTML = await views[view](a); placeBars(); } catch (e) { if (/token/i.test(e.message)) login(e.message); else main.innerHTML = '<p class="s-failed">' + esc(e.message) + '</p>'; }
}
document.querySelectorAll("header a").forEach((a) => (a.onclick = () => show(a.dataset.view)));
main.addEventListener("click", (e) => { const tr = e.target.closest("tr[data-run]"); if (tr) show("run", tr.dataset.run); });
setInterval(() => current !== "run" && document.visibilityState === "visible" && show(current, arg), 3000);
show("runs");
`;
