"""A study's artifacts are stored under the proxy's own keys, which never hold the device."""

from __future__ import annotations

from typing import Any

import pytest

from epim.proxy import dense_start_key, profile_key
from epim.search import MemoryStore, StudySpec, prepare_study
from epim.search._artifacts import Artifacts, dense_start_artifact, profile_artifact
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy
from epim.space import DesignBatch, design_from_dict
from epim.workloads import network_to_dict

ACCURACY: dict[str, Any] = {"proxy": "train", "dataset": "digits", "steps": 5, "width": 0.25,
                            "batch_size": 16, "pretrain_steps": 3, "eval_samples": 50}


def evaluator(**changes: Any) -> ProxyAccuracy:
    spec = StudySpec.model_validate({"name": "keys", "network": "resnet20",
                                     "objectives": [{"metric": "accuracy"}],
                                     "accuracy": {**ACCURACY, **changes}})
    assert spec.accuracy is not None
    return ProxyAccuracy(spec.accuracy)


@pytest.fixture(scope="module")
def network() -> dict[str, Any]:
    spec = StudySpec.model_validate({"name": "n", "network": "resnet20",
                                     "objectives": [{"metric": "crossbar_area_m2"}]})
    return network_to_dict(prepare_study(spec).network)


def job(network: dict[str, Any]) -> tuple[Any, ...]:
    study = prepare_study(StudySpec.model_validate({
        "name": "n", "network": "resnet20", "objectives": [{"metric": "crossbar_area_m2"}]}))
    reference = DesignBatch.dense(study.network, 1, weight_bits=8, act_bits=8).to_dicts()[0]
    name = study.network.compute_layers[1].name
    return (network, reference, [(name, [16, 16, 3, 3, 4, 8])], 64, 0)


def test_the_keys_are_the_proxys_and_leave_the_device_out(network: dict[str, Any]) -> None:
    cpu, gpu, auto = evaluator(device="cpu"), evaluator(device="cuda"), evaluator()
    profile = job(network)
    assert cpu.start_key(network) == gpu.start_key(network) == auto.start_key(network)
    assert cpu.profile_key(profile) == gpu.profile_key(profile) == auto.profile_key(profile)
    # one recipe: the evaluator's keys are epim.proxy's, over its ProxyConfig
    from epim.workloads import network_from_dict

    net = network_from_dict(network)
    assert cpu.start_key(network) == dense_start_key(net, cpu.config())
    assert cpu.profile_key(profile) == profile_key(
        net, design_from_dict(profile[1], net), profile[2], cpu.config(), samples=64, steps=0)
    # and they do hold what changes the result
    assert evaluator(pretrain_steps=4).start_key(network) != cpu.start_key(network)
    assert evaluator(seed=1).profile_key(profile) != cpu.profile_key(profile)
    assert cpu.profile_key((*profile[:3], 32, 0)) != cpu.profile_key(profile)


def test_a_dense_start_trained_on_one_device_serves_another(network: dict[str, Any]) -> None:
    store = MemoryStore()
    cpu = evaluator(device="cpu")
    started = Artifacts(store, LocalExecutor(), network).with_dense_start(cpu)
    assert started is not None and started.start is not None
    assert list(store.artifacts) == [dense_start_artifact(cpu, network)]

    class Refusing(LocalExecutor):
        def map(self, fn: Any, items: Any, **kwargs: Any) -> Any:
            raise AssertionError("trained again")

    auto = Artifacts(store, Refusing(), network).with_dense_start(evaluator())
    assert auto is not None and auto.start == started.start
    assert profile_artifact(cpu, job(network)).startswith("profile-")


def test_the_proxys_defaults_are_a_studys_defaults() -> None:
    """``ProxyConfig`` and ``AccuracySpec`` share their defaults (``pretrain_steps`` too)."""
    from dataclasses import fields

    from epim.proxy import ProxyConfig
    from epim.search._spec import AccuracySpec

    library = {f.name: f.default for f in fields(ProxyConfig)}
    study = {name: info.default for name, info in AccuracySpec.model_fields.items()}
    shared = sorted(set(library) & set(study))
    assert {"pretrain_steps", "steps", "lr", "width", "seed", "device"} <= set(shared)
    assert {k: library[k] for k in shared} == {k: study[k] for k in shared}
    assert library["pretrain_steps"] == 300
