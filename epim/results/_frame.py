"""A study's trials as a pandas DataFrame: one row per trial, one column per metric and choice.

The flat table researchers load into notebooks (``epim.results.trials_frame``) and the one the
CSV export is written from, so both always have the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from epim.results._models import TrialRow
from epim.results._repository import list_trials

#: Leading columns, before the metrics (sorted by name) and the per-layer choices.
TRIAL_COLUMNS: tuple[str, ...] = ("number", "state", "feasible", "on_front", "source", "node",
                                  "error")
#: Separates a layer name from its design field in a choice column (``layer1.0.conv1:weight_bits``).
CHOICE_SEPARATOR = ":"


#: Prefix of the hardware gene columns (``hardware.xbar_size``): a design's ``hardware``.
HARDWARE_PREFIX = "hardware."
#: A layer field a design file leaves out at its default, and that default (copies of the
#: layer's weights: ``epim.space.LayerChoice.replication``).
OMITTED_DEFAULTS: dict[str, int] = {"replication": 1}


def _choice_columns(trials: Sequence[TrialRow]) -> tuple[list[str], list[str]]:
    """The ``<layer>:<field>`` columns (network order) and the hardware genes of any trial.

    Every trial is read: a design file leaves a layer's ``replication`` and a hardware gene
    out where it is the default, so the first trial alone may not show them all.
    """
    fields: dict[str, list[str]] = {}
    genes: list[str] = []
    for trial in trials:
        design = trial.design or {}
        for layer, choice in design.get("layers", {}).items():
            known = fields.setdefault(layer, [])
            known.extend(f for f in choice if f not in known)
        genes.extend(g for g in design.get("hardware") or {} if g not in genes)
    for known in fields.values():  # the same fields for every layer that has them
        known.sort(key=lambda f: f in OMITTED_DEFAULTS)
    return ([f"{layer}{CHOICE_SEPARATOR}{f}" for layer, known in fields.items() for f in known],
            sorted(genes))


def frame_from_trials(trials: Sequence[TrialRow]) -> pd.DataFrame:
    """Trial rows as a DataFrame.

    Columns: ``TRIAL_COLUMNS``, then every metric any trial has (sorted; missing values are
    NaN), then ``<layer>:<field>`` for each layer and design field in network order (integers;
    a layer name itself may contain dots; a ``replication`` a design leaves out is 1), then
    ``hardware.<gene>`` for each hardware gene any trial carries (sorted; empty where the
    trial keeps the preset's value). The index is the trial number.
    """
    metrics = sorted({key for trial in trials for key in trial.metrics})
    choice_columns, genes = _choice_columns(trials)
    gene_columns = [f"{HARDWARE_PREFIX}{g}" for g in genes]
    records: list[dict[str, Any]] = []
    for trial in trials:
        record: dict[str, Any] = {"number": trial.number, "state": trial.state,
                                  "feasible": bool(trial.feasible),
                                  "on_front": bool(trial.on_front), "source": trial.source,
                                  "node": trial.node, "error": trial.error}
        record.update({m: trial.metrics.get(m) for m in metrics})
        design = trial.design or {}
        for layer, fields in design.get("layers", {}).items():
            for field, default in OMITTED_DEFAULTS.items():
                record[f"{layer}{CHOICE_SEPARATOR}{field}"] = default
            for field, value in fields.items():
                record[f"{layer}{CHOICE_SEPARATOR}{field}"] = value
        for gene, value in (design.get("hardware") or {}).items():
            record[f"{HARDWARE_PREFIX}{gene}"] = value
        records.append(record)
    columns = [*TRIAL_COLUMNS, *metrics, *choice_columns, *gene_columns]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for metric in metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype("float64")
    for column in [*choice_columns, *gene_columns]:
        frame[column] = frame[column].astype("Int64")
    return frame.set_index("number", drop=False).rename_axis(None)


def trials_frame(url: str, study_id: int) -> pd.DataFrame:
    """Every trial of a study as a DataFrame (see :func:`frame_from_trials`)."""
    return frame_from_trials(list_trials(url, study_id, limit=2**31 - 1).items)
