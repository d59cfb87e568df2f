"""Pretrained checkpoints: a user's module's weights in the proxy, read as tensors only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from epim.errors import InputError
from epim.nn import (
    build,
    check_checkpoint,
    from_torch,
    load_checkpoint,
    read_checkpoint,
    torch_checkpoint,
)
from epim.space import Design
from tests.nn.models import ResNetLike

SHAPE = (3, 16, 16)


def trained_statistics(module: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (as after training)."""
    generator = torch.Generator().manual_seed(0)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            features = norm.num_features
            norm.weight.data = torch.rand(features, generator=generator) + 0.5
            norm.bias.data = torch.randn(features, generator=generator) * 0.1
            assert norm.running_mean is not None and norm.running_var is not None
            norm.running_mean.copy_(torch.randn(features, generator=generator) * 0.1)
            norm.running_var.copy_(torch.rand(features, generator=generator) + 0.5)
    return module.eval()


def test_the_dense_proxy_of_a_checkpoint_computes_what_the_module_computes() -> None:
    torch.manual_seed(0)
    module = trained_statistics(ResNetLike())
    network = from_torch(module, SHAPE)
    state = torch_checkpoint(module, SHAPE)
    check_checkpoint(state, network)
    model = build(network, Design.dense(network, 8, 8), quantize=False).eval()
    load_checkpoint(model, state)
    x = torch.randn(4, *SHAPE)
    with torch.no_grad():
        expected, got = module(x), model(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5), (got - expected).abs().max()


def test_an_epitome_design_starts_from_the_least_squares_fit_of_the_kernel() -> None:
    torch.manual_seed(0)
    module = trained_statistics(ResNetLike())
    network = from_torch(module, SHAPE)
    state = torch_checkpoint(module, SHAPE)
    dense = Design.dense(network, 8, 8)
    name = "layer2.1.conv1"
    design = Design(network.name, {**dense.layers, name: dataclasses.replace(
        dense.layers[name], epitome_in=8, epitome_out=8)})
    model = build(network, design, quantize=False)
    load_checkpoint(model, state)
    op = model.blocks[name.replace(".", "__")].op
    kernel = op.kernel() if hasattr(op, "kernel") else None
    target = state[f"{name}.weight"]
    # The fitted epitome's generated kernel is the closest one to the pretrained kernel: the
    # mean over each group of kernel entries that share an epitome entry (least squares).
    index = op.index.reshape(-1)
    means = torch.zeros(op.epitome.numel()).index_add_(0, index, target.reshape(-1)) / \
        torch.bincount(index, minlength=op.epitome.numel()).clamp(min=1)
    assert torch.allclose(op.epitome.reshape(-1), means, atol=1e-5)
    assert kernel is None or kernel.shape == target.shape


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_both_file_formats_read_back_the_same_tensors(tmp_path: Path, suffix: str) -> None:
    state = torch_checkpoint(ResNetLike(), SHAPE)
    path = tmp_path / f"model{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = read_checkpoint(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


class Payload:
    """Not a tensor: a checkpoint holding it must not be unpickled."""


def test_a_file_with_pickled_objects_or_not_tensors_is_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "object.pt"
    torch.save({"conv1.weight": Payload()}, pickled)
    with pytest.raises(InputError, match="tensors only") as caught:
        read_checkpoint(pickled)
    assert caught.value.field == "checkpoint" and str(tmp_path) not in str(caught.value)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="tensors only"):
        read_checkpoint(garbage)
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(InputError, match="mapping of names to tensors"):
        read_checkpoint(listed)


def test_the_first_tensor_that_does_not_fit_is_named() -> None:
    network = from_torch(ResNetLike(), SHAPE)
    state = torch_checkpoint(ResNetLike(), SHAPE)
    wrong = {**state, "layer1.0.conv2.weight": torch.zeros(8, 8, 5, 5)}
    with pytest.raises(InputError, match=r"'layer1.0.conv2.weight' has shape \[8, 8, 5, 5\]"):
        check_checkpoint(wrong, network)
    with pytest.raises(InputError, match=r"'fc\.weight' is missing"):
        check_checkpoint({k: v for k, v in state.items() if k != "fc.weight"}, network)
    with pytest.raises(InputError, match=r"'head\.weight' belongs to no layer"):
        check_checkpoint({**state, "head.weight": torch.zeros(1)}, network)
    with pytest.raises(InputError, match=r"'conv1\.bn\.running_var' is missing"):
        check_checkpoint({k: v for k, v in state.items() if k != "conv1.bn.running_var"},
                         network)
