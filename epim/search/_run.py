"""What a strategy may use of its study's run: the driver's :class:`RunContext`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from epim.search._artifacts import Artifacts
from epim.search._metrics import cost_metrics
from epim.search._prepare import PreparedStudy
from epim.search._proxy_runs import ProxyRuns, metrics_outcome
from epim.search._records import Baseline, TrialRecord
from epim.search._strategy import Proposal, TrainingProxy
from epim.search.executors import Outcome


class StudyRun:
    """One run of a study, as its strategy sees it (a :class:`RunContext`).

    Args:
        study: The prepared study.
        baseline: Its dense baseline.
        records: Every trial told so far (the driver's list: it grows as batches are stored).
        should_stop: True once the run must stop.
        announce: Stores the run's phase with the study.
        proxies: The study's proxy runs (``None`` for a cost-only study).
        artifacts: The study's stored artifacts.

    Attributes:
        screened: Screening results not stored yet (the driver stores them with the next
            batch, and counts them as proxy evaluations meanwhile).

    """

    def __init__(self, study: PreparedStudy, baseline: Baseline, records: list[TrialRecord],
                 *, should_stop: Callable[[], bool], announce: Callable[[str, str], None],
                 proxies: ProxyRuns | None, artifacts: Artifacts) -> None:
        self.study = study
        self.baseline = baseline
        self._records = records
        self._should_stop = should_stop
        self._announce = announce
        self._proxies = proxies
        self._artifacts = artifacts
        self.screened: list[TrialRecord] = []

    @property
    def records(self) -> Sequence[TrialRecord]:
        """Every trial told so far (all runs)."""
        return self._records

    def should_stop(self) -> bool:
        """True once the run must stop."""
        return self._should_stop()

    def announce(self, phase: str, detail: str = "") -> None:
        """Store the run's phase with the study now."""
        self._announce(phase, detail)

    def take_screened(self) -> list[TrialRecord]:
        """The screening results not stored yet, handed over to be stored."""
        taken, self.screened = self.screened, []
        return taken

    def evaluate(self, designs: Sequence[dict[str, Any]], steps: int) -> list[Outcome]:
        """Train designs at ``steps`` (a screening rung) on the executor; values: accuracy."""
        proxies = self._training()
        outcomes = proxies.executor.map(
            self._proxy().at_steps(steps), [(proxies.network, d) for d in designs],
            should_stop=self._should_stop)
        return [replace(o, value=o.value["accuracy"]) if o.ok else o
                for o in map(metrics_outcome, outcomes)]

    def record_screened(self, entries: Sequence[tuple[Proposal, dict[str, Any], Outcome]],
                        steps: int) -> None:
        """Keep screening results as ``screened`` trials (stored with the next batch)."""
        designs = self.study.space.decode_batch([p.values for p, _, _ in entries])
        hashes = designs.digests()
        costs = self.study.model.evaluate(designs)
        metrics = cost_metrics(costs, self.baseline.metrics, self.study.spec.latency_mode)
        for i, (proposal, design, outcome) in enumerate(entries):
            if outcome.cancelled:
                continue
            row = {k: float(v[i]) for k, v in metrics.items()}
            if outcome.ok:
                row["screen_accuracy"] = float(outcome.value)
            self.screened.append(TrialRecord(
                number=len(self._records) + len(self.screened), state="screened",
                params=dict(proposal.params), system_attrs={}, values=None, metrics=row,
                constraints=[], feasible=False, design=design, design_hash=hashes[i],
                layers={}, accuracy_evaluated=False, error=outcome.error,
                node=outcome.node, source=proposal.source, fidelity=steps))

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]],
                samples: int, steps: int) -> list[tuple[float, float]] | None:
        """Probe results (the reference first), from the store or measured on the executor."""
        return self._artifacts.profile(self._proxy(), reference, probes, samples, steps)

    def _training(self) -> ProxyRuns:
        if self._proxies is None:
            raise TypeError("this study has no accuracy proxy")
        return self._proxies

    def _proxy(self) -> TrainingProxy:
        evaluator = self._training().evaluator
        if not isinstance(evaluator, TrainingProxy):
            raise TypeError("the study's proxy does not train")
        return evaluator
