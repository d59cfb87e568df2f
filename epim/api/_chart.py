"""The study's Pareto chart for papers: trials, the front, references, units and a grid.

Drawn as :class:`~epim.api._figure.Figure` shapes, so the same chart is written as SVG and
as PDF. It follows the explorer's conventions (``static/study.js``): the axes cover the
trials and the uniform hand designs; the dense baseline, often far larger, is drawn where it
lies when it is on the chart and otherwise pinned inside the nearest edge with an arrow
pointing off the chart and its values written beside it; a metric ``m`` with ``m_se`` in a
trial's metrics gets error bars of one standard error.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from epim.api._figure import (
    Figure,
    Shape,
    Text,
    Unit,
    format_value,
    nice_ticks,
    rgb,
    text_width,
    unit_for,
)
from epim.metrics import metric_label

WIDTH, HEIGHT = 720.0, 480.0
LEFT, RIGHT, TOP, BOTTOM = 78.0, 24.0, 60.0, 50.0
FRONT, FEASIBLE, INFEASIBLE = rgb("#cc3311"), rgb("#4477aa"), rgb("#bbbbbb")
UNIFORM, DENSE = rgb("#8a5a00"), rgb("#000000")
GRID, AXIS = rgb("#e3e3e3"), rgb("#000000")
#: How far inside the plot's edge an off-chart dense baseline is pinned (points).
PIN_INSET = 28.0

Point = tuple[int, bool, dict[str, Any]]


def star(x: float, y: float, radius: float = 7.0) -> tuple[tuple[float, float], ...]:
    """A five-pointed star's ten corners around (x, y), pointing up."""
    corners = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + i * math.pi / 5
        corners.append((x + r * math.cos(angle), y + r * math.sin(angle)))
    return tuple(corners)


def diamond(x: float, y: float, size: float = 5.0) -> tuple[tuple[float, float], ...]:
    """A square on its corner around (x, y)."""
    return ((x, y - size), (x + size, y), (x, y + size), (x - size, y))


class _Scale:
    """SI value -> page coordinate along one axis, with its unit and ticks."""

    def __init__(self, metric: str, values: list[float], start: float, end: float) -> None:
        self.metric = metric
        self.unit: Unit = unit_for(metric, values)
        shown = [v * self.unit.factor for v in values if math.isfinite(v)] or [0.0, 1.0]
        self.ticks = nice_ticks(min(shown), max(shown))
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        span = (self.ticks.hi - self.ticks.lo) or 1.0
        return self.start + (value * self.unit.factor - self.ticks.lo) / span * (
            self.end - self.start)

    def tick_position(self, tick: float) -> float:
        return self(tick / self.unit.factor)

    def label(self) -> str:
        return metric_label(self.metric) + (f" ({self.unit.symbol})" if self.unit.symbol
                                            else "")


def _extent(metric: str, metrics: dict[str, Any]) -> list[float]:
    """The value and, with a standard error, its error bar's ends."""
    value = float(metrics[metric])
    se = metrics.get(f"{metric}_se")
    if se is None or not math.isfinite(float(se)):
        return [value]
    return [value - float(se), value, value + float(se)]


