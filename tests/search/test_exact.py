"""The exact engine and the uniform references: fronts no hand design beats."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from epim.search import (
    MemoryStore,
    StudyDriver,
    StudySpec,
    TrialRecord,
    cost_metrics,
    front_indices,
    prepare_study,
)
from epim.search._pareto import minimization_signs
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy

#: Layers of resnet20 left searched in the brute-force tests (the rest frozen).
OPEN = ("layer1.0.conv1", "layer2.0.conv2", "layer3.1.conv1")


def spec_of(**changes: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": "exact", "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                       {"metric": "energy_j"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 8}],
        "budget": {"n_trials": 200}, "batch_size": 16,
    }
    data.update(changes)
    return StudySpec.model_validate(data)


def small_space(**space: Any) -> dict[str, Any]:
    frozen = ["first", "last"] + [f"layer{i}.{j}.conv{k}" for i in (1, 2, 3) for j in (0, 1, 2)
                                  for k in (1, 2) if f"layer{i}.{j}.conv{k}" not in OPEN]
    return {"weight_bits": [2, 4, 8], "frozen": [*frozen, "*downsample*"],
            "epitome": {"channel_ratios": [1, 2, 4], "pim_aligned": False}, **space}


def run(spec: StudySpec, store: MemoryStore | None = None, **kwargs: Any) -> MemoryStore:
    store = store or MemoryStore()
    accuracy = ProxyAccuracy(spec.accuracy) if spec.needs_accuracy and spec.accuracy else None
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                accuracy=accuracy).run(**kwargs)
    return store


def front_of(store: MemoryStore) -> list[TrialRecord]:
    by_number = {r.number: r for r in store.study.records}
    return [by_number[n] for n in store.front]


def weakly_dominated(point: np.ndarray, front: np.ndarray, signs: np.ndarray) -> bool:
    return bool(np.any(np.all(front * signs <= point * signs, axis=1)))


def uniform_points(spec: StudySpec, store: MemoryStore) -> np.ndarray:
    """Objective values of the feasible uniform designs, scored by the cost model."""
    prepared = prepare_study(spec)
    baseline = store.study.baseline
    assert baseline is not None
    designs = prepared.space.decode_batch(prepared.space.uniform_choices())
    costs = prepared.model.evaluate(designs)
    metrics = cost_metrics(costs, baseline.metrics, spec.latency_mode)
    ok = np.ones(len(designs), dtype=bool)
    for c in spec.constraints:
        if c.min is not None:
            ok &= metrics[c.metric] >= c.min
        if c.max is not None:
            ok &= metrics[c.metric] <= c.max
    return np.column_stack([metrics[o.metric] for o in spec.objectives])[ok]


def test_cost_only_studies_default_to_the_exact_engine() -> None:
    assert spec_of().sampler.name == "exact"
    with pytest.raises(ValidationError, match="sampler 'exact' solves cost-only studies"):
        spec_of(sampler={"name": "exact"}, objectives=[{"metric": "accuracy"}])


def test_the_exact_front_weakly_dominates_every_feasible_uniform_design() -> None:
    spec = spec_of()
    store = run(spec)
    front = front_of(store)
    assert front and all(r.feasible for r in front)
    values = np.array([[r.metrics[o.metric] for o in spec.objectives] for r in front])
    signs = minimization_signs([o.direction for o in spec.objectives])
    uniform = uniform_points(spec, store)
    assert len(uniform) > 3
    for point in uniform:
        assert weakly_dominated(point, values, signs)
    assert store.progress is not None and store.progress.phase == "finished"
    phases = [p for p, _ in store.phases]
    assert phases[:3] == ["baseline", "references", "solving"] and phases[-1] == "finished"
    assert "exact:" in store.phases[-2][1]  # what was solved, for the page and the terminal


def test_the_exact_front_is_the_brute_force_front_of_exact_sums() -> None:
    spec = spec_of(network="resnet20", space=small_space(),
                   objectives=[{"metric": "crossbar_area_m2"}, {"metric": "params"}],
                   constraints=[{"metric": "crossbars", "max": 480}])
    store = run(spec)
    prepared = prepare_study(spec)
    params = prepared.space.parameters()
    assert prepared.space.size <= 20_000  # small enough to enumerate
    everything = [dict(zip(params, combo, strict=True))
                  for combo in itertools.product(*params.values())]
    costs = prepared.model.evaluate(prepared.space.decode_batch(everything))
    assert store.study.baseline is not None
    metrics = cost_metrics(costs, store.study.baseline.metrics, spec.latency_mode)
    feasible = metrics["crossbars"] <= 480
    assert 0 < feasible.sum() < len(everything)  # the bound binds
    points = np.column_stack([metrics["crossbar_area_m2"], metrics["params"]])[feasible]
    expected = {tuple(p) for p in points[front_indices(points, ["minimize", "minimize"])]}
    stored = {(r.metrics["crossbar_area_m2"], r.metrics["params"]) for r in front_of(store)}
    assert stored == expected


def test_a_bottleneck_latency_co_search_is_solved_per_hardware_tuple() -> None:
    spec = spec_of(network="resnet20", latency_mode="throughput", constraints=[],
                   space=small_space(
                       weight_bits=[2, 8], epitome={"channel_ratios": [1, 4],
                                                    "pim_aligned": False},
                       overrides={name: {"replication": [1, 2]} for name in OPEN[1:]},
                       hardware={"adc_choice": [4, 7], "max_tiles": 72}),
                   objectives=[{"metric": "area_m2"}, {"metric": "latency_s"}])
    store = run(spec)
    records = store.study.records
    assert records and all(r.feasible for r in records)  # the chip budget is kept
    assert {r.design["hardware"]["adc_choice"] for r in records} <= {4, 7}
    solved = [d for p, d in store.phases if p == "solving" and "hardware tuples" in d]
    assert solved and "2 hardware tuples" in solved[0]
    # no design of the space beats the front: brute force over every design and tuple
    prepared = prepare_study(spec)
    params = prepared.space.parameters()
    assert prepared.space.size <= 5000  # small enough to enumerate
    everything = [dict(zip(params, combo, strict=True))
                  for combo in itertools.product(*params.values())]
    designs = prepared.space.decode_batch(everything)
    costs = prepared.model.evaluate(designs)
    assert prepared.space.chip is not None
    fits = prepared.space.chip.violation(costs.tiles, costs.area_m2) <= 0
    assert 0 < fits.sum() < len(everything)  # the budget binds
    points = np.column_stack([costs.area_m2, costs.latency_s("throughput")])[fits]
    front = np.array([[r.metrics["area_m2"], r.metrics["latency_s"]]
                      for r in front_of(store)])
    for point in points[front_indices(points, ["minimize", "minimize"])]:
        assert weakly_dominated(point, front, np.ones(2))


def test_a_stopped_exact_study_resumes_without_doubling_a_trial() -> None:
    spec = spec_of(network="resnet20", space=small_space(), batch_size=4,
                   objectives=[{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
                   constraints=[])
    whole = run(spec)
    stops = iter([False, False, True])
    store = run(spec, should_stop=lambda: next(stops, True))
    first = list(store.study.records)
    assert 0 < len(first) < len(whole.study.records)
    run(spec, store)
    records = store.study.records
    assert records[:len(first)] == first
    assert [r.number for r in records] == list(range(len(records)))
    assert len({r.design_hash for r in records}) == len(records)
    assert {r.design_hash for r in records} == {r.design_hash for r in whole.study.records}


def test_an_accuracy_study_trains_its_references_and_is_held_to_them() -> None:
    spec = StudySpec.model_validate({
        "name": "acc", "network": "resnet20",
        "space": {"weight_bits": [2, 8], "epitome": {"pim_aligned": False,
                                                     "channel_ratios": [1, 4]}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
        "budget": {"n_trials": 6}, "batch_size": 4,
        "accuracy": {"proxy": "train", "dataset": "digits", "steps": 10, "width": 0.25,
                     "batch_size": 32, "pretrain_steps": 20, "eval_samples": 200},
    })
    store = run(spec)
    records = store.study.records
    references = [r for r in records if r.source == "reference"]
    assert references and records[:len(references)] == references
    assert all(r.accuracy_evaluated and r.fidelity == 10 for r in references)
    assert len(records) == 6  # references count in the budget
    front = front_of(store)
    values = np.array([[r.metrics["crossbar_area_m2"], r.metrics["accuracy"]] for r in front])
    signs = minimization_signs(["minimize", "maximize"])
    for record in references:
        if record.feasible:
            point = np.array([record.metrics["crossbar_area_m2"], record.metrics["accuracy"]])
            assert weakly_dominated(point, values, signs)
    phases = [p for p, _ in store.phases]
    assert phases[:3] == ["dense_start", "baseline", "references"]
    assert "sampling" in phases and phases[-1] == "finished"
