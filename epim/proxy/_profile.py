"""Layer sensitivity: the damage of each layer's choices alone, on the pretrained dense proxy.

A probe changes one layer of a reference design (the space's least compressed design) to one
of its choices: its epitome is fitted by least squares from the dense start's kernel and
quantized, everything else stays as in the reference. The probe's damage is measured on a
held-out calibration split (the last ``samples`` test images, which the proxy's own evaluation
never uses): cross-entropy and top-1. Without fine-tuning only the layers downstream of the
changed one are recomputed, from activations cached once, so a profile of hundreds of probes
costs seconds; with ``steps`` every probe is also fine-tuned like a short proxy training.
(Per-layer sensitivity profiles: HAWQ-V3, Yao et al., ICML 2021; HAQ, Wang et al., CVPR 2019.)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from epim.datasets import ArrayDataset, load_cached_dataset
from epim.errors import InputError
from epim.nn import (
    ComputeBlock,
    EpimNet,
    EpitomeConv2d,
    EpitomeLinear,
    merge,
    pruning_masks,
)
from epim.nn._build import dense_weights, module_key
from epim.proxy._train import (
    DenseStart,
    ProxyConfig,
    _fit,
    dense_start,
    proxy_prune_tiles,
    resize,
    start_model,
    torch_threads,
)
from epim.space import Design, LayerDesign, scale_design
from epim.workloads import Network


@dataclass(frozen=True)
class ProfileResult:
    """Calibration loss and top-1 of the reference design and of every probe.

    Attributes:
        reference_loss: Mean cross-entropy of the reference design (nats).
        reference_accuracy: Its top-1 (0..1).
        losses: Per probe, the mean cross-entropy with that one layer changed.
        accuracies: Per probe, the top-1.

    """

    reference_loss: float
    reference_accuracy: float
    losses: list[float]
    accuracies: list[float]


def calibration_split(data: ArrayDataset, config: ProxyConfig, samples: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The calibration images: held out from training and from the proxy's evaluation.

    The last ``samples`` test images if the proxy's evaluation (the first ``eval_samples``)
    leaves them unused, else the last training images.
    """
    unused = len(data.y_test) - (config.eval_samples or len(data.y_test))
    if unused >= samples:
        x, y = data.x_test[-samples:], data.y_test[-samples:]
    else:
        x, y = data.x_train[-samples:], data.y_train[-samples:]
    return resize(torch.from_numpy(np.ascontiguousarray(x)), config.image_size), \
        torch.from_numpy(np.ascontiguousarray(y))


def profile_layers(network: Network, reference: Design,
                   probes: Sequence[tuple[str, LayerDesign]], config: ProxyConfig, *,
                   start: DenseStart | None = None, samples: int = 512,
                   steps: int = 0) -> ProfileResult:
    """Measure every probe ``(layer, choice)``: ``reference`` with that layer changed.

    Args:
        network: The study's network.
        reference: The design every probe changes one layer of.
        probes: Layer names and their choices (full-network sizes; scaled like the proxy).
        config: The study's proxy settings (width, image size, data, seed, threads).
        start: The dense start (default: trained here for ``config``).
        samples: Calibration images.
        steps: Fine-tuning steps per probe (0: none; only downstream layers recomputed).

    Raises:
        InputError: If ``samples`` < 1, ``steps`` < 0, or a probe names no compute layer.

    """
    if samples < 1 or steps < 0:
        raise InputError(f"samples {samples}, steps {steps}", field="profile",
                         expected="samples >= 1 and steps >= 0")
    names = {layer.name for layer in network.compute_layers}
    for name, _ in probes:
        if name not in names:
            raise InputError("not a conv/linear layer", location=("layers", name),
                             field="profile", expected=f"a compute layer of {network.name}")
    data = load_cached_dataset(config.dataset, config.data_root)
    start = start or dense_start(network, config, data)
    x, y = calibration_split(data, config, samples)
    with torch_threads(config.threads), torch.no_grad():
        model = start_model(network, reference, config, data, start)
        model.eval()
        cache = _outputs(model, x)
        reference_loss, reference_accuracy = _score(cache[model.network.layers[-1].name], y)
    losses, accuracies = [], []
    for name, choice in probes:
        design = Design(reference.network, {**reference.layers, name: choice})
        with torch_threads(config.threads):
            if steps:
                loss, accuracy = _finetuned(network, design, config, data, start, steps, x, y)
            elif choice.pruned:  # masks span two layers (channel pruning)
                loss, accuracy = _downstream_pruned(model, cache, network, design, y)
            else:
                loss, accuracy = _downstream(model, cache, network, design, name, start, y)
        losses.append(loss)
        accuracies.append(accuracy)
    return ProfileResult(reference_loss, reference_accuracy, losses, accuracies)


