from pathlib import Path

import numpy as np
import pytest
import torch

from epim.datasets import load_cached_dataset
from epim.errors import InputError
from epim.proxy import (
    DenseStart,
    JsonFileCache,
    MemoryCache,
    ProxyConfig,
    dense_baseline,
    dense_start,
    proxy_model,
    train_proxy,
    zero_cost_scores,
)
from epim.space import Design
from epim.workloads import get_network

DIGITS = ProxyConfig(dataset="digits", steps=300, batch_size=32, width=0.5, lr=0.05,
                     eval_samples=None, pretrain_steps=0)


def test_training_on_digits_beats_chance_widely() -> None:
    net = get_network("resnet20")
    result = train_proxy(net, Design.dense(net, 4, 8), DIGITS)
    assert result.accuracy > 0.8  # chance is 0.1
    assert result.steps == 300 and result.seconds > 0


def test_deterministic_for_a_seed_and_cached_by_design() -> None:
    net = get_network("resnet20")
    design = Design.dense(net, 3, 6).with_layer("layer3.0.conv2", epitome_in=16, epitome_out=16)
    config = ProxyConfig(dataset="digits", steps=40, batch_size=16, width=0.25, pretrain_steps=0)
    a, b = train_proxy(net, design, config), train_proxy(net, design, config)
    assert (a.accuracy, a.loss) == (b.accuracy, b.loss)
    other_seed = train_proxy(net, design, ProxyConfig(**{**config.__dict__, "seed": 1}))
    assert other_seed.key != a.key
    cache = MemoryCache()
    first = train_proxy(net, design, config, cache=cache)
    second = train_proxy(net, design, config, cache=cache)
    assert not first.cached and second.cached and second.accuracy == first.accuracy
    assert len(cache) == 1
    assert train_proxy(net, Design.dense(net, 3, 6), config, cache=cache).cached is False


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    net = get_network("resnet20")
    train_proxy(net, Design.dense(net), ProxyConfig(dataset="digits", steps=2, threads=1,
                                                   pretrain_steps=0))
    assert torch.get_num_threads() == before


def test_json_file_cache_persists(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    JsonFileCache(path).put("k", {"accuracy": 0.5})
    assert JsonFileCache(path).get("k") == {"accuracy": 0.5}


def test_proxy_network_keeps_ratios_and_bits() -> None:
    net = get_network("resnet50")
    design = Design.dense(net, 3, 8).with_layer("layer4.0.conv2", epitome_in=128,
                                                epitome_out=256, weight_bits=5)
    config = ProxyConfig(dataset="fashion-mnist", width=0.25)
    model = proxy_model(net, design, config, load_cached_dataset("fashion-mnist", None))
    op = model.blocks["layer4__0__conv2"].op
    assert op.epitome_shape[:2] == (64, 32)  # 512*0.25=128 channels: out 1/2, in 1/4 kept
    assert op.quantizer.bits == 5
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_dense_baseline_and_fashion_mnist_short_run() -> None:
    net = get_network("resnet20")
    config = ProxyConfig(steps=30, batch_size=32, width=0.25, eval_samples=500, pretrain_steps=0)
    base = dense_baseline(net, config)
    assert 0.2 < base.accuracy <= 1.0


def test_zero_cost_scores_are_finite_and_design_dependent() -> None:
    net = get_network("resnet20")
    config = ProxyConfig(dataset="digits", width=0.5)
    dense = zero_cost_scores(net, Design.dense(net, 8, 8), config)
    small = zero_cost_scores(
        net, Design.dense(net, 2, 2).with_layer("layer2.0.conv2", epitome_in=1, epitome_out=1),
        config)
    for scores in (dense, small):
        assert set(scores) == {"synflow", "naswot"}
        assert all(np.isfinite(v) for v in scores.values())
    assert dense != small


@pytest.mark.parametrize(("field", "value"), [("steps", 0), ("batch_size", 0), ("lr", -1.0),
                                               ("epochs", 0)])
def test_bad_config(field: str, value: float) -> None:
    with pytest.raises(InputError, match=field if field != "lr" else "lr"):
        ProxyConfig(**{field: value})


def test_the_dense_start_is_deterministic_portable_and_helps() -> None:
    import torch

    net = get_network("resnet20")
    config = ProxyConfig(dataset="digits", steps=5, batch_size=32, width=0.25, lr=0.01,
                         pretrain_steps=150, eval_samples=None)
    start = dense_start(net, config)
    assert dense_start(net, config) is start  # trained once per process
    torch.manual_seed(1234)  # whatever the process did before, the same start again
    fresh = DenseStart.from_bytes(start.to_bytes())
    assert fresh.key == start.key and fresh.state.keys() == start.state.keys()
    assert all(np.array_equal(fresh.state[k], start.state[k]) for k in start.state)
    warm = train_proxy(net, Design.dense(net, 8, 8), config, start=fresh)
    assert warm.accuracy == train_proxy(net, Design.dense(net, 8, 8), config).accuracy
    again = train_proxy(net, Design.dense(net, 4, 8), config, start=start)
    cold = train_proxy(net, Design.dense(net, 8, 8),
                       ProxyConfig(**{**config.__dict__, "pretrain_steps": 0}))
    assert warm.accuracy > cold.accuracy + 0.2  # 5 steps from scratch stay near chance
    assert again.accuracy > 0.5
    other = ProxyConfig(**{**config.__dict__, "seed": 1})
    with pytest.raises(InputError, match="another configuration"):
        train_proxy(net, Design.dense(net, 8, 8), other, start=start)


def test_a_pretrained_start_is_the_same_in_another_process() -> None:
    import subprocess
    import sys

    code = ("from epim.proxy import ProxyConfig, dense_start\n"
            "from epim.workloads import get_network\n"
            "import hashlib, torch\n"
            "torch.rand(100)\n"  # consume the global RNG first: the start must not care
            "c = ProxyConfig(dataset='digits', batch_size=32, width=0.25, pretrain_steps=20)\n"
            "print(hashlib.sha256(dense_start(get_network('resnet20'), c).to_bytes())"
            ".hexdigest())\n")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)}
    assert len(digests) == 1
