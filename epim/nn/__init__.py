"""PyTorch side: epitome operator, quantizers, models from a design, export, from_torch.

``from_torch`` gives the network of a user's own module, ``torch_checkpoint`` its weights
(what ``accuracy.checkpoint`` reads).

torch is imported only here and in ``epim.proxy``.
"""

from epim.nn._build import ComputeBlock, EpimNet, build, epitomize, merge, module_key
from epim.nn._checkpoint import (
    check_checkpoint,
    checkpoint_shapes,
    load_checkpoint,
    read_checkpoint,
)
from epim.nn._crossbar import (
    CrossbarLayer,
    CrossbarSpec,
    calibrate_crossbars,
    crossbar_layers,
    crossbar_model,
    pair_weight_levels,
    sample_devices,
)
from epim.nn._epitome import EpitomeConv2d, EpitomeLayer, EpitomeLinear, wrap_index
from epim.nn._export import default_device, export, export_bytes, load
from epim.nn._from_torch import from_torch, torch_checkpoint
from epim.nn._prune import pruning_masks
from epim.nn._quant import ActivationQuantizer, WeightQuantizer, weight_levels
from epim.nn._stacked import StackedNet, stackable

__all__ = [
    "ActivationQuantizer",
    "ComputeBlock",
    "CrossbarLayer",
    "CrossbarSpec",
    "EpimNet",
    "EpitomeConv2d",
    "EpitomeLayer",
    "EpitomeLinear",
    "StackedNet",
    "WeightQuantizer",
    "build",
    "calibrate_crossbars",
    "check_checkpoint",
    "checkpoint_shapes",
    "crossbar_layers",
    "crossbar_model",
    "default_device",
    "epitomize",
    "export",
    "export_bytes",
    "from_torch",
    "load",
    "load_checkpoint",
    "merge",
    "module_key",
    "pair_weight_levels",
    "pruning_masks",
    "read_checkpoint",
    "sample_devices",
    "stackable",
    "torch_checkpoint",
    "weight_levels",
    "wrap_index",
]
