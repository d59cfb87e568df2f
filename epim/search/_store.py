"""Reading studies back from the storage: listings, the Pareto document, exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from epim.errors import InputError
from epim.search._driver import (
    ATTR_BASELINE,
    ATTR_FRONT,
    ATTR_HV,
    ATTR_PROGRESS,
    ATTR_SPEC,
    TRIAL_ATTR,
    TrialRecord,
    open_storage,
)
from epim.search._spec import StudySpec


def list_studies(storage: str | optuna.storages.BaseStorage) -> list[dict[str, Any]]:
    """One summary per study: name, network, trials, feasible, front size, hypervolume."""
    storage = open_storage(storage) if isinstance(storage, str) else storage
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        attrs = summary.user_attrs
        spec = attrs.get(ATTR_SPEC, {})
        progress = attrs.get(ATTR_PROGRESS, {})
        rows.append({
            "name": summary.study_name,
            "network": spec.get("network") if isinstance(spec.get("network"), str)
            else (spec.get("network") or {}).get("name"),
            "n_trials": (spec.get("budget") or {}).get("n_trials"),
            "completed": progress.get("completed", 0),
            "feasible": progress.get("feasible", 0),
            "front_size": len(attrs.get(ATTR_FRONT, [])),
            "hypervolume": attrs.get(ATTR_HV, 0.0),
        })
    return rows


def load_study(storage: str | optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The study called ``name``.

    Raises:
        InputError: If there is no such study.

    """
    storage = open_storage(storage) if isinstance(storage, str) else storage
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, False)]
        raise InputError(f"no study named '{name}'", field="name",
                         expected="one of " + (", ".join(names) or "(no studies yet)")) from None


def delete_study(storage: str | optuna.storages.BaseStorage, name: str) -> bool:
    """Delete the Optuna study ``name`` (``False`` if there is none)."""
    storage = open_storage(storage) if isinstance(storage, str) else storage
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        return False
    return True


def study_spec(study: optuna.Study) -> StudySpec:
    """The spec stored with ``study``."""
    return StudySpec.model_validate(study.user_attrs[ATTR_SPEC], strict=False)


def trial_document(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data: number, state, feasibility, metrics, constraints, design."""
    data = trial.user_attrs.get(TRIAL_ATTR, {})
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "feasible": bool(data.get("feasible", False)) and data.get("error") is None,
        "values": dict(data.get("metrics", {})),
        "constraints": list(data.get("constraints", [])),
        "design": dict(data.get("design", {})),
        "error": data.get("error"),
        "interrupted": bool(trial.user_attrs.get("epim_interrupted", False)),
    }


def pareto_document(study: optuna.Study, *, x: str | None = None,
                    y: str | None = None) -> dict[str, Any]:
    """``{"objectives": [{"metric", "direction"}], "trials": [{"number", "values", "design"}]}``.

    Only feasible, non-dominated trials; ``values`` holds every metric of the trial. With
    ``x`` and ``y`` the front is recomputed on those two objectives.

    Raises:
        InputError: If ``x``/``y`` are not objectives of the study.

    """
    from epim.search._driver import pareto_front

    spec = study_spec(study)
    objectives: list[dict[str, str]] = [{"metric": o.metric, "direction": o.direction}
                                        for o in spec.objectives]
    numbers = set(study.user_attrs.get(ATTR_FRONT, []))
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    records = {t.number: r for t in trials if (r := TrialRecord.from_trial(t)) is not None}
    if x is not None or y is not None:
        names = [o["metric"] for o in objectives]
        for axis, metric in (("x", x), ("y", y)):
            if metric not in names:
                raise InputError(f"'{metric}' is not an objective of this study", field=axis,
                                 expected="one of " + ", ".join(names))
        chosen = [o for o in objectives if o["metric"] in (x, y)]
        objectives = sorted(chosen, key=lambda o: (o["metric"] != x))
        feasible = [r for r in records.values() if r.feasible]
        front, _ = pareto_front(feasible, [o["metric"] for o in objectives],
                                [o["direction"] for o in objectives],
                                study.user_attrs.get(ATTR_BASELINE, {}))
        numbers = {r.number for r in front}
    selected = [records[n] for n in sorted(numbers) if n in records]
    return {
        "objectives": objectives,
        "hypervolume": study.user_attrs.get(ATTR_HV, 0.0),
        "trials": [{"number": r.number, "values": dict(r.metrics), "design": dict(r.design)}
                   for r in selected],
    }


def export_trials(study: optuna.Study, fmt: str) -> str:
    """Every trial of the study as CSV (one row per trial, metrics as columns) or JSON.

    Raises:
        InputError: On a format other than ``csv`` or ``json``.

    """
    documents = [trial_document(t) for t in study.get_trials(deepcopy=False)]
    if fmt == "json":
        return json.dumps({"study": study.study_name, "trials": documents}, indent=1)
    if fmt != "csv":
        raise InputError(f"unknown format '{fmt}'", field="format", expected="csv or json")
    metrics = sorted({k for d in documents for k in d["values"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", "feasible", *metrics, "error", "design"])
    for d in documents:
        writer.writerow([d["number"], d["state"], d["feasible"],
                         *[d["values"].get(m, "") for m in metrics], d["error"] or "",
                         json.dumps(d["design"], separators=(",", ":"))])
    return out.getvalue()
