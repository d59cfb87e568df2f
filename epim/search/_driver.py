"""The study driver: strategies propose, the cost model scores batches, executors train proxies.

Per batch: the strategy proposes ``batch_size`` designs (an Optuna sampler's asks, or the
layer-wise engine's surrogate front); they are decoded into one :class:`DesignBatch` and
scored by the cost model in one vectorized call (the per-layer breakdown comes from the same
call); constraint values (``<= 0`` feasible) are computed; the accuracy proxy runs only for
cost-feasible designs (``ProxyRuns``: once per distinct design, cached by design hash); the
outcomes are told to the strategy and the batch goes to the :class:`StudyStore` in one write.
Infeasible designs are told, never failed and never trained.

The store is the one source of truth: a resumed run rebuilds the strategy from the stored
trials, and trials a killed run had proposed but not stored are simply proposed again, so no
told trial is lost or counted twice. With a training proxy the dense start is trained once
and shipped to every executor (stored, ``Artifacts``, so a resumed study fine-tunes from the
same weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from epim.errors import InputError
from epim.search._artifacts import Artifacts
from epim.search._factory import make_strategy
from epim.search._front import Front
from epim.search._metrics import cost_metrics
from epim.search._prepare import PreparedStudy
from epim.search._proxy_runs import ProxyRuns
from epim.search._records import Baseline, Progress, StudyStore, TrialRecord
from epim.search._references import References
from epim.search._run import StudyRun
from epim.search._sampler import batch_size
from epim.search._scoring import BatchScorer
from epim.search._strategy import AccuracyEvaluator, Proposal, Strategy, TrainingProxy
from epim.search.executors import Executor
from epim.space import DesignBatch
from epim.workloads import network_to_dict

StopReason = Literal["trials", "timeout", "evaluations", "exhausted", "stopped"]


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    Attributes:
        progress: The counters at the end.
        reason: ``trials`` (the budget is spent), ``timeout`` (``budget.timeout_s`` over all
            runs has passed), ``evaluations`` (``budget.proxy_evaluations`` is spent),
            ``exhausted`` (the strategy has nothing more to propose: the ``exact`` engine's
            front is stored) or ``stopped`` (``should_stop()`` became true).

    """

    progress: Progress
    reason: StopReason


