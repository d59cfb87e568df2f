"""The layer-wise engine: profile, exact surrogate fronts, screening, correction, resume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._surrogate import AdditiveSurrogate
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy

SPEC: dict[str, Any] = {
    "name": "lw", "network": "resnet20",
    "space": {"weight_bits": [2, 4, 8],
              "epitome": {"pim_aligned": False, "channel_ratios": [1, 2, 4]}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
    "budget": {"n_trials": 8}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 20, "width": 0.25,
                 "batch_size": 32, "pretrain_steps": 60, "eval_samples": 200},
}


@dataclass(frozen=True)
class Counting(ProxyAccuracy):
    """The real proxy, counting the expensive calls it gets (in this process)."""

    calls: ClassVar[list[str]] = []

    def pretrain(self, network: dict[str, Any]) -> bytes:
        self.calls.append("pretrain")
        return super().pretrain(network)

    def profile(self, job: Any) -> list[tuple[float, float]]:
        self.calls.append("profile")
        return super().profile(job)


def run(spec: StudySpec, store: MemoryStore, **kwargs: Any) -> Any:
    assert spec.accuracy is not None
    return StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                       accuracy=Counting(spec.accuracy)).run(**kwargs)


def test_a_layerwise_study_profiles_screens_and_trains_along_the_front() -> None:
    spec = StudySpec.model_validate({**SPEC, "budget": {"n_trials": 16}})
    assert spec.sampler.name == "layerwise"  # the default for a training proxy
    store = MemoryStore()
    Counting.calls.clear()
    result = run(spec, store)
    assert result.reason == "trials" and result.progress.completed == 16
    assert Counting.calls.count("pretrain") == 1 and "profile" in Counting.calls
    kinds = sorted(kind for kind, _ in store.artifacts.values())
    assert kinds == ["dense_start", "profile"]
    records = store.study.records
    assert [r.number for r in records] == list(range(len(records)))
    references = [r for r in records if r.source == "reference"]
    assert references and records[:len(references)] == references  # hand designs first
    assert len(references) < 16 and all(r.fidelity == 20 for r in references)
    trials = [r for r in records if r.state != "screened" and r.source != "reference"]
    screened = [r for r in records if r.state == "screened"]
    assert len(trials) + len(references) == 16 and screened
    assert all(r.fidelity == 5 and "screen_accuracy" in r.metrics and not r.feasible
               for r in screened)  # a quarter of the declared 20 steps
    assert all(r.fidelity in (20, None) for r in trials)
    assert {r.number for r in screened}.isdisjoint(store.front)
    reductions = [r.metrics["crossbar_area_reduction"] for r in trials if r.feasible]
    assert max(reductions) > 1.5 * min(reductions)  # spread along the front, not one corner
    assert all(r >= 3 for r in reductions)  # the surrogate fronts respect the constraint
    assert {r.source for r in trials} <= {"surrogate", "genetic"}


def test_a_resumed_layerwise_study_reuses_its_start_and_profile() -> None:
    """Also on another device: the artifacts' keys are the proxy's, which omit it."""
    spec = StudySpec.model_validate({**SPEC, "budget": {"n_trials": 16},
                                     "accuracy": {**SPEC["accuracy"], "device": "cpu"}})
    store = MemoryStore()
    Counting.calls.clear()
    first = run(spec, store, should_stop=lambda: any(
        r.state == "complete" and r.source != "reference"
        for r in store.study.records))  # after the engine's first stored batch
    assert first.reason == "stopped" and 0 < first.progress.completed < 16
    assert "profile" in Counting.calls
    calls = len(Counting.calls)
    second = run(StudySpec.model_validate({**SPEC, "budget": {"n_trials": 16}}), store)
    assert second.reason == "trials" and second.progress.completed == 16
    assert Counting.calls[calls:] == []  # neither pretrained nor profiled again
    numbers = [r.number for r in store.study.records]
    assert numbers == list(range(len(numbers)))


def test_the_proxy_evaluation_budget_counts_screening_rungs() -> None:
    spec = StudySpec.model_validate({**SPEC, "budget": {"n_trials": 50,
                                                        "proxy_evaluations": 10}})
    store = MemoryStore()
    result = run(spec, store)
    assert result.reason == "evaluations"
    ran = [r for r in store.study.records if r.fidelity is not None]
    assert 10 <= len(ran) <= 10 + 2 * spec.batch_size  # stops within the batch it passed in


def test_the_surrogate_refits_scale_and_layer_weights() -> None:
    rng = np.random.default_rng(0)
    damage = [rng.random(4) for _ in range(6)]
    truth = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 1.0])
    surrogate = AdditiveSurrogate(damage, top=0.9, floor=0.1, ridge=1e-9)
    index = rng.integers(0, 4, (200, 6))
    z = 2.0 - surrogate.layer_damage(index) @ truth
    accuracy = 0.1 + 0.8 / (1 + np.exp(-z))
    before = np.corrcoef(surrogate.predict(index), accuracy)[0, 1]
    surrogate.fit(index, accuracy)
    assert np.allclose(surrogate.weights, truth, atol=0.05) and surrogate.bias == pytest.approx(2)
    assert np.corrcoef(surrogate.predict(index), accuracy)[0, 1] > max(before, 0.99)
    pulled = AdditiveSurrogate(damage, top=0.9, floor=0.1, ridge=10.0)
    pulled.fit(index, accuracy)  # a strong ridge keeps the weights near their common scale
    assert 0 < np.ptp(pulled.weights) < 0.5 * np.ptp(truth)
    few = AdditiveSurrogate(damage, top=0.9, floor=0.1)
    few.fit(index[:3], accuracy[:3])  # too few for per-layer weights: one common scale
    assert np.ptp(few.weights) == 0


def test_a_layerwise_co_search_spans_hardware_tuples_and_resumes_exactly() -> None:
    hardware = {"xbar_size": [64, 128], "adc_choice": [4, 7]}
    data = {**SPEC, "space": {**SPEC["space"], "hardware": hardware, "replication": [1, 2]},
            "objectives": [{"metric": "area_m2"}, {"metric": "energy_j"},
                           {"metric": "accuracy"}],
            "constraints": [], "budget": {"n_trials": 16},
            "accuracy": {**SPEC["accuracy"], "steps": 12, "pretrain_steps": 30,
                         "eval_samples": 100},
            "sampler": {"name": "layerwise", "seed": 0, "layerwise": {"profile_samples": 32}}}
    spec = StudySpec.model_validate(data)
    store = MemoryStore()
    first = run(spec, store, should_stop=lambda: any(
        r.state == "complete" and r.source != "reference" for r in store.study.records))
    assert first.reason == "stopped" and 0 < first.progress.completed < 16
    second = run(spec, store)  # resumed: the engine rebuilds from the stored trials
    assert second.reason == "trials" and second.progress.completed == 16
    records = store.study.records
    engine = [r for r in records if r.source in ("surrogate", "screen", "genetic")]
    tuples = {tuple(sorted(r.design["hardware"].items())) for r in engine}
    assert len(tuples) > 1 and all(len(t) == 2 for t in tuples)  # more than one tuple
    for record in engine:  # Optuna's parameters encode the design's hardware
        assert {g: record.params[f"hw/{g}"] for g in hardware} == record.design["hardware"]
    for source in ("screen", "surrogate"):  # no front design proposed twice over the resume
        hashes = [r.design_hash for r in engine if r.source == source]
        assert hashes and len(hashes) == len(set(hashes))
    signs = np.array([1.0, 1.0, -1.0])  # area and energy minimized, accuracy maximized
    references = [np.array(r.values) * signs for r in records
                  if r.source == "reference" and r.feasible and r.values is not None]
    front = [r for r in records if r.number in store.front]
    assert references and front
    for record in front:  # no reference dominates a front point
        point = np.array(record.values) * signs
        assert not any((ref <= point).all() and (ref < point).any() for ref in references)
