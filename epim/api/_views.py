"""The study's chart (shared by the routers); the documents are ``epim.service``'s."""

from __future__ import annotations

from typing import Any

from epim import results
from epim.api._chart import draw_pareto
from epim.api._figure import Figure
from epim.metrics import REGISTRY
from epim.service import (
    objectives,
    project_front,
    reference_designs,
    study_public,
    study_summary,
    trial_public,
)

__all__ = ["chart_axes", "pareto_figure", "study_public", "study_summary", "trial_public"]


def chart_axes(spec: dict[str, Any], x: str | None, y: str | None) -> list[dict[str, str]]:
    """The chart's two axes: objectives by default, any metric where asked.

    A metric that is not an objective gets its natural direction (higher is better for
    accuracy and the reductions). Without ``x`` and ``y``: the first two objectives.
    """
    names = {a["metric"]: a for a in objectives(spec)}
    first = list(names)
    x = x or next((m for m in first if m != y), y or first[0])
    y = y or next((m for m in first if m != x), x)
    return [names.get(m) or {"metric": m, "direction": REGISTRY[m].direction} for m in (x, y)]


def pareto_figure(url: str, row: results.StudyRow, axes: list[dict[str, str]]) -> Figure:
    """The study's chart on two axes.

    Every completed trial, the front on those axes, the references (the uniform hand
    designs and the dense baseline) and error bars where trials carry standard errors.
    """
    points = results.all_trial_points(url, row.id)
    front = project_front([(n, m) for n, f, m in points if f], axes[:2])
    return draw_pareto(points, front, axes[0], axes[1], reference_designs(url, row).model_dump(),
                       f"Study {row.id}: {row.name} ({row.network})")
