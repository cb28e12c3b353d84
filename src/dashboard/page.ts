/** The dashboard page: markup only; script and styles are served files (see index.ts for the CSP). */
export const DASHBOARD_HTML = /* html */ `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard.css">
<script type="module" src="/dashboard.js"></script>
</head>
<body><header><b>nbox</b><a data-view="runs">Runs</a><a data-view="deployments">Deployments</a><a data-view="servings">Servings</a><a data-view="workers">Workers</a><a data-view="events">Events</a><span id="who" class="muted"></span></header>
<main id="main"></main>
</body></html>`;
