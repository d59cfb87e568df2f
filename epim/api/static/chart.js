// Small SVG charts for the front explorer: metric units, nice ticks, scatter, line.
// No dependencies; every value the API sends is in SI units (m^2, s, J), shown here with
// an SI prefix chosen per axis (mm², ms, µJ, ...).

const NS = "http://www.w3.org/2000/svg";

// The metric registry (epim.metrics) as the page carries it, in a JSON data block
// <script type="application/json" id="metric-registry">: name -> {label, quantity, si_unit,
// higher_is_better, ...}. Labels and quantities live there only.
const REGISTRY = JSON.parse(document.getElementById("metric-registry")?.textContent || "{}");

const PREFIXES = [[1e-12, "p"], [1e-9, "n"], [1e-6, "µ"], [1e-3, "m"], [1, ""]];

// Quantities shown with an SI prefix on their unit's symbol (as epim/api/_figure.py does).
const PREFIXED = { time: "s", energy: "J", energy_time: "J·s" };

export const isMetric = metric => Object.hasOwn(REGISTRY, metric);
export function metricLabel(metric) { return isMetric(metric) ? REGISTRY[metric].label : metric; }

// A display unit for values of one metric: {factor, unit}; shown value = value * factor.
export function unitFor(metric, values) {
  const kind = isMetric(metric) ? REGISTRY[metric].quantity : "count";
  const finite = values.filter(Number.isFinite).map(Math.abs);
  const big = finite.length ? Math.max(...finite) : 1;
  if (kind === "area") {  // m², mm², µm²
    for (const [factor, unit] of [[1, "m²"], [1e6, "mm²"], [1e12, "µm²"]]) {
      if (big * factor >= 1) return { factor, unit };
    }
    return { factor: 1e12, unit: "µm²" };
  }
  if (kind in PREFIXED) {
    const base = PREFIXED[kind];
    for (let i = PREFIXES.length - 1; i >= 0; i--) {
      const [scale, prefix] = PREFIXES[i];
      if (big >= scale || i === 0) return { factor: 1 / scale, unit: prefix + base };
    }
  }
  if (kind === "fraction") return { factor: 100, unit: "%" };
  if (kind === "ratio") return { factor: 1, unit: "×" };
  return { factor: 1, unit: "" };
}

export function formatValue(metric, value, unit) {
  if (value === undefined || value === null || !Number.isFinite(value)) return "–";
  const u = unit || unitFor(metric, [value]);
  const v = value * u.factor;
  const text = Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-2 && v !== 0)
    ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
  return u.unit ? `${text} ${u.unit}` : text;
}

// About n round tick values covering [lo, hi].
export function niceTicks(lo, hi, n = 6) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const pad = (hi - lo) * 0.04;  // points never sit on the axes
  lo -= pad; hi += pad;
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return { ticks, lo: Math.min(lo, ticks[0] ?? lo), hi: Math.max(hi, ticks.at(-1) ?? hi) };
}

export function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attrs = {}) {
  const node = el("text", { x, y, ...attrs }, parent);
  node.textContent = content;
  return node;
}

// Viridis-like ramp, t in 0..1.
export function ramp(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Axes with ticks and labels; returns {sx, sy, ux, uy} (scales from SI values to pixels).
export function axes(svg, { xMetric, yMetric, xValues, yValues, margin = { l: 72, r: 18, t: 16, b: 48 } }) {
  const width = +svg.getAttribute("width"), height = +svg.getAttribute("height");
  const ux = unitFor(xMetric, xValues), uy = unitFor(yMetric, yValues);
  const xs = xValues.filter(Number.isFinite).map(v => v * ux.factor);
  const ys = yValues.filter(Number.isFinite).map(v => v * uy.factor);
  const tx = niceTicks(Math.min(...xs), Math.max(...xs));
  const ty = niceTicks(Math.min(...ys), Math.max(...ys));
  const x0 = margin.l, x1 = width - margin.r, y0 = height - margin.b, y1 = margin.t;
  const sx = v => x0 + (v * ux.factor - tx.lo) / ((tx.hi - tx.lo) || 1) * (x1 - x0);
  const sy = v => y0 - (v * uy.factor - ty.lo) / ((ty.hi - ty.lo) || 1) * (y0 - y1);
  const g = el("g", { class: "axes" }, svg);
  for (const t of tx.ticks) {
    const px = x0 + (t - tx.lo) / ((tx.hi - tx.lo) || 1) * (x1 - x0);
    el("line", { x1: px, x2: px, y1: y1, y2: y0, class: "grid-line" }, g);
    el("line", { x1: px, x2: px, y1: y0, y2: y0 + 5, class: "axis" }, g);
    text(g, px, y0 + 17, String(t), { "text-anchor": "middle", class: "tick x-tick" });
  }
  for (const t of ty.ticks) {
    const py = y0 - (t - ty.lo) / ((ty.hi - ty.lo) || 1) * (y0 - y1);
    el("line", { x1: x0, x2: x1, y1: py, y2: py, class: "grid-line" }, g);
    el("line", { x1: x0 - 5, x2: x0, y1: py, y2: py, class: "axis" }, g);
    text(g, x0 - 8, py + 4, String(t), { "text-anchor": "end", class: "tick y-tick" });
  }
  el("line", { x1: x0, x2: x1, y1: y0, y2: y0, class: "axis" }, g);
  el("line", { x1: x0, x2: x0, y1: y0, y2: y1, class: "axis" }, g);
  const unitText = u => (u.unit ? ` (${u.unit})` : "");
  text(g, (x0 + x1) / 2, height - 10, metricLabel(xMetric) + unitText(ux),
    { "text-anchor": "middle", class: "axis-label x-label" });
  text(g, 16, (y0 + y1) / 2, metricLabel(yMetric) + unitText(uy),
    { "text-anchor": "middle", class: "axis-label y-label", transform: `rotate(-90 16 ${(y0 + y1) / 2})` });
  return { sx, sy, ux, uy, box: { x0, x1, y0, y1 } };
}

// A line chart of series [{name, colour, points: [[x, y], ...]}].
export function lines(svg, { xMetric, yMetric, series }) {
  svg.innerHTML = "";
  const all = series.flatMap(s => s.points);
  if (!all.length) { text(svg, 20, 30, "no data yet", { class: "muted" }); return; }
  const { sx, sy } = axes(svg, { xMetric, yMetric, xValues: all.map(p => p[0]),
    yValues: all.map(p => p[1]), margin: { l: 70, r: 12, t: 12, b: 42 } });
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    el("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2, class: "series" }, svg);
  }
}
