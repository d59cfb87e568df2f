"""PyTorch side (torch only here and in ``epim.proxy``): the epitome operator and quantizers."""

from epim.nn._epitome import EpitomeConv2d, EpitomeLinear, wrap_index
from epim.nn._quant import ActivationQuantizer, WeightQuantizer, weight_levels

__all__ = [
    "ActivationQuantizer",
    "EpitomeConv2d",
    "EpitomeLinear",
    "WeightQuantizer",
    "weight_levels",
    "wrap_index",
]
