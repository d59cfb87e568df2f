"""The ask/tell driver: Optuna samples, the cost model scores batches, executors train proxies.

Per batch: ask ``batch_size`` trials of an in-memory Optuna study, decode them to one
:class:`DesignBatch`, score the batch with the cost model in one vectorized call (the per-layer
breakdown comes from the same call), compute constraint values (``<= 0`` feasible, told to
Optuna with ``Trial.set_constraint`` so NSGA-II/III, TPE and GP use them), run the accuracy
proxy only for feasible designs (on the executor, one run per distinct design, cached by
design hash), tell every trial and hand the batch to the :class:`StudyStore` in one write.
Infeasible designs are told, never failed and never trained.

The store is the one source of truth. Optuna's state lives in memory and is rebuilt on resume
by replaying the stored trials (``Study.add_trials``): trials a killed run had asked but not
stored are simply asked again, so no told trial is lost or counted twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import optuna
from optuna.trial import TrialState

from epim.errors import InputError
from epim.search._codec import ParameterCodec
from epim.search._metrics import cost_metrics
from epim.search._pareto import front_indices, normalized_hypervolume
from epim.search._prepare import PreparedStudy
from epim.search._records import Baseline, Progress, StudyStore, TrialRecord
from epim.search._sampler import batch_size, make_sampler
from epim.search.executors import Executor
from epim.space import DesignBatch
from epim.workloads import network_to_dict

#: Accuracy told for a design that was never trained (infeasible by cost): a train proxy's
#: worst top-1. Zero-cost scores are unbounded, so they get a very low score instead.
UNTRAINED_ACCURACY = 0.0
UNSCORED_ZERO_COST = -1e9
StopReason = Literal["trials", "timeout", "stopped"]


class AccuracyEvaluator(Protocol):
    """A picklable callable scoring one design: ``(network dict, design dict) -> accuracy``."""

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        """Return the proxy accuracy (or zero-cost score) of the design."""


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    Attributes:
        progress: The counters at the end.
        reason: ``trials`` (the budget is spent), ``timeout`` (``budget.timeout_s`` over all
            runs has passed) or ``stopped`` (``should_stop()`` became true).

    """

    progress: Progress
    reason: StopReason


