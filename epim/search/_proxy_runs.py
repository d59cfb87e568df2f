"""The accuracy proxy's runs for a study: once per distinct design, cached, in chunks.

A proxy returns a design's accuracy, or a dict of numeric metrics that includes it
(``accuracy``, ``accuracy_se``, ``robust_accuracy``, ...). :func:`proxy_metrics` reads either
as a dict; every numeric metric is cached per design hash and stored with the trial, so any of
them can be an objective or a constraint. The cache is rebuilt from the stored trials on
resume, so no design is trained twice over a study's runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epim.search._records import TrialRecord
from epim.search._strategy import AccuracyEvaluator, ProxyValue
from epim.search.executors import Executor, Outcome

#: Accuracy told for a design that was never trained (infeasible by cost): a train proxy's
#: worst top-1. Zero-cost scores are unbounded, so they get a very low score instead.
UNTRAINED_ACCURACY = 0.0
UNSCORED_ZERO_COST = -1e9
#: Metrics the driver derives from the proxy's (never cached as the proxy's own).
DERIVED = frozenset({"accuracy_drop", "screen_accuracy"})
Job = tuple[dict[str, Any], dict[str, Any]]


def proxy_metrics(value: ProxyValue) -> dict[str, float]:
    """A proxy's result as metrics: a bare number is the ``accuracy``.

    Of a dict, the finite numbers are kept (``error`` texts, flags and ``None`` are not).

    Raises:
        ValueError: If there is no finite ``accuracy``.

    """
    if isinstance(value, Mapping):
        metrics = {str(k): float(v) for k, v in value.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v)}
    else:
        metrics = {"accuracy": float(value)}
    if not math.isfinite(metrics.get("accuracy", math.nan)):
        raise ValueError(f"the proxy returned no finite accuracy: {value!r}")
    return metrics


@dataclass(frozen=True)
class ProxyOutcome:
    """What the proxy says of one trial of a batch.

    Attributes:
        metrics: The proxy's metrics (evaluated now or cached); ``None`` when it was not
            asked (infeasible by cost), failed or was cancelled.
        error: Why the evaluation failed after its retries.
        node: Where it ran.
        cancelled: The run stopped before it finished (the trial is not told).
        ran: The proxy ran for it in this batch (not from the cache).

    """

    metrics: dict[str, float] | None = None
    error: str | None = None
    node: str | None = None
    cancelled: bool = False
    ran: bool = False


class ProxyRuns:
    """Runs the study's proxy on an executor, once per distinct design.

    Args:
        evaluator: The proxy (carrying its dense start, if any).
        executor: Where it runs.
        network: The network dict every job carries.
        batch_designs: Designs per executor task when the evaluator trains many at once
            (``evaluate_many``); 1: one task per design.
        should_stop: Polled between tasks; once true, unfinished tasks are cancelled.

    """

    def __init__(self, evaluator: AccuracyEvaluator, executor: Executor,
                 network: dict[str, Any], *, batch_designs: int = 1,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.evaluator = evaluator
        self.executor = executor
        self.network = network
        self.batch_designs = batch_designs
        self.should_stop = should_stop
        self.cache: dict[str, dict[str, float]] = {}

    def remember(self, records: Sequence[TrialRecord], cost_metrics: Collection[str]) -> None:
        """Fill the cache from stored trials (their metrics beyond the cost model's)."""
        for record in records:
            if record.state == "complete" and record.accuracy_evaluated \
                    and "accuracy" in record.metrics:
                self.cache[record.design_hash] = {
                    k: v for k, v in record.metrics.items()
                    if k not in cost_metrics and k not in DERIVED}

    def evaluate(self, designs: Sequence[dict[str, Any]], hashes: Sequence[str],
                 wanted: Sequence[bool]) -> list[ProxyOutcome]:
        """One outcome per design: the wanted ones not cached run now, each design once."""
        unique: dict[str, int] = {}
        for i, digest in enumerate(hashes):
            if wanted[i] and digest not in self.cache:
                unique.setdefault(digest, i)
        outcomes = self.run([(self.network, designs[i]) for i in unique.values()])
        by_hash = dict(zip(unique, outcomes, strict=True))
        for digest, outcome in by_hash.items():
            if outcome.ok:
                self.cache[digest] = outcome.value
        result = []
        for i, digest in enumerate(hashes):
            if not wanted[i]:
                result.append(ProxyOutcome())
                continue
            ran: Outcome | None = by_hash.get(digest)
            result.append(ProxyOutcome(
                metrics=self.cache.get(digest),
                error=None if ran is None else ran.error,
                node=None if ran is None or not ran.node else str(ran.node),
                cancelled=ran is not None and ran.cancelled,
                ran=ran is not None and not ran.cancelled and unique[digest] == i))
        return result

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """One outcome per job, its value the job's metrics: trained alone or in chunks.

        With ``batch_designs > 1`` (and an evaluator that trains many designs at once:
        ``evaluate_many``), every chunk of that many designs is one executor task; a chunk's
        outcome is spread over its designs (a design that failed alone carries its error), so
        caching, retries and resume stay per design: a cancelled chunk's designs are asked
        again, none is stored twice.
        """
        if not jobs:
            return []
        many = getattr(self.evaluator, "evaluate_many", None)
        if self.batch_designs <= 1 or many is None:
            return [metrics_outcome(o) for o in self.executor.map(
                self.evaluator, list(jobs), should_stop=self.should_stop)]
        size = self.batch_designs
        chunks = [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]
        outcomes: list[Outcome] = []
        for chunk, outcome in zip(chunks, self.executor.map(many, chunks,
                                                            should_stop=self.should_stop),
                                  strict=True):
            if not outcome.ok:
                outcomes.extend([outcome] * len(chunk))
                continue
            for entry in outcome.value:
                error = entry.get("error")
                outcomes.append(metrics_outcome(Outcome(
                    value=None if error else entry, error=error or None,
                    attempts=outcome.attempts, node=outcome.node)))
        return outcomes

    def one(self, design: dict[str, Any]) -> Outcome:
        """One design trained alone, its value its metrics, not cached (the dense baseline)."""
        return metrics_outcome(self.executor.map(self.evaluator, [(self.network, design)],
                                                 should_stop=self.should_stop)[0])


def metrics_outcome(outcome: Outcome) -> Outcome:
    """An ok outcome with its value read as metrics (an unreadable value is its error)."""
    if not outcome.ok:
        return outcome
    try:
        metrics = proxy_metrics(outcome.value)
    except (TypeError, ValueError) as error:
        return Outcome(error=f"{type(error).__name__}: {error}", attempts=outcome.attempts,
                       node=outcome.node)
    return Outcome(value=metrics, attempts=outcome.attempts, node=outcome.node)


def worst_score(proxy: str) -> float:
    """The accuracy told for an untrained design: see :data:`UNTRAINED_ACCURACY`."""
    return UNTRAINED_ACCURACY if proxy == "train" else UNSCORED_ZERO_COST
