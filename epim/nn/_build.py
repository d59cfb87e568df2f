"""Build runnable PyTorch models from a network and a design; epitomize existing models.

``build`` follows the layer table: every conv is followed by BatchNorm (per *output* channel,
never folded into the epitome, docs/epitome.md section 2) and ReLU, except a conv whose outputs only
feed residual adds (the ReLU then follows the add, as in torchvision's ResNets); every linear
layer but the last is followed by ReLU. The input of each conv/linear layer that follows a
ReLU is fake-quantized to the layer's activation bits (unsigned), its epitome to its weight bits.
Pruned layers (``epim.space._prune``) carry 0/1 weight masks chosen by magnitude
(``epim.nn._prune``), applied before quantization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from epim.errors import DesignError
from epim.nn._epitome import EpitomeConv2d, EpitomeLinear
from epim.nn._prune import pruning_masks
from epim.nn._quant import ActivationQuantizer
from epim.space import DEFAULT_PRUNE_TILE, Design, LayerDesign
from epim.workloads import MERGE_KINDS, Layer, Network


def module_key(name: str) -> str:
    """A layer name as a ``nn.ModuleDict`` key (dots are not allowed there)."""
    return name.replace(".", "__")


class ComputeBlock(nn.Module):
    """Activation quantizer (optional) -> epitome conv/linear -> BatchNorm (conv) -> ReLU."""

    def __init__(self, layer: Layer, choice: LayerDesign, *, relu: bool, quantize_input: bool,
                 quantize: bool) -> None:
        super().__init__()
        self.is_linear = layer.kind == "linear"
        self.act_quant = (ActivationQuantizer(choice.act_bits)
                          if quantize and quantize_input else None)
        epitome: dict[str, Any] = {
            "epitome_in": choice.epitome_in, "epitome_out": choice.epitome_out,
            "channel_offsets": bool(choice.channel_offsets),
            "weight_bits": choice.weight_bits if quantize else None,
        }
        self.op: nn.Module
        if self.is_linear:
            self.op = EpitomeLinear(layer.in_channels, layer.out_channels, layer.bias, **epitome)
            self.bn: nn.Module | None = None
        else:
            self.op = EpitomeConv2d(
                layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding,
                layer.dilation, layer.groups, layer.bias, epitome_h=choice.epitome_h,
                epitome_w=choice.epitome_w, **epitome)
            self.bn = nn.BatchNorm2d(layer.out_channels)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x``."""
        if self.act_quant is not None:
            x = self.act_quant(x)
        if self.is_linear:
            x = x.flatten(1)
        x = self.op(x)
        if self.bn is not None:
            x = self.bn(x)
        return torch.relu(x) if self.relu else x


