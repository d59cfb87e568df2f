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
    _reconcile_adds(spec)
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
    if kind in ("add", "concat"):
        return size
    k, s, p = layer["kernel_size"][0], layer["stride"][0], layer["padding"][0]
    d = layer.get("dilation", [1, 1])[0]
    return int((size + 2 * p - d * (k - 1) - 1) // s + 1)


def _channels(spec: dict[str, Any]) -> dict[str, int]:
    """Output channels of every layer of a scaled spec (depthwise convs follow their input)."""
    channels = {"input": int(spec["input"][0])}
    for layer in spec["layers"]:
        sources = [layer["from"]] if isinstance(layer["from"], str) else layer["from"]
        cin = channels[sources[0]]
        if layer["type"] == "conv":
            channels[layer["name"]] = cin if layer["groups"] == "depthwise" \
                else layer["out_channels"]
        elif layer["type"] == "linear":
            channels[layer["name"]] = layer["out_features"]
        elif layer["type"] == "concat":
            channels[layer["name"]] = sum(channels[source] for source in sources)
        else:
            channels[layer["name"]] = cin
    return channels


def _reconcile_adds(spec: dict[str, Any]) -> None:
    """Make the inputs of every add agree on their scaled channels.

    Each conv's width rounds up on its own, so a concat of scaled branches can differ from the
    scaled conv it is added to (``ceil(3 w) + ceil(3 w) != ceil(6 w)``). At an add whose
    inputs disagree, the inputs that can change take the channels of the one that cannot (one
    fed by the network input alone) or else of the widest: a conv or linear layer changes its
    own width, a concat its last input, a pooling layer or depthwise conv its producer, an add
    all of its inputs. Repeated until every add agrees (or nothing more can change: the
    network check then names the add).
    """
    layers = {layer["name"]: layer for layer in spec["layers"]}

    def sources(name: str) -> list[str]:
        value = layers[name]["from"]
        return [value] if isinstance(value, str) else list(value)

    def fixed(name: str) -> bool:
        if name == "input":
            return True
        layer = layers[name]
        kind = layer["type"]
        if kind == "linear" or (kind == "conv" and layer["groups"] != "depthwise"):
            return False
        found = [fixed(source) for source in sources(name)]
        return all(found) if kind == "concat" else any(found)

    def adjust(name: str, delta: int) -> bool:
        if name == "input":
            return False
        layer = layers[name]
        kind = layer["type"]
        key = {"conv": "out_channels", "linear": "out_features"}.get(kind)
        if key is not None and layer.get("groups") != "depthwise":
            groups = layer.get("groups", 1)
            width = layer[key] + delta
            if width < 1 or width % groups:
                return False
            layer[key] = width
            return True
        if kind == "concat":
            return any(adjust(source, delta) for source in reversed(sources(name)))
        if kind == "add":
            return all([adjust(source, delta) for source in sources(name)])
        return adjust(sources(name)[0], delta)

    for _ in range(len(spec["layers"]) + 1):
        channels = _channels(spec)
        for layer in spec["layers"]:
            if layer["type"] != "add":
                continue
            names = sources(layer["name"])
            counts = [channels[name] for name in names]
            if len(set(counts)) > 1:
                anchored = [count for name, count in zip(names, counts, strict=True)
                            if fixed(name)]
                target = anchored[0] if anchored else max(counts)
                changed = [adjust(name, target - count)
                           for name, count in zip(names, counts, strict=True)
                           if count != target]
                if not any(changed):
                    return
                break
        else:
            return


def _resolve_depthwise(spec: dict[str, Any]) -> None:
    """Set ``groups`` of depthwise convs to their (scaled) input channels."""
    channels = _channels(spec)
    for layer in spec["layers"]:
        source = layer["from"] if isinstance(layer["from"], str) else layer["from"][0]
        if layer["type"] == "conv" and layer["groups"] == "depthwise":
            layer["groups"] = channels[source]
            layer["out_channels"] = channels[source]
