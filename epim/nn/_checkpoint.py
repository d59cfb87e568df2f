"""Pretrained checkpoints: tensors keyed by layer name, read without unpickling code.

The format (written by :func:`epim.nn.torch_checkpoint` from a user's module, or by hand):
``<layer>.weight`` of every conv (``[out, in / groups, kh, kw]``) and linear layer
(``[out, in]``), ``<layer>.bias`` where the layer has one, and for a conv optionally its
BatchNorm as ``<layer>.bn.{weight,bias,running_mean,running_var}`` (each ``[out]``; absent:
the identity). Files are read with ``torch.load(weights_only=True)`` (``.pt``/``.pth``) or
safetensors (``.safetensors``): tensors only, never pickled code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from epim.errors import InputError
from epim.nn._build import ComputeBlock, EpimNet, module_key
from epim.nn._epitome import EpitomeConv2d, EpitomeLinear
from epim.workloads import Network

#: BatchNorm tensors a conv's entry may carry.
NORM_FIELDS = ("weight", "bias", "running_mean", "running_var")
#: File suffixes read as safetensors; every other suffix is read by ``torch.load``.
SAFETENSORS_SUFFIXES = (".safetensors",)


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (CPU, float32).

    Raises:
        InputError: ``field="checkpoint"`` if the file cannot be read as tensors only (the
            message names the problem, never the path: the caller names the checkpoint).

    """
    try:
        if path.suffix in SAFETENSORS_SUFFIXES:
            from safetensors.torch import load_file

            loaded: object = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot be read as tensors only ({type(exc).__name__})",
                         field="checkpoint", expected="a state dict of tensors saved with "
                         "torch.save or safetensors") from None
    if not isinstance(loaded, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        raise InputError("is not a mapping of names to tensors", field="checkpoint",
                         expected="a state dict of tensors (epim.nn.torch_checkpoint)")
    return {name: tensor.detach().float() for name, tensor in loaded.items()}


def checkpoint_shapes(network: Network) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of ``network`` may hold, with its shape, in layer order."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in network.compute_layers:
        out = layer.out_channels
        if layer.kind == "linear":
            shapes[f"{layer.name}.weight"] = (out, layer.in_channels)
        else:
            shapes[f"{layer.name}.weight"] = (out, layer.in_channels // layer.groups,
                                              *layer.kernel)
            for field in NORM_FIELDS:
                shapes[f"{layer.name}.bn.{field}"] = (out,)
        if layer.bias:
            shapes[f"{layer.name}.bias"] = (out,)
    return shapes


def check_checkpoint(state: Mapping[str, torch.Tensor], network: Network) -> None:
    """Refuse a checkpoint that does not fit ``network``, naming the first bad tensor.

    Every conv/linear weight must be present with the layer's shape; biases and BatchNorm
    tensors are optional (a conv's BatchNorm all or none); no tensor may name anything else.

    Raises:
        InputError: ``field="checkpoint"``, the tensor's name, its shape and the one needed.

    """
    shapes = checkpoint_shapes(network)
    for name in state:
        if name not in shapes:
            raise InputError(f"tensor '{name}' belongs to no layer of network "
                             f"'{network.name}'", field="checkpoint",
                             expected="<layer>.weight, <layer>.bias or <layer>.bn.<field> "
                             "of the network's conv and linear layers")
    for name in shapes:  # in layer order: the first layer that does not fit is named
        tensor = state.get(name)
        if tensor is not None and tuple(tensor.shape) != shapes[name]:
            raise InputError(f"tensor '{name}' has shape {list(tensor.shape)}",
                             field="checkpoint",
                             expected=f"shape {list(shapes[name])} for the proxy network")
    for layer in network.compute_layers:
        if f"{layer.name}.weight" not in state:
            raise InputError(f"tensor '{layer.name}.weight' is missing", field="checkpoint",
                             expected="a weight for every conv and linear layer")
        norms = [f"{layer.name}.bn.{field}" in state for field in NORM_FIELDS]
        if any(norms) and not all(norms):
            missing = NORM_FIELDS[norms.index(False)]
            raise InputError(f"tensor '{layer.name}.bn.{missing}' is missing",
                             field="checkpoint", expected="all of a conv's BatchNorm "
                             "tensors (weight, bias, running_mean, running_var) or none")


@torch.no_grad()
def load_checkpoint(model: EpimNet, state: Mapping[str, torch.Tensor]) -> None:
    """Put a checked checkpoint's weights into ``model``.

    Each epitome is fitted to its layer's pretrained kernel by least squares (the identity
    for a dense design), as EPIM initializes epitomes from pretrained weights (Wang et al.,
    2023, section 4.1); BatchNorm tensors are copied, or left the identity.
    """
    check_checkpoint(state, model.network)
    for layer in model.network.compute_layers:
        block = model.blocks[module_key(layer.name)]
        assert isinstance(block, ComputeBlock)
        op = block.op
        assert isinstance(op, EpitomeConv2d | EpitomeLinear)
        op.load_dense_weight(state[f"{layer.name}.weight"], state.get(f"{layer.name}.bias"))
        if block.bn is not None and f"{layer.name}.bn.weight" in state:
            bn = block.bn
            assert isinstance(bn, torch.nn.BatchNorm2d)
            for field in NORM_FIELDS:
                getattr(bn, field).copy_(state[f"{layer.name}.bn.{field}"])
