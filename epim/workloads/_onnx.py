"""Networks from ONNX files: convolutions, linear layers, pooling, adds and concats.

The graph is read with the ``onnx`` package (imported here, lazily: ``import epim`` and the
API process never load it; a server never reads a client's file, the CLI converts one and
sends the network document inline). Shapes come from ``onnx.shape_inference``. Only shapes
are read, never weight values, and external data files are never opened.

What maps to what:

- ``Conv`` (2-D; groups, strides, pads, dilations, ``auto_pad``) -> ``conv``. Asymmetric
  pads become the symmetric padding that gives the same output size, or an error naming the
  node.
- ``Gemm`` (``transA = 0``) and ``MatMul`` by a constant 2-D matrix -> ``linear`` (an
  ``Add`` of a constant right after it is its bias).
- ``MaxPool`` / ``AveragePool`` -> ``pool`` / ``avgpool``; ``GlobalAveragePool`` and
  ``ReduceMean`` over H and W -> ``globalpool``; ``GlobalMaxPool`` -> a ``pool`` over the map.
- ``Add`` / ``Sum`` of activations -> ``add``; ``Concat`` of activations along channels ->
  ``concat``.
- ``Flatten`` (axis 1), ``Reshape`` to ``[N, C*H*W]`` and ``Squeeze`` of a 1x1 map feed a
  linear layer (which flattens its input anyway).
- Free in the cost model, so folded away: ``BatchNormalization`` (the conv or linear layer
  it follows gets a bias, as when folded into it, which PyTorch's export does), activations
  (``Relu``, ``Clip`` / ReLU6, ``Sigmoid``, ``HardSwish``, ...), ``Dropout``, ``Identity``,
  ``Softmax``, and ``Add`` / ``Sub`` / ``Mul`` / ``Div`` by a constant (a bias or scale).
- Nodes that read no activation (``Constant``, ``Shape`` arithmetic) are skipped.

Any other operator on an activation is an error naming the node and its op type. Layers that
do not lead to the graph's output are dropped. Names follow :mod:`epim.workloads._naming`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epim.errors import NetworkError
from epim.workloads._layer import Network
from epim.workloads._naming import LayerNamer, torch_scope
from epim.workloads._parse import DEFAULT_LIMITS, NetworkLimits, network_from_dict

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto

#: Operators that leave the shape alone and cost nothing here (input 0 passes through).
FREE_OPS = frozenset({
    "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid",
    "HardSwish", "Tanh", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish",
    "ThresholdedRelu", "Identity", "Dropout", "Softmax", "LogSoftmax", "Cast",
})
#: Element-wise operators that are free when the other operand is a constant.
AFFINE_OPS = frozenset({"Add", "Sub", "Mul", "Div"})
#: Every operator the importer knows, for error messages.
SUPPORTED_OPS = tuple(sorted(FREE_OPS | AFFINE_OPS | {
    "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "ReduceMean", "Sum", "Concat", "Flatten", "Reshape", "Squeeze", "Shape",
}))
#: Largest ONNX file read (bytes); protobuf itself refuses messages over 2 GiB.
MAX_FILE_BYTES = 2**31 - 1


@dataclass(frozen=True)
class _Act:
    """An activation tensor: the layer that made it, and whether it was flattened since.

    Attributes:
        layer: The producing layer's name (``input`` for the network input).
        flat: ``[N, F]`` (flattened, or a linear layer's output) rather than ``[N, C, H, W]``.
        direct: The layer's own output, untouched (a constant added to it is its bias).

    """

    layer: str
    flat: bool
    direct: bool = True


def load_onnx_network(path: str | Path, *, name: str | None = None,
                      limits: NetworkLimits = DEFAULT_LIMITS) -> Network:
    """Read an ONNX file and build the network it describes.

    Args:
        path: The ``.onnx`` file.
        name: Network name (default: the file's stem, made a valid name).
        limits: Size bounds of the network.

    Raises:
        NetworkError: If the file cannot be read or parsed, uses an operator this importer does
            not map (the message names the node and its op type), or describes an invalid
            network; the message names the file.

    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise NetworkError(f"cannot read ONNX file ({exc.strerror})",
                           source=str(path)) from None
    try:
        if len(data) > MAX_FILE_BYTES:
            raise NetworkError("file is larger than 2 GiB", expected="an ONNX model under 2 GiB")
        document = onnx_network_dict(data, name=name or path.stem)
        return network_from_dict(document, limits)
    except NetworkError as exc:
        raise exc.with_source(str(path)) from None


def onnx_network_dict(data: bytes, *, name: str) -> dict[str, Any]:
    """The network-file document of a serialized ONNX model (see the module docstring).

    Args:
        data: The model's bytes.
        name: Network name (made a valid name).

    Raises:
        NetworkError: On a malformed model or an unsupported node.

    """
    model = _parse(data)
    return _Converter(model, network_name=name).document()


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - a dependency of the package
        raise NetworkError("reading ONNX files needs the 'onnx' package",
                           expected="pip install onnx") from None
    return onnx


def _parse(data: bytes) -> ModelProto:
    onnx = _import_onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise NetworkError(f"not an ONNX model ({type(exc).__name__})",
                           expected="a serialized ONNX ModelProto") from None
    if not model.graph.node:
        raise NetworkError("the ONNX graph has no nodes", expected="an ONNX model of a CNN")
    try:
        inferred: ModelProto = onnx.shape_inference.infer_shapes(
            model, strict_mode=False, data_prop=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise NetworkError(f"ONNX shape inference failed: {type(exc).__name__} {first}",
                           expected="a valid ONNX model") from None
    return inferred


def _dims(value_type: Any) -> tuple[int | None, ...] | None:
    """Static dims of a tensor type (``None`` where symbolic), or ``None`` without a shape."""
    tensor = value_type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


class _Converter:
    """One pass over the nodes (ONNX graphs are topologically sorted)."""

    def __init__(self, model: ModelProto, *, network_name: str) -> None:
        self.graph = model.graph
        self.network_name = network_name
        self.namer = LayerNamer()
        self.layers: list[dict[str, Any]] = []
        self.by_name: dict[str, dict[str, Any]] = {}
        self.acts: dict[str, _Act] = {}
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        self.constants: dict[str, tuple[int, ...]] = {}
        for info in [*self.graph.input, *self.graph.value_info, *self.graph.output]:
            dims = _dims(info.type)
            if dims is not None:
                self.shapes[info.name] = dims
        for tensor in self.graph.initializer:
            self.constants[tensor.name] = tuple(int(d) for d in tensor.dims)

    # ------------------------------------------------------------------ driver
    def document(self) -> dict[str, Any]:
        input_shape = self._input()
        for position, node in enumerate(self.graph.node):
            self._node(node, position)
        outputs = [o.name for o in self.graph.output if o.name in self.acts]
        if len(outputs) != 1:
            names = ", ".join(o.name for o in self.graph.output)
            raise NetworkError(f"the graph has {len(outputs)} activation outputs ({names})",
                               field="graph.output", expected="exactly one output")
        last = self.acts[outputs[0]].layer
        if last == "input":
            raise NetworkError("no layer between the input and the output",
                               expected="at least one Conv, Gemm or MatMul")
        layers = self._ancestors(last)
        name = LayerNamer().module(self.network_name, "onnx-network")
        return {"name": name, "input": input_shape, "layers": layers}

    def _input(self) -> list[int]:
        initialized = set(self.constants)
        inputs = [i for i in self.graph.input if i.name not in initialized]
        if len(inputs) != 1:
            raise NetworkError(f"the graph has {len(inputs)} inputs", field="graph.input",
                               expected="one image input [N, C, H, W]")
        tensor = inputs[0]
        dims = self.shapes.get(tensor.name)
        if dims is None or len(dims) != 4 or any(d is None or d < 1 for d in dims[1:]):
            raise NetworkError(f"input '{tensor.name}' has shape {_shown_dims(dims)}",
                               field="graph.input",
                               expected="[N, C, H, W] with fixed C, H and W")
        self.acts[tensor.name] = _Act("input", flat=False)
        return [int(d) for d in dims[1:] if d is not None]

    def _ancestors(self, last: str) -> list[dict[str, Any]]:
        needed = {last}
        for layer in reversed(self.layers):
            if layer["name"] in needed:
                sources = layer["from"]
                needed.update([sources] if isinstance(sources, str) else sources)
        return [layer for layer in self.layers if layer["name"] in needed]

    # ------------------------------------------------------------------ nodes
    def _node(self, node: NodeProto, position: int) -> None:
        op = node.op_type
        act_inputs = [name for name in node.input if name in self.acts]
        if not act_inputs:  # constants and shape arithmetic
            if op == "Constant":
                self._constant(node)
            return
        if node.domain not in ("", "ai.onnx"):
            self._unsupported(node, position)
        if op in FREE_OPS:
            if node.input[0] not in self.acts:
                self._unsupported(node, position)
            source = self.acts[node.input[0]]
            if op == "BatchNormalization" and source.direct:  # folded: the layer's bias
                self._fold_bias(source.layer)
            self._set(node, _Act(source.layer, source.flat, direct=False))
        elif op == "Shape":
            return
        elif op == "Conv":
            self._conv(node, position)
        elif op in ("Gemm", "MatMul"):
            self._linear(node, position)
        elif op in ("MaxPool", "AveragePool"):
            self._pool(node, position)
        elif op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean"):
            self._global_pool(node, position)
        elif op in ("Flatten", "Reshape", "Squeeze"):
            self._flatten(node, position)
        elif op in ("Add", "Sum") and len(act_inputs) == len(node.input) >= 2:
            self._merge(node, position, "add")
        elif op in AFFINE_OPS and len(act_inputs) == 1 and len(node.input) == 2:
            self._affine(node, act_inputs[0])
        elif op == "Concat":
            self._concat(node, position)
        else:
            self._unsupported(node, position)

    def _constant(self, node: NodeProto) -> None:
        for attribute in node.attribute:
            if attribute.name == "value" and node.output:
                self.constants[node.output[0]] = tuple(int(d) for d in attribute.t.dims)

    def _set(self, node: NodeProto, act: _Act) -> None:
        if node.output:
            self.acts[node.output[0]] = act

    def _add_layer(self, node: NodeProto, layer: dict[str, Any], *, flat: bool) -> None:
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
        self._set(node, _Act(layer["name"], flat=flat))

    def _where(self, node: NodeProto, position: int) -> tuple[str, ...]:
        return ("graph", "node", f"[{position}]" if not node.name else node.name[:80])

    def _error(self, node: NodeProto, position: int, message: str, *,
               field: str | None = None, expected: str | None = None) -> NetworkError:
        return NetworkError(f"{node.op_type} node: {message}",
                            location=self._where(node, position), field=field,
                            expected=expected)

    def _unsupported(self, node: NodeProto, position: int) -> None:
        domain = f" (domain {node.domain})" if node.domain not in ("", "ai.onnx") else ""
        raise self._error(node, position, f"op type {node.op_type}{domain} is not supported",
                          field="op_type", expected="one of " + ", ".join(SUPPORTED_OPS))

    def _act(self, node: NodeProto, position: int, index: int = 0, *,
             spatial: bool = True) -> _Act:
        """The activation at input ``index``; ``spatial``: it must be a 4-D map."""
        if index >= len(node.input) or node.input[index] not in self.acts:
            raise self._error(node, position, f"input {index} is not an activation",
                              expected="the output of an earlier layer or the graph input")
        act = self.acts[node.input[index]]
        if spatial and act.flat:
            raise self._error(node, position, "its input is flattened",
                              expected="a 4-D [N, C, H, W] input")
        return act

    def _shape(self, node: NodeProto, position: int, tensor: str) -> tuple[int, ...]:
        dims = self.shapes.get(tensor)
        if dims is None or any(d is None for d in dims):
            raise self._error(node, position,
                              f"the shape of '{tensor[:80]}' is not known after inference",
                              expected="static shapes (export with a fixed input size)")
        return tuple(int(d) for d in dims if d is not None)

    def _weights(self, node: NodeProto, position: int, index: int, rank: int
                 ) -> tuple[int, ...]:
        name = node.input[index] if index < len(node.input) else ""
        dims = self.constants.get(name)
        if dims is None:
            raise self._error(node, position, f"input {index} is not a constant",
                              expected="weights stored in the model (an initializer)")
        if len(dims) != rank:
            raise self._error(node, position, f"weights of rank {len(dims)}",
                              expected=f"rank {rank}")
        return dims

    def _module_name(self, node: NodeProto, weight: str) -> str:
        base = weight.removesuffix(".weight") if weight.endswith(".weight") else ""
        return base or torch_scope(node.name) or node.name or node.output[0]

    # ------------------------------------------------------------------ layers
    def _conv(self, node: NodeProto, position: int) -> None:
        act = self._act(node, position)
        weight = self._weights(node, position, 1, 4)
        attrs = _attributes(node)
        in_shape = self._shape(node, position, node.input[0])
        if len(in_shape) != 4:
            raise self._error(node, position, f"input of rank {len(in_shape)}",
                              expected="a 2-D convolution of a [N, C, H, W] map")
        kernel = _ints(attrs.get("kernel_shape"), weight[2:])
        stride = _ints(attrs.get("strides"), (1, 1))
        dilation = _ints(attrs.get("dilations"), (1, 1))
        padding = self._padding(node, position, attrs, in_shape[2:], kernel, stride, dilation)
        bias = len(node.input) > 2 and bool(node.input[2])
        name = self.namer.module(self._module_name(node, node.input[1]), "conv")
        self._add_layer(node, {
            "name": name, "type": "conv", "from": act.layer,
            "in_channels": weight[1] * int(attrs.get("group", 1)),
            "out_channels": weight[0], "kernel_size": list(kernel), "stride": list(stride),
            "padding": list(padding), "dilation": list(dilation),
            "groups": int(attrs.get("group", 1)), "bias": bias,
        }, flat=False)

    def _linear(self, node: NodeProto, position: int) -> None:
        act = self.acts.get(node.input[0])
        attrs = _attributes(node)
        if act is None or node.input[1] in self.acts:
            raise self._error(node, position, "is not an activation times a constant matrix",
                              field="op_type", expected="an activation times a weight matrix")
        if node.op_type == "Gemm" and int(attrs.get("transA", 0)):
            raise self._error(node, position, "transA = 1", field="transA", expected="0")
        in_shape = self._shape(node, position, node.input[0])
        if len(in_shape) != 2:
            raise self._error(node, position, f"input of shape {list(in_shape)}",
                              expected="a 2-D [N, features] input (flatten the map first)")
        weight = self._weights(node, position, 1, 2)
        transposed = node.op_type == "Gemm" and int(attrs.get("transB", 0))
        in_features, out_features = (weight[1], weight[0]) if transposed else weight
        bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
        name = self.namer.module(self._module_name(node, node.input[1]), "linear")
        self._add_layer(node, {
            "name": name, "type": "linear", "from": act.layer, "in_features": in_features,
            "out_features": out_features, "bias": bias,
        }, flat=True)

    def _padding(self, node: NodeProto, position: int, attrs: dict[str, Any],
                 size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int]) -> tuple[int, int]:
        """Symmetric padding per axis (asymmetric pads: the one of equal output size)."""
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        extent = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            totals = [max((math.ceil(n / s) - 1) * s + e - n, 0)
                      for n, s, e in zip(size, stride, extent, strict=True)]
            low = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
            pads = [*low, *(t - lo for t, lo in zip(totals, low, strict=True))]
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        else:
            pads = list(_ints(attrs.get("pads"), (0, 0, 0, 0)))
        if len(pads) != 4:
            raise self._error(node, position, f"pads {pads}", field="pads",
                              expected="4 values [top, left, bottom, right]")
        result = []
        for axis in range(2):
            begin, end = pads[axis], pads[axis + 2]
            if begin == end:
                result.append(begin)
                continue
            n, s, e = size[axis], stride[axis], extent[axis]
            wanted = (n + begin + end - e) // s + 1
            same = [p for p in (max(begin, end), min(begin, end))
                    if (n + 2 * p - e) // s + 1 == wanted]
            if not same:
                raise self._error(
                    node, position, f"asymmetric pads {pads} (top, left, bottom, right)",
                    field="pads", expected="equal pads on both sides of an axis, or pads "
                    "whose output size a symmetric padding also gives")
            result.append(same[0])
        return result[0], result[1]

    def _pool(self, node: NodeProto, position: int) -> None:
        act = self._act(node, position)
        attrs = _attributes(node)
        in_shape = self._shape(node, position, node.input[0])
        if len(in_shape) != 4 or "kernel_shape" not in attrs:
            raise self._error(node, position, f"input of shape {list(in_shape)}",
                              expected="a 2-D pooling of a [N, C, H, W] map with kernel_shape")
        kernel = _ints(attrs.get("kernel_shape"), ())
        stride = _ints(attrs.get("strides"), (1, 1))
        if _ints(attrs.get("dilations"), (1, 1)) != (1, 1):
            raise self._error(node, position, "dilated pooling", field="dilations",
                              expected="[1, 1]")
        padding = self._padding(node, position, attrs, in_shape[2:], kernel, stride, (1, 1))
        if int(attrs.get("ceil_mode", 0)):
            floor = [(n + 2 * p - k) // s + 1
                     for n, p, k, s in zip(in_shape[2:], padding, kernel, stride, strict=True)]
            out = self._shape(node, position, node.output[0])
            if list(out[2:]) != floor:
                raise self._error(node, position, "ceil_mode = 1 changes the output size",
                                  field="ceil_mode", expected="0 (floor)")
        kind = "pool" if node.op_type == "MaxPool" else "avgpool"
        self._add_layer(node, {
            "name": self._pool_name(node, kind),
            "type": kind, "from": act.layer, "kernel_size": list(kernel),
            "stride": list(stride), "padding": list(padding),
        }, flat=False)

    def _global_pool(self, node: NodeProto, position: int) -> None:
        act = self._act(node, position)
        in_shape = self._shape(node, position, node.input[0])
        if len(in_shape) != 4:
            raise self._error(node, position, f"input of shape {list(in_shape)}",
                              expected="a [N, C, H, W] map")
        flat = False
        if node.op_type == "ReduceMean":
            attrs = _attributes(node)
            axes = _ints(attrs.get("axes"), ())
            if not axes and len(node.input) > 1:
                axes = self._constant_values(node, position, node.input[1])
            if sorted(a % 4 for a in axes) != [2, 3]:
                raise self._error(node, position, f"mean over axes {list(axes)}",
                                  field="axes", expected="[2, 3] (a global average pool)")
            flat = not int(attrs.get("keepdims", 1))
        layer: dict[str, Any]
        if node.op_type == "GlobalMaxPool":
            layer = {"name": self._pool_name(node, "pool"), "type": "pool",
                     "kernel_size": list(in_shape[2:]), "stride": list(in_shape[2:])}
        else:
            layer = {"name": self._pool_name(node, "globalpool"), "type": "globalpool"}
        self._add_layer(node, {**layer, "from": act.layer}, flat=flat)

    def _constant_values(self, node: NodeProto, position: int, tensor: str) -> tuple[int, ...]:
        from onnx import numpy_helper

        for initializer in self.graph.initializer:
            if initializer.name == tensor and len(initializer.dims) == 1 \
                    and initializer.dims[0] <= 8:
                return tuple(int(v) for v in numpy_helper.to_array(initializer))
        for other in self.graph.node:
            if other.op_type == "Constant" and other.output and other.output[0] == tensor:
                for attribute in other.attribute:
                    if attribute.name == "value" and len(attribute.t.dims) == 1 \
                            and attribute.t.dims[0] <= 8:
                        return tuple(int(v) for v in numpy_helper.to_array(attribute.t))
        raise self._error(node, position, "axes are not a small constant", field="axes",
                          expected="constant axes [2, 3]")

    def _flatten(self, node: NodeProto, position: int) -> None:
        act = self._act(node, position, spatial=False)
        in_shape = self._shape(node, position, node.input[0])
        if act.flat or len(in_shape) == 2:
            out_shape = self._shape(node, position, node.output[0])
            if list(out_shape) != list(in_shape):
                raise self._error(node, position, f"reshapes features {list(in_shape)} to "
                                  f"{list(out_shape)}", expected="a flattened [N, C*H*W]")
            self._set(node, _Act(act.layer, flat=True, direct=False))
            return
        if node.op_type == "Flatten" and int(_attributes(node).get("axis", 1)) != 1:
            raise self._error(node, position, "flattens other than from axis 1",
                              field="axis", expected="1")
        out_shape = self._shape(node, position, node.output[0])
        features = in_shape[1] * in_shape[2] * in_shape[3]
        if tuple(out_shape) == in_shape:  # a reshape to its own shape
            self._set(node, _Act(act.layer, flat=False, direct=False))
        elif len(out_shape) == 2 and out_shape[0] == in_shape[0] and out_shape[1] == features:
            self._set(node, _Act(act.layer, flat=True, direct=False))
        else:
            raise self._error(node, position, f"{list(in_shape)} -> {list(out_shape)}",
                              expected="a flatten to [N, C*H*W] before a linear layer")

    def _merge(self, node: NodeProto, position: int, kind: str) -> None:
        acts = [self._act(node, position, i, spatial=False) for i in range(len(node.input))]
        flat = [a.flat for a in acts]
        if any(flat) and not all(a.flat and self._is_linear(a.layer) for a in acts):
            raise self._error(node, position, "merges flattened feature maps",
                              expected="4-D maps, or the outputs of linear layers")
        self._add_layer(node, {"name": self._merge_name(node, kind), "type": kind,
                               "from": [a.layer for a in acts]}, flat=any(flat))

    def _is_linear(self, name: str) -> bool:
        layer = self.by_name.get(name)
        return layer is not None and layer["type"] == "linear"

    def _merge_name(self, node: NodeProto, kind: str) -> str:
        if node.name.startswith("/") or not node.name:
            return self.namer.merge(torch_scope(node.name), kind)
        return self.namer.module(node.name, kind)

    def _pool_name(self, node: NodeProto, kind: str) -> str:
        if node.name.startswith("/") or not node.name:
            return self.namer.pool(torch_scope(node.name), kind)
        return self.namer.module(node.name, kind)

    def _concat(self, node: NodeProto, position: int) -> None:
        if not all(name in self.acts for name in node.input):
            raise self._error(node, position, "joins an activation with a constant",
                              expected="activations only")
        shape = self._shape(node, position, node.input[0])
        axis = int(_attributes(node).get("axis", 1)) % len(shape)
        if axis != 1:
            raise self._error(node, position, f"concatenates along axis {axis}",
                              field="axis", expected="1 (channels)")
        if len(node.input) == 1:
            act = self.acts[node.input[0]]
            self._set(node, _Act(act.layer, act.flat, direct=False))
            return
        self._merge(node, position, "concat")

    def _affine(self, node: NodeProto, act_input: str) -> None:
        """A constant added to, or scaling, an activation: free (a conv's bias when direct)."""
        act = self.acts[act_input]
        if node.op_type == "Add" and act.direct:
            self._fold_bias(act.layer)
        self._set(node, _Act(act.layer, act.flat, direct=False))

    def _fold_bias(self, name: str) -> None:
        """A BatchNorm or constant added right after a conv or linear layer: its bias."""
        layer = self.by_name.get(name)
        if layer is not None and layer["type"] in ("conv", "linear"):
            layer["bias"] = True


def _attributes(node: NodeProto) -> dict[str, Any]:
    from onnx import helper

    return {attribute.name: helper.get_attribute_value(attribute)
            for attribute in node.attribute}


def _ints(value: Any, default: Sequence[int]) -> tuple[int, ...]:
    if value is None:
        return tuple(int(v) for v in default)
    return tuple(int(v) for v in value)


def _shown_dims(dims: tuple[int | None, ...] | None) -> str:
    if dims is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
