"""The study driver: strategies propose, the cost model scores batches, executors train proxies.

Per batch: the strategy proposes ``batch_size`` designs (an Optuna sampler's asks, or the
layer-wise engine's surrogate front); they are decoded into one :class:`DesignBatch` and
scored by the cost model in one vectorized call (the per-layer breakdown comes from the same
call); constraint values (``<= 0`` feasible) are computed; the accuracy proxy runs only for
cost-feasible designs (on the executor, once per distinct design, cached by design hash); the
outcomes are told to the strategy and the batch goes to the :class:`StudyStore` in one write.
Infeasible designs are told, never failed and never trained.

The store is the one source of truth: a resumed run rebuilds the strategy from the stored
trials, and trials a killed run had proposed but not stored are simply proposed again, so no
told trial is lost or counted twice. With a training proxy the dense start is trained once
and shipped to every executor (stored, so a resumed study fine-tunes from the same weights).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from epim.errors import InputError
from epim.search._codec import ParameterCodec
from epim.search._metrics import cost_metrics
from epim.search._pareto import front_indices, normalized_hypervolume
from epim.search._prepare import PreparedStudy
from epim.search._records import Baseline, Progress, StudyStore, TrialRecord
from epim.search._sampler import batch_size
from epim.search._spec import ACCURACY_METRICS, ROBUST_METRICS
from epim.search._strategy import (
    AccuracyEvaluator,
    Proposal,
    Strategy,
    Told,
    TrainingProxy,
)
from epim.search.executors import Executor, Outcome
from epim.space import DesignBatch
from epim.workloads import network_to_dict

#: Accuracy told for a design that was never trained (infeasible by cost): a train proxy's
#: worst top-1. Zero-cost scores are unbounded, so they get a very low score instead.
UNTRAINED_ACCURACY = 0.0
UNSCORED_ZERO_COST = -1e9
#: Probes per profiling job (a job per executor slot would be as good; this keeps them even).
PROFILE_CHUNK = 48
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


def make_strategy(spec_name: str) -> Strategy:
    """The strategy of a sampler name."""
    if spec_name == "layerwise":
        from epim.search._layerwise import LayerwiseStrategy

        return LayerwiseStrategy()
    if spec_name == "exact":
        from epim.search._exact import ExactStrategy

        return ExactStrategy()
    from epim.search._optuna import OptunaStrategy

    return OptunaStrategy()


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
        bind = getattr(accuracy, "for_hardware", None)  # hardware effects: the study's preset
        self.accuracy = accuracy if bind is None else bind(study.hardware)
        self.network_dict = network_to_dict(study.network)  # what evaluators receive
        self.batch_size = batch_size(spec)
        self.records: list[TrialRecord] = []
        self.front: list[TrialRecord] = []
        self.baseline: Baseline | None = None
        self._hypervolume = 0.0
        self._elapsed_before = 0.0
        self._cache: dict[str, float] = {}
        #: design hash -> the proxy's other numeric results (accuracy_se, robust_accuracy, ...)
        self._proxy_metrics: dict[str, dict[str, float]] = {}
        self._stop: Callable[[], bool] = lambda: False
        self._pending_screened: list[TrialRecord] = []
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

        self._stop = stop
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

        if self.spec.needs_accuracy:
            if isinstance(self.accuracy, TrainingProxy):
                self._announce("dense_start", "the dense proxy every design fine-tunes from")
            self.accuracy = self._with_dense_start(self.accuracy)
            if self.accuracy is None:
                return result()
        if stored.baseline is None:
            self._announce("baseline", f"the dense {self.spec.baseline_bits}-bit design")
        self.baseline = stored.baseline or self._compute_baseline()
        if self.baseline is None:
            return result()
        self._rebuild_front()
        self._cache = {r.design_hash: r.metrics["accuracy"] for r in self.records
                       if r.state == "complete" and r.accuracy_evaluated
                       and "accuracy" in r.metrics}
        self._proxy_metrics = {r.design_hash: {k: r.metrics[k] for k in PROXY_METRICS
                                               if k in r.metrics}
                               for r in self.records if r.design_hash in self._cache}
        references = _References(self, enabled=self._references)
        if references.pending:
            self._announce("references", f"{len(references.pending)} uniform hand designs"
                           + (" (trained with the study's proxy)"
                              if self.spec.needs_accuracy else ""))
        while references.pending and self.completed() < budget.n_trials and not stop():
            size = min(self.batch_size, budget.n_trials - self.completed())
            self._store_batch(self._run_batch(references, references.take(size)))
        if self.completed() >= budget.n_trials or stop():
            return result()
        strategy = make_strategy(self.spec.sampler.name)
        if not strategy.begin(_Run(self, start)):
            return result()
        while self.completed() < budget.n_trials and not stop():
            size = min(self.batch_size, budget.n_trials - self.completed())
            proposals = strategy.propose(size)
            if not proposals:
                self._flush_screened(start, self._run_completed)
                exhausted = not stop()
                break
            self._store_batch(self._run_batch(strategy, proposals))
        return result()

    def _store_batch(self, batch: Sequence[TrialRecord]) -> None:
        """Count a batch into this run, store it with the front and tell the listener."""
        self._run_completed += sum(1 for r in batch if r.state != "screened")
        progress = self.progress(self._start, self._run_completed)
        if batch:
            self.store.save_batch(batch, [r.number for r in self.front], progress)
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

    def _flush_screened(self, start: float, run_completed: int) -> None:
        """Store screening results that no batch carried (the run stopped while screening)."""
        if self._pending_screened:
            batch, self._pending_screened = self._pending_screened, []
            self.records.extend(batch)
            self.store.save_batch(batch, [r.number for r in self.front],
                                  self.progress(start, run_completed))

    def completed(self) -> int:
        """Trials told at the study's fidelity (screening results excluded)."""
        return sum(1 for r in self.records if r.state != "screened")

    def evaluations(self) -> int:
        """Proxy trainings run for the study so far (screening rungs included).

        Screening results waiting for the next batch count too.
        """
        return sum(1 for r in (*self.records, *self._pending_screened)
                   if r.fidelity is not None)

    def progress(self, start: float | None = None, run_completed: int = 0) -> Progress:
        """The study's counters now."""
        run_elapsed = 0.0 if start is None else time.monotonic() - start
        return Progress(
            completed=self.completed(),
            feasible=sum(1 for r in self.records if r.feasible),
            failed=sum(1 for r in self.records if r.state == "failed"),
            front_size=len(self.front), hypervolume=self._hypervolume,
            n_trials=self.spec.budget.n_trials,
            elapsed_s=self._elapsed_before + run_elapsed, run_elapsed_s=run_elapsed,
            run_completed=run_completed, phase=self._phase[0], phase_detail=self._phase[1])

    # ----------------------------------------------------------------- set-up
    def _with_dense_start(self, evaluator: AccuracyEvaluator | None
                          ) -> AccuracyEvaluator | None:
        """A training proxy with its dense start trained once (or loaded); None if stopped."""
        accuracy = self.spec.accuracy
        if (not isinstance(evaluator, TrainingProxy) or accuracy is None
                or not accuracy.has_start):
            return evaluator
        key = "dense-start-" + _digest({"network": self.network_dict, "accuracy": {
            k: v for k, v in accuracy.model_dump(mode="json").items()
            if k not in ("steps", "eval_samples", "batch_designs", "device")}})
        data = self.store.load_artifact(key)
        if data is None:
            outcome = self.executor.map(evaluator.pretrain, [self.network_dict],
                                        should_stop=self._stop)[0]
            if outcome.cancelled:
                return None
            if not outcome.ok:
                raise InputError(f"the dense proxy's pretraining failed: {outcome.error}",
                                 field="accuracy")
            data = bytes(outcome.value)
            self.store.save_artifact(key, "dense_start", data)
        return evaluator.with_start(data)

    def _compute_baseline(self) -> Baseline | None:
        """The dense design's costs (and proxy accuracy), stored; ``None`` if stopped."""
        network, bits = self.study.network, self.spec.baseline_bits
        dense = DesignBatch.dense(network, 1, weight_bits=bits, act_bits=bits)
        costs = self.study.model.evaluate(dense)
        unit = {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0}
        metrics = {k: float(v[0]) for k, v in cost_metrics(costs, unit,
                                                           self.spec.latency_mode).items()
                   if not k.endswith("_reduction")}
        if self.spec.needs_accuracy:
            assert self.accuracy is not None and self.spec.accuracy is not None
            outcome = self.executor.map(self.accuracy, [(self.network_dict,
                                                         dense.to_dicts()[0])],
                                        should_stop=self._stop)[0]
            if outcome.cancelled:
                return None
            if not outcome.ok:
                raise InputError(f"the dense baseline's proxy failed: {outcome.error}",
                                 field="accuracy")
            value = outcome.value
            metrics["accuracy"] = float(value["accuracy"] if isinstance(value, dict) else value)
            if isinstance(value, dict):
                metrics.update(_numeric(value))
            if self.spec.accuracy.proxy != "train":
                metrics["score_reference"] = metrics["accuracy"]
        baseline = Baseline(metrics=metrics,
                            layers=[(layer.name, layer.kind) for layer in network.layers])
        self.store.save_baseline(baseline)
        return baseline

    # ----------------------------------------------------------------- one batch
    def _run_batch(self, strategy: Strategy, proposals: Sequence[Proposal]
                   ) -> list[TrialRecord]:
        """Score, evaluate and tell proposals; returns the records to store.

        Screening results the strategy recorded while proposing come first.
        """
        assert self.baseline is not None
        screened = self._pending_screened  # counted as evaluations until stored below
        size = len(proposals)
        designs = self.study.space.decode_batch([p.values for p in proposals])
        costs = self.study.model.evaluate(designs)
        metrics = cost_metrics(costs, self.baseline.metrics, self.spec.latency_mode)
        chip = self.study.space.chip  # the chip budget: one more constraint value
        over = None if chip is None else chip.violation(costs.tiles, costs.area_m2)
        cost_ok = [ok and (over is None or over[i] <= 0)
                   for i, ok in enumerate(self._cost_feasible(metrics, size))]
        hashes = designs.digests()
        dicts = designs.to_dicts()
        accuracy, errors, nodes, cancelled, ran = self._evaluate_accuracy(dicts, hashes,
                                                                          cost_ok)
        breakdown = {"crossbars": costs.layer_crossbars.tolist(),
                     "tiles": costs.layer_tiles.tolist(),
                     "latency_s": costs.layer_latency_s.tolist(),
                     "energy_j": costs.layer_energy_j.tolist()}
        columns = {k: v.tolist() for k, v in metrics.items()}
        told: list[Told] = []
        kept: list[int] = []
        for i, proposal in enumerate(proposals):
            if i in cancelled:
                continue
            row = {k: float(v[i]) for k, v in columns.items()}
            told_row = row
            if self.spec.needs_accuracy:
                base = self.baseline.metrics["accuracy"]
                if i in accuracy:
                    row.update(accuracy=accuracy[i], accuracy_drop=base - accuracy[i])
                    row.update(self._proxy_metrics.get(hashes[i], {}))
                value = accuracy.get(i, self._worst_accuracy())
                told_row = {**dict.fromkeys(ROBUST_METRICS, self._worst_accuracy()), **row,
                            "accuracy": value, "accuracy_drop": base - value}
            constraints = self._constraint_values(told_row)
            if over is not None:
                constraints.append(float(over[i]))
            told.append(Told(proposal, None if i in errors else
                             [told_row[m] for m in self.study.metrics], constraints, row))
            kept.append(i)
        strategy.discard([proposals[i] for i in cancelled])
        attrs = strategy.tell(told) if told else []
        self._pending_screened = []
        records = list(screened)
        for item, i, system in zip(told, kept, attrs, strict=True):
            failed = i in errors
            record = TrialRecord(
                number=len(self.records) + len(records),
                state="failed" if failed else "complete", params=dict(item.proposal.params),
                system_attrs=system, values=item.values, metrics=item.metrics,
                constraints=item.constraints,
                feasible=not failed and all(c <= 0 for c in item.constraints),
                design=dicts[i], design_hash=hashes[i],
                layers={k: v[i] for k, v in breakdown.items()},
                accuracy_evaluated=i in accuracy, error=errors.get(i), node=nodes.get(i),
                source=item.proposal.source, fidelity=self._fidelity() if i in ran else None)
            records.append(record)
        self.records.extend(records)
        self._update_front([r for r in records if r.state != "screened"])
        return records

    def _fidelity(self) -> int | None:
        accuracy = self.spec.accuracy
        if accuracy is None or accuracy.proxy != "train":
            return None
        return accuracy.steps

    def _worst_accuracy(self) -> float:
        assert self.spec.accuracy is not None
        return UNTRAINED_ACCURACY if self.spec.accuracy.proxy == "train" else UNSCORED_ZERO_COST

    def _evaluate_accuracy(self, designs: Sequence[dict[str, Any]], hashes: Sequence[str],
                           cost_ok: Sequence[bool]
                           ) -> tuple[dict[int, float], dict[int, str], dict[int, str],
                                      set[int], set[int]]:
        """Run the proxy for cost-feasible designs not in the cache (once per design).

        Returns:
            Trial index -> accuracy (evaluated now or cached); -> error text (failed after
            retries); -> node it ran on; the indices whose evaluation was cancelled; and the
            indices the proxy ran for now.

        """
        if not self.spec.needs_accuracy:
            return {}, {}, {}, set(), set()
        assert self.accuracy is not None
        wanted = [i for i in range(len(designs)) if cost_ok[i]]
        unique = {hashes[i]: i for i in wanted if hashes[i] not in self._cache}
        jobs = [(self.network_dict, designs[i]) for i in unique.values()]
        outcomes = self._run_proxies(jobs) if unique else []
        by_hash = dict(zip(unique, outcomes, strict=True))
        for digest, outcome in by_hash.items():
            if outcome.ok:
                if isinstance(outcome.value, dict):  # accuracy and the proxy's other results
                    self._cache[digest] = float(outcome.value["accuracy"])
                    self._proxy_metrics[digest] = _numeric(outcome.value)
                else:
                    self._cache[digest] = float(outcome.value)
        accuracy = {i: self._cache[hashes[i]] for i in wanted if hashes[i] in self._cache}
        errors = {i: by_hash[hashes[i]].error or "unknown error" for i in wanted
                  if hashes[i] in by_hash and by_hash[hashes[i]].error is not None}
        nodes = {i: str(by_hash[hashes[i]].node) for i in wanted
                 if hashes[i] in by_hash and by_hash[hashes[i]].node}
        cancelled = {i for i in wanted if hashes[i] in by_hash and by_hash[hashes[i]].cancelled}
        ran = {unique[h] for h, o in by_hash.items() if not o.cancelled}
        return accuracy, errors, nodes, cancelled, ran

    def _run_proxies(self, jobs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
                     ) -> list[Outcome]:
        """One outcome per job: each trained alone, or in chunks trained together.

        With ``accuracy.batch_designs > 1`` (and an evaluator that trains many designs at once:
        ``evaluate_many``), every chunk of that many designs is one executor task; a chunk's
        outcome is spread over its designs (a design that failed alone carries its error), so
        caching, retries and resume stay per design: a cancelled chunk's designs are asked
        again, none is stored twice.
        """
        assert self.accuracy is not None
        accuracy = self.spec.accuracy
        size = 1 if accuracy is None else accuracy.batch_designs
        many = getattr(self.accuracy, "evaluate_many", None)
        if size <= 1 or many is None:
            return self.executor.map(self.accuracy, list(jobs), should_stop=self._stop)
        chunks = [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]
        outcomes: list[Outcome] = []
        for chunk, outcome in zip(chunks, self.executor.map(many, chunks,
                                                            should_stop=self._stop),
                                  strict=True):
            if not outcome.ok:
                outcomes.extend([outcome] * len(chunk))
                continue
            for entry in outcome.value:
                error = entry.get("error")
                outcomes.append(Outcome(
                    value=None if error else {k: v for k, v in entry.items() if k != "error"},
                    error=error, attempts=outcome.attempts, node=outcome.node))
        return outcomes

    def _cost_feasible(self, metrics: dict[str, np.ndarray], n: int) -> list[bool]:
        """Whether each design meets every constraint that does not need accuracy."""
        ok = np.ones(n, dtype=bool)
        for constraint in self.spec.constraints:
            if constraint.metric in ACCURACY_METRICS:
                continue
            value = metrics[constraint.metric]
            if constraint.max is not None:
                ok &= value <= constraint.max
            if constraint.min is not None:
                ok &= value >= constraint.min
        return [bool(v) for v in ok]

    def _constraint_values(self, row: dict[str, float]) -> list[float]:
        """One value per bound, ``<= 0`` feasible, scaled by the bound's magnitude."""
        values = []
        for constraint in self.spec.constraints:
            value = row[constraint.metric]
            if constraint.max is not None:
                values.append((value - constraint.max) / (abs(constraint.max) or 1.0))
            if constraint.min is not None:
                values.append((constraint.min - value) / (abs(constraint.min) or 1.0))
        return [v if math.isfinite(v) else 1e300 for v in values]

    # ----------------------------------------------------------------- front
    def _rebuild_front(self) -> None:
        self.front = []
        self._update_front([r for r in self.records if r.state != "screened"])

    def _update_front(self, new: Sequence[TrialRecord]) -> None:
        """The feasible front of the old front plus ``new`` (exact: fronts only shrink)."""
        assert self.baseline is not None
        candidates = self.front + [r for r in new if r.feasible]
        if not candidates:
            return
        metrics, directions = self.study.metrics, self.study.directions
        values = np.array([[r.metrics[m] for m in metrics] for r in candidates])
        self.front = [candidates[i] for i in front_indices(values, directions)]
        self._hypervolume = normalized_hypervolume(
            [[r.metrics[m] for m in metrics] for r in self.front], metrics, directions,
            self.baseline.metrics)


