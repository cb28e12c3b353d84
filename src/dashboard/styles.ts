/** The dashboard's stylesheet, served as `/dashboard.css` (the page's CSP allows no inline styles). */
export const DASHBOARD_CSS = /* css */ `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header b{font-size:18px} header a{color:#cfd6e4;text-decoration:none;cursor:pointer} header a.on{color:#fff;font-weight:600}
main{padding:16px 20px} table{border-collapse:collapse;width:100%;background:#fff} td,th{padding:6px 8px;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
th{font-weight:600;background:#eef1f5} tr.click{cursor:pointer} tr.click:hover{background:#f0f4ff}
.s-succeeded{color:#067647}.s-failed,.s-timed_out{color:#b42318}.s-running{color:#175cd3}.s-queued{color:#6941c6}.s-cancelled{color:#667085}
.w-alive{color:#067647}.w-gone{color:#667085}
pre{background:#0f1320;color:#d7dce8;padding:10px;overflow:auto;max-height:360px;margin:0}
td.timeline{width:50%}
.bar{height:14px;background:#7aa2f7;border-radius:2px;position:relative} .err .bar{background:#f97066}
.muted{color:#667085} #login{max-width:480px} input{width:100%;padding:6px} code{font-size:12px}
`;
