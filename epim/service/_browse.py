"""Reading studies back: the Pareto document and exports that the CLI and the API share.

Both entry points call these functions on the same ``epim_`` rows, so ``epim study pareto``
and ``GET /studies/{id}/pareto`` give the same document.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from epim import results
from epim.errors import InputError
from epim.search import front_indices, normalized_hypervolume
from epim.service._documents import (
    ParetoDocument,
    Profile,
    StudyExport,
    study_public,
    trial_public,
)
from epim.service._stored import spec_of
from epim.space import DESIGN_FIELDS, PRUNE_FIELDS
from epim.workloads import formula_safe

#: Trial numbers fit the databases' 32-bit integer columns.
MAX_ROWS = 2**31 - 1


def objectives(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"metric", "direction"}]`` of a stored spec (directions filled in).

    The spec is parsed once per text (:func:`~epim.service.spec_of`): every read of a front
    asks.
    """
    return [{"metric": o.metric, "direction": o.direction} for o in spec_of(spec).objectives]


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


Column = tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]


@dataclass
class TrialPoints:
    """Numbers, feasibility and metrics of a study's completed trials, as arrays.

    ``columns``: per metric, its values (NaN where a trial lacks it, or holds no number)
    and where it is present.
    """

    max_id: int
    numbers: npt.NDArray[np.int64]
    feasible: npt.NDArray[np.bool_]
    columns: dict[str, Column]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays."""
        return self.numbers.nbytes + self.feasible.nbytes + sum(
            v.nbytes + p.nbytes for v, p in self.columns.values())

    def front(self, axes: list[dict[str, str]]) -> tuple[list[int], npt.NDArray[np.float64]]:
        """The feasible trials' front on ``axes``: its numbers (ascending) and raw values.

        The same front as :func:`project_front` over the feasible trials.
        """
        usable = self.feasible.copy()
        columns = []
        for axis in axes:
            values, present = self.columns.get(axis["metric"], _absent(len(usable)))
            usable &= present
            columns.append(values)
        if not usable.any():
            return [], np.zeros((0, len(axes)))
        values = np.stack(columns, axis=1)[usable]
        numbers = self.numbers[usable]
        kept = front_indices(values, [a["direction"] for a in axes])
        order = np.argsort(numbers[kept], kind="stable")
        return [int(n) for n in numbers[kept][order]], values[kept][order]

    @classmethod
    def of(cls, rows: list[tuple[int, int, bool, dict[str, Any]]],
           before: TrialPoints | None = None, metrics: Collection[str] | None = None
           ) -> TrialPoints:
        """Points of ``rows`` (id, number, feasible, metrics), after those ``before``.

        ``metrics``: the columns to keep (default: every metric of the rows).
        """
        n = len(rows)
        numbers = np.fromiter((r[1] for r in rows), np.int64, n)
        feasible = np.fromiter((r[2] for r in rows), bool, n)
        names = set(metrics) if metrics is not None else {k for r in rows for k in r[3]}
        columns: dict[str, Column] = {}
        for name in names:
            present = np.fromiter((_number(r[3].get(name)) for r in rows), bool, n)
            values = np.fromiter((float(r[3][name]) if p else np.nan
                                  for r, p in zip(rows, present, strict=True)), np.float64, n)
            columns[name] = (values, present)
        max_id = rows[-1][0] if rows else 0
        if before is None:
            return cls(max_id, numbers, feasible, columns)
        old = len(before.numbers)
        merged = {name: (np.concatenate([before.columns.get(name, _absent(old))[0],
                                         columns.get(name, _absent(n))[0]]),
                         np.concatenate([before.columns.get(name, _absent(old))[1],
                                         columns.get(name, _absent(n))[1]]))
                  for name in set(before.columns) | names}
        return cls(max(max_id, before.max_id), np.concatenate([before.numbers, numbers]),
                   np.concatenate([before.feasible, feasible]), merged)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _absent(n: int) -> Column:
    return np.full(n, np.nan), np.zeros(n, dtype=bool)


class _PointsCache:
    """Each study's :class:`TrialPoints`, brought up to date by reading new trials only.

    Only the study's objectives are kept (a front is projected on those alone), for a few
    studies at once (at most ``max_bytes`` of arrays in all, the least recently used dropped
    first). Keyed by database, study id and creation time (a new database at the same URL
    never sees another's points).
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], TrialPoints] = OrderedDict()
        self._lock = threading.Lock()

    def points(self, url: str, row: results.StudyRow) -> TrialPoints:
        """The study's completed trials now (one count query when nothing was added)."""
        key = (url, row.id, row.created_at)
        with self._lock:
            kept = self._items.get(key)
        count = results.count_trials(url, row.id, "complete")
        if kept is None or len(kept.numbers) != count:
            kept = self._extend(url, row.id, kept, count,
                                [o["metric"] for o in objectives(row.spec)])
            with self._lock:
                self._items[key] = kept
                self._items.move_to_end(key)
                while len(self._items) > 1 and sum(
                        p.nbytes for p in self._items.values()) > self.max_bytes:
                    self._items.popitem(last=False)
        return kept

    @staticmethod
    def _extend(url: str, study_id: int, kept: TrialPoints | None, count: int,
                metrics: list[str]) -> TrialPoints:
        if kept is not None and len(kept.numbers) < count:  # read the new trials only
            new = results.trial_points_after(url, study_id, kept.max_id)
            if len(kept.numbers) + len(new) == count:
                return TrialPoints.of(new, kept, metrics)
        return TrialPoints.of(results.trial_points_after(url, study_id, 0), metrics=metrics)