def _score(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = logits.flatten(1)
    return (float(F.cross_entropy(logits, y)),
            float((logits.argmax(dim=1) == y).float().mean()))


def _outputs(model: EpimNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every layer's output on ``x`` (the model's forward pass, kept)."""
    outputs: dict[str, torch.Tensor] = {"input": x}
    for layer in model.network.layers:
        outputs[layer.name] = _layer_output(model, layer.name, outputs)
    return outputs


def _layer_output(model: EpimNet, name: str, outputs: dict[str, torch.Tensor],
                  block: torch.nn.Module | None = None) -> torch.Tensor:
    layer = model.network.layer(name)
    if layer.kind in ("add", "concat"):
        return merge(layer, outputs)
    module = block if block is not None else model.blocks[module_key(name)]
    return module(outputs[layer.inputs[0]])  # type: ignore[no-any-return]


@torch.no_grad()
def _downstream(model: EpimNet, cache: dict[str, torch.Tensor], network: Network,
                design: Design, name: str, start: DenseStart, y: torch.Tensor
                ) -> tuple[float, float]:
    """Score ``design`` (one layer changed) recomputing only the layers that depend on it."""
    scaled = model.network
    scaled_design = scale_design(design, network, scaled)
    old = model.blocks[module_key(name)]
    assert isinstance(old, ComputeBlock)
    block = ComputeBlock(scaled.layer(name), scaled_design.layers[name], relu=old.relu,
                         quantize_input=old.act_quant is not None, quantize=model.quantize)
    _load_block(block, start.tensors(), module_key(name))
    block.eval()
    outputs = dict(cache)
    dirty = {name}
    for layer in scaled.layers:
        if layer.name == name:
            outputs[name] = block(outputs[layer.inputs[0]])
        elif dirty.intersection(layer.inputs):
            dirty.add(layer.name)
            outputs[layer.name] = _layer_output(model, layer.name, outputs)
    return _score(outputs[scaled.layers[-1].name], y)


def _load_block(block: ComputeBlock, state: dict[str, torch.Tensor], key: str) -> None:
    """Least-squares epitome and copied BatchNorm/bias, as ``start_model`` does."""
    prefix = f"blocks.{key}."
    op = block.op
    assert isinstance(op, EpitomeConv2d | EpitomeLinear)
    op.load_dense_weight(state[prefix + "op.epitome"], state.get(prefix + "op.bias"))
    if block.bn is not None:
        for field, tensor in block.bn.state_dict().items():
            tensor.copy_(state[prefix + "bn." + field])


@torch.no_grad()
def _downstream_pruned(model: EpimNet, cache: dict[str, torch.Tensor], network: Network,
                       design: Design, y: torch.Tensor) -> tuple[float, float]:
    """Score ``design`` (one layer pruned) with masks set on the reference model for the call.

    Masks are chosen by magnitude from the start's weights the model holds (as
    ``start_model`` chooses them); only the masked layers and those after them are recomputed.
    """
    scaled = model.network
    ops = model.epitome_ops()
    masks = pruning_masks(scaled, scale_design(design, network, scaled), dense_weights(ops),
                          proxy_prune_tiles(network, scaled))
    saved = {name: ops[name].quantizer for name in masks}
    try:
        for name, mask in masks.items():
            ops[name].set_weight_mask(mask)
            quantizer = ops[name].quantizer
            if quantizer is not None:  # its step fitted to the masked weights, as in training
                fresh = copy.deepcopy(quantizer)
                fresh.initialized.fill_(False)
                ops[name].quantizer = fresh
        outputs = dict(cache)
        dirty = set(masks)
        for layer in scaled.layers:
            if layer.name in dirty or dirty.intersection(layer.inputs):
                dirty.add(layer.name)
                outputs[layer.name] = _layer_output(model, layer.name, outputs)
    finally:
        for name in masks:
            ops[name].set_weight_mask(None)
            ops[name].quantizer = saved[name]
    return _score(outputs[scaled.layers[-1].name], y)


def _finetuned(network: Network, design: Design, config: ProxyConfig, data: ArrayDataset,
               start: DenseStart, steps: int, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[float, float]:
    model = start_model(network, design, config, data, start)
    _fit(model, replace(config, steps=steps), data, steps=steps)
    model.eval()
    with torch.no_grad():
        return _score(model(x), y)
