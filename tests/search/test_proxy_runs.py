"""Proxy outcomes as metrics: every numeric metric an evaluator returns is cached and stored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._proxy_runs import ProxyRuns, proxy_metrics
from epim.search.executors import LocalExecutor

SPEC: dict[str, Any] = {
    "name": "metrics", "network": "resnet20",
    "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False,
                                                    "channel_ratios": [1, 2, 4]}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 8}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 5},
}


def _accuracy(design: dict[str, Any]) -> float:
    """A deterministic stand-in for training: more weight bits, more accuracy."""
    bits = [layer["weight_bits"] for layer in design["layers"].values()]
    return 0.5 + 0.05 * sum(bits) / len(bits)


class Robust:
    """An evaluator returning a dict: accuracy, its SE, robust metrics and non-numbers."""

    designs: ClassVar[list[str]] = []

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        accuracy = _accuracy(job[1])
        self.designs.append(str(job[1]))
        return {"accuracy": accuracy, "accuracy_se": 0.01, "robust_accuracy": accuracy - 0.1,
                "robust_accuracy_p5": accuracy - 0.2, "error": None, "note": "text",
                "flag": True, "nan": math.nan}


class RobustMany(Robust):
    """The same metrics, trained together in chunks (``evaluate_many``)."""

    chunks: ClassVar[list[int]] = []

    def evaluate_many(self, jobs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
                      ) -> list[dict[str, Any]]:
        self.chunks.append(len(jobs))
        return [self(job) for job in jobs]


def run(evaluator: Any, store: MemoryStore, **changes: Any) -> MemoryStore:
    spec = StudySpec.model_validate({**SPEC, **changes})
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                accuracy=evaluator).run()
    return store


@pytest.mark.parametrize("evaluator", [Robust(), RobustMany()])
def test_every_numeric_metric_of_the_proxy_is_stored_with_its_trial(evaluator: Any) -> None:
    accuracy = {**SPEC["accuracy"], "batch_designs": 3}
    store = run(evaluator, MemoryStore(), accuracy=accuracy)
    baseline = store.study.baseline
    assert baseline is not None and baseline.metrics["robust_accuracy"] == pytest.approx(
        baseline.metrics["accuracy"] - 0.1)
    trained = [r for r in store.study.records if r.accuracy_evaluated]
    assert trained and len(store.study.records) == 8
    for record in trained:
        expected = _accuracy(record.design)
        assert record.metrics["accuracy"] == pytest.approx(expected, abs=1e-12)
        assert record.metrics["robust_accuracy"] == pytest.approx(expected - 0.1, abs=1e-12)
        assert record.metrics["robust_accuracy_p5"] == pytest.approx(expected - 0.2, abs=1e-12)
        assert record.metrics["accuracy_se"] == 0.01
        assert record.metrics["accuracy_drop"] == pytest.approx(
            baseline.metrics["accuracy"] - expected, abs=1e-12)
        assert not {"error", "note", "flag", "nan"} & set(record.metrics)
    untrained = [r for r in store.study.records if not r.accuracy_evaluated]
    assert all("robust_accuracy" not in r.metrics for r in untrained)
    if isinstance(evaluator, RobustMany):
        assert RobustMany.chunks and max(RobustMany.chunks) <= 3  # chunks of batch_designs


def test_a_resumed_run_takes_every_metric_from_the_store() -> None:
    store = run(Robust(), MemoryStore())
    spec = StudySpec.model_validate(SPEC)
    study = prepare_study(spec)
    stored = [r for r in store.study.records if r.accuracy_evaluated]
    executor = LocalExecutor()
    proxies = ProxyRuns(Robust(), executor, {}, batch_designs=1)
    costs = {"crossbars", "crossbar_area_m2", "area_m2", "latency_s", "energy_j", "edp",
             "params", "crossbar_area_reduction", "energy_reduction", "latency_reduction"}
    proxies.remember(store.study.records, costs)
    Robust.designs.clear()
    outcomes = proxies.evaluate([r.design for r in stored], [r.design_hash for r in stored],
                                [True] * len(stored))
    assert Robust.designs == []  # nothing trained again
    for record, outcome in zip(stored, outcomes, strict=True):
        assert outcome.metrics == {k: record.metrics[k] for k in (
            "accuracy", "accuracy_se", "robust_accuracy", "robust_accuracy_p5")}
        assert not outcome.ran and outcome.error is None
    assert study.spec.needs_accuracy


def test_a_bare_number_is_the_accuracy_and_a_dict_without_one_is_an_error() -> None:
    assert proxy_metrics(0.75) == {"accuracy": 0.75}
    assert proxy_metrics({"accuracy": 1, "robust_accuracy": 0.5}) == {
        "accuracy": 1.0, "robust_accuracy": 0.5}
    with pytest.raises(ValueError, match="no finite accuracy"):
        proxy_metrics({"robust_accuracy": 0.5})
    with pytest.raises(ValueError, match="no finite accuracy"):
        proxy_metrics(math.nan)

    class NoAccuracy:
        def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, float]:
            return {"robust_accuracy": 0.5}

    outcome = ProxyRuns(NoAccuracy(), LocalExecutor(), {}).one({})
    assert not outcome.ok and "no finite accuracy" in (outcome.error or "")


def test_an_evaluator_of_hardware_effects_is_bound_to_the_studys_hardware() -> None:
    """``for_hardware``: the driver scores with the evaluator of the study's preset."""
    seen: list[Any] = []

    class Unbound(Robust):
        def for_hardware(self, hardware: Any) -> Robust:
            seen.append(hardware)
            return Robust()

        def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
            raise AssertionError("the unbound evaluator scored a design")

    store = run(Unbound(), MemoryStore())
    spec = StudySpec.model_validate(SPEC)
    assert seen == [prepare_study(spec).hardware]
    assert any(r.accuracy_evaluated for r in store.study.records)
