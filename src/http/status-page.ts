/** The small HTML status page at `/`: one row per cluster. Pure rendering; every value escaped. */

export interface ClusterStatusView {
  name: string;
  up: boolean;
  stale: boolean;
  lastSuccessMs: number | undefined;
  lastError: string | undefined;
  lastCycleMs: number | undefined;
  series: number;
  groups: number;
}

export interface StatusView {
  version: string;
  nowMs: number;
  isLeader: boolean;
  clusters: ClusterStatusView[];
}

export function renderStatusPage(v: StatusView): string {
  const rows = v.clusters
    .map((c) => {
      // Never succeeded → down; succeeded once but too long ago → stale.
      const state = c.lastSuccessMs === undefined ? "down" : c.stale ? "stale" : c.up ? "up" : "down";
      return `<tr class="${state}"><td>${esc(c.name)}</td><td>${state}</td><td>${age(v.nowMs, c.lastSuccessMs)}</td><td>${
        c.lastCycleMs === undefined ? "–" : `${c.lastCycleMs.toFixed(0)} ms`
      }</td><td>${c.groups}</td><td>${c.series}</td><td>${esc(c.lastError ?? "")}</td></tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>klag-exporter</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.up td:nth-child(2){color:#070}.down td:nth-child(2),.stale td:nth-child(2){color:#b00}</style>
</head><body>
<h1>klag-exporter</h1>
<p>version ${esc(v.version)} · leader: ${v.isLeader ? "yes" : "no"}</p>
<table><thead><tr><th>cluster</th><th>state</th><th>last success</th><th>cycle</th><th>groups</th><th>series</th><th>last error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p><a href="/metrics">/metrics</a> · <a href="/health">/health</a> · <a href="/ready">/ready</a> · <a href="/leader">/leader</a></p>
</body></html>
`;
}

function age(nowMs: number, thenMs: number | undefined): string {
  if (thenMs === undefined) return "never";
  return `${Math.max(0, (nowMs - thenMs) / 1000).toFixed(1)} s ago`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