def draw_pareto(points: list[Point], front: list[int], x: dict[str, str], y: dict[str, str],
                refs: dict[str, Any], title: str) -> Figure:
    """The chart of ``points`` (number, feasible, metrics) on axes ``x`` and ``y``.

    Args:
        points: Every completed trial.
        front: The trials non-dominated on these two axes (drawn red, joined by the front's
            staircase).
        x: The horizontal axis ``{"metric", "direction"}``.
        y: The vertical axis.
        refs: ``reference_designs``' document: ``{"dense": {label, metrics} | None,
            "uniform": [{label, metrics, ...}]}``.
        title: The figure's title.

    """
    xm, ym = x["metric"], y["metric"]
    figure = Figure(WIDTH, HEIGHT, title)
    shown = [p for p in points if xm in p[2] and ym in p[2]]
    uniform = [r for r in refs.get("uniform", []) if xm in r["metrics"] or ym in r["metrics"]]
    full = [r for r in uniform if xm in r["metrics"] and ym in r["metrics"]]
    dense = refs.get("dense")
    xs = [v for _, _, m in shown for v in _extent(xm, m)] + [r["metrics"][xm] for r in full]
    ys = [v for _, _, m in shown for v in _extent(ym, m)] + [r["metrics"][ym] for r in full]
    if not xs and dense and xm in dense["metrics"] and ym in dense["metrics"]:
        xs, ys = [dense["metrics"][xm]], [dense["metrics"][ym]]
    figure.add(Text(LEFT, 22, title, size=13, bold=True, kind="title"))
    if not xs:
        figure.add(Text(WIDTH / 2, HEIGHT / 2, "no completed trials yet", size=12,
                        anchor="middle", colour=rgb("#666666"), kind="empty"))
        return figure
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    sx, sy = _Scale(xm, xs, x0, x1), _Scale(ym, ys, y0, y1)
    _axes(figure, sx, sy, (x0, x1, y0, y1))

    front_set = set(front)
    with_se = False
    for kind, chosen in (("infeasible", [p for p in shown if not p[1]]),
                         ("feasible", [p for p in shown if p[1] and p[0] not in front_set])):
        colour = INFEASIBLE if kind == "infeasible" else FEASIBLE
        for number, _, metrics in chosen:
            with_se |= _error_bars(figure, sx, sy, metrics, colour)
            figure.add(Shape(((sx(metrics[xm]), sy(metrics[ym])),), fill=colour, radius=2.8,
                             stroke=None, kind=kind, title=f"trial {number}"))
    on_front = [(float(m[xm]), float(m[ym]), n) for n, _, m in shown if n in front_set]
    on_front.sort(reverse=x["direction"] == "maximize")
    if on_front:
        steps = [(sx(on_front[0][0]), sy(on_front[0][1]))]
        for (_, b, _), (c, d, _) in itertools.pairwise(on_front):
            steps += [(sx(c), sy(b)), (sx(c), sy(d))]
        figure.add(Shape(tuple(steps), stroke=FRONT, width=1.3, kind="front-line"))
    for a, b, n in on_front:
        metrics = next(m for number, _, m in shown if number == n)
        with_se |= _error_bars(figure, sx, sy, metrics, FRONT)
        figure.add(Shape(((sx(a), sy(b)),), fill=FRONT, stroke=rgb("#ffffff"), width=0.8,
                         radius=4.2, kind="front", title=f"trial {n} (front)"))
    _references(figure, sx, sy, uniform, (x0, x1, y0, y1))
    if dense is not None:
        _dense(figure, sx, sy, dense, (x0, x1, y0, y1))
    _legend(figure, with_se, bool(uniform), dense is not None)
    return figure


def _axes(figure: Figure, sx: _Scale, sy: _Scale, box: tuple[float, float, float, float]
          ) -> None:
    x0, x1, y0, y1 = box
    for tick in sx.ticks.values:
        px = sx.tick_position(tick)
        figure.add(Shape(((px, y1), (px, y0)), stroke=GRID, width=0.6, kind="grid"))
        figure.add(Shape(((px, y0), (px, y0 + 4)), stroke=AXIS, width=0.8))
        figure.add(Text(px, y0 + 16, sx.ticks.label(tick), size=10, anchor="middle",
                        kind="tick x-tick"))
    for tick in sy.ticks.values:
        py = sy.tick_position(tick)
        figure.add(Shape(((x0, py), (x1, py)), stroke=GRID, width=0.6, kind="grid"))
        figure.add(Shape(((x0 - 4, py), (x0, py)), stroke=AXIS, width=0.8))
        figure.add(Text(x0 - 7, py + 3.5, sy.ticks.label(tick), size=10, anchor="end",
                        kind="tick y-tick"))
    figure.add(Shape(((x0, y1), (x0, y0), (x1, y0)), stroke=AXIS, width=0.8, kind="axis"))
    figure.add(Text((x0 + x1) / 2, HEIGHT - 12, sx.label(), size=12, anchor="middle",
                    kind="axis-label x-label"))
    figure.add(Text(20, (y0 + y1) / 2, sy.label(), size=12, anchor="middle", rotate=-90,
                    kind="axis-label y-label"))


def _error_bars(figure: Figure, sx: _Scale, sy: _Scale, metrics: dict[str, Any],
                colour: tuple[float, float, float]) -> bool:
    """One standard error either side, where the trial carries it; True if drawn."""
    drawn = False
    px, py = sx(metrics[sx.metric]), sy(metrics[sy.metric])
    for scale, vertical in ((sy, True), (sx, False)):
        ends = _extent(scale.metric, metrics)
        if len(ends) == 1:
            continue
        a, b = scale(ends[0]), scale(ends[2])
        bar = ((px, a), (px, b)) if vertical else ((a, py), (b, py))
        caps = (((px - 2.5, a), (px + 2.5, a)), ((px - 2.5, b), (px + 2.5, b))) if vertical \
            else (((a, py - 2.5), (a, py + 2.5)), ((b, py - 2.5), (b, py + 2.5)))
        for segment in (bar, *caps):
            figure.add(Shape(segment, stroke=colour, width=0.7, kind="error-bar"))
        drawn = True
    return drawn


