"""The driver end to end on an in-memory store: budgets, constraints, proxies, resume."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from epim.errors import InputError
from epim.search import (
    SAMPLERS,
    MemoryStore,
    StudyDriver,
    StudySpec,
    TrialRecord,
    front_indices,
    prepare_study,
)
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy


def cost_spec(name: str = "cost", **changes: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": name, "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                       {"metric": "energy_j"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 8},
                        {"metric": "energy_j", "max": 3.5e-3}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 12},
        "budget": {"n_trials": 36}, "batch_size": 12,
    }
    data.update(changes)
    return StudySpec.model_validate(data)


def accuracy_spec(executor: str = "local", **changes: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": "acc", "network": "resnet20",
        "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False,
                                                        "channel_ratios": [1, 2, 4]}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
        "budget": {"n_trials": 8}, "batch_size": 4,
        "accuracy": {"proxy": "train", "dataset": "digits", "steps": 25, "width": 0.25,
                     "batch_size": 32},
        "executor": {"kind": executor, "cpus_per_trial": 1},
    }
    data.update(changes)
    return StudySpec.model_validate(data)


def run(spec: StudySpec, store: MemoryStore | None = None, **kwargs: Any) -> MemoryStore:
    store = store or MemoryStore()
    accuracy = ProxyAccuracy(spec.accuracy) if spec.needs_accuracy and spec.accuracy else None
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                accuracy=accuracy).run(**kwargs)
    return store


def check_front(records: list[TrialRecord], front: list[int], spec: StudySpec) -> None:
    by_number = {r.number: r for r in records}
    chosen = [by_number[n] for n in front]
    assert chosen, "empty front"
    for record in chosen:  # constraints hold for every front trial
        assert record.feasible
        for c in spec.constraints:
            value = record.metrics[c.metric]
            assert c.min is None or value >= c.min
            assert c.max is None or value <= c.max
    metrics = [o.metric for o in spec.objectives]
    directions = [o.direction for o in spec.objectives]
    feasible = [r for r in records if r.feasible]
    values = np.array([[r.metrics[m] for m in metrics] for r in feasible])
    expected = {feasible[i].number for i in front_indices(values, directions)}
    assert set(front) == expected  # the front of every feasible trial, kept incrementally


def test_cost_only_study_counts_constraints_and_front() -> None:
    spec = cost_spec()
    store = run(spec)
    records, progress = store.study.records, store.progress
    assert progress is not None and progress.completed == 36 and progress.failed == 0
    assert [r.number for r in records] == list(range(36))
    assert all(r.state == "complete" and r.values is not None for r in records)
    feasible = [r for r in records if r.feasible]
    assert progress.feasible == len(feasible)
    for record in records:  # feasibility is the constraints' verdict on the stored metrics
        meets = (record.metrics["crossbar_area_reduction"] >= 8
                 and record.metrics["energy_j"] <= 3.5e-3)
        assert record.feasible == meets
    check_front(records, store.front, spec)
    assert progress.front_size == len(store.front) and 0 < progress.hypervolume <= 1
    baseline = store.study.baseline
    assert baseline is not None and baseline.metrics["crossbars"] > 0
    first = records[0]  # designs are stored by name, with the per-layer breakdown
    assert first.design["network"] == "resnet18" and "conv1" in first.design["layers"]
    assert len(first.layers["crossbars"]) == len(baseline.layers)
    assert sum(first.layers["crossbars"]) == first.metrics["crossbars"]


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_accuracy_study_trains_only_feasible_designs(executor: str) -> None:
    spec = accuracy_spec(executor)
    from epim.search.executors import make_executor

    store = MemoryStore()
    assert spec.accuracy is not None
    with make_executor(executor, cpus_per_task=1) as pool:
        StudyDriver(prepare_study(spec), store=store, executor=pool,
                    accuracy=ProxyAccuracy(spec.accuracy)).run()
    baseline = store.study.baseline
    assert baseline is not None and 0.5 < baseline.metrics["accuracy"] <= 1.0
    assert len(store.study.records) == 8
    for record in store.study.records:
        cost_ok = record.metrics["crossbar_area_reduction"] >= 3
        assert record.accuracy_evaluated == cost_ok  # infeasible designs never train
        assert ("accuracy" in record.metrics) == cost_ok
        if cost_ok:
            assert 0.0 <= record.metrics["accuracy"] <= 1.0 and record.node
            assert record.fidelity == 25
    check_front(store.study.records, store.front, spec)


class FailAfterBaseline:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        self.calls += 1
        if self.calls == 1:
            return 0.9
        raise RuntimeError("evaluation failed")


class Exploding:
    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        raise RuntimeError("GPU on fire")


def test_failed_evaluations_are_recorded_and_the_study_goes_on() -> None:
    spec = accuracy_spec()
    store = MemoryStore()
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(retries=1),
                accuracy=FailAfterBaseline()).run()
    failed = [r for r in store.study.records if r.state == "failed"]
    assert len(store.study.records) == 8 and failed
    assert store.progress is not None and store.progress.failed == len(failed)
    assert all("evaluation failed" in (r.error or "") and not r.feasible for r in failed)
    with pytest.raises(InputError, match="GPU on fire"):
        StudyDriver(prepare_study(spec), store=MemoryStore(),
                    executor=LocalExecutor(retries=0), accuracy=Exploding()).run()


def test_resume_replays_the_store_and_stops_at_the_budget() -> None:
    spec = cost_spec()
    stops = iter([False, True])
    store = run(spec, should_stop=lambda: next(stops, True))
    assert len(store.study.records) == 12
    first_run = list(store.study.records)
    run(spec, store)
    records = store.study.records
    assert [r.number for r in records] == list(range(36))
    assert records[:12] == first_run  # stored trials are kept, never told again


def test_a_resumed_genetic_sampler_continues_its_generations() -> None:
    spec = cost_spec(budget={"n_trials": 48})
    stops = iter([False, False, True])
    store = run(spec, should_stop=lambda: next(stops, True))
    run(spec, store)
    records = store.study.records
    references = sum(1 for r in records if r.source == "reference")
    assert 12 <= references < 24  # a population of hand designs, stored over two batches
    assert [r.source for r in records[:references]] == ["reference"] * references
    generations = [r.system_attrs.get("NSGAIISampler:generation") for r in records]
    assert generations == [0] * references + [1] * 12 + [2] * 12 + [3] * (24 - references)


def test_timeout_spans_runs() -> None:
    spec = cost_spec(budget={"n_trials": 10_000, "timeout_s": 0.5})
    store = run(spec)
    assert store.progress is not None and store.progress.elapsed_s >= 0.5
    told = len(store.study.records)
    assert 0 < told < 10_000
    run(spec, store)  # the timeout has passed: nothing more is asked
    assert len(store.study.records) == told


def test_a_stop_during_proxy_evaluations_discards_the_untrained_trials() -> None:
    spec = accuracy_spec(budget={"n_trials": 8})
    calls = {"n": 0}

    def stop() -> bool:
        return calls["n"] >= 3

    class Counting:
        def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
            calls["n"] += 1
            return 0.5

    store = MemoryStore()
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                accuracy=Counting()).run(should_stop=stop)
    assert calls["n"] == 3  # the baseline and two designs: no evaluation after the stop
    told = store.study.records
    assert all(r.accuracy_evaluated or r.metrics["crossbar_area_reduction"] < 3 for r in told)
    assert len(told) < 8


def test_warm_start_begins_with_the_uniform_designs() -> None:
    spec = cost_spec(sampler={"name": "nsga2", "seed": 0, "warm_start": True,
                              "population_size": 12})
    store = run(spec)
    uniform = prepare_study(spec).space.uniform_choices()
    records = store.study.records
    first = [r.params for r in records[:len(uniform)]]
    references = [r for r in records if r.source == "reference"]
    assert 0 < len(references) < len(uniform) and all(r.feasible for r in references)
    # the feasible hand designs come first, as references; warm start adds the others
    assert sorted(map(str, first)) == sorted(map(str, uniform))
    assert all(not r.feasible for r in records[len(references):len(uniform)])


@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if s not in ("layerwise", "exact")])
def test_every_optuna_sampler_runs_a_small_study(sampler: str) -> None:
    spec = cost_spec(sampler={"name": sampler, "seed": 1}, budget={"n_trials": 12},
                     batch_size=6, network="resnet20", constraints=[],
                     objectives=[{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}])
    store = run(spec)
    assert len(store.study.records) == 12 and store.front
    assert len({r.design_hash for r in store.study.records}) > 1


def test_ordered_encoding_decodes_to_the_same_space() -> None:
    spec = cost_spec(sampler={"name": "tpe", "seed": 0}, budget={"n_trials": 12})
    assert spec.sampler.parameter_encoding == "ordered"
    store = run(spec)
    space = prepare_study(spec).space
    for record in store.study.records:
        choices = space.parameters()
        assert all(0 <= v < len(choices[k]) for k, v in record.params.items())


def test_proxy_accuracy_evaluator_is_picklable() -> None:
    import pickle

    spec = accuracy_spec()
    assert spec.accuracy is not None
    evaluator = pickle.loads(pickle.dumps(ProxyAccuracy(spec.accuracy)))
    assert evaluator.spec.steps == 25


def test_designs_trained_together_store_their_accuracy_and_its_standard_error() -> None:
    """``accuracy.batch_designs``: chunks of designs as one task each, SE stored per trial."""
    spec = accuracy_spec(accuracy={"proxy": "train", "dataset": "digits", "steps": 10,
                                   "width": 0.25, "batch_size": 32, "batch_designs": 3,
                                   "pretrain_steps": 20, "eval_samples": None})
    store = run(spec)
    trained = [r for r in store.study.records if r.accuracy_evaluated]
    assert trained and len(store.study.records) == 8
    held_out = 360  # digits' test split (the whole of it: eval_samples None)
    for record in trained:
        accuracy, se = record.metrics["accuracy"], record.metrics["accuracy_se"]
        assert 0.0 <= accuracy <= 1.0
        assert se == pytest.approx(np.sqrt(accuracy * (1 - accuracy) / held_out), rel=0.05)
    resumed = run(spec, store)  # a finished study's store: nothing trained twice
    assert len(resumed.study.records) == 8
