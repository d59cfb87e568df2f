"""GPU-aware execution, checked on any machine: device choice, Ray GPU reservation, spec."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from pydantic import ValidationError

from epim.errors import InputError
from epim.proxy import ProxyConfig, proxy_device, proxy_key, train_proxy
from epim.search import StudySpec
from epim.space import Design
from epim.workloads import get_network

TINY = ProxyConfig(dataset="digits", steps=3, batch_size=16, width=0.25, eval_samples=64,
                   pretrain_steps=0)


def test_auto_takes_the_visible_gpu_else_the_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert proxy_device(TINY).type == expected
    assert proxy_device(ProxyConfig(device="cpu")).type == "cpu"


def test_cuda_trains_there_or_is_refused_naming_the_field() -> None:
    network = get_network("resnet20")
    design = Design.dense(network, 8, 8)
    config = ProxyConfig(**{**TINY.__dict__, "device": "cuda"})
    if torch.cuda.is_available():
        assert 0 <= train_proxy(network, design, config).accuracy <= 1
    else:
        with pytest.raises(InputError) as info:
            train_proxy(network, design, config)
        assert info.value.field == "device" and "CUDA" in str(info.value)
    with pytest.raises(InputError, match="device"):
        ProxyConfig(device="tpu")


def test_the_device_is_not_part_of_the_cache_key() -> None:
    network = get_network("resnet20")
    design = Design.dense(network, 8, 8)
    keys = {proxy_key(network, design, ProxyConfig(device=d)) for d in ("auto", "cpu", "cuda")}
    assert len(keys) == 1


def test_the_spec_carries_gpus_and_device() -> None:
    base = {"name": "gpu", "network": "resnet20", "objectives": [{"metric": "accuracy"}],
            "accuracy": {"dataset": "digits", "device": "cuda"},
            "executor": {"kind": "ray", "gpus_per_trial": 0.5}}
    spec = StudySpec.model_validate(base)
    assert spec.executor.gpus_per_trial == 0.5 and spec.accuracy is not None
    assert spec.accuracy.device == "cuda"
    for bad in ({"executor": {"kind": "ray", "gpus_per_trial": -1}},
                {"accuracy": {"dataset": "digits", "device": "tpu"}}):
        with pytest.raises(ValidationError):
            StudySpec.model_validate({**base, **bad})


def test_a_ray_task_gets_the_gpu_it_reserves(tmp_path: object) -> None:
    """A private Ray told it has one GPU (logical here): half-GPU tasks see device 0."""
    script = textwrap.dedent("""
        import json, os
        import ray
        from epim.search.executors._ray import RayExecutor

        def probe(_):
            return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

        executor = RayExecutor(cpus_per_task=1, gpus_per_task=0.5, num_cpus=1, num_gpus=1)
        try:
            outcomes = executor.map(probe, [0, 1])
            print(json.dumps([o.value for o in outcomes]))
        finally:
            executor.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    values = json.loads(done.stdout.strip().splitlines()[-1])
    assert values == [[[0], "0"], [[0], "0"]]
