"""Build a :class:`Network` from the network file format (YAML or JSON).

The format is a contract, documented in the README and in ``schema/network.schema.json``:

.. code-block:: yaml

    name: my-net
    input: [3, 32, 32]            # C, H, W
    layers:
      - {name: conv1, type: conv, out_channels: 64, kernel_size: 3, stride: 1, padding: 1}
      - {name: pool1, type: pool, kernel_size: 2, stride: 2}
      - {name: fc, type: linear, out_features: 10}

An ``add`` sums two or more layers of one shape; a ``concat`` puts the channels of two or
more layers of one height and width side by side (``from`` in that order).
Shapes propagate from ``input``; ``from`` defaults to the previous layer (``input`` names the
network input); a ``linear`` after a spatial map flattens it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epim.errors import NetworkError
from epim.workloads._layer import LAYER_KINDS, MERGE_KINDS, Layer, LayerKind, Network
from epim.workloads._names import MAX_NAME_LENGTH, NAME_CHARSET, is_valid_name
from epim.workloads._yaml import load_document_text

_INPUT = "input"
_TOP_KEYS = {"name", "input", "layers"}
_KEYS: dict[str, set[str]] = {
    "conv": {
        "name", "type", "from", "in_channels", "out_channels", "kernel_size", "stride",
        "padding", "dilation", "groups", "bias",
    },
    "linear": {"name", "type", "from", "in_features", "out_features", "bias"},
    "pool": {"name", "type", "from", "kernel_size", "stride", "padding"},
    "avgpool": {"name", "type", "from", "kernel_size", "stride", "padding"},
    "globalpool": {"name", "type", "from"},
    "add": {"name", "type", "from"},
    "concat": {"name", "type", "from"},
}
_Shape = tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class NetworkLimits:
    """Bounds on a network description, so an inline network cannot exhaust a server.

    The defaults admit every built-in network with room to spare; a service may lower them.
    Besides these, a conv's padding must be smaller than its dilated kernel (every output sees
    an input pixel) and a pooling layer's at most half its kernel.

    Attributes:
        max_layers: Layers of every type.
        max_channels: Input channels and every layer's output channels or features.
        max_kernel: Kernel height or width of a conv or pooling layer.
        max_input_size: Input height or width, and the largest stride, dilation and feature
            map (height or width) of any layer.
        max_layer_weights: Weights of one conv or linear layer.

    """

    max_layers: int = 1_000
    max_channels: int = 65_536
    max_kernel: int = 64
    max_input_size: int = 4_096
    max_layer_weights: int = 2**28


DEFAULT_LIMITS = NetworkLimits()


def load_network_file(path: str | Path) -> Network:
    """Read a network file (``.yaml``, ``.yml`` or ``.json``) and build it.

    Args:
        path: The file to read.

    Returns:
        The shape-checked network.

    Raises:
        NetworkError: If the file is missing, unreadable, or describes an invalid network; the
            message names the file, the layer, the field and what was expected.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NetworkError(
            f"cannot read network file ({exc.strerror})", source=str(path)
        ) from None
    try:
        data = load_document_text(text, json_only=path.suffix == ".json")
    except ValueError as exc:
        raise NetworkError(str(exc), source=str(path)) from None
    try:
        return network_from_dict(data)
    except NetworkError as exc:
        raise exc.with_source(str(path)) from None