class EpimNet(nn.Module):
    """A network of :class:`ComputeBlock`, pooling, add and concat layers, run in table order.

    Attributes:
        network: The layer table.
        design: The design applied.
        prune_tiles: Layer name -> the crossbar tile ``(rows, columns)`` its crossbar-aware
            pruning masks follow (default ``DEFAULT_PRUNE_TILE``).

    """

    def __init__(self, network: Network, design: Design, *, quantize: bool = True,
                 prune_tiles: Mapping[str, tuple[int, int]] | None = None) -> None:
        super().__init__()
        design.validate(network)
        self.network = network
        self.design = design
        self.quantize = quantize
        self.prune_tiles = {layer.name: (prune_tiles or {}).get(layer.name, DEFAULT_PRUNE_TILE)
                            for layer in network.compute_layers}
        consumers: dict[str, list[Layer]] = {layer.name: [] for layer in network.layers}
        consumers["input"] = []
        for layer in network.layers:
            for source in layer.inputs:
                consumers[source].append(layer)
        last_compute = network.compute_layers[-1].name
        non_negative = {"input": False}
        self.blocks = nn.ModuleDict()
        self.add_relu: dict[str, bool] = {}
        for layer in network.layers:
            key = module_key(layer.name)
            if key in self.blocks:
                raise DesignError("two layer names map to one module key", field="name",
                                  location=("layers", layer.name))
            feeds_add_only = bool(consumers[layer.name]) and all(
                c.kind == "add" for c in consumers[layer.name])
            source_non_negative = all(non_negative[s] for s in layer.inputs)
            if layer.is_compute:
                relu = not feeds_add_only and layer.name != last_compute
                self.blocks[key] = ComputeBlock(layer, design.layers[layer.name], relu=relu,
                                                quantize_input=source_non_negative,
                                                quantize=quantize)
                non_negative[layer.name] = relu
            elif layer.kind == "add":
                non_negative[layer.name] = True
            elif layer.kind == "concat":
                non_negative[layer.name] = source_non_negative
            else:
                self.blocks[key] = _pool(layer)
                non_negative[layer.name] = source_non_negative
        self.select_pruning()

    @property
    def pruned(self) -> bool:
        """Whether the design prunes any layer."""
        return any(choice.pruned for choice in self.design.layers.values())

    def epitome_ops(self) -> dict[str, EpitomeConv2d | EpitomeLinear]:
        """Every conv/linear layer's epitome module, by layer name, in table order."""
        ops: dict[str, EpitomeConv2d | EpitomeLinear] = {}
        for layer in self.network.compute_layers:
            block = self.blocks[module_key(layer.name)]
            assert isinstance(block, ComputeBlock)
            op = block.op
            assert isinstance(op, EpitomeConv2d | EpitomeLinear)
            ops[layer.name] = op
        return ops

    @torch.no_grad()
    def select_pruning(self) -> None:
        """(Re)choose the pruning masks by the magnitude of the weights held now.

        Called at construction; call again after loading other weights (the proxy does after
        loading the dense start). Does nothing for a design without pruning.
        """
        if not self.pruned:
            return
        ops = self.epitome_ops()
        masks = pruning_masks(self.network, self.design, dense_weights(ops), self.prune_tiles)
        for name, op in ops.items():
            op.set_weight_mask(masks.get(name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network on ``x`` (N, C, H, W); returns the last layer's output."""
        outputs: dict[str, torch.Tensor] = {"input": x}
        for layer in self.network.layers:
            if layer.kind in MERGE_KINDS:
                out = merge(layer, outputs)
            else:
                out = self.blocks[module_key(layer.name)](outputs[layer.inputs[0]])
            outputs[layer.name] = out
        result = outputs[self.network.layers[-1].name]
        return result.flatten(1) if result.dim() == 4 and result.shape[2:] == (1, 1) else result


def merge(layer: Layer, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The output of an ``add`` (the sum, then ReLU) or a ``concat`` (channels side by side).

    Args:
        layer: An add or concat layer.
        outputs: Every earlier layer's output by name (``"input"`` the network input).

    """
    inputs = [outputs[source] for source in layer.inputs]
    if layer.kind == "concat":
        return torch.cat(inputs, dim=1)
    total = inputs[0]
    for other in inputs[1:]:
        total = total + other
    return torch.relu(total)


def dense_weights(ops: dict[str, EpitomeConv2d | EpitomeLinear]) -> dict[str, torch.Tensor]:
    """Each layer's generated kernel, flattened (what pruning masks are chosen from)."""
    return {name: op.epitome.detach().flatten()[op.index] for name, op in ops.items()}


def _pool(layer: Layer) -> nn.Module:
    if layer.kind == "pool":
        return nn.MaxPool2d(layer.kernel, layer.stride, layer.padding)
    if layer.kind == "avgpool":
        return nn.AvgPool2d(layer.kernel, layer.stride, layer.padding)
    return nn.AdaptiveAvgPool2d(1)


def build(network: Network, design: Design | None = None, *, quantize: bool = True,
          prune_tiles: Mapping[str, tuple[int, int]] | None = None) -> EpimNet:
    """Return a runnable model of ``network`` with ``design``'s epitomes and bits applied.

    Args:
        network: A built-in or file network.
        design: The design (default: dense at 8-bit weights and activations).
        quantize: Fake-quantize epitomes and activations (QAT); ``False`` trains in float.
        prune_tiles: Layer name -> crossbar tile ``(rows, columns)`` of its pruning masks
            (default ``epim.space.DEFAULT_PRUNE_TILE``).

    Raises:
        DesignError: If the design does not fit the network.

    """
    return EpimNet(network, design or Design.dense(network, 8, 8), quantize=quantize,
                   prune_tiles=prune_tiles)


def epitomize(model: nn.Module, design: Design) -> nn.Module:
    """Replace the conv/linear modules of an existing model named in ``design`` (dotted names).

    Each ``nn.Conv2d``/``nn.Linear`` is replaced in place by an epitome layer initialized by
    least squares from its weights, with the design's weight bits (activation quantization is
    not inserted: the model's ReLUs are not known here). Returns ``model``.

    Raises:
        DesignError: If a named module is missing, of another type, or of another shape, or
            the design prunes it (pruning needs the layer graph: ``build``).

    """
    for name, choice in design.layers.items():
        if choice.pruned:  # channel pruning needs the layer graph, which a module hides
            raise DesignError("epitomize does not prune a module", location=("layers", name),
                              field=next(f for f in ("prune_out", "prune_rows", "prune_cols")
                                         if getattr(choice, f)),
                              expected="0 (prune with epim.nn.build on the network)")
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise DesignError("no such module in the model", location=("layers", name),
                              expected="a dotted module name of the model") from None
        epitome: dict[str, Any] = {
            "epitome_in": choice.epitome_in, "epitome_out": choice.epitome_out,
            "channel_offsets": bool(choice.channel_offsets), "weight_bits": choice.weight_bits,
        }
        replacement: nn.Module
        try:
            if isinstance(module, nn.Conv2d):
                replacement = EpitomeConv2d.from_conv(
                    module, epitome_h=choice.epitome_h, epitome_w=choice.epitome_w, **epitome)
            elif isinstance(module, nn.Linear):
                replacement = EpitomeLinear.from_linear(module, **epitome)
            else:
                raise DesignError(f"module is a {type(module).__name__}",
                                  location=("layers", name), expected="nn.Conv2d or nn.Linear")
        except ValueError as exc:
            raise DesignError(str(exc), location=("layers", name)) from None
        parent_name, _, attribute = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attribute, replacement)
    return model
