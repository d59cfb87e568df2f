"""``/ui/``: pages a person can browse: studies, progress and an interactive front."""

from __future__ import annotations

import html

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from epim import results
from epim.api._deps import ReadAccess, SettingsDep

router = APIRouter(prefix="/ui", tags=["ui"], dependencies=[ReadAccess],
                   include_in_schema=False)

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:right}th{text-align:left}a{color:#1f5fa8}.muted{color:#777}
#chart circle{cursor:pointer}#design{font-family:monospace;font-size:.85rem}
"""


@router.get("/", response_class=HTMLResponse)
def index(settings: SettingsDep) -> str:
    """All studies with their status and progress."""
    page = results.list_studies(settings.database_url, limit=200)
    rows = "".join(
        f"<tr><td><a href='/ui/studies/{r.id}'>{r.id}</a></td><td style='text-align:left'>"
        f"{html.escape(r.name)}</td><td>{r.status}</td><td>{r.completed_trials}/"
        f"{r.n_trials}</td><td>{r.feasible_trials}</td><td>{r.hypervolume:.4f}</td></tr>"
        for r in page.items)
    return (f"<!doctype html><title>EPIM Search</title><style>{STYLE}</style>"
            f"<h1>EPIM Search studies</h1><table><tr><th>id</th><th>name</th><th>status</th>"
            f"<th>trials</th><th>feasible</th><th>hypervolume</th></tr>{rows}</table>"
            f"<p class=muted>API: <a href='/docs'>/docs</a></p>")


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(settings: SettingsDep, study_id: int) -> str:
    """Progress and an interactive front: click a point to see its design."""
    row = results.get_study(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return PAGE.replace("__ID__", str(study_id)).replace("__NAME__", html.escape(row.name)) \
        .replace("__STYLE__", STYLE)


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Study __ID__</title>
<style>__STYLE__</style></head><body>
<p><a href="/ui/">all studies</a></p>
<h1>Study __ID__: __NAME__</h1>
<p id="status" class="muted">loading...</p>
<p>x <select id="x"></select> y <select id="y"></select>
 <a id="svg" href="#">static chart</a> · <a id="csv" href="#">CSV</a></p>
<svg id="chart" width="720" height="460" style="border:1px solid #ddd"></svg>
<h2>Selected trial</h2><div id="trial" class="muted">click a point</div>
<pre id="design"></pre>
<script>
const id = __ID__;
let study = null, trials = [], front = [];
const $ = (q) => document.querySelector(q);
async function get(url) { const r = await fetch(url); return r.json(); }
function fmt(v) { return typeof v === "number" ? Number(v).toPrecision(4) : v; }
async function load() {
  study = await get(`/studies/${id}`);
  const p = study.progress;
  $("#status").textContent = `${study.status}: ${p.completed_trials}/${p.n_trials} trials, ` +
    `${p.feasible_trials} feasible, hypervolume ${study.hypervolume.toFixed(4)}` +
    (study.error ? ` - error: ${study.error}` : "");
  const objectives = study.spec.objectives.map(o => o.metric);
  for (const sel of [$("#x"), $("#y")]) {
    if (!sel.options.length) objectives.forEach(m => sel.add(new Option(m, m)));
  }
  if ($("#y").selectedIndex === 0 && objectives.length > 1) $("#y").selectedIndex = 1;
  const page = await get(`/studies/${id}/trials?limit=1000`);
  trials = page.items;
  draw();
  if (study.status === "queued" || study.status === "running") setTimeout(load, 3000);
}
async function draw() {
  const x = $("#x").value, y = $("#y").value;
  const doc = await get(`/studies/${id}/pareto?x=${x}&y=${y}`);
  front = new Set(doc.trials.map(t => t.number));
  $("#svg").href = `/studies/${id}/pareto.svg?x=${x}&y=${y}`;
  $("#csv").href = `/studies/${id}/export?format=csv`;
  const svg = $("#chart"); svg.innerHTML = "";
  const pts = trials.filter(t => t.state === "complete" && x in t.values && y in t.values);
  if (!pts.length) return;
  const xs = pts.map(t => t.values[x]), ys = pts.map(t => t.values[y]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = v => 50 + (v - x0) / ((x1 - x0) || 1) * 640;
  const sy = v => 420 - (v - y0) / ((y1 - y0) || 1) * 380;
  const ns = "http://www.w3.org/2000/svg";
  const label = (txt, X, Y) => { const t = document.createElementNS(ns, "text");
    t.setAttribute("x", X); t.setAttribute("y", Y); t.setAttribute("font-size", "12");
    t.textContent = txt; svg.appendChild(t); };
  label(`${x} ${fmt(x0)} .. ${fmt(x1)}`, 300, 450); label(`${y} ${fmt(y0)} .. ${fmt(y1)}`, 5, 15);
  for (const t of pts) {
    const c = document.createElementNS(ns, "circle");
    const onFront = front.has(t.number);
    c.setAttribute("cx", sx(t.values[x])); c.setAttribute("cy", sy(t.values[y]));
    c.setAttribute("r", onFront ? 6 : 3);
    c.setAttribute("fill", onFront ? "#cc3311" : (t.feasible ? "#4477aa" : "#bbbbbb"));
    c.setAttribute("data-number", t.number);
    c.addEventListener("click", () => show(t.number));
    const tip = document.createElementNS(ns, "title"); tip.textContent = `trial ${t.number}`;
    c.appendChild(tip); svg.appendChild(c);
  }
}
async function show(number) {
  const t = await get(`/studies/${id}/trials/${number}`);
  const rows = Object.entries(t.values).map(([k, v]) => `<tr><th>${k}</th><td>${fmt(v)}</td></tr>`);
  $("#trial").innerHTML = `<p>trial ${t.number}: ${t.feasible ? "feasible" : "infeasible"}` +
    `${t.on_front ? ", on the front" : ""}</p><table>${rows.join("")}</table>`;
  $("#design").textContent = "layer: [Cin_E, Cout_E, P, Q, weight bits, act bits, offsets]\\n" +
    Object.entries(t.design).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\\n");
}
$("#x").addEventListener("change", draw); $("#y").addEventListener("change", draw);
load();
</script></body></html>"""
