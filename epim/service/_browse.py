"""Reading studies back: the Pareto document and exports that the CLI and the API share.

Both entry points call these functions on the same ``epim_`` rows, so ``epim study pareto``
and ``GET /studies/{id}/pareto`` give the same document.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from epim import results
from epim.errors import InputError
from epim.search import StudySpec, front_indices, normalized_hypervolume
from epim.space import DESIGN_FIELDS, PRUNE_FIELDS
from epim.workloads import formula_safe

#: Trial numbers fit the databases' 32-bit integer columns.
MAX_ROWS = 2**31 - 1


def objectives(spec: dict[str, Any]) -> list[dict[str, str]]:
    """``[{"metric", "direction"}]`` of a stored spec (directions filled in)."""
    parsed = StudySpec.model_validate(spec, strict=False)
    return [{"metric": o.metric, "direction": o.direction} for o in parsed.objectives]


def find_study(url: str, ref: str) -> results.StudyRow:
    """A study by id or by name (a name must be unambiguous).

    Raises:
        InputError: If there is no such study, or several share the name (lists their ids).

    """
    if ref.isdigit() and int(ref) <= MAX_ROWS:
        row = results.get_study(url, int(ref))
        if row is not None:
            return row
    named = results.list_studies(url, name=ref, limit=100).items
    if len(named) == 1:
        found: results.StudyRow = named[0]
        return found
    if named:
        raise InputError(f"several studies are named '{ref}'", field="study",
                         expected="one of the ids " + ", ".join(str(r.id) for r in named))
    raise InputError(f"no study '{ref}'", field="study", expected="a study id or name "
                     "(epim study list)")


def choose_axes(spec: dict[str, Any], x: str | None, y: str | None) -> list[dict[str, str]]:
    """The objectives to project on.

    Both given, one given (the other: the first objective that differs), or none (every
    objective).

    Raises:
        InputError: ``field`` ``x`` or ``y``, if it is not an objective of the study.

    """
    axes = objectives(spec)
    if x is None and y is None:
        return axes
    names = [a["metric"] for a in axes]
    for label, metric in (("x", x), ("y", y)):
        if metric is not None and metric not in names:
            raise InputError(f"{metric!r} is not an objective of this study", field=label,
                             expected="one of " + ", ".join(names))
    if x is None:
        x = next((m for m in names if m != y), y)
    if y is None:
        y = next((m for m in names if m != x), x)
    return [next(a for a in axes if a["metric"] == m) for m in (x, y)]


def project_front(points: list[tuple[int, dict[str, Any]]], axes: list[dict[str, str]]
                  ) -> list[int]:
    """Numbers of the non-dominated points on the given objectives."""
    usable = [(n, m) for n, m in points if all(a["metric"] in m for a in axes)]
    if not usable:
        return []
    values = np.array([[float(m[a["metric"]]) for a in axes] for _, m in usable])
    return [usable[i][0] for i in front_indices(values, [a["direction"] for a in axes])]


def pareto_document(url: str, row: results.StudyRow, x: str | None = None,
                    y: str | None = None) -> dict[str, Any]:
    """The feasible front of a study: ``{objectives, hypervolume, trials}``.

    With ``x``/``y`` the front is projected on those objectives and the hypervolume is the
    projected front's (in the study's normalization).
    """
    axes = choose_axes(row.spec, x, y)
    hypervolume = row.hypervolume
    if x is None and y is None:
        front = results.front_trials(url, row.id)
    else:
        points = [(n, m) for n, f, m in results.all_trial_points(url, row.id) if f]
        front = results.trials_by_numbers(url, row.id, project_front(points, axes))
        metrics = [a["metric"] for a in axes]
        hypervolume = normalized_hypervolume(
            [[t.metrics[m] for m in metrics] for t in front], metrics,
            [a["direction"] for a in axes], (row.baseline or {}).get("metrics", {}))
    return {"objectives": axes, "hypervolume": hypervolume,
            "trials": [{"number": t.number, "values": t.metrics, "design": t.design}
                       for t in sorted(front, key=lambda t: t.number)]}


def trials_csv(trials: list[results.TrialRow]) -> str:
    """Every trial as CSV, from the trials' DataFrame (``epim.results.frame_from_trials``).

    Columns: number, state, feasible, on_front, source, node, error, every metric, then one
    column per layer and design field (``<layer>:<field>``). A text cell or column name that
    a spreadsheet would run as a formula starts with ``'`` (``epim.workloads.formula_safe``).
    """
    frame = results.frame_from_trials(trials).rename(columns=formula_safe)
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        frame[column] = frame[column].map(
            lambda value: formula_safe(value) if isinstance(value, str) else value)
    text: str = frame.to_csv(index=False)
    return text


#: A stored probe's choice: ``LayerDesign``'s positional fields (a pruning probe has them all).
_PROBE_FIELDS = (*DESIGN_FIELDS, "replication", *PRUNE_FIELDS)


def profile_document(url: str, study_id: int) -> dict[str, Any] | None:
    """A study's stored sensitivity profile, per probe; ``None`` if it has none.

    The driver stores the reference design's result first, then one result per probe
    (``epim.search._driver``); here each probe gets its layer, its choice by field name, and
    its damage (loss increase over the reference, nats).
    """
    data = results.study_artifact(url, study_id, "profile")
    if data is None:
        return None
    document = json.loads(data)
    base_loss, base_accuracy = document["results"][0]
    entries = [{"layer": probe["layer"],
                "choice": dict(zip(_PROBE_FIELDS, probe["choice"], strict=False)),
                "loss": loss, "accuracy": accuracy, "damage": max(loss - base_loss, 0.0)}
               for probe, (loss, accuracy) in zip(document["probes"], document["results"][1:],
                                                  strict=True)]
    return {"reference": document["reference"], "reference_loss": base_loss,
            "reference_accuracy": base_accuracy, "samples": document["samples"],
            "steps": document["steps"], "entries": entries}

