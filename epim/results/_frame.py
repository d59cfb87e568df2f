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


def frame_from_trials(trials: Sequence[TrialRow]) -> pd.DataFrame:
    """Trial rows as a DataFrame.

    Columns: ``TRIAL_COLUMNS``, then every metric any trial has (sorted; missing values are
    NaN), then ``<layer>:<field>`` for each layer and design field in network order (integers;
    a layer name itself may contain dots). The index is the trial number.
    """
    metrics = sorted({key for trial in trials for key in trial.metrics})
    choice_columns: list[str] = []
    for trial in trials:
        for layer, fields in (trial.design or {}).get("layers", {}).items():
            for field in fields:
                column = f"{layer}{CHOICE_SEPARATOR}{field}"
                if column not in choice_columns:
                    choice_columns.append(column)
        if choice_columns:
            break  # every trial of a study has the same layers and fields
    records: list[dict[str, Any]] = []
    for trial in trials:
        record: dict[str, Any] = {"number": trial.number, "state": trial.state,
                                  "feasible": bool(trial.feasible),
                                  "on_front": bool(trial.on_front), "source": trial.source,
                                  "node": trial.node, "error": trial.error}
        record.update({m: trial.metrics.get(m) for m in metrics})
        for layer, fields in (trial.design or {}).get("layers", {}).items():
            for field, value in fields.items():
                record[f"{layer}{CHOICE_SEPARATOR}{field}"] = value
        records.append(record)
    columns = [*TRIAL_COLUMNS, *metrics, *choice_columns]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for metric in metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype("float64")
    for column in choice_columns:
        frame[column] = frame[column].astype("Int64")
    return frame.set_index("number", drop=False).rename_axis(None)


def trials_frame(url: str, study_id: int) -> pd.DataFrame:
    """Every trial of a study as a DataFrame (see :func:`frame_from_trials`)."""
    return frame_from_trials(list_trials(url, study_id, limit=2**31 - 1).items)
