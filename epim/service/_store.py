"""The search engine's store on the ``epim_`` tables (``epim.results``).

Every write is one transaction that first checks the runner still holds the study, so a
runner that lost its claim stops instead of writing a trial twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from epim import results
from epim.search import Baseline, Progress, StoredStudy, StudySpec, TrialRecord


def record_row(record: TrialRecord) -> dict[str, Any]:
    """A trial record as an ``epim_trials`` row."""
    return record.to_dict()


def record_from_row(row: results.TrialRow) -> TrialRecord:
    """The trial record stored in a row (rows from before 0002 replay nothing)."""
    return TrialRecord(
        number=row.number, state="failed" if row.state == "failed" else "screened"
        if row.state == "screened" else "complete",
        params=dict(row.params or {}), system_attrs=dict(row.system_attrs or {}),
        values=list(row.values) if row.values is not None else None,
        metrics=dict(row.metrics), constraints=list(row.constraints),
        feasible=row.feasible, design=dict(row.design), design_hash=row.design_hash,
        layers=dict(row.layers or {}), accuracy_evaluated=row.accuracy_evaluated,
        error=row.error, node=row.node, source=row.source, fidelity=row.fidelity)


def best_per_objective(spec: StudySpec, front: Sequence[TrialRecord]) -> dict[str, Any]:
    """Per objective, the front trial with the best value: ``{metric: {number, value}}``."""
    best: dict[str, Any] = {}
    for objective in spec.objectives:
        candidates = [r for r in front if objective.metric in r.metrics]
        if not candidates:
            continue
        sign = -1.0 if objective.direction == "maximize" else 1.0
        top = min(candidates, key=lambda r: sign * r.metrics[objective.metric])
        best[objective.metric] = {"number": top.number,
                                  "value": float(top.metrics[objective.metric])}
    return best


class SqlStudyStore:
    """A :class:`~epim.search.StudyStore` for one claimed study.

    Args:
        url: The database.
        study_id: The study.
        owner: The runner holding it.
        spec: The study's spec (for the best trials per objective).
        call: Runs each database call (the runner's retry policy).

    """

    def __init__(self, url: str, study_id: int, owner: str, spec: StudySpec, *,
                 call: Callable[..., Any] | None = None) -> None:
        self.url = url
        self.study_id = study_id
        self.owner = owner
        self.spec = spec
        self.call = call or (lambda fn, *args, **kwargs: fn(*args, **kwargs))
        self._front: list[TrialRecord] = []

    def load(self) -> StoredStudy:
        """The stored trials, baseline and elapsed time."""
        row = self.call(results.get_study, self.url, self.study_id)
        if row is None:
            raise results.LostClaimError(f"study {self.study_id} no longer exists")
        trials = self.call(results.load_trials, self.url, self.study_id)
        baseline = None
        if row.baseline:
            baseline = Baseline(metrics=dict(row.baseline["metrics"]),
                                layers=[(str(n), str(t)) for n, t in row.baseline["layers"]])
        records = [record_from_row(t) for t in trials]
        self._front = [r for r, t in zip(records, trials, strict=True) if t.on_front]
        return StoredStudy(records=records, baseline=baseline, elapsed_s=row.elapsed_s)

    def save_baseline(self, baseline: Baseline) -> None:
        """Store the dense reference with the study."""
        self.call(results.save_baseline, self.url, self.study_id, self.owner,
                  {"metrics": baseline.metrics, "layers": [list(p) for p in baseline.layers]})

    def save_phase(self, progress: Progress) -> None:
        """Store the run's phase and elapsed time with the study (its page and CLI show it)."""
        self.call(results.save_phase, self.url, self.study_id, self.owner, progress.phase,
                  progress.phase_detail, elapsed_s=progress.elapsed_s)

    def load_artifact(self, key: str) -> bytes | None:
        """A stored artifact (shared across studies), or ``None``."""
        data: bytes | None = self.call(results.load_artifact, self.url, key)
        return data

    def save_artifact(self, key: str, kind: str, data: bytes) -> None:
        """Store an artifact and name it as this study's ``kind``."""
        self.call(results.save_artifact, self.url, key, kind, data, self.study_id)

    def save_batch(self, records: Sequence[TrialRecord], front: Sequence[int],
                   progress: Progress) -> None:
        """Store the batch, the front and the counters in one transaction."""
        numbers = set(front)
        known = {r.number: r for r in [*self._front, *records]}
        self._front = [known[n] for n in front if n in known]
        best = best_per_objective(self.spec, [r for r in self._front if r.number in numbers])
        self.call(results.record_batch, self.url, self.study_id, self.owner,
                  [record_row(r) for r in records], list(front), progress.counters.as_dict(),
                  best=best, phase=progress.phase, phase_detail=progress.phase_detail)