def _finished(reason: StopReason) -> str:
    return {"trials": "the trial budget is spent", "timeout": "budget.timeout_s has passed",
            "evaluations": "budget.proxy_evaluations are spent",
            "exhausted": "every design the engine proposes is stored"}.get(reason, reason)


class _References(Strategy):
    """The uniform hand designs of the study's space that meet its cost constraints.

    Evaluated before the study's strategy begins (trained with the study's proxy when it has
    one), as ordinary trials of source ``reference``: counted in the budget, on the front
    when nothing beats them, and replayed into the strategy like its own trials. Their
    sampler state is a first NSGA-II generation, so the genetic samplers breed from them.
    Designs stored already (an earlier run, or a sampler's trial) are not evaluated again.
    """

    name = "reference"

    def __init__(self, driver: StudyDriver, *, enabled: bool = True) -> None:
        assert driver.baseline is not None
        study, spec = driver.study, driver.spec
        encoding = "categorical" if spec.sampler.name in ("layerwise", "exact") \
            else spec.sampler.parameter_encoding
        codec = ParameterCodec(study.space, encoding)
        self.generation_key = ("NSGAIIISampler" if spec.sampler.name == "nsga3"
                               else "NSGAIISampler") + ":generation"
        choices = study.space.uniform_choices() if enabled else []
        self.pending: list[Proposal] = []
        if not choices:
            return
        designs = study.space.decode_batch(choices)
        costs = study.model.evaluate(designs)
        metrics = cost_metrics(costs, driver.baseline.metrics, spec.latency_mode)
        ok = driver._cost_feasible(metrics, len(choices))
        if study.space.chip is not None:
            over = study.space.chip.violation(costs.tiles, costs.area_m2)
            ok = [good and bool(over[i] <= 0) for i, good in enumerate(ok)]
        seen = {r.design_hash for r in driver.records}
        for choice, digest, good in zip(choices, designs.digests(), ok, strict=True):
            if good and digest not in seen:
                seen.add(digest)
                self.pending.append(Proposal(values=dict(choice),
                                             params=codec.from_values(choice),
                                             source="reference"))

    def take(self, n: int) -> list[Proposal]:
        """The next ``n`` references."""
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def propose(self, n: int) -> list[Proposal]:
        """The next ``n`` references."""
        return self.take(n)

    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """A first generation's state, with the constraint values samplers replay."""
        return [{self.generation_key: 0,
                 **{f"constraints:c{j}": v for j, v in enumerate(item.constraints)}}
                for item in told]

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Unevaluated references go back to the head of the queue."""
        self.pending = list(proposals) + self.pending


class _Run:
    """What the driver offers its strategy during one run (the :class:`RunContext`)."""

    def __init__(self, driver: StudyDriver, start: float) -> None:
        assert driver.baseline is not None
        self.driver = driver
        self.study = driver.study
        self.baseline = driver.baseline
        self.start = start

    @property
    def records(self) -> Sequence[TrialRecord]:
        """Every trial told so far (all runs)."""
        return self.driver.records

    def should_stop(self) -> bool:
        """True once the run must stop."""
        return self.driver._stop()

    def announce(self, phase: str, detail: str = "") -> None:
        """Store the run's phase with the study now."""
        self.driver._announce(phase, detail)

    def evaluate(self, designs: Sequence[dict[str, Any]], steps: int) -> list[Outcome]:
        """Train designs at ``steps`` (a screening rung) on the executor."""
        evaluator = self.driver.accuracy
        assert isinstance(evaluator, TrainingProxy)
        return self.driver.executor.map(
            evaluator.at_steps(steps), [(self.driver.network_dict, d) for d in designs],
            should_stop=self.driver._stop)

    def record_screened(self, entries: Sequence[tuple[Proposal, dict[str, Any], Outcome]],
                        steps: int) -> None:
        """Keep screening results as ``screened`` trials (stored with the next batch)."""
        driver = self.driver
        designs = driver.study.space.decode_batch([p.values for p, _, _ in entries])
        hashes = designs.digests()
        costs = driver.study.model.evaluate(designs)
        metrics = cost_metrics(costs, self.baseline.metrics, driver.spec.latency_mode)
        pending = driver._pending_screened
        for i, (proposal, design, outcome) in enumerate(entries):
            if outcome.cancelled:
                continue
            row = {k: float(v[i]) for k, v in metrics.items()}
            if outcome.ok:
                row["screen_accuracy"] = float(outcome.value)
            pending.append(TrialRecord(
                number=len(driver.records) + len(pending), state="screened",
                params=dict(proposal.params), system_attrs={}, values=None, metrics=row,
                constraints=[], feasible=False, design=design, design_hash=hashes[i],
                layers={}, accuracy_evaluated=False, error=outcome.error,
                node=outcome.node, source=proposal.source, fidelity=steps))
        driver._pending_screened = pending

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]],
                samples: int, steps: int) -> list[tuple[float, float]] | None:
        """Probe results (the reference first), from the store or measured on the executor."""
        driver = self.driver
        evaluator = driver.accuracy
        assert isinstance(evaluator, TrainingProxy) and driver.spec.accuracy is not None
        key = "profile-" + _digest({
            "network": driver.network_dict, "reference": reference, "probes": probes,
            "samples": samples, "steps": steps,
            "accuracy": driver.spec.accuracy.model_dump(mode="json")})
        stored = driver.store.load_artifact(key)
        if stored is not None:
            document = json.loads(stored)
            return [(float(r[0]), float(r[1])) for r in document["results"]]
        chunks = [probes[i:i + PROFILE_CHUNK] for i in range(0, len(probes), PROFILE_CHUNK)]
        outcomes = driver.executor.map(
            evaluator.profile, [(driver.network_dict, reference, chunk, samples, steps)
                                for chunk in chunks] or
            [(driver.network_dict, reference, [], samples, steps)],
            should_stop=driver._stop)
        if any(o.cancelled for o in outcomes):
            return None
        failed = next((o for o in outcomes if not o.ok), None)
        if failed is not None:
            raise InputError(f"the sensitivity profile failed: {failed.error}",
                             field="sampler")
        first = outcomes[0].value[0]
        results: list[tuple[float, float]] = [(float(first[0]), float(first[1]))]
        for outcome in outcomes:
            results += [(float(r[0]), float(r[1])) for r in outcome.value[1:]]
        document = {"reference": reference, "samples": samples, "steps": steps,
                    "probes": [{"layer": name, "choice": choice} for name, choice in probes],
                    "results": [list(r) for r in results]}
        driver.store.save_artifact(key, "profile", json.dumps(document).encode())
        return results


#: Proxy results besides ``accuracy`` that a resumed run reads back from the stored trials.
PROXY_METRICS = ("accuracy_se", *ROBUST_METRICS)


def _numeric(result: dict[str, Any]) -> dict[str, float]:
    """Every numeric entry of a proxy's result dict but ``accuracy`` (stored as metrics)."""
    return {k: float(v) for k, v in result.items() if k != "accuracy"
            and isinstance(v, int | float) and not isinstance(v, bool)}


def _digest(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]