def network_from_dict(data: Any, limits: NetworkLimits = DEFAULT_LIMITS) -> Network:
    """Build a network from the parsed file format (see the module docstring).

    Args:
        data: The parsed document.
        limits: Size bounds (checked before the layers are built).

    Raises:
        NetworkError: On any invalid field or a size beyond ``limits``; the error names the
            layer and the field.

    """
    if not isinstance(data, Mapping):
        raise NetworkError("a network must be a mapping", expected="keys name, input, layers")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise NetworkError(
            f"unknown key(s) {sorted(unknown)}", expected="only name, input, layers"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise NetworkError("missing or empty", field="name", expected="a non-empty string")
    _check_name(name, ())
    input_shape = _int_list(data.get("input"), 3, (), "input", minimum=1)
    if input_shape[0] > limits.max_channels or max(input_shape[1:]) > limits.max_input_size:
        raise NetworkError(f"input {input_shape} is too large", field="input",
                           expected=f"at most {limits.max_channels} channels and "
                           f"{limits.max_input_size} pixels a side")
    layers_raw = data.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise NetworkError("missing or empty", field="layers", expected="a non-empty list")
    if len(layers_raw) > limits.max_layers:
        raise NetworkError(f"{len(layers_raw)} layers", field="layers",
                           expected=f"at most {limits.max_layers} layers on this server")
    shapes: dict[str, _Shape] = {_INPUT: (input_shape[0], input_shape[1], input_shape[2])}
    layers: list[Layer] = []
    previous = _INPUT
    for position, raw in enumerate(layers_raw):
        layer = _build_layer(raw, position, previous, shapes, limits)
        _check_size(layer, limits)
        layers.append(layer)
        shapes[layer.name] = (layer.out_channels, layer.out_hw[0], layer.out_hw[1])
        previous = layer.name
    if not any(layer.is_compute for layer in layers):
        raise NetworkError("no conv or linear layer", field="layers", expected="at least one")
    return Network(name=name, input_shape=(input_shape[0], input_shape[1], input_shape[2]),
                   layers=tuple(layers))


def _check_name(name: str, where: Sequence[str]) -> None:
    if not is_valid_name(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise NetworkError(f"bad name {shown!r} ({len(name)} characters)", location=where,
                           field="name", expected=f"at most {MAX_NAME_LENGTH} characters: "
                           + NAME_CHARSET)


def _check_size(layer: Layer, limits: NetworkLimits) -> None:
    where = ("layers", layer.name)
    field = "out_features" if layer.kind == "linear" else "out_channels"
    if layer.out_channels > limits.max_channels:
        raise NetworkError(f"{layer.out_channels} is too large", location=where, field=field,
                           expected=f"at most {limits.max_channels}")
    if max(layer.out_hw) > limits.max_input_size:
        raise NetworkError(f"output map {layer.out_hw} is too large", location=where,
                           field="padding", expected=f"feature maps of at most "
                           f"{limits.max_input_size} pixels a side")
    if max(layer.kernel) > limits.max_kernel and layer.kind not in ("globalpool", "linear"):
        raise NetworkError(f"kernel {layer.kernel} is too large", location=where,
                           field="kernel_size", expected=f"at most {limits.max_kernel}")
    if layer.is_compute and layer.params > limits.max_layer_weights:
        raise NetworkError(f"{layer.params} weights in one layer", location=where, field=field,
                           expected=f"at most {limits.max_layer_weights} weights per layer")


def _build_layer(raw: Any, position: int, previous: str, shapes: dict[str, _Shape],
                 limits: NetworkLimits) -> Layer:
    where: tuple[str, ...] = ("layers", f"[{position}]")
    if not isinstance(raw, Mapping):
        raise NetworkError("a layer must be a mapping", location=where)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise NetworkError("missing or empty", location=where, field="name",
                           expected="a non-empty string")
    _check_name(name, where)
    where = ("layers", name)
    if name in shapes:
        raise NetworkError("duplicate layer name", location=where, field="name",
                           expected="a name not used by an earlier layer nor 'input'")
    kind = raw.get("type")
    if kind not in LAYER_KINDS:
        raise NetworkError(f"unknown layer type {kind!r}", location=where, field="type",
                           expected="one of " + ", ".join(LAYER_KINDS))
    unknown = set(raw) - _KEYS[kind]
    if unknown:
        raise NetworkError(f"unknown key(s) {sorted(unknown)} for type {kind}", location=where,
                           expected="only " + ", ".join(sorted(_KEYS[kind])))
    sources = _sources(raw.get("from", previous), kind, where, shapes)
    builder = _BUILDERS[kind]
    return builder(raw, name, kind, where, sources, shapes, limits)


def _sources(value: Any, kind: str, where: Sequence[str], shapes: dict[str, _Shape]
             ) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise NetworkError("bad value", location=where, field="from",
                           expected="a layer name or a list of layer names")
    for source in names:
        if source not in shapes:
            raise NetworkError(f"refers to unknown layer '{source}'", location=where,
                               field="from", expected="'input' or the name of an earlier layer")
    if kind in MERGE_KINDS:
        if len(names) < 2:
            raise NetworkError(f"a {kind} needs at least two inputs", location=where,
                               field="from", expected="a list of two or more earlier layers")
    elif len(names) != 1:
        raise NetworkError(f"a {kind} layer takes exactly one input", location=where,
                           field="from", expected="one layer name")
    return tuple(names)


def _int(raw: Mapping[str, Any], key: str, where: Sequence[str], *, default: int | None = None,
         minimum: int = 1, maximum: int | None = None) -> int:
    value = raw.get(key, default)
    if value is None:
        raise NetworkError("missing", location=where, field=key,
                           expected=_int_range(minimum, maximum))
    if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
            or (maximum is not None and value > maximum)):
        raise NetworkError(f"bad value {_shown(value)}", location=where, field=key,
                           expected=_int_range(minimum, maximum))
    return value


def _int_range(minimum: int, maximum: int | None) -> str:
    return (f"an integer >= {minimum}" if maximum is None
            else f"an integer {minimum}..{maximum}")


def _shown(value: Any) -> str:
    """A bad value for a message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int_list(value: Any, length: int, where: Sequence[str], key: str, *, minimum: int,
              maximum: int | None = None) -> list[int]:
    ok = (
        isinstance(value, list)
        and len(value) == length
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                and (maximum is None or v <= maximum) for v in value)
    )
    if not ok:
        bounds = f">= {minimum}" if maximum is None else f"{minimum}..{maximum}"
        raise NetworkError(f"bad value {_shown(value)}", location=where, field=key,
                           expected=f"a list of {length} integers {bounds}")
    return list(value)


def _pair(raw: Mapping[str, Any], key: str, where: Sequence[str], *, default: int | None,
          minimum: int, maximum: int | None = None) -> tuple[int, int]:
    value = raw.get(key, default)
    if isinstance(value, list):
        pair = _int_list(value, 2, where, key, minimum=minimum, maximum=maximum)
        return (pair[0], pair[1])
    single = _int({key: value}, key, where, minimum=minimum, maximum=maximum)
    return (single, single)


def _bool(raw: Mapping[str, Any], key: str, where: Sequence[str], default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise NetworkError(f"bad value {_shown(value)}", location=where, field=key,
                           expected="true or false")
    return value


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
              where: Sequence[str], axis: str) -> int:
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span) // stride + 1
    if out < 1:
        raise NetworkError(
            f"kernel {kernel} (dilation {dilation}) does not fit the {axis} {size} "
            f"with padding {padding}",
            location=where, field="kernel_size",
            expected=f"a window of at most {size + 2 * padding}",
        )
    return out


def _spatial(raw: Mapping[str, Any], where: Sequence[str], in_shape: _Shape,
             limits: NetworkLimits, *, default_stride: int | None, with_dilation: bool
             ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int],
                        tuple[int, int]]:
    largest = limits.max_input_size
    kernel = _pair(raw, "kernel_size", where, default=None, minimum=1,
                   maximum=limits.max_kernel)
    if "stride" in raw:
        stride = _pair(raw, "stride", where, default=None, minimum=1, maximum=largest)
    else:  # convolutions default to stride 1, pooling to its kernel (as in PyTorch)
        stride = kernel if default_stride is None else (default_stride, default_stride)
    padding = _pair(raw, "padding", where, default=0, minimum=0, maximum=largest)
    dilation = (_pair(raw, "dilation", where, default=1, minimum=1, maximum=largest)
                if with_dilation else (1, 1))
    if with_dilation:
        spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
        if padding[0] >= spans[0] or padding[1] >= spans[1]:
            raise NetworkError(
                f"padding {padding} is not smaller than the (dilated) kernel {tuple(spans)}",
                location=where, field="padding",
                expected="at most dilation * (kernel_size - 1) per side, so that every "
                "output sees an input pixel")
    out_h = _out_size(in_shape[1], kernel[0], stride[0], padding[0], dilation[0], where, "height")
    out_w = _out_size(in_shape[2], kernel[1], stride[1], padding[1], dilation[1], where, "width")
    return kernel, stride, padding, dilation, (out_h, out_w)


def _check_given(raw: Mapping[str, Any], key: str, actual: int, where: Sequence[str]) -> None:
    if key in raw:
        given = _int(raw, key, where)
        if given != actual:
            raise NetworkError(f"is {given} but the input provides {actual}", location=where,
                               field=key, expected=str(actual))


def _conv(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
          sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
          ) -> Layer:
    in_shape = shapes[sources[0]]
    _check_given(raw, "in_channels", in_shape[0], where)
    out_channels = _int(raw, "out_channels", where)
    groups = _int(raw, "groups", where, default=1)
    if in_shape[0] % groups or out_channels % groups:
        raise NetworkError(
            f"groups={groups} does not divide in_channels={in_shape[0]} and "
            f"out_channels={out_channels}",
            location=where, field="groups", expected="a common divisor of both channel counts",
        )
    kernel, stride, padding, dilation, out_hw = _spatial(
        raw, where, in_shape, limits, default_stride=1, with_dilation=True
    )
    return Layer(name=name, kind=kind, inputs=sources, in_channels=in_shape[0],
                 out_channels=out_channels, kernel=kernel, stride=stride, padding=padding,
                 dilation=dilation, groups=groups, in_hw=(in_shape[1], in_shape[2]),
                 out_hw=out_hw, bias=_bool(raw, "bias", where, False))


def _linear(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
            sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
            ) -> Layer:
    in_shape = shapes[sources[0]]
    in_features = in_shape[0] * in_shape[1] * in_shape[2]
    _check_given(raw, "in_features", in_features, where)
    return Layer(name=name, kind=kind, inputs=sources, in_channels=in_features,
                 out_channels=_int(raw, "out_features", where),
                 bias=_bool(raw, "bias", where, True))


def _pool(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
          sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
          ) -> Layer:
    in_shape = shapes[sources[0]]
    kernel, stride, padding, _, out_hw = _spatial(
        raw, where, in_shape, limits, default_stride=None, with_dilation=False
    )
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise NetworkError(f"padding {padding} is more than half the kernel {kernel}",
                           location=where, field="padding", expected="at most kernel_size // 2")
    return Layer(name=name, kind=kind, inputs=sources, in_channels=in_shape[0],
                 out_channels=in_shape[0], kernel=kernel, stride=stride, padding=padding,
                 in_hw=(in_shape[1], in_shape[2]), out_hw=out_hw)


def _globalpool(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
                sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
                ) -> Layer:
    in_shape = shapes[sources[0]]
    return Layer(name=name, kind=kind, inputs=sources, in_channels=in_shape[0],
                 out_channels=in_shape[0], kernel=(in_shape[1], in_shape[2]),
                 stride=(in_shape[1], in_shape[2]), in_hw=(in_shape[1], in_shape[2]),
                 out_hw=(1, 1))


def _add(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
         sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
         ) -> Layer:
    first = shapes[sources[0]]
    for source in sources[1:]:
        if shapes[source] != first:
            raise NetworkError(
                f"inputs have different shapes: {sources[0]} {first} vs {source} "
                f"{shapes[source]}",
                location=where, field="from", expected="inputs of one (C, H, W) shape",
            )
    return Layer(name=name, kind=kind, inputs=sources, in_channels=first[0],
                 out_channels=first[0], in_hw=(first[1], first[2]), out_hw=(first[1], first[2]))


def _concat(raw: Mapping[str, Any], name: str, kind: LayerKind, where: Sequence[str],
            sources: tuple[str, ...], shapes: dict[str, _Shape], limits: NetworkLimits
            ) -> Layer:
    first = shapes[sources[0]]
    for source in sources[1:]:
        if shapes[source][1:] != first[1:]:
            raise NetworkError(
                f"inputs have different map sizes: {sources[0]} {first} vs {source} "
                f"{shapes[source]}",
                location=where, field="from",
                expected="inputs of one height and width (channels may differ)",
            )
    channels = sum(shapes[source][0] for source in sources)
    return Layer(name=name, kind=kind, inputs=sources, in_channels=channels,
                 out_channels=channels, in_hw=(first[1], first[2]), out_hw=(first[1], first[2]))


_BUILDERS = {
    "conv": _conv,
    "linear": _linear,
    "pool": _pool,
    "avgpool": _pool,
    "globalpool": _globalpool,
    "add": _add,
    "concat": _concat,
}


def network_to_dict(network: Network) -> dict[str, Any]:
    """Write a network back in the file format (inferred fields included).

    ``network_from_dict(network_to_dict(n))`` rebuilds an equal network.
    """
    layers: list[dict[str, Any]] = []
    for layer in network.layers:
        entry: dict[str, Any] = {"name": layer.name, "type": layer.kind}
        sources: Any = (list(layer.inputs) if layer.kind in MERGE_KINDS
                        else layer.inputs[0])
        entry["from"] = sources
        if layer.kind == "conv":
            entry.update(in_channels=layer.in_channels, out_channels=layer.out_channels,
                         kernel_size=list(layer.kernel), stride=list(layer.stride),
                         padding=list(layer.padding), dilation=list(layer.dilation),
                         groups=layer.groups, bias=layer.bias)
        elif layer.kind == "linear":
            entry.update(in_features=layer.in_channels, out_features=layer.out_channels,
                         bias=layer.bias)
        elif layer.kind in ("pool", "avgpool"):
            entry.update(kernel_size=list(layer.kernel), stride=list(layer.stride),
                         padding=list(layer.padding))
        layers.append(entry)
    return {"name": network.name, "input": list(network.input_shape), "layers": layers}