class StudyDriver:
    """Runs one study to its budget (or until stopped), resumably, on a :class:`StudyStore`.

    Args:
        study: The prepared study (``prepare_study``).
        store: Where records are loaded from and written to.
        executor: Where proxy evaluations run.
        accuracy: Scores a design (needed when the spec uses accuracy metrics); the
            ``layerwise`` sampler needs a :class:`TrainingProxy`.
        references: Evaluate the feasible uniform hand designs first (what a study does; off
            only to measure what a strategy finds alone, ``benchmarks/exact_fronts.py``).

    """

    def __init__(self, study: PreparedStudy, *, store: StudyStore, executor: Executor,
                 accuracy: AccuracyEvaluator | None = None, references: bool = True) -> None:
        spec = study.spec
        if spec.needs_accuracy and accuracy is None:
            raise InputError("the spec uses accuracy but no evaluator was given",
                             field="accuracy", expected="an accuracy evaluator")
        if spec.sampler.name == "layerwise" and not isinstance(accuracy, TrainingProxy):
            raise InputError("the layerwise sampler needs a training proxy", field="sampler",
                             expected="an evaluator with pretrain, profile and fidelities")
        self.study = study
        self.spec = spec
        self.store = store
        self.executor = executor
        bind = getattr(accuracy, "for_hardware", None)  # an evaluator of hardware effects
        self.accuracy = accuracy if bind is None else bind(study.hardware)
        self.network_dict = network_to_dict(study.network)  # what evaluators receive
        self.batch_size = batch_size(spec)
        self.records: list[TrialRecord] = []
        self.baseline: Baseline | None = None
        self.front: Front | None = None
        self._elapsed_before = 0.0
        self._stop: Callable[[], bool] = lambda: False
        self._run: StudyRun | None = None
        self._phase = ("", "")
        self._start: float | None = None
        self._run_completed = 0
        self._on_progress: Callable[[Progress], None] | None = None
        self._on_phase: Callable[[Progress], None] | None = None
        self._references = references

    # ----------------------------------------------------------------- run
    def run(self, *, should_stop: Callable[[], bool] | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            on_phase: Callable[[Progress], None] | None = None) -> RunResult:
        """Run until a budget is spent, the timeout passes or ``should_stop()`` is true.

        ``should_stop`` (cancellation, shutdown) and the timeout are checked before every batch
        and between proxy evaluations; a batch cut short keeps what was evaluated.
        ``on_progress`` hears the counters after every stored batch, ``on_phase`` every new
        phase (``Progress.phase``, ``phase_detail``) as the store gets it.
        """
        stored = self.store.load()
        self.records = sorted(stored.records, key=lambda r: r.number)
        self._elapsed_before = stored.elapsed_s
        start = time.monotonic()
        budget = self.spec.budget

        def timed_out() -> bool:
            return budget.timeout_s is not None and self._elapsed_before + time.monotonic() \
                - start >= budget.timeout_s

        def spent() -> bool:
            return budget.proxy_evaluations is not None and self.evaluations() >= \
                budget.proxy_evaluations

        def stop() -> bool:
            return (should_stop is not None and should_stop()) or timed_out() or spent()

        self._stop, self._run = stop, None
        self._start, self._run_completed = start, 0
        self._on_progress, self._on_phase = on_progress, on_phase
        exhausted = False

        def result() -> RunResult:
            progress = self.progress(start, self._run_completed)
            reason: StopReason = (
                "trials" if progress.completed >= budget.n_trials else "timeout"
                if timed_out() else "evaluations" if spent() else "exhausted"
                if exhausted else "stopped")
            if reason != "stopped":
                self._announce("finished", _finished(reason))
            return RunResult(self.progress(start, self._run_completed), reason)

        artifacts = Artifacts(self.store, self.executor, self.network_dict, should_stop=stop)
        proxies = None
        if self.spec.needs_accuracy:
            proxies = self._proxy_runs(artifacts)
            if proxies is None:
                return result()
        if stored.baseline is None:
            self._announce("baseline", f"the dense {self.spec.baseline_bits}-bit design")
        self.baseline = stored.baseline or self._compute_baseline(proxies)
        if self.baseline is None:
            return result()
        self.front = Front(self.study.metrics, self.study.directions, self.baseline.metrics)
        self.front.add(self.records)
        if proxies is not None:
            proxies.remember(self.records, self._cost_metric_names(self.baseline))
        scorer = BatchScorer(self.study, self.baseline, proxies)
        run = self._run = StudyRun(self.study, self.baseline, self.records, should_stop=stop,
                                   announce=self._announce, proxies=proxies,
                                   artifacts=artifacts)
        references = References(self.study, self.baseline, self.records,
                                enabled=self._references)
        if references.pending:
            self._announce("references", f"{len(references.pending)} uniform hand designs"
                           + (" (trained with the study's proxy)"
                              if self.spec.needs_accuracy else ""))
        while references.pending and self.completed() < budget.n_trials and not stop():
            size = min(self.batch_size, budget.n_trials - self.completed())
            self._store_batch(self._run_batch(references, references.take(size), scorer))
        if self.completed() >= budget.n_trials or stop():
            return result()
        strategy = make_strategy(run)
        if strategy is None:
            return result()
        while self.completed() < budget.n_trials and not stop():
            size = min(self.batch_size, budget.n_trials - self.completed())
            proposals = strategy.propose(size)
            if not proposals:
                self._flush_screened()
                exhausted = not stop()
                break
            self._store_batch(self._run_batch(strategy, proposals, scorer))
        return result()

    def _store_batch(self, batch: Sequence[TrialRecord]) -> None:
        """Count a batch into this run, store it with the front and tell the listener."""
        self._run_completed += sum(1 for r in batch if r.state != "screened")
        progress = self.progress(self._start, self._run_completed)
        if batch:
            self.store.save_batch(batch, self._front_numbers(), progress)
        if self._on_progress is not None:
            self._on_progress(progress)

    def _announce(self, phase: str, detail: str = "") -> None:
        """Store a new phase at once (and tell the listener); repeats store nothing."""
        if (phase, detail) == self._phase:
            return
        self._phase = (phase, detail)
        progress = self.progress(self._start, self._run_completed)
        self.store.save_phase(progress)
        if self._on_phase is not None:
            self._on_phase(progress)

    def _flush_screened(self) -> None:
        """Store screening results that no batch carried (the run stopped while screening)."""
        batch = [] if self._run is None else self._run.take_screened()
        if batch:
            self.records.extend(batch)
            self.store.save_batch(batch, self._front_numbers(),
                                  self.progress(self._start, self._run_completed))

    def _front_numbers(self) -> list[int]:
        return [] if self.front is None else self.front.numbers

    def completed(self) -> int:
        """Trials told at the study's fidelity (screening results excluded)."""
        return sum(1 for r in self.records if r.state != "screened")

    def evaluations(self) -> int:
        """Proxy trainings run for the study so far (screening rungs included).

        Screening results waiting for the next batch count too.
        """
        waiting = [] if self._run is None else self._run.screened
        return sum(1 for r in (*self.records, *waiting) if r.fidelity is not None)

    def progress(self, start: float | None = None, run_completed: int = 0) -> Progress:
        """The study's counters now."""
        run_elapsed = 0.0 if start is None else time.monotonic() - start
        return Progress(
            completed=self.completed(),
            feasible=sum(1 for r in self.records if r.feasible),
            failed=sum(1 for r in self.records if r.state == "failed"),
            front_size=0 if self.front is None else len(self.front.records),
            hypervolume=0.0 if self.front is None else self.front.hypervolume,
            n_trials=self.spec.budget.n_trials,
            elapsed_s=self._elapsed_before + run_elapsed, run_elapsed_s=run_elapsed,
            run_completed=run_completed, phase=self._phase[0], phase_detail=self._phase[1])

    # ----------------------------------------------------------------- set-up
    def _proxy_runs(self, artifacts: Artifacts) -> ProxyRuns | None:
        """The study's proxy runs, a training proxy with its dense start; None if stopped."""
        evaluator = self.accuracy
        accuracy = self.spec.accuracy
        assert evaluator is not None and accuracy is not None  # needs_accuracy, checked above
        if isinstance(evaluator, TrainingProxy) and accuracy.has_start:
            self._announce("dense_start", "the dense proxy every design fine-tunes from")
            evaluator = artifacts.with_dense_start(evaluator)
            if evaluator is None:
                return None
        return ProxyRuns(evaluator, self.executor, self.network_dict,
                         batch_designs=accuracy.batch_designs, should_stop=self._stop)

    def _compute_baseline(self, proxies: ProxyRuns | None) -> Baseline | None:
        """The dense design's costs (and proxy metrics), stored; ``None`` if stopped."""
        network, bits = self.study.network, self.spec.baseline_bits
        dense = DesignBatch.dense(network, 1, weight_bits=bits, act_bits=bits)
        costs = self.study.model.evaluate(dense)
        unit = {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0}
        metrics = {k: float(v[0]) for k, v in cost_metrics(costs, unit,
                                                           self.spec.latency_mode).items()
                   if not k.endswith("_reduction")}
        if proxies is not None:
            assert self.spec.accuracy is not None
            outcome = proxies.one(dense.to_dicts()[0])
            if outcome.cancelled:
                return None
            if not outcome.ok:
                raise InputError(f"the dense baseline's proxy failed: {outcome.error}",
                                 field="accuracy")
            metrics.update(outcome.value)
            if self.spec.accuracy.proxy != "train":
                metrics["score_reference"] = outcome.value["accuracy"]
        baseline = Baseline(metrics=metrics,
                            layers=[(layer.name, layer.kind) for layer in network.layers])
        self.store.save_baseline(baseline)
        return baseline

    def _cost_metric_names(self, baseline: Baseline) -> frozenset[str]:
        """The metrics the cost model gives a design (the rest of a trial's are the proxy's)."""
        dense = DesignBatch.dense(self.study.network, 1)
        return frozenset(cost_metrics(self.study.model.evaluate(dense), baseline.metrics,
                                      self.spec.latency_mode))

    # ----------------------------------------------------------------- one batch
    def _run_batch(self, strategy: Strategy, proposals: Sequence[Proposal],
                   scorer: BatchScorer) -> list[TrialRecord]:
        """Score, evaluate and tell proposals; returns the records to store.

        Screening results the strategy recorded while proposing come first.
        """
        scored = scorer.score(proposals)
        strategy.discard(scored.cancelled)
        attrs = strategy.tell(scored.told) if scored.told else []
        screened = [] if self._run is None else self._run.take_screened()
        records = screened + scored.records(attrs, len(self.records) + len(screened))
        self.records.extend(records)
        if self.front is not None:
            self.front.add(records)
        return records


def _finished(reason: StopReason) -> str:
    return {"trials": "the trial budget is spent", "timeout": "budget.timeout_s has passed",
            "evaluations": "budget.proxy_evaluations are spent",
            "exhausted": "every design the engine proposes is stored"}.get(reason, reason)
