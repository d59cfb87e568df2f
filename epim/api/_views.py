"""Row -> schema conversions and the Pareto chart (shared by the routers)."""

from __future__ import annotations

import html
from typing import Any

from epim import results
from epim.api._schemas import StudyProgress, StudyPublic, StudySummary, TrialPublic


def study_summary(row: results.StudyRow) -> StudySummary:
    """A study row as listings show it."""
    base = f"/studies/{row.id}"
    return StudySummary(
        id=row.id, name=row.name, network=row.network, status=row.status,
        progress=StudyProgress(completed_trials=row.completed_trials,
                               feasible_trials=row.feasible_trials,
                               failed_trials=row.failed_trials, n_trials=row.n_trials,
                               front_size=row.front_size, elapsed_s=row.elapsed_s),
        hypervolume=row.hypervolume, best=dict(row.best or {}), created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, error=row.error,
        cancel_requested=row.cancel_requested,
        links={"self": base, "trials": f"{base}/trials", "pareto": f"{base}/pareto",
               "chart": f"{base}/pareto.svg", "ui": f"/ui/studies/{row.id}",
               "export": f"{base}/export?format=csv", "references": f"{base}/references",
               "history": f"{base}/history"})


def study_public(row: results.StudyRow) -> StudyPublic:
    """A study row with its spec and baseline."""
    baseline = (row.baseline or {}).get("metrics")
    return StudyPublic(**study_summary(row).model_dump(), spec=row.spec,
                       baseline=dict(baseline) if baseline else None)


def trial_public(row: results.TrialRow) -> TrialPublic:
    """A trial row as the API shows it."""
    return TrialPublic(number=row.number, state=row.state, feasible=row.feasible,
                       on_front=row.on_front, values=row.metrics,
                       constraints=row.constraints, design=row.design, source=row.source,
                       node=row.node, error=row.error)


def pareto_svg(points: list[tuple[int, bool, dict[str, Any]]], front: list[int],
               x: dict[str, str], y: dict[str, str], title: str) -> str:
    """A scatter of all trials (feasible blue, infeasible grey) with the front in red."""
    width, height, pad = 720, 480, 64
    xs = [float(m[x["metric"]]) for _, _, m in points if x["metric"] in m]
    ys = [float(m[y["metric"]]) for _, _, m in points if y["metric"] in m]
    lo_x, hi_x = (min(xs), max(xs)) if xs else (0.0, 1.0)
    lo_y, hi_y = (min(ys), max(ys)) if ys else (0.0, 1.0)
    span_x, span_y = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0

    def px(value: float) -> float:
        return pad + (value - lo_x) / span_x * (width - 2 * pad)

    def py(value: float) -> float:
        return height - pad - (value - lo_y) / span_y * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{html.escape(title)}</title>',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">'
             f'{html.escape(x["metric"])} ({x["direction"]})</text>',
             f'<text x="18" y="{height / 2}" text-anchor="middle" transform="rotate(-90 18 '
             f'{height / 2})">{html.escape(y["metric"])} ({y["direction"]})</text>',
             f'<text x="{pad}" y="{height - pad + 16}">{lo_x:.3g}</text>',
             f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">'
             f'{hi_x:.3g}</text>',
             f'<text x="{pad - 6}" y="{height - pad}" text-anchor="end">{lo_y:.3g}</text>',
             f'<text x="{pad - 6}" y="{pad + 4}" text-anchor="end">{hi_y:.3g}</text>']
    front_set = set(front)
    for number, feasible, metrics in points:
        if x["metric"] not in metrics or y["metric"] not in metrics or number in front_set:
            continue
        colour = "#4477aa" if feasible else "#bbbbbb"
        kind = "feasible" if feasible else "infeasible"
        parts.append(f'<circle class="{kind}" cx="{px(float(metrics[x["metric"]])):.1f}" '
                     f'cy="{py(float(metrics[y["metric"]])):.1f}" r="3" fill="{colour}">'
                     f'<title>trial {number}</title></circle>')
    on_front = sorted(((float(m[x["metric"]]), float(m[y["metric"]]), n)
                       for n, _, m in points if n in front_set))
    if on_front:
        path = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b, _ in on_front)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#cc3311" '
                     'stroke-width="1.5"/>')
        for a, b, n in on_front:
            parts.append(f'<circle class="front" cx="{px(a):.1f}" cy="{py(b):.1f}" r="5" '
                         f'fill="#cc3311"><title>trial {n} (front)</title></circle>')
    parts.append(f'<text x="{width - pad}" y="{pad - 20}" text-anchor="end">'
                 f'<tspan fill="#cc3311">front</tspan> · <tspan fill="#4477aa">feasible'
                 f'</tspan> · <tspan fill="#999999">infeasible</tspan></text></svg>')
    return "\n".join(parts)