class StudyDriver:
    """Runs one study to its budget (or until stopped), resumably, on a :class:`StudyStore`.

    Args:
        study: The prepared study (``prepare_study``).
        store: Where records are loaded from and written to.
        executor: Where proxy evaluations run.
        accuracy: Scores a design (needed when the spec uses accuracy metrics).

    """

    def __init__(self, study: PreparedStudy, *, store: StudyStore, executor: Executor,
                 accuracy: AccuracyEvaluator | None = None) -> None:
        spec = study.spec
        if spec.needs_accuracy and accuracy is None:
            raise InputError("the spec uses accuracy but no evaluator was given",
                             field="accuracy", expected="an accuracy evaluator")
        self.study = study
        self.spec = spec
        self.store = store
        self.executor = executor
        self.accuracy = accuracy
        self.codec = ParameterCodec(study.space, spec.sampler.parameter_encoding)
        self.network_dict = network_to_dict(study.network)  # what evaluators receive
        self.batch_size = batch_size(spec)
        self.records: list[TrialRecord] = []
        self.front: list[TrialRecord] = []
        self.baseline: Baseline | None = None
        self._hypervolume = 0.0
        self._elapsed_before = 0.0

    # ----------------------------------------------------------------- run
    def run(self, *, should_stop: Callable[[], bool] | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> RunResult:
        """Run until the budget is spent, the timeout passes or ``should_stop()`` is true.

        ``should_stop`` (cancellation, shutdown) and the timeout are checked before every batch
        and between proxy evaluations; a batch cut short keeps what was evaluated.
        """
        stored = self.store.load()
        self.records = sorted(stored.records, key=lambda r: r.number)
        self._elapsed_before = stored.elapsed_s
        start = time.monotonic()
        timeout = self.spec.budget.timeout_s

        def timed_out() -> bool:
            return timeout is not None and self._elapsed_before + time.monotonic() - start \
                >= timeout

        def stop() -> bool:
            return (should_stop is not None and should_stop()) or timed_out()

        def result(reason: StopReason | None = None) -> RunResult:
            progress = self.progress(start, run_completed)
            if reason is None:
                reason = ("trials" if progress.completed >= self.spec.budget.n_trials
                          else "timeout" if timed_out() else "stopped")
            return RunResult(progress, reason)

        run_completed = 0
        self.baseline = stored.baseline or self._compute_baseline(stop)
        if self.baseline is None:
            return result()
        self._rebuild_front()
        sampler_study = self._sampler_study()
        cache = {r.design_hash: r.metrics["accuracy"] for r in self.records
                 if r.accuracy_evaluated and r.error is None and "accuracy" in r.metrics}
        while len(self.records) < self.spec.budget.n_trials and not stop():
            size = min(self.batch_size, self.spec.budget.n_trials - len(self.records))
            batch = self._run_batch(sampler_study, size, cache, stop)
            run_completed += len(batch)
            progress = self.progress(start, run_completed)
            if batch:
                self.store.save_batch(batch, [r.number for r in self.front], progress)
            if on_progress is not None:
                on_progress(progress)
        return result()

    def progress(self, start: float | None = None, run_completed: int = 0) -> Progress:
        """The study's counters now."""
        run_elapsed = 0.0 if start is None else time.monotonic() - start
        return Progress(
            completed=len(self.records),
            feasible=sum(1 for r in self.records if r.feasible),
            failed=sum(1 for r in self.records if r.state == "failed"),
            front_size=len(self.front), hypervolume=self._hypervolume,
            n_trials=self.spec.budget.n_trials,
            elapsed_s=self._elapsed_before + run_elapsed, run_elapsed_s=run_elapsed,
            run_completed=run_completed)

    # ----------------------------------------------------------------- set-up
    def _compute_baseline(self, stop: Callable[[], bool]) -> Baseline | None:
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
                                        should_stop=stop)[0]
            if outcome.cancelled:
                return None
            if not outcome.ok:
                raise InputError(f"the dense baseline's proxy failed: {outcome.error}",
                                 field="accuracy")
            metrics["accuracy"] = float(outcome.value)
            if self.spec.accuracy.proxy != "train":
                metrics["score_reference"] = float(outcome.value)
        baseline = Baseline(metrics=metrics,
                            layers=[(layer.name, layer.kind) for layer in network.layers])
        self.store.save_baseline(baseline)
        return baseline

    def _sampler_study(self) -> optuna.Study:
        """An in-memory Optuna study holding the stored trials (the sampler's memory)."""
        sampler_study = optuna.create_study(
            directions=self.study.directions,
            sampler=make_sampler(self.spec, resumed_trials=len(self.records)))
        replay = []
        for record in self.records:
            distributions = {k: self.codec.distributions[k] for k in record.params
                             if k in self.codec.distributions}
            try:
                replay.append(optuna.trial.create_trial(
                    state=TrialState.COMPLETE if record.state == "complete"
                    else TrialState.FAIL,
                    params={k: record.params[k] for k in distributions},
                    distributions=distributions, values=record.values,
                    system_attrs=record.system_attrs))
            except ValueError:  # a record from another space encoding: counted, not replayed
                continue
        sampler_study.add_trials(replay)
        if self.spec.sampler.warm_start:
            tried = [r.params for r in self.records]
            for values in self.study.space.uniform_choices():
                params = self.codec.from_values(values)
                if params not in tried and len(tried) < self.spec.budget.n_trials:
                    sampler_study.enqueue_trial(params)
                    tried.append(params)
        return sampler_study

    # ----------------------------------------------------------------- one batch
    def _run_batch(self, sampler_study: optuna.Study, size: int, cache: dict[str, float],
                   stop: Callable[[], bool]) -> list[TrialRecord]:
        """Ask, score, evaluate and tell ``size`` trials; returns the records told."""
        assert self.baseline is not None
        trials = [sampler_study.ask(self.codec.distributions) for _ in range(size)]
        params = [trial.params for trial in trials]
        designs = self.codec.decode(params)
        costs = self.study.model.evaluate(designs)
        metrics = cost_metrics(costs, self.baseline.metrics, self.spec.latency_mode)
        cost_ok = self._cost_feasible(metrics, size)
        hashes = designs.digests()
        dicts = designs.to_dicts()
        accuracy, errors, nodes, cancelled = self._evaluate_accuracy(dicts, hashes, cost_ok,
                                                                     cache, stop)
        breakdown = {"crossbars": costs.layer_crossbars.tolist(),
                     "tiles": costs.layer_tiles.tolist(),
                     "latency_s": costs.layer_latency_s.tolist(),
                     "energy_j": costs.layer_energy_j.tolist()}
        columns = {k: v.tolist() for k, v in metrics.items()}
        told: list[tuple[int, optuna.Trial, dict[str, Any]]] = []
        for i, trial in enumerate(trials):
            if i in cancelled:  # stopped before its proxy ran: asked again next run
                sampler_study.tell(trial, state=TrialState.FAIL)
                continue
            row = {k: float(v[i]) for k, v in columns.items()}
            told_row = row
            if self.spec.needs_accuracy:
                base = self.baseline.metrics["accuracy"]
                if i in accuracy:
                    row.update(accuracy=accuracy[i], accuracy_drop=base - accuracy[i])
                value = accuracy.get(i, self._worst_accuracy())
                told_row = {**row, "accuracy": value, "accuracy_drop": base - value}
            constraints = self._constraint_values(told_row)
            for j, value in enumerate(constraints):
                trial.set_constraint(f"c{j}", value)
            values = [told_row[m] for m in self.study.metrics]
            if i in errors:
                sampler_study.tell(trial, state=TrialState.FAIL)
            else:
                sampler_study.tell(trial, values)
            told.append((i, trial, {"row": row, "constraints": constraints,
                                    "values": None if i in errors else values}))
        frozen = sampler_study.get_trials(deepcopy=False)
        records: list[TrialRecord] = []
        for i, trial, data in told:
            failed = i in errors
            constraints = data["constraints"]
            record = TrialRecord(
                number=len(self.records) + len(records), state="failed" if failed else "complete",
                params=dict(params[i]), system_attrs=dict(frozen[trial.number].system_attrs),
                values=data["values"], metrics=data["row"], constraints=constraints,
                feasible=not failed and all(c <= 0 for c in constraints), design=dicts[i],
                design_hash=hashes[i],
                layers={k: v[i] for k, v in breakdown.items()},
                accuracy_evaluated=i in accuracy, error=errors.get(i), node=nodes.get(i),
                source=self.spec.sampler.name, fidelity=self._fidelity())
            records.append(record)
        self.records.extend(records)
        self._update_front(records)
        return records

    def _fidelity(self) -> int | None:
        accuracy = self.spec.accuracy
        if accuracy is None or not self.spec.needs_accuracy or accuracy.proxy != "train":
            return None
        return accuracy.steps

    def _worst_accuracy(self) -> float:
        assert self.spec.accuracy is not None
        return UNTRAINED_ACCURACY if self.spec.accuracy.proxy == "train" else UNSCORED_ZERO_COST

    def _evaluate_accuracy(self, designs: Sequence[dict[str, Any]], hashes: Sequence[str],
                           cost_ok: Sequence[bool], cache: dict[str, float],
                           stop: Callable[[], bool]
                           ) -> tuple[dict[int, float], dict[int, str], dict[int, str],
                                      set[int]]:
        """Run the proxy for cost-feasible designs not in ``cache`` (once per distinct design).

        Returns:
            Trial index -> accuracy (evaluated now or cached); -> error text (failed after
            retries); -> node it ran on; and the indices whose evaluation was cancelled.

        """
        if not self.spec.needs_accuracy:
            return {}, {}, {}, set()
        assert self.accuracy is not None
        wanted = [i for i in range(len(designs)) if cost_ok[i]]
        unique = {hashes[i]: i for i in wanted if hashes[i] not in cache}
        outcomes = self.executor.map(
            self.accuracy, [(self.network_dict, designs[i]) for i in unique.values()],
            should_stop=stop) if unique else []
        by_hash = dict(zip(unique, outcomes, strict=True))
        for digest, outcome in by_hash.items():
            if outcome.ok:
                cache[digest] = float(outcome.value)
        accuracy = {i: cache[hashes[i]] for i in wanted if hashes[i] in cache}
        errors = {i: by_hash[hashes[i]].error or "unknown error" for i in wanted
                  if hashes[i] in by_hash and by_hash[hashes[i]].error is not None}
        nodes = {i: str(by_hash[hashes[i]].node) for i in wanted
                 if hashes[i] in by_hash and by_hash[hashes[i]].node}
        cancelled = {i for i in wanted if hashes[i] in by_hash and by_hash[hashes[i]].cancelled}
        return accuracy, errors, nodes, cancelled

    def _cost_feasible(self, metrics: dict[str, np.ndarray], n: int) -> list[bool]:
        """Whether each design meets every constraint that does not need accuracy."""
        ok = np.ones(n, dtype=bool)
        for constraint in self.spec.constraints:
            if constraint.metric in ("accuracy", "accuracy_drop"):
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
        self._update_front(self.records)

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
