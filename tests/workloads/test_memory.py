"""The proxy memory estimate against what torch actually holds while training the proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.nn import functional

from epim.nn import build
from epim.workloads import Network, get_network, proxy_memory, scale_network
from epim.workloads._memory import BYTES_PER_WEIGHT, FLOAT_BYTES


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread (the machine is shared; many threads only contend)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def saved_for_backward(network: Network, batch: int) -> int:
    """Bytes autograd saves in one training step of the proxy (distinct storages)."""
    torch.manual_seed(0)
    model = build(network)
    model.train()
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    x = torch.randn(batch, *network.input_shape)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        functional.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long))
    return sum(storages.values())


@pytest.mark.parametrize("name", ["resnet20", "vgg8", "mobilenet_v2"])
def test_the_activation_estimate_matches_what_autograd_saves(name: str) -> None:
    proxy = scale_network(get_network(name), width=0.25, image_size=12, in_channels=1,
                          num_classes=10)
    estimate = proxy_memory(proxy)
    # The per-image slope, from two batch sizes (the weights saved once per step cancel).
    measured = (saved_for_backward(proxy, 4) - saved_for_backward(proxy, 2)) / 2
    assert 0.8 <= measured / estimate.activations_per_image <= 1.05, (
        measured, estimate.activations_per_image)


def test_the_weight_estimate_counts_every_parameter_and_buffer() -> None:
    proxy = scale_network(get_network("resnet20"), width=0.5, image_size=16, in_channels=3,
                          num_classes=10)
    model = build(proxy)
    floats = (sum(p.numel() for p in model.parameters())
              + sum(b.numel() for b in model.buffers() if b.is_floating_point()))
    weights = proxy_memory(proxy).weights / BYTES_PER_WEIGHT
    # BatchNorm's batch counter and the quantizers' scales are the only floats not counted.
    assert 0.97 <= weights / floats <= 1.0, (weights, floats)
    assert proxy_memory(proxy).outputs_per_image == FLOAT_BYTES * sum(
        layer.out_channels * layer.output_pixels for layer in proxy.layers)


def test_the_estimate_grows_with_width_and_batch() -> None:
    small = proxy_memory(scale_network(get_network("resnet20"), width=0.25, image_size=16))
    wide = proxy_memory(scale_network(get_network("resnet20"), width=1.0, image_size=16))
    assert 14 <= wide.weights / small.weights <= 17  # weights grow with width squared
    assert small.training(64) - small.training(32) == 32 * small.activations_per_image
