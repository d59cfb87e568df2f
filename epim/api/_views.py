"""Row -> schema conversions and the study's chart (shared by the routers)."""

from __future__ import annotations

from typing import Any

from epim import results
from epim.api._chart import draw_pareto
from epim.api._figure import Figure
from epim.api._schemas import StudyProgress, StudyPublic, StudySummary, TrialPublic
from epim.search import HIGHER_IS_BETTER
from epim.service import objectives, project_front, reference_designs


def _loaded(row: results.StudyRow, column: str) -> str | None:
    """A column's value if the row has it loaded, else ``None``.

    For columns a store may lack (``phase``, written by runs that announce their phases) or
    a listing may not load: reading an unloaded column of a row whose session has closed
    would raise instead.
    """
    value = vars(row).get(column)
    return None if value is None else str(value)


def study_summary(row: results.StudyRow) -> StudySummary:
    """A study row as listings show it."""
    base = f"/studies/{row.id}"
    return StudySummary(
        id=row.id, name=row.name, network=row.network, status=row.status,
        progress=StudyProgress(completed=row.completed,
                               feasible=row.feasible,
                               failed=row.failed, n_trials=row.n_trials,
                               front_size=row.front_size, elapsed_s=row.elapsed_s,
                               phase=_loaded(row, "phase"),
                               phase_detail=_loaded(row, "phase_detail")),
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


def chart_axes(spec: dict[str, Any], x: str | None, y: str | None) -> list[dict[str, str]]:
    """The chart's two axes: objectives by default, any metric where asked.

    A metric that is not an objective gets its natural direction (higher is better for
    accuracy and the reductions). Without ``x`` and ``y``: the first two objectives.
    """
    names = {a["metric"]: a for a in objectives(spec)}
    first = list(names)
    x = x or next((m for m in first if m != y), y or first[0])
    y = y or next((m for m in first if m != x), x)
    return [names.get(m) or {"metric": m, "direction": "maximize" if m in HIGHER_IS_BETTER
                             else "minimize"} for m in (x, y)]


def pareto_figure(url: str, row: results.StudyRow, axes: list[dict[str, str]]) -> Figure:
    """The study's chart on two axes.

    Every completed trial, the front on those axes, the references (the uniform hand
    designs and the dense baseline) and error bars where trials carry standard errors.
    """
    points = results.all_trial_points(url, row.id)
    front = project_front([(n, m) for n, f, m in points if f], axes[:2])
    return draw_pareto(points, front, axes[0], axes[1], reference_designs(url, row),
                       f"Study {row.id}: {row.name} ({row.network})")
