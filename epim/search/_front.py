"""A study's feasible Pareto front and its hypervolume, kept as trials arrive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from epim.search._pareto import front_indices, normalized_hypervolume
from epim.search._records import TrialRecord


class Front:
    """The feasible non-dominated trials of a study (screening results never count).

    Args:
        metrics: The objectives' metrics.
        directions: Their directions.
        baseline: The dense baseline's metrics (the hypervolume's reference point).

    """

    def __init__(self, metrics: Sequence[str], directions: Sequence[str],
                 baseline: Mapping[str, float]) -> None:
        self.metrics = list(metrics)
        self.directions = list(directions)
        self.baseline = baseline
        self.records: list[TrialRecord] = []
        self.hypervolume = 0.0

    @property
    def numbers(self) -> list[int]:
        """The front's trial numbers."""
        return [r.number for r in self.records]

    def add(self, new: Sequence[TrialRecord]) -> None:
        """The front of the old front plus ``new`` (exact: a dominated trial stays so)."""
        candidates = self.records + [r for r in new if r.feasible and r.state != "screened"]
        if not candidates:
            return
        values = np.array([[r.metrics[m] for m in self.metrics] for r in candidates])
        self.records = [candidates[i] for i in front_indices(values, self.directions)]
        self.hypervolume = normalized_hypervolume(
            [[r.metrics[m] for m in self.metrics] for r in self.records], self.metrics,
            self.directions, self.baseline)
