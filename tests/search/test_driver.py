"""Small studies end to end: local and Ray executors, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from epim.search import StudyDriver, StudySpec, load_study, pareto_document
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy, run_study


def cost_spec(name: str, **changes: Any) -> StudySpec:
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


def accuracy_spec(name: str, executor: str) -> StudySpec:
    return StudySpec.model_validate({
        "name": name, "network": "resnet20",
        "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False,
                                                        "channel_ratios": [1, 2, 4]}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
        "budget": {"n_trials": 8}, "batch_size": 4,
        "accuracy": {"proxy": "train", "dataset": "digits", "steps": 25, "width": 0.25,
                     "batch_size": 32},
        "executor": {"kind": executor, "cpus_per_trial": 1},
    })


def check_front(document: dict[str, Any], spec: StudySpec) -> None:
    trials = document["trials"]
    assert trials, "empty front"
    for trial in trials:  # constraints hold for every front trial
        for c in spec.constraints:
            value = trial["values"][c.metric]
            assert c.min is None or value >= c.min
            assert c.max is None or value <= c.max
    signs = np.array([-1 if o["direction"] == "maximize" else 1 for o in document["objectives"]])
    points = np.array([[t["values"][o["metric"]] for o in document["objectives"]]
                       for t in trials]) * signs
    for i, p in enumerate(points):  # non-dominated
        assert not any(np.all(q <= p) and np.any(q < p) for j, q in enumerate(points) if j != i)


def test_cost_only_study(database_url: str, unique_name: str) -> None:
    spec = cost_spec(unique_name)
    progress = run_study(spec, database_url)
    assert progress.completed == 36 and progress.failed == 0
    study = load_study(database_url, unique_name)
    assert len(study.trials) == 36
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    document = pareto_document(study)
    check_front(document, spec)
    assert progress.front_size == len(document["trials"])
    assert 0 < progress.hypervolume <= 1
    feasible = [t for t in study.trials if t.user_attrs["epim"]["feasible"]]
    assert progress.feasible == len(feasible) < 36  # the constraints bind
    two = pareto_document(study, x="crossbar_area_m2", y="latency_s")
    assert [o["metric"] for o in two["objectives"]] == ["crossbar_area_m2", "latency_s"]
    check_front(two, spec)
    optuna.delete_study(study_name=unique_name, storage=database_url)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_accuracy_study_trains_only_feasible_designs(executor: str, tmp_path: Any,
                                                     unique_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'acc.db'}"
    spec = accuracy_spec(unique_name, executor)
    progress = run_study(spec, url)
    assert progress.completed == 8
    study = load_study(url, unique_name)
    baseline = study.user_attrs["epim_baseline"]
    assert 0.5 < baseline["accuracy"] <= 1.0
    for trial in study.trials:
        record = trial.user_attrs["epim"]
        cost_ok = record["metrics"]["crossbar_area_reduction"] >= 3
        assert record["accuracy_evaluated"] == cost_ok  # infeasible designs never train
        if cost_ok:
            assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    check_front(pareto_document(study), spec)


class Exploding:
    """An accuracy evaluator that always fails (picklable)."""

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        raise RuntimeError("GPU on fire")


class FailAfterBaseline:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        self.calls += 1
        if self.calls == 1:
            return 0.9
        raise RuntimeError("evaluation failed")


def test_failed_evaluations_are_recorded_and_the_study_goes_on(tmp_path: Any,
                                                               unique_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    spec = accuracy_spec(unique_name, "local")
    evaluator = FailAfterBaseline()
    driver = StudyDriver(spec, storage=url, executor=LocalExecutor(retries=1),
                         accuracy=evaluator)
    progress = driver.run()
    assert progress.completed == 8
    study = load_study(url, unique_name)
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and progress.failed == len(failed)
    assert all("evaluation failed" in t.user_attrs["epim"]["error"] for t in failed)
    with pytest.raises(Exception, match="GPU on fire"):
        StudyDriver(accuracy_spec(unique_name + "x", "local"), storage=url,
                    executor=LocalExecutor(retries=0), accuracy=Exploding())


def test_spec_mismatch_on_an_existing_study(tmp_path: Any, unique_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run_study(cost_spec(unique_name, budget={"n_trials": 12}), url)
    with pytest.raises(Exception, match="exists with another spec"):
        run_study(cost_spec(unique_name, budget={"n_trials": 12}, baseline_bits=8), url)


def test_resume_continues_to_the_budget(tmp_path: Any, unique_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spec = cost_spec(unique_name)
    stop_after = iter([False, True])
    first = run_study(spec, url, should_stop=lambda: next(stop_after, True))
    assert first.completed == 12
    second = run_study(spec, url)
    assert second.completed == 36
    assert len(load_study(url, unique_name).trials) == 36


def test_proxy_accuracy_evaluator_is_picklable() -> None:
    import pickle

    spec = accuracy_spec("p", "local")
    assert spec.accuracy is not None
    evaluator = pickle.loads(pickle.dumps(ProxyAccuracy(spec.accuracy)))
    assert evaluator.spec.steps == 25


def test_warm_start_begins_with_the_uniform_designs(tmp_path: Any, unique_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    spec = cost_spec(unique_name, sampler={"name": "nsga2", "seed": 0, "warm_start": True,
                                           "population_size": 12})
    run_study(spec, url)
    study = load_study(url, unique_name)
    driver_space = StudyDriver(spec, storage=url, executor=LocalExecutor()).space
    uniform = driver_space.uniform_choices()
    first = [t.params for t in sorted(study.trials, key=lambda t: t.number)[:len(uniform)]]
    assert first == uniform[:36]
