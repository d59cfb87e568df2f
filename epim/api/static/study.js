// The front explorer of one study: /ui/studies/{id}. Reads the JSON API only.
import { axes, el, formatValue, isMetric, lines, metricLabel, ramp, unitFor } from "/ui/static/chart.js";

const root = document.querySelector("#explorer");
const id = Number(root.dataset.study);
const $ = q => document.querySelector(q);
const esc = v => String(v).replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
const state = { study: null, trials: [], front: [], refs: null, history: [], selected: null,
  sort: null, sortDesc: false, userSelected: false };

async function get(url) {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function allTrials() {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await get(`/studies/${id}/trials?limit=1000&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || !page.items.length) return items;
  }
}

const objectives = () => state.study.spec.objectives.map(o => o.metric);
const direction = m => (state.study.spec.objectives.find(o => o.metric === m) || {}).direction;

// The study's progress in words: its phase while no trial is stored (dense start, profile,
// references, ...), counters after.
function statusLine(s) {
  const p = s.progress, phase = phaseText(s);
  const running = s.status === "queued" || s.status === "running";
  const what = running && phase ? `${s.status} (${phase})` : s.status;
  const trials = running && !p.completed
    ? `no trials stored yet of ${p.n_trials}${phase ? "" : " (the run starts with the dense baseline)"}`
    : `${p.completed}/${p.n_trials} trials, ${p.feasible} feasible, front ${p.front_size}, ` +
      `hypervolume ${s.hypervolume.toFixed(4)}`;
  const elapsed = p.elapsed_s ? ` · ${p.elapsed_s < 120 ? `${p.elapsed_s.toFixed(0)} s` : `${(p.elapsed_s / 60).toFixed(1)} min`}` : "";
  return `${what}: ${trials}${elapsed} · network ${s.network} · sampler ${s.spec.sampler.name}` +
    (s.error ? ` · error: ${s.error}` : "");
}

// The run's phase in words ("dense start: pretraining the dense proxy"), or "".
function phaseText(s) {
  const p = s.progress, phase = p.phase ?? s.phase;
  if (!phase) return "";
  const detail = p.phase_detail ?? s.phase_detail;
  return String(phase).replace(/_/g, " ") + (detail ? `: ${detail}` : "");
}

// Hardware genes the study searches (space.hardware; the chip budget is not a gene).
function hardwareGenes() {
  const hw = (state.study.spec.space || {}).hardware || {};
  return Object.keys(hw).filter(g => Array.isArray(hw[g]) && !g.startsWith("max_"));
}
const geneOf = (t, gene) => ((t.design || {}).hardware || {})[gene];

// Options for metrics that appeared since the select was filled.
function addOptions(sel, names) {
  if (!sel.options.length) return;
  const have = new Set([...sel.options].map(o => o.value));
  names.filter(m => !have.has(m)).forEach(m => sel.add(new Option(metricLabel(m), m)));
}

function fillSelect(sel, names, index, extra = []) {
  if (sel.options.length) return;
  for (const [v, label] of extra) sel.add(new Option(label, v));
  names.forEach(m => sel.add(new Option(metricLabel(m), m)));
  sel.selectedIndex = Math.min(index + extra.length, sel.options.length - 1);
}

async function load() {
  try {
    state.study = await get(`/studies/${id}`);
    // the references are known from the spec before any trial; refetched while the study
    // runs (its baseline gains the dense proxy's accuracy, uniform designs become trials)
    const finished = state.refs && !["queued", "running"].includes(state.study.status);
    const [trials, refs, history] = await Promise.all([
      allTrials(), finished && state.refsFinal ? state.refs : get(`/studies/${id}/references`),
      get(`/studies/${id}/history`)]);
    state.refsFinal = !["queued", "running"].includes(state.study.status);
    state.trials = trials; state.refs = refs; state.history = history;
    state.front = trials.filter(t => t.on_front);
  } catch (err) {
    $("#status").textContent = `could not load the study: ${err.message}`;
    return;
  }
  const s = state.study;
  $("#status").textContent = statusLine(s);
  const names = objectives();
  const metricNames = new Set();
  for (const t of state.trials) if (t.state === "complete") Object.keys(t.values).forEach(m => metricNames.add(m));
  for (const r of [state.refs.dense, ...state.refs.uniform]) if (r) Object.keys(r.metrics).forEach(m => metricNames.add(m));
  // any registered metric can be an axis (objectives first); standard errors (m_se) are
  // drawn as error bars
  const others = [...metricNames].filter(m => !names.includes(m) && isMetric(m));
  fillSelect($("#x"), [...names, ...others], 0);
  fillSelect($("#y"), [...names, ...others], 1);
  for (const q of ["#x", "#y"]) addOptions($(q), [...names, ...others]);
  const genes = hardwareGenes();
  const colours = [["", "none"], ["feasibility", "feasibility"], ...genes.map(g => [`hw/${g}`, `hardware: ${g}`])];
  fillSelect($("#colour"), [...names, ...others], 2, colours);
  addOptions($("#colour"), [...names, ...others]);
  if (!state.colourChosen) {
    if (genes.length) $("#colour").value = `hw/${genes[0]}`;
    else if (names.length < 3) $("#colour").value = "feasibility";
  }
  draw();
  table();
  drawHistory();
  if (!state.userSelected) {
    const knee = kneePoint();
    if (knee !== null) await select(knee, false);
  }
  if (s.status === "queued" || s.status === "running") setTimeout(load, 3000);
}

// The front trial nearest the ideal point in objectives normalized to the front's range.
function kneePoint() {
  if (!state.front.length) return null;
  const names = objectives();
  const span = names.map(m => {
    const v = state.front.map(t => t.values[m]);
    return [Math.min(...v), Math.max(...v)];
  });
  let best = null, bestDist = Infinity;
  for (const t of state.front) {
    let d = 0;
    names.forEach((m, i) => {
      const [lo, hi] = span[i];
      let u = hi > lo ? (t.values[m] - lo) / (hi - lo) : 0;
      if (direction(m) === "maximize") u = 1 - u;
      d += u * u;
    });
    if (d < bestDist) { bestDist = d; best = t.number; }
  }
  return best;
}

function shownTrials() {
  const show = $("#show").value;
  return state.trials.filter(t => t.state === "complete" && (show === "all" ||
    (show === "feasible" && t.feasible) || (show === "front" && t.on_front)));
}

function referencePoints(x, y) {
  if (!$("#refs").checked || !state.refs) return [];
  const refs = [];
  if (state.refs.dense) refs.push({ ...state.refs.dense, kind: "dense" });
  for (const u of state.refs.uniform) refs.push({ ...u, kind: "uniform" });
  return refs.filter(r => x in r.metrics || y in r.metrics);
}

function showTip(evt, lines_) {
  const tip = $("#tip");
  tip.textContent = lines_.join("\n");
  tip.hidden = false;
  tip.style.left = `${evt.clientX + 14}px`; tip.style.top = `${evt.clientY + 10}px`;
}
const hideTip = () => { $("#tip").hidden = true; };

function tipLines(title, values) {
  return [title, ...objectives().concat(["crossbars", "crossbar_area_reduction"])
    .filter((m, i, a) => a.indexOf(m) === i && m in values)
    .map(m => `${metricLabel(m)}: ${formatValue(m, values[m])}`)];
}

function draw() {
  const x = $("#x").value, y = $("#y").value, colour = $("#colour").value;
  $("#svg-link").href = `/studies/${id}/pareto.svg?x=${x}&y=${y}`;
  $("#pdf-link").href = `/studies/${id}/pareto.pdf?x=${x}&y=${y}`;
  const svg = $("#chart"); svg.innerHTML = "";
  const pts = shownTrials().filter(t => x in t.values && y in t.values);
  const refs = referencePoints(x, y);
  // the axes cover the trials and the uniform designs; the dense baseline, often far off,
  // is pinned to the chart's edge when it lies outside (its tooltip gives its values)
  const full = refs.filter(r => r.kind !== "dense" && x in r.metrics && y in r.metrics);
  const se = (t, m) => t.values[`${m}_se`];
  const spread = (m) => pts.flatMap(t => Number.isFinite(se(t, m)) ? [t.values[m] - se(t, m), t.values[m] + se(t, m)] : [t.values[m]]);
  const dense = refs.find(r => r.kind === "dense" && x in r.metrics && y in r.metrics);
  if (!pts.length && !full.length && !dense) {
    el("text", { x: 40, y: 40, class: "empty" }, svg).textContent = emptyNote();
    legendFor([], "", refs.length > 0);
    return;
  }
  // no trials and no uniform design on both axes: the axes are the dense baseline's
  const axisRefs = full.length || pts.length ? full : [dense];
  const { sx, sy, box } = axes(svg, { xMetric: x, yMetric: y,
    xValues: [...spread(x), ...axisRefs.map(r => r.metrics[x])],
    yValues: [...spread(y), ...axisRefs.map(r => r.metrics[y])] });
  if (!pts.length) el("text", { x: box.x0 + 12, y: box.y1 + 18, class: "empty" }, svg).textContent = emptyNote();
  // colour scale
  let colourOf = t => (t.on_front ? "#cc3311" : t.feasible ? "#4477aa" : "#bbbbbb");
  const legend = [["#cc3311", "front (feasible, non-dominated)"], ["#4477aa", "feasible"], ["#bbbbbb", "grey = infeasible"]];
  let colourNote = "";
  let categories = [];
  if (colour.startsWith("hw/")) {  // a hardware gene: one colour per value; infeasible stays grey
    const gene = colour.slice(3);
    const values = [...new Set(pts.map(t => geneOf(t, gene)))].sort((a, b) => (a ?? -1) - (b ?? -1));
    const palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#332288", "#999933"];
    categories = values.map((v, i) => [palette[i % palette.length], `${gene} = ${v ?? "preset"}`]);
    colourOf = t => (t.feasible ? palette[values.indexOf(geneOf(t, gene)) % palette.length] : "#bbbbbb");
    colourNote = `colour: hardware gene ${gene}; grey = infeasible; front points ringed in red`;
  } else if (colour && colour !== "feasibility") {
    const vs = pts.map(t => t.values[colour]).filter(Number.isFinite);
    const lo = Math.min(...vs), hi = Math.max(...vs);
    colourOf = t => (Number.isFinite(t.values[colour]) ? ramp(hi > lo ? (t.values[colour] - lo) / (hi - lo) : 0.5) : "#bbbbbb");
    const u = unitFor(colour, vs);
    colourNote = vs.length
      ? `colour: ${metricLabel(colour)} from ${formatValue(colour, lo, u)} (dark) to ${formatValue(colour, hi, u)} (yellow); front points ringed in red`
      : `colour: ${metricLabel(colour)} (no values yet)`;
  }
  // error bars: one standard error either side, where trials carry one (``<metric>_se``)
  const bars = el("g", { class: "error-bars" }, svg);
  for (const t of pts) {
    const cx = sx(t.values[x]), cy = sy(t.values[y]);
    if (Number.isFinite(se(t, y))) {
      const a = sy(t.values[y] - se(t, y)), b = sy(t.values[y] + se(t, y));
      el("path", { d: `M${cx},${a}V${b}M${cx - 3},${a}h6M${cx - 3},${b}h6`, class: "error-bar", stroke: colourOf(t) }, bars);
    }
    if (Number.isFinite(se(t, x))) {
      const a = sx(t.values[x] - se(t, x)), b = sx(t.values[x] + se(t, x));
      el("path", { d: `M${a},${cy}H${b}M${a},${cy - 3}v6M${b},${cy - 3}v6`, class: "error-bar", stroke: colourOf(t) }, bars);
    }
  }
  const layer = el("g", { class: "points" }, svg);
  const ordered = [...pts].sort((a, b) => a.on_front - b.on_front);
  for (const t of ordered) {
    const c = el("circle", { cx: sx(t.values[x]).toFixed(1), cy: sy(t.values[y]).toFixed(1),
      r: t.on_front ? 6 : 3.5, fill: colourOf(t), class: `pt${t.on_front ? " front" : ""}`,
      "data-number": t.number, "fill-opacity": t.on_front ? 1 : 0.75 }, layer);
    if (t.on_front && colour && colour !== "feasibility") { c.setAttribute("stroke", "#cc3311"); c.setAttribute("stroke-width", 2); }
    if (colour.startsWith("hw/")) c.dataset.gene = geneOf(t, colour.slice(3)) ?? "preset";
    if (state.selected === t.number) { c.setAttribute("stroke", "#000"); c.setAttribute("stroke-width", 2.5); c.classList.add("selected"); }
    c.addEventListener("click", () => select(t.number, true));
    c.addEventListener("mousemove", e => showTip(e, [...tipLines(`trial ${t.number}${t.on_front ? " (front)" : ""}${t.feasible ? "" : " (infeasible)"}`, t.values), ...hardwareLines(t.design)]));
    c.addEventListener("mouseleave", hideTip);
  }
  // references: markers where both axes are known, rules where one is
  const refLayer = el("g", { class: "references" }, svg);
  for (let r of refs) {
    const hasX = x in r.metrics, hasY = y in r.metrics;
    const colourRef = r.kind === "dense" ? "#000" : "#8a5a00";
    let node;
    if (hasX && hasY) {
      const rawX = sx(r.metrics[x]), rawY = sy(r.metrics[y]);
      const inset = r.kind === "dense" ? 26 : 8;
      const inside = rawX >= box.x0 && rawX <= box.x1 && rawY >= box.y1 && rawY <= box.y0;
      const cx = inside ? rawX : Math.min(Math.max(rawX, box.x0 + inset), box.x1 - inset);
      const cy = inside ? rawY : Math.min(Math.max(rawY, box.y1 + inset), box.y0 - inset);
      if (!inside) {
        r = { ...r, label: `${r.label} (off the chart, pinned to its edge)` };
        if (r.kind === "dense") offScale(refLayer, r, cx, cy, rawX, rawY, box, x, y);
      }
      node = r.kind === "dense"
        ? el("path", { d: `M${cx},${cy - 8}L${cx + 2.4},${cy - 2.5}L${cx + 8},${cy - 2.5}L${cx + 3.6},${cy + 1.5}L${cx + 5.2},${cy + 7.5}L${cx},${cy + 4}L${cx - 5.2},${cy + 7.5}L${cx - 3.6},${cy + 1.5}L${cx - 8},${cy - 2.5}L${cx - 2.4},${cy - 2.5}Z`, fill: colourRef, class: "ref dense" }, refLayer)
        : el("rect", { x: cx - 4, y: cy - 4, width: 8, height: 8, fill: "none", stroke: colourRef, "stroke-width": 1.5, transform: `rotate(45 ${cx} ${cy})`, class: "ref uniform" }, refLayer);
    } else if (hasX) {
      const px = sx(r.metrics[x]);
      if (px < box.x0 || px > box.x1) continue;
      node = el("line", { x1: px, x2: px, y1: box.y1, y2: box.y0, stroke: colourRef, "stroke-dasharray": "3 4", "stroke-opacity": 0.5, class: "ref rule" }, refLayer);
    } else {
      const py = sy(r.metrics[y]);
      if (py < box.y1 || py > box.y0) continue;
      node = el("line", { x1: box.x0, x2: box.x1, y1: py, y2: py, stroke: colourRef, "stroke-dasharray": "3 4", "stroke-opacity": 0.5, class: "ref rule" }, refLayer);
    }
    node.addEventListener("mousemove", e => showTip(e, tipLines(`${r.label}${r.trial !== null && r.trial !== undefined ? ` (trial ${r.trial})` : ""}`, r.metrics)));
    node.addEventListener("mouseleave", hideTip);
    if (r.trial !== null && r.trial !== undefined) node.addEventListener("click", () => select(r.trial, true));
  }
  const items = categories.length ? [...categories, ["#bbbbbb", "grey = infeasible"]]
    : colourNote ? [["#cc3311", "front"], ["#bbbbbb", "grey = infeasible (no value)"]] : legend;
  legendFor(items, colourNote, refs.length > 0, $("#chart .error-bar") !== null);
}

function emptyNote() {
  const s = state.study, phase = phaseText(s).replace(/:.*$/, "");
  const now = s.status === "queued" ? "queued" : phase ? `${phase} in progress` : s.status;
  return `no completed trials yet (${now})${$("#refs").checked ? "; the references are known already" : ""}`;
}

function legendFor(items, colourNote, refs, errorBars = false) {
  $("#legend").innerHTML = "";
  for (const [c, label] of items) {
    const span = document.createElement("span"); span.style.setProperty("--c", c); span.textContent = label;
    $("#legend").appendChild(span);
  }
  const notes = [colourNote,
    refs ? "★ dense baseline (an arrow and its values when off the chart), ◇ uniform hand designs (dashed line: known on one axis only)" : "",
    errorBars ? "bars: ±1 standard error" : ""];
  for (const text of notes.filter(Boolean)) {
    const n = document.createElement("em"); n.textContent = text; $("#legend").appendChild(n);
  }
}

// The dense baseline off the chart: an arrow from its pinned star towards where it lies,
// and its values beside it.
function offScale(layer, r, cx, cy, rawX, rawY, box, x, y) {
  const dx = rawX - cx, dy = rawY - cy, n = Math.hypot(dx, dy) || 1, ux = dx / n, uy = dy / n;
  const tip = [cx + ux * 23, cy + uy * 23], side = [-uy, ux];
  const g = el("g", { class: "off-scale" }, layer);
  el("line", { x1: cx + ux * 10, y1: cy + uy * 10, x2: tip[0], y2: tip[1], stroke: "#000", "stroke-width": 1.5 }, g);
  el("path", { d: `M${tip[0]},${tip[1]}L${tip[0] - ux * 7 + side[0] * 4},${tip[1] - uy * 7 + side[1] * 4}L${tip[0] - ux * 7 - side[0] * 4},${tip[1] - uy * 7 - side[1] * 4}Z`, fill: "#000" }, g);
  const right = cx > (box.x0 + box.x1) / 2, top = cy < (box.y0 + box.y1) / 2;
  const label = el("text", { x: right ? cx - 12 : cx + 12, y: top ? cy + 20 : cy - 12,
    "text-anchor": right ? "end" : "start", class: "off-scale-label" }, g);
  label.textContent = `${r.label.replace(/ \(off.*$/, "")} off the chart: ${formatValue(x, r.metrics[x])}, ${formatValue(y, r.metrics[y])}`;
}

// A design's hardware genes (hardware co-search), for tooltips and the selected design.
function hardwareLines(design) {
  const hw = (design || {}).hardware;
  if (!hw || !Object.keys(hw).length) return [];
  return [`hardware: ${Object.entries(hw).map(([k, v]) => `${k} ${v}`).join(", ")}`];
}

function table() {
  const names = objectives();
  const extra = ["crossbars", "crossbar_area_reduction", "energy_j", "latency_s", "accuracy"]
    .filter(m => !names.includes(m) && state.front.some(t => m in t.values));
  const columns = ["number", ...names, ...extra];
  const thead = $("#front thead"), tbody = $("#front tbody");
  thead.innerHTML = "";
  const tr = document.createElement("tr");
  for (const c of columns) {
    const th = document.createElement("th");
    th.dataset.key = c;
    const u = c === "number" ? null : unitFor(c, state.front.map(t => t.values[c]));
    th.textContent = c === "number" ? "trial" : metricLabel(c) + (u && u.unit ? ` (${u.unit})` : "");
    if (state.sort === c) th.className = state.sortDesc ? "sorted-desc" : "sorted-asc";
    th.addEventListener("click", () => {
      state.sortDesc = state.sort === c ? !state.sortDesc : false; state.sort = c; table();
    });
    tr.appendChild(th);
  }
  thead.appendChild(tr);
  const key = state.sort || names[0];
  const val = t => (key === "number" ? t.number : t.values[key]);
  const rows = [...state.front].sort((a, b) => (val(a) - val(b)) * (state.sortDesc ? -1 : 1));
  tbody.innerHTML = "";
  for (const t of rows) {
    const row = document.createElement("tr");
    row.dataset.number = t.number;
    if (t.number === state.selected) row.className = "selected";
    for (const c of columns) {
      const td = document.createElement("td");
      if (c === "number") td.textContent = t.number;
      else td.textContent = formatValue(c, t.values[c], unitFor(c, state.front.map(f => f.values[c]))).replace(/ \S+$/, "");
      row.appendChild(td);
    }
    row.addEventListener("click", () => select(t.number, true));
    tbody.appendChild(row);
  }
  $("#front-count").textContent = `(${state.front.length} designs; click a column to sort)`;
}

function drawHistory() {
  const points = state.history.map(h => [h.completed, h.hypervolume]);
  lines($("#history"), { xMetric: "trials", yMetric: "hypervolume",
    series: [{ name: "hypervolume", colour: "#cc3311", points }] });
}

async function select(number, byUser) {
  if (byUser) state.userSelected = true;
  state.selected = number;
  const t = await get(`/studies/${id}/trials/${number}`);
  const front = state.front.some(f => f.number === number);
  $("#selected-label").textContent = `trial ${t.number}${front ? " (on the front" : ""}${!byUser && front ? ", the knee: nearest the ideal point)" : front ? ")" : ""}`;
  const names = objectives();
  const metrics = Object.keys(t.values).sort((a, b) => (names.includes(b) - names.includes(a)));
  const rows = metrics.map(m => `<tr><th class="left">${esc(metricLabel(m))}</th><td>${formatValue(m, t.values[m])}</td></tr>`).join("");
  const base = `/studies/${id}/trials/${t.number}`;
  $("#selected").innerHTML = `<p>${t.feasible ? "feasible" : "infeasible"}${t.source ? ` · proposed by ${esc(t.source)}` : ""}${t.node ? ` · evaluated on ${esc(t.node)}` : ""}` +
    ` · <a id="design-yaml" href="${base}/design?format=yaml">design (YAML)</a>` +
    ` · <a id="design-json" href="${base}/design?format=json">design (JSON)</a>` +
    ` · <a id="model-link" href="${base}/model">model (.pt, trainable)</a></p>` +
    hardwarePanel(t.design) + `<table class="grid metrics">${rows}</table>`;
  layerTable(t.layers, t.design);
  draw(); table();
}

function hardwarePanel(design) {
  const genes = hardwareGenes(), hw = (design || {}).hardware || {};
  if (!genes.length && !Object.keys(hw).length) return "";
  const names = [...new Set([...genes, ...Object.keys(hw)])];
  const cells = names.map(g => `<tr><th class="left">${esc(g)}</th><td>${esc(hw[g] ?? "as the preset")}</td></tr>`).join("");
  return `<h3>Hardware</h3><table id="hardware" class="grid metrics">${cells}</table>`;
}

function layerTable(layers, design) {
  const compute = layers.filter(l => l.epitome_in !== null && l.epitome_in !== undefined);
  $("#layers-wrap").hidden = !compute.length;
  const most = Math.max(1, ...compute.map(l => l.crossbars));
  const tbody = $("#layers tbody"); tbody.innerHTML = "";
  for (const l of compute) {
    const tr = document.createElement("tr");
    const kept = l.stored_fraction;
    const cells = [
      [esc(l.name), "left"], [esc(l.type) + (l.operator && l.operator !== "dense" ? ` · ${esc(l.operator)}` : ""), "left"],
      [`<span class="bar" style="width:${(120 * l.crossbars / most).toFixed(1)}px"></span> ${l.crossbars}`, ""],
      [`${l.epitome_in} × ${l.epitome_out} / ${l.in_channels} × ${l.out_channels}`, "left"],
      [`${l.epitome_h}×${l.epitome_w}${l.epitome_h !== l.kernel_h ? ` (dense ${l.kernel_h}×${l.kernel_w})` : ""}`, ""],
      [`<span class="strip" style="background:${ramp(Math.sqrt(kept))}"></span> ${(100 * kept).toPrecision(3)}%`, ""],
      [l.weight_bits, ""], [l.act_bits, ""],
      [((design || {}).layers || {})[l.name]?.replication ?? 1, ""],
      [formatValue("latency_s", l.latency_s), ""], [formatValue("energy_j", l.energy_j), ""]];
    tr.innerHTML = cells.map(([v, cls]) => `<td class="${cls}">${v}</td>`).join("");
    tbody.appendChild(tr);
  }
}

for (const q of ["#x", "#y", "#show", "#refs"]) $(q).addEventListener("change", draw);
$("#colour").addEventListener("change", () => { state.colourChosen = true; draw(); });
const compare = $("#compare");
if (compare) compare.addEventListener("change", () => {
  if (compare.value) location.href = `/ui/compare?a=${id}&b=${compare.value}`;
});
load();
