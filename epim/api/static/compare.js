// Two studies on shared axes: /ui/compare?a=&b=. Fronts are projected on the chosen axes.
import { axes, el, formatValue, lines, metricLabel } from "/ui/static/chart.js";

const root = document.querySelector("#compare");
const ids = [Number(root.dataset.a), Number(root.dataset.b)];
const COLOURS = ["#cc3311", "#0077bb"];
const $ = q => document.querySelector(q);
const esc = v => String(v).replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
let studies = [];

async function get(url) {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function load() {
  try {
    studies = await Promise.all(ids.map(i => get(`/studies/${i}`)));
  } catch (err) { $("#status").textContent = `could not load: ${err.message}`; return; }
  const names = studies.map(s => s.spec.objectives.map(o => o.metric));
  const shared = names[0].filter(m => names[1].includes(m));
  if (!shared.length) {
    $("#status").textContent = "the two studies share no objective: nothing to compare on";
    return;
  }
  for (const [sel, i] of [[$("#x"), 0], [$("#y"), 1]]) {
    if (!sel.options.length) shared.forEach(m => sel.add(new Option(metricLabel(m), m)));
    sel.selectedIndex = Math.min(i, shared.length - 1);
  }
  $("#status").textContent = studies.map(s => `${s.id}: ${s.status}, ${s.progress.completed}/${s.progress.n_trials} trials`).join(" · ");
  const histories = await Promise.all(ids.map(i => get(`/studies/${i}/history`)));
  lines($("#history"), { xMetric: "trials", yMetric: "hypervolume", series: histories.map((h, k) => ({
    name: `study ${ids[k]}`, colour: COLOURS[k], points: h.map(p => [p.completed, p.hypervolume]) })) });
  await draw();
  if (studies.some(s => s.status === "queued" || s.status === "running")) setTimeout(load, 5000);
}

async function draw() {
  const x = $("#x").value, y = $("#y").value;
  const docs = await Promise.all(ids.map(i => get(`/studies/${i}/pareto?x=${x}&y=${y}`)));
  const svg = $("#chart"); svg.innerHTML = "";
  const all = docs.flatMap(d => d.trials);
  if (!all.length) { el("text", { x: 40, y: 40 }, svg).textContent = "no feasible trials yet"; return; }
  const { sx, sy } = axes(svg, { xMetric: x, yMetric: y, xValues: all.map(t => t.values[x]),
    yValues: all.map(t => t.values[y]) });
  docs.forEach((doc, k) => {
    const pts = [...doc.trials].sort((a, b) => a.values[x] - b.values[x]);
    const d = pts.map((t, i) => `${i ? "L" : "M"}${sx(t.values[x]).toFixed(1)},${sy(t.values[y]).toFixed(1)}`).join("");
    el("path", { d, fill: "none", stroke: COLOURS[k], "stroke-opacity": 0.5, "stroke-width": 1.5 }, svg);
    for (const t of pts) {
      const c = el("circle", { cx: sx(t.values[x]), cy: sy(t.values[y]), r: 5, fill: COLOURS[k],
        class: `pt study-${ids[k]}`, "data-number": t.number }, svg);
      c.addEventListener("mousemove", e => {
        const tip = $("#tip"); tip.hidden = false;
        tip.textContent = [`study ${ids[k]} trial ${t.number}`, `${metricLabel(x)}: ${formatValue(x, t.values[x])}`, `${metricLabel(y)}: ${formatValue(y, t.values[y])}`].join("\n");
        tip.style.left = `${e.clientX + 14}px`; tip.style.top = `${e.clientY + 10}px`;
      });
      c.addEventListener("mouseleave", () => { $("#tip").hidden = true; });
      c.addEventListener("click", () => { location.href = `/ui/studies/${ids[k]}`; });
    }
  });
  $("#legend").innerHTML = "";
  studies.forEach((s, k) => {
    const span = document.createElement("span"); span.style.setProperty("--c", COLOURS[k]);
    span.textContent = `study ${s.id}: ${s.name}`; $("#legend").appendChild(span);
  });
  const tbody = $("#summary tbody"); tbody.innerHTML = "";
  studies.forEach((s, k) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td class="left">${s.id}: ${esc(s.name)}</td><td class="left">${esc(s.spec.sampler.name)}</td>` +
      `<td>${s.progress.completed}</td><td>${docs[k].trials.length}</td><td>${docs[k].hypervolume.toFixed(4)}</td>`;
    tbody.appendChild(tr);
  });
}

$("#x").addEventListener("change", draw); $("#y").addEventListener("change", draw);
load();