def _references(figure: Figure, sx: _Scale, sy: _Scale, uniform: list[dict[str, Any]],
                box: tuple[float, float, float, float]) -> None:
    """Uniform hand designs: diamonds where both values are known, dashed rules where one."""
    x0, x1, y0, y1 = box
    for ref in uniform:
        metrics, label = ref["metrics"], str(ref["label"])
        if sx.metric in metrics and sy.metric in metrics:
            figure.add(Shape(diamond(sx(metrics[sx.metric]), sy(metrics[sy.metric])),
                             stroke=UNIFORM, width=1.2, closed=True, kind="ref uniform",
                             title=label))
        elif sx.metric in metrics and x0 <= sx(metrics[sx.metric]) <= x1:
            px = sx(metrics[sx.metric])
            figure.add(Shape(((px, y1), (px, y0)), stroke=UNIFORM, width=0.6, dash=(3, 4),
                             kind="ref rule", title=label))
        elif sy.metric in metrics and y1 <= sy(metrics[sy.metric]) <= y0:
            py = sy(metrics[sy.metric])
            figure.add(Shape(((x0, py), (x1, py)), stroke=UNIFORM, width=0.6, dash=(3, 4),
                             kind="ref rule", title=label))


def _dense(figure: Figure, sx: _Scale, sy: _Scale, dense: dict[str, Any],
           box: tuple[float, float, float, float]) -> None:
    """The dense baseline's star; off the chart: pinned inside the edge, an arrow, values."""
    x0, x1, y0, y1 = box
    metrics, label = dense["metrics"], str(dense["label"])
    if sx.metric not in metrics or sy.metric not in metrics:
        return
    raw_x, raw_y = sx(metrics[sx.metric]), sy(metrics[sy.metric])
    cx = min(max(raw_x, x0 + PIN_INSET), x1 - PIN_INSET)
    cy = min(max(raw_y, y1 + PIN_INSET), y0 - PIN_INSET)
    inside = x0 <= raw_x <= x1 and y1 <= raw_y <= y0
    if inside:
        cx, cy = raw_x, raw_y
    figure.add(Shape(star(cx, cy), fill=DENSE, closed=True, width=0.5, kind="ref dense",
                     title=label))
    if inside:
        return
    dx, dy = raw_x - cx, raw_y - cy
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    tip = (cx + ux * (PIN_INSET - 3), cy + uy * (PIN_INSET - 3))
    figure.add(Shape(((cx + ux * 10, cy + uy * 10), tip), stroke=DENSE, width=1.2,
                     kind="off-scale"))
    side = (-uy, ux)  # the arrowhead's two barbs
    head = ((tip[0] - ux * 6 + side[0] * 3.5, tip[1] - uy * 6 + side[1] * 3.5), tip,
            (tip[0] - ux * 6 - side[0] * 3.5, tip[1] - uy * 6 - side[1] * 3.5))
    figure.add(Shape(head, fill=DENSE, stroke=DENSE, width=0.8, closed=True,
                     kind="off-scale"))
    values = ", ".join(format_value(float(metrics[s.metric]), s.unit) for s in (sx, sy))
    text = f"{label} off the chart: {values}"
    anchor = "end" if cx > (x0 + x1) / 2 else "start"
    tx = cx - 12 if anchor == "end" else cx + 12
    ty = cy + 18 if cy < (y0 + y1) / 2 else cy - 12
    figure.add(Text(tx, ty, text, size=10, anchor=anchor, kind="off-scale-label"))


def _legend(figure: Figure, with_se: bool, uniform: bool, dense: bool) -> None:
    """One row under the title: what each mark means."""
    x, y = LEFT, 44.0
    entries: list[tuple[str, str]] = [("front", "front"),
                                      ("feasible", "feasible"),
                                      ("infeasible", "grey = infeasible")]
    if uniform:
        entries.append(("uniform", "uniform designs"))
    if dense:
        entries.append(("dense", "dense baseline"))
    if with_se:
        entries.append(("se", "±1 standard error"))
    for kind, label in entries:
        if kind == "front":
            figure.add(Shape(((x, y - 4), (x + 14, y - 4)), stroke=FRONT, width=1.3))
            figure.add(Shape(((x + 7, y - 4),), fill=FRONT, radius=4.2))
        elif kind in ("feasible", "infeasible"):
            figure.add(Shape(((x + 7, y - 4),), radius=2.8,
                             fill=FEASIBLE if kind == "feasible" else INFEASIBLE))
        elif kind == "uniform":
            figure.add(Shape(diamond(x + 7, y - 4), stroke=UNIFORM, width=1.2, closed=True))
        elif kind == "dense":
            figure.add(Shape(star(x + 7, y - 4, 6), fill=DENSE, closed=True, width=0.5))
        else:
            figure.add(Shape(((x + 7, y - 9), (x + 7, y + 1)), stroke=FEASIBLE, width=0.7))
        figure.add(Text(x + 18, y, label, size=10, kind="legend"))
        x += 18 + text_width(label, 10) + 14
