"""Scale a network down for proxy training: width, input resolution, small-image stem.

The proxy network keeps the layer names and graph of the study's network, so a design's
per-layer epitome ratios and bit-widths carry over (see ``epim.space.scale_design``).
"""

from __future__ import annotations

import math
from typing import Any

from epim.errors import InputError
from epim.workloads._layer import Network
from epim.workloads._names import MAX_NAME_LENGTH
from epim.workloads._parse import network_from_dict, network_to_dict

SMALL_IMAGE = 64  #: inputs at most this size get a small-image stem


def scale_network(network: Network, *, width: float = 1.0, image_size: int | None = None,
                  in_channels: int | None = None, num_classes: int | None = None) -> Network:
    """Return a scaled copy of ``network`` (same layer names and graph).

    Args:
        network: The study's network.
        width: Channel multiplier for every conv (groups scale with depthwise channels).
        image_size: Square input size; ``None`` keeps the network's.
        in_channels: Input channels (1 for grayscale data); ``None`` keeps the network's.
        num_classes: Output features of the last linear layer; ``None`` keeps them.

    For inputs of at most 64 pixels the stem is adapted to small images (as CIFAR ResNets do):
    a first conv with a kernel above 3 becomes 3x3 stride 1, a pooling layer right after it is
    made the identity, any later stride or pooling that would shrink a map below 2x2 is set
    to 1, and a conv whose kernel outgrew the shrunken map is padded to fit, so the deep layers
    keep a spatial extent.

    Raises:
        InputError: On a non-positive width or size.

    """
    if not width > 0:
        raise InputError(f"bad value {width!r}", field="width", expected="a number > 0")
    for name, value in (("image_size", image_size), ("in_channels", in_channels),
                        ("num_classes", num_classes)):
        if value is not None and value < 1:
            raise InputError(f"bad value {value!r}", field=name, expected="an integer >= 1")
    spec = network_to_dict(network)
    channels, height, _ = network.input_shape
    height = image_size or height
    spec["input"] = [in_channels or channels, height, height]
    small = height <= SMALL_IMAGE
    sizes: dict[str, int] = {"input": height}
    first_conv = next(i for i, layer in enumerate(spec["layers"]) if layer["type"] == "conv")
    last_linear = max((i for i, layer in enumerate(spec["layers"]) if layer["type"] == "linear"),
                      default=None)
    for index, layer in enumerate(spec["layers"]):
        source = layer["from"] if isinstance(layer["from"], str) else layer["from"][0]
        size = sizes[source]
        kind = layer["type"]
        if kind == "conv":
            out = _scaled_channels(layer["out_channels"], width)
            if layer["groups"] > 1 and layer["groups"] == layer["in_channels"]:
                layer["groups"] = "depthwise"
            layer["out_channels"] = out
            layer.pop("in_channels")
            if index == first_conv and small and layer["kernel_size"][0] > 3:
                layer.update(kernel_size=[3, 3], stride=[1, 1], padding=[1, 1])
        elif kind == "linear":
            layer.pop("in_features")
            if index == last_linear and num_classes is not None:
                layer["out_features"] = num_classes
            elif index != last_linear:
                layer["out_features"] = _scaled_channels(layer["out_features"], width)
        if kind in ("pool", "avgpool") and small and index == first_conv + 1:
            layer.update(kernel_size=[1, 1], stride=[1, 1], padding=[0, 0])
        if kind in ("conv", "pool", "avgpool") and small:
            k, s, p = layer["kernel_size"][0], layer["stride"][0], layer["padding"][0]
            if (size + 2 * p - k) // s + 1 < 2 and s > 1:
                layer["stride"] = [1, 1]
                if kind != "conv":
                    layer.update(kernel_size=[1, 1], padding=[0, 0])
            if kind == "conv" and size + 2 * p < k:  # a kernel larger than the shrunken map
                pad = math.ceil((k - size) / 2)
                layer["padding"] = [pad, pad]
        sizes[layer["name"]] = _out_size(layer, size)
    _resolve_depthwise(spec)
    suffix = "-proxy"
    spec["name"] = network.name[:MAX_NAME_LENGTH - len(suffix)] + suffix
    return network_from_dict(spec)


def _scaled_channels(channels: int, width: float) -> int:
    return max(1, math.ceil(channels * width))


def _out_size(layer: dict[str, Any], size: int) -> int:
    kind = layer["type"]
    if kind in ("linear", "globalpool"):
        return 1
    if kind == "add":
        return size
    k, s, p = layer["kernel_size"][0], layer["stride"][0], layer["padding"][0]
    d = layer.get("dilation", [1, 1])[0]
    return int((size + 2 * p - d * (k - 1) - 1) // s + 1)


def _resolve_depthwise(spec: dict[str, Any]) -> None:
    """Set ``groups`` of depthwise convs to their (scaled) input channels."""
    channels = {"input": spec["input"][0]}
    for layer in spec["layers"]:
        source = layer["from"] if isinstance(layer["from"], str) else layer["from"][0]
        cin = channels[source]
        if layer["type"] == "conv":
            if layer["groups"] == "depthwise":
                layer["groups"] = cin
                layer["out_channels"] = cin
            channels[layer["name"]] = layer["out_channels"]
        elif layer["type"] == "linear":
            channels[layer["name"]] = layer["out_features"]
        else:
            channels[layer["name"]] = cin