#: Completed trials' points per study (projections of the front onto chosen objectives).
POINTS = _PointsCache()


def pareto_front(url: str, row: results.StudyRow, x: str | None = None,
                 y: str | None = None) -> tuple[list[dict[str, str]], float, list[int]]:
    """The feasible front of a study: its objectives, hypervolume and trial numbers.

    With ``x``/``y`` the front is projected on those objectives (over the completed trials'
    points, kept between calls: :data:`POINTS`) and the hypervolume is the projected
    front's (in the study's normalization); otherwise it is the stored front.

    Raises:
        InputError: ``field`` ``x`` or ``y``, if it is not an objective of the study.

    """
    axes = choose_axes(row.spec, x, y)
    if x is None and y is None:
        return axes, row.hypervolume, results.front_numbers(url, row.id)
    numbers, values = POINTS.points(url, row).front(axes)
    hypervolume = normalized_hypervolume(values, [a["metric"] for a in axes],
                                         [a["direction"] for a in axes],
                                         (row.baseline or {}).get("metrics", {}))
    return axes, hypervolume, numbers


def pareto_document(url: str, row: results.StudyRow, x: str | None = None,
                    y: str | None = None) -> ParetoDocument:
    """The feasible front of a study: ``{objectives, hypervolume, trials}``.

    With ``x``/``y`` the front is projected on those objectives and the hypervolume is the
    projected front's (in the study's normalization): :func:`pareto_front`.
    """
    axes, hypervolume, numbers = pareto_front(url, row, x, y)
    front = results.trials_by_numbers(url, row.id, numbers)
    return ParetoDocument.model_validate({
        "objectives": axes, "hypervolume": hypervolume,
        "trials": [{"number": t.number, "values": t.metrics, "design": t.design}
                   for t in front]})


def export_document(url: str, row: results.StudyRow) -> StudyExport:
    """Every trial of the study, with the study (the one JSON export of CLI and API)."""
    trials = results.list_trials(url, row.id, limit=MAX_ROWS).items
    return StudyExport(study=study_public(row), trials=[trial_public(t) for t in trials])


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


def profile_document(url: str, study_id: int) -> Profile | None:
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
    return Profile.model_validate({
        "reference": document["reference"], "reference_loss": base_loss,
        "reference_accuracy": base_accuracy, "samples": document["samples"],
        "steps": document["steps"], "entries": entries})
