"""``/ui/``: pages a person can browse: studies, progress and an interactive front."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Cookie, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epim import results
from epim.api._deps import (
    SESSION_COOKIE,
    SettingsDep,
    matching_key,
    read_allowed,
    session_token,
)

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)
Session = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]


def _login_redirect(request: Request) -> RedirectResponse:
    target = quote(request.url.path, safe="/")
    return RedirectResponse(f"/ui/login?next={target}", status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_page(next: str = "/ui/", failed: bool = False) -> str:
    """A form for the API key (the read key, or the write key)."""
    message = "<p style='color:#b00'>wrong key</p>" if failed else ""
    return (f"<!doctype html><title>EPIM Search: log in</title><style>{STYLE}</style>"
            f"<h1>EPIM Search</h1>{message}<form method=post action='/ui/login'>"
            f"<input type=hidden name=next value='{html.escape(_safe_next(next))}'>"
            "<label>API key <input type=password name=key autofocus></label> "
            "<button>Log in</button></form>")


@router.post("/login")
async def login(request: Request, settings: SettingsDep) -> Response:
    """Check the key; on success set an HttpOnly session cookie derived from it."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0]
    target = _safe_next((form.get("next") or ["/ui/"])[0])
    if settings.api_read_key is None:  # reads are open: nothing to log in to
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    matching = matching_key(settings, key)
    if matching is None:
        return RedirectResponse(f"/ui/login?failed=true&next={quote(target, safe='/')}",
                                status.HTTP_303_SEE_OTHER)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, session_token(matching), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.get("/logout")
def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only pages of this UI (no open redirect)."""
    return target if target.startswith("/ui/") and "//" not in target else "/ui/"

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;
text-align:right}th{text-align:left}a{color:#1f5fa8}.muted{color:#777}
#chart circle{cursor:pointer}#design{font-family:monospace;font-size:.85rem}
"""


@router.get("/", response_class=HTMLResponse)
def index(settings: SettingsDep, request: Request, session: Session = None) -> Response:
    """All studies with their status and progress."""
    if not read_allowed(settings, request.headers.get("x-api-key"), session):
        return _login_redirect(request)
    page = results.list_studies(settings.database_url, limit=200)
    rows = "".join(
        f"<tr><td><a href='/ui/studies/{r.id}'>{r.id}</a></td><td style='text-align:left'>"
        f"{html.escape(r.name)}</td><td>{r.status}</td><td>{r.completed_trials}/"
        f"{r.n_trials}</td><td>{r.feasible_trials}</td><td>{r.hypervolume:.4f}</td></tr>"
        for r in page.items)
    return HTMLResponse(
        f"<!doctype html><title>EPIM Search</title><style>{STYLE}</style>"
        f"<h1>EPIM Search studies</h1><table><tr><th>id</th><th>name</th><th>status</th>"
        f"<th>trials</th><th>feasible</th><th>hypervolume</th></tr>{rows}</table>"
        f"<p class=muted>API: <a href='/docs'>/docs</a></p>")


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(settings: SettingsDep, study_id: int, request: Request,
               session: Session = None) -> Response:
    """Progress and an interactive front: click a point to see its design."""
    if not read_allowed(settings, request.headers.get("x-api-key"), session):
        return _login_redirect(request)
    if not 1 <= study_id <= 2**31 - 1:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    row = results.get_study(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return HTMLResponse(PAGE.replace("__ID__", str(study_id))
                        .replace("__NAME__", html.escape(row.name)).replace("__STYLE__", STYLE))


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
  $("#design").textContent = JSON.stringify(t.design, null, 1);
}
$("#x").addEventListener("change", draw); $("#y").addEventListener("change", draw);
load();
</script></body></html>"""
