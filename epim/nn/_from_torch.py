"""Networks from PyTorch modules, by ``torch.fx`` symbolic tracing.

``from_torch(module, input_shape)`` traces ``module``, runs it once on zeros of
``input_shape`` (in eval mode, without gradients) to learn every tensor's shape, and maps
its operations to the layer table:

- ``nn.Conv2d`` -> ``conv``; ``nn.Linear`` -> ``linear`` (its input flattened first);
- ``nn.MaxPool2d`` / ``F.max_pool2d`` -> ``pool``; ``nn.AvgPool2d`` / ``F.avg_pool2d`` ->
  ``avgpool``; ``nn.AdaptiveAvgPool2d(1)``, ``F.adaptive_avg_pool2d(x, 1)`` and ``x.mean((2, 3))``
  -> ``globalpool`` (an adaptive pool to a divisor of the map is a fixed ``avgpool``, to the
  map's own size nothing); ``nn.AdaptiveMaxPool2d(1)`` -> a ``pool`` over the map;
- ``+`` / ``torch.add`` of two activations -> ``add``; ``torch.cat(..., dim=1)`` -> ``concat``;
- free, so folded away: BatchNorm (the conv or linear layer it follows gets a bias, as when
  it is folded into it, and as PyTorch's ONNX export writes it), ReLU and the other
  activations, dropout, identity, softmax, flatten / view / reshape before a linear layer,
  and arithmetic with constants.

Any other module or function applied to an activation is an error naming the node and its
target. Layer names are the modules' dotted names (``layer1.0.conv1``), so a design over the
network applies to ``module`` itself through :func:`epim.nn.epitomize`; adds and concats are
named after the module whose ``forward`` made them (``layer1.0.add``), pooling functions
likewise (:mod:`epim.workloads._naming`, the same rule as the ONNX importer's). This lives in
``epim.nn`` because it needs torch; ``epim.workloads`` stays torch-free.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from epim.errors import InputError, NetworkError
from epim.workloads import LayerNamer, Network, network_from_dict

_FREE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Hardsigmoid, nn.Hardswish, nn.Hardtanh, nn.Tanh, nn.Softplus,
    nn.Softmax, nn.LogSoftmax, nn.Identity, nn.Dropout, nn.Dropout2d, nn.AlphaDropout,
)
_NORM_MODULES: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d)
_FREE_FUNCTIONS: set[Any] = {
    torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu,
    F.gelu, F.silu, F.mish, torch.sigmoid, F.sigmoid, F.hardsigmoid, F.hardswish, F.hardtanh,
    torch.tanh, F.tanh, F.softplus, F.softmax, F.log_softmax, torch.softmax,
    torch.log_softmax, F.dropout, F.dropout2d, torch.clamp, torch.clip, F.batch_norm,
}
_FREE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "clamp", "clip", "contiguous",
                 "softmax", "log_softmax", "clamp_min", "float", "detach"}
_ADD = {operator.add, operator.iadd, torch.add}
_AFFINE = {operator.sub, operator.isub, operator.mul, operator.imul, operator.truediv,
           operator.itruediv, torch.sub, torch.mul, torch.div}
_CAT = {torch.cat, torch.concat}
_SHAPE_METHODS = {"view", "reshape", "flatten", "squeeze"}


@dataclass(frozen=True)
class _Act:
    """An activation: the layer that made it, flattened or not, untouched or not."""

    layer: str
    flat: bool
    direct: bool = True


def from_torch(module: nn.Module, input_shape: Sequence[int], *,
               name: str | None = None) -> Network:
    """The layer table of a PyTorch module (see the module docstring for what maps to what).

    Args:
        module: The model (not changed; its training mode is restored).
        input_shape: ``(C, H, W)`` of one input image (a leading batch size is ignored).
        name: Network name (default: the module's class name).

    Returns:
        The shape-checked network, layers in the order the module runs them.

    Raises:
        InputError: On a bad ``input_shape``.
        NetworkError: If the module cannot be traced or run on that shape, or applies a module
            or function that has no layer here (the message names the node and its target).

    """
    network, _ = _convert(module, input_shape, name)
    return network


def torch_checkpoint(module: nn.Module, input_shape: Sequence[int], *,
                     name: str | None = None) -> dict[str, torch.Tensor]:
    """The module's weights as a checkpoint of :func:`from_torch`'s network.

    The format ``accuracy.checkpoint`` reads (README "Pretrained checkpoints"): tensors keyed
    by layer name, ``<layer>.weight`` (the full kernel, ``[out, in / groups, kh, kw]`` or
    ``[out, in]``) and ``<layer>.bias`` of every conv and linear layer (zeros where the
    module has none, as the network gives a layer followed by BatchNorm a bias), and for a
    conv followed by BatchNorm its statistics and affine parameters as
    ``<layer>.bn.{weight,bias,running_mean,running_var}``. A BatchNorm after a linear layer
    is folded into its weight and bias (Jacob et al., CVPR 2018, eq. 7-8: ``w * gamma /
    sqrt(var + eps)``). Save it with ``torch.save(state, path)`` or safetensors.

    Args:
        module: The model, as given to :func:`from_torch`.
        input_shape: ``(C, H, W)`` of one input image.
        name: Network name (default: the module's class name).

    Returns:
        Detached CPU float32 tensors, keyed as above.

    """
    network, converter = _convert(module, input_shape, name)
    state: dict[str, torch.Tensor] = {}
    for layer in network.compute_layers:
        source = converter.traced.get_submodule(converter.weight_modules[layer.name])
        assert isinstance(source, nn.Conv2d | nn.Linear)
        weight = source.weight.detach().float().cpu().clone()
        bias = (source.bias.detach().float().cpu().clone() if source.bias is not None
                else torch.zeros(weight.shape[0]))
        norm_target = converter.norm_modules.get(layer.name)
        norm = None if norm_target is None else converter.traced.get_submodule(norm_target)
        if isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d) and layer.kind == "linear":
            scale, shift = _norm_affine(norm)
            weight, bias = weight * scale[:, None], bias * scale + shift
        elif isinstance(norm, nn.BatchNorm2d):
            features = norm.num_features
            state[f"{layer.name}.bn.weight"] = (norm.weight.detach().float().clone()
                                                if norm.weight is not None
                                                else torch.ones(features))
            state[f"{layer.name}.bn.bias"] = (norm.bias.detach().float().clone()
                                              if norm.bias is not None
                                              else torch.zeros(features))
            assert norm.running_mean is not None and norm.running_var is not None
            state[f"{layer.name}.bn.running_mean"] = norm.running_mean.detach().float().clone()
            state[f"{layer.name}.bn.running_var"] = norm.running_var.detach().float().clone()
        state[f"{layer.name}.weight"] = weight
        if layer.bias:
            state[f"{layer.name}.bias"] = bias
    return state


def _norm_affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """A BatchNorm in eval mode as ``x * scale + shift`` (per feature)."""
    assert isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d)
    assert norm.running_mean is not None and norm.running_var is not None
    gamma = norm.weight.detach().float() if norm.weight is not None else 1.0
    beta = norm.bias.detach().float() if norm.bias is not None else 0.0
    scale = gamma / torch.sqrt(norm.running_var.detach().float() + norm.eps)
    return torch.as_tensor(scale), beta - norm.running_mean.detach().float() * scale


def _convert(module: nn.Module, input_shape: Sequence[int], name: str | None
             ) -> tuple[Network, _Converter]:
    shape = tuple(input_shape)[-3:] if len(tuple(input_shape)) == 4 else tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                  for v in shape):
        raise InputError(f"bad value {tuple(input_shape)!r}", field="input_shape",
                         expected="(C, H, W), three integers >= 1")
    try:
        traced = fx.symbolic_trace(module)
    except Exception as exc:
        raise NetworkError(f"torch.fx cannot trace {type(module).__name__}: "
                           f"{type(exc).__name__}: {_first_line(exc)}",
                           expected="a module without data-dependent control flow") from None
    _propagate_shapes(traced, module, shape)
    converter = _Converter(traced, name or type(module).__name__)
    return network_from_dict(converter.document(list(shape))), converter


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _propagate_shapes(traced: fx.GraphModule, module: nn.Module, shape: tuple[int, ...]
                      ) -> None:
    """Run ``traced`` once on zeros (eval mode, no gradients): every node gets its shape."""
    modes = {m: m.training for m in module.modules()}
    try:
        traced.eval()
        with torch.no_grad():
            parameter = next(iter(module.parameters()), None)
            device = parameter.device if parameter is not None else torch.device("cpu")
            ShapeProp(traced).propagate(torch.zeros((1, *shape), device=device))
    except Exception as exc:
        raise NetworkError(f"the module does not run on input {list(shape)}: "
                           f"{type(exc).__name__}: {_first_line(exc)}",
                           field="input_shape", expected="the (C, H, W) the module takes"
                           ) from None
    finally:
        for sub, training in modes.items():
            sub.training = training


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    shape = getattr(meta, "shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def _scope(node: fx.Node) -> str:
    """The dotted path of the module whose ``forward`` made ``node`` (``""`` at the top)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return str(path)


def _pair(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


class _Converter:
    """One pass over the traced graph (fx graphs are in execution order)."""

    def __init__(self, traced: fx.GraphModule, network_name: str) -> None:
        self.traced = traced
        self.network_name = network_name
        self.namer = LayerNamer()
        self.layers: list[dict[str, Any]] = []
        self.by_name: dict[str, dict[str, Any]] = {}
        self.acts: dict[fx.Node, _Act] = {}
        #: The module (dotted target) holding each conv/linear layer's weights, and the
        #: BatchNorm folded into it (what :func:`torch_checkpoint` reads).
        self.weight_modules: dict[str, str] = {}
        self.norm_modules: dict[str, str] = {}

    def document(self, input_shape: list[int]) -> dict[str, Any]:
        output: Any = None
        for node in self.traced.graph.nodes:
            if node.op == "placeholder":
                if self.acts:
                    raise self._error(node, "a second input", expected="one image input")
                self.acts[node] = _Act("input", flat=False)
            elif node.op == "output":
                output = node.args[0]
            elif node.op != "get_attr" and self._reads_activation(node):
                self._node(node)
        if not isinstance(output, fx.Node) or output not in self.acts:
            raise NetworkError("the module's output is not one tensor of its layers",
                               expected="a module that returns one tensor")
        last = self.acts[output].layer
        if last == "input":
            raise NetworkError("no layer between the input and the output",
                               expected="at least one nn.Conv2d or nn.Linear")
        needed = {last}
        for layer in reversed(self.layers):
            if layer["name"] in needed:
                sources = layer["from"]
                needed.update([sources] if isinstance(sources, str) else sources)
        return {"name": LayerNamer().module(self.network_name, "torch-network"),
                "input": input_shape,
                "layers": [layer for layer in self.layers if layer["name"] in needed]}

    def _reads_activation(self, node: fx.Node) -> bool:
        found = False

        def visit(arg: Any) -> Any:
            nonlocal found
            found = found or (isinstance(arg, fx.Node) and arg in self.acts)
            return arg

        fx.node.map_arg((node.args, node.kwargs), visit)
        return found

    # ------------------------------------------------------------------ helpers
    def _error(self, node: fx.Node, message: str, *, expected: str | None = None
               ) -> NetworkError:
        return NetworkError(f"{message} (node '{node.name}', target {self._target(node)})",
                            location=("graph", node.name), expected=expected)

    def _target(self, node: fx.Node) -> str:
        if node.op == "call_module":
            module = self.traced.get_submodule(str(node.target))
            return f"{node.target} ({type(module).__module__}.{type(module).__name__})"
        target = node.target
        return getattr(target, "__qualname__", None) or getattr(target, "__name__", None) \
            or str(target)

    def _act(self, node: fx.Node, arg: Any, *, spatial: bool = True) -> _Act:
        if not isinstance(arg, fx.Node) or arg not in self.acts:
            raise self._error(node, "an input is not an activation",
                              expected="the output of an earlier layer")
        act = self.acts[arg]
        if spatial and act.flat:
            raise self._error(node, "its input is flattened", expected="a [N, C, H, W] map")
        return act

    def _add_layer(self, node: fx.Node, layer: dict[str, Any], *, flat: bool) -> None:
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
        self.acts[node] = _Act(layer["name"], flat=flat)

    def _pass(self, node: fx.Node, arg: Any, *, flat: bool | None = None,
              norm: bool = False) -> None:
        act = self._act(node, arg, spatial=False)
        if norm and act.direct:  # BatchNorm folded: the layer gets its shift as a bias
            layer = self.by_name.get(act.layer)
            if layer is not None and layer["type"] in ("conv", "linear"):
                layer["bias"] = True
                if node.op == "call_module":
                    self.norm_modules[act.layer] = str(node.target)
        self.acts[node] = _Act(act.layer, act.flat if flat is None else flat, direct=False)

    # ------------------------------------------------------------------ dispatch
    def _node(self, node: fx.Node) -> None:
        if node.op == "call_module":
            self._module(node)
        elif node.op == "call_function":
            self._function(node, node.target)
        elif node.op == "call_method":
            self._method(node)
        else:
            raise self._error(node, f"unsupported node kind {node.op}")

    def _module(self, node: fx.Node) -> None:
        target = str(node.target)
        module = self.traced.get_submodule(target)
        source = node.args[0] if node.args else None
        if isinstance(module, nn.Conv2d):
            self._conv(node, module, source)
        elif isinstance(module, nn.Linear):
            self._linear(node, module, source)
        elif isinstance(module, _NORM_MODULES):
            self._pass(node, source, norm=True)
        elif isinstance(module, _FREE_MODULES):
            self._pass(node, source)
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise self._error(node, "flattens other dims", expected="start_dim=1")
            self._flatten(node, source)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            kind = "pool" if isinstance(module, nn.MaxPool2d) else "avgpool"
            dilation = getattr(module, "dilation", 1)
            self._window_pool(node, source, kind, target, kernel=module.kernel_size,
                              stride=module.stride, padding=module.padding, dilation=dilation)
        elif isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            kind = "avgpool" if isinstance(module, nn.AdaptiveAvgPool2d) else "pool"
            self._adaptive(node, source, kind, target)
        else:
            raise self._error(node, f"module {type(module).__name__} is not supported",
                              expected="Conv2d, Linear, BatchNorm, activations, dropout, "
                              "MaxPool2d, AvgPool2d, AdaptiveAvg/MaxPool2d, Flatten")

    def _function(self, node: fx.Node, target: Any) -> None:
        args = node.args
        source = args[0] if args else None
        if target in _ADD and len(args) == 2 and all(
                isinstance(a, fx.Node) and a in self.acts for a in args):
            self._merge(node, list(args), "add")
        elif target in _ADD | _AFFINE and len(args) == 2 and sum(
                isinstance(a, fx.Node) and a in self.acts for a in args) == 1:
            act_arg = args[0] if isinstance(args[0], fx.Node) and args[0] in self.acts \
                else args[1]
            self._pass(node, act_arg)
        elif target in _CAT:
            tensors = args[0] if args else node.kwargs.get("tensors")
            dim = args[1] if len(args) > 1 else node.kwargs.get("dim", 0)
            self._concat(node, tensors, dim)
        elif target is torch.flatten:
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                raise self._error(node, f"flattens from dim {start}", expected="start_dim=1")
            self._flatten(node, source)
        elif target in _FREE_FUNCTIONS:
            self._pass(node, source, norm=target is F.batch_norm)
        elif target in (F.max_pool2d, F.avg_pool2d):
            kind = "pool" if target is F.max_pool2d else "avgpool"
            names = ["input", "kernel_size", "stride", "padding"] + (
                ["dilation", "ceil_mode"] if kind == "pool" else ["ceil_mode"])
            values = dict(zip(names, args, strict=False)) | dict(node.kwargs)
            kernel = values["kernel_size"]
            self._window_pool(node, source, kind, "", kernel=kernel,
                              stride=values.get("stride") or kernel,
                              padding=values.get("padding", 0),
                              dilation=values.get("dilation", 1),
                              ceil_mode=bool(values.get("ceil_mode", False)))
        elif target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            self._adaptive(node, source, "avgpool" if target is F.adaptive_avg_pool2d
                           else "pool", "")
        elif target is torch.mean:
            self._mean(node, source, args[1:], node.kwargs)
        else:
            raise self._error(node, "function is not supported",
                              expected="add, cat, flatten, activations, pooling functions")

    def _method(self, node: fx.Node) -> None:
        method = str(node.target)
        source = node.args[0] if node.args else None
        if method in ("size", "dim"):
            return
        if method in _FREE_METHODS:
            self._pass(node, source)
        elif method in _SHAPE_METHODS:
            self._flatten(node, source)
        elif method == "mean":
            self._mean(node, source, node.args[1:], node.kwargs)
        elif method in ("add", "add_", "__add__"):
            self._function(node, operator.add)
        elif method in ("mul", "mul_", "div", "div_", "sub", "sub_"):
            self._function(node, operator.mul)
        else:
            raise self._error(node, f"method .{method}() is not supported",
                              expected="view/reshape/flatten, mean over (2, 3), activations")

    # ------------------------------------------------------------------ layers
    def _conv(self, node: fx.Node, module: nn.Conv2d, source: Any) -> None:
        act = self._act(node, source)
        if module.padding_mode != "zeros":
            raise self._error(node, f"padding_mode={module.padding_mode!r}",
                              expected="'zeros'")
        kernel, dilation = _pair(module.kernel_size), _pair(module.dilation)
        if isinstance(module.padding, str):
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            if module.padding == "same" and any(t % 2 for t in totals):
                raise self._error(node, "padding='same' pads one side more",
                                  expected="an odd (dilated) kernel, or explicit padding")
            padding = [t // 2 for t in totals] if module.padding == "same" else [0, 0]
        else:
            padding = _pair(module.padding)
        self._add_layer(node, {
            "name": self.namer.module(str(node.target), "conv"), "type": "conv",
            "from": act.layer, "in_channels": module.in_channels,
            "out_channels": module.out_channels, "kernel_size": kernel,
            "stride": _pair(module.stride), "padding": padding, "dilation": dilation,
            "groups": module.groups, "bias": module.bias is not None,
        }, flat=False)
        self.weight_modules[self.layers[-1]["name"]] = str(node.target)

    def _linear(self, node: fx.Node, module: nn.Linear, source: Any) -> None:
        act = self._act(node, source, spatial=False)
        shape = _shape(source)
        if shape is None or len(shape) != 2:
            raise self._error(node, f"input of shape {list(shape or ())}",
                              expected="[N, features] (flatten the map first)")
        self._add_layer(node, {
            "name": self.namer.module(str(node.target), "linear"), "type": "linear",
            "from": act.layer, "in_features": module.in_features,
            "out_features": module.out_features, "bias": module.bias is not None,
        }, flat=True)
        self.weight_modules[self.layers[-1]["name"]] = str(node.target)

    def _flatten(self, node: fx.Node, source: Any) -> None:
        self._act(node, source, spatial=False)
        before, after = _shape(source), _shape(node)
        if before is None or after is None:
            raise self._error(node, "unknown shape", expected="a tensor")
        if after == before:
            self._pass(node, source)
            return
        features = 1
        for size in before[1:]:
            features *= size
        if len(after) != 2 or after[0] != before[0] or after[1] != features:
            raise self._error(node, f"{list(before)} -> {list(after)}",
                              expected="a flatten to [N, C*H*W] before a linear layer")
        self._pass(node, source, flat=True)

    def _window_pool(self, node: fx.Node, source: Any, kind: str, target: str, *,
                     kernel: Any, stride: Any, padding: Any, dilation: Any = 1,
                     ceil_mode: bool = False) -> None:
        act = self._act(node, source)
        module = self.traced.get_submodule(target) if target else None
        ceil_mode = bool(getattr(module, "ceil_mode", ceil_mode))
        if _pair(dilation) != [1, 1]:
            raise self._error(node, "dilated pooling", expected="dilation=1")
        kernel_p = _pair(kernel)
        stride_p = _pair(stride if stride is not None else kernel)
        padding_p = _pair(padding)
        before, after = _shape(source), _shape(node)
        if ceil_mode and before is not None and after is not None:
            floor = [(n + 2 * p - k) // s + 1 for n, p, k, s in
                     zip(before[2:], padding_p, kernel_p, stride_p, strict=True)]
            if list(after[2:]) != floor:
                raise self._error(node, "ceil_mode=True changes the output size",
                                  expected="ceil_mode=False")
        self._add_layer(node, {
            "name": self.namer.pool(target or _scope(node), kind), "type": kind,
            "from": act.layer, "kernel_size": kernel_p, "stride": stride_p,
            "padding": padding_p,
        }, flat=False)

    def _adaptive(self, node: fx.Node, source: Any, kind: str, target: str) -> None:
        act = self._act(node, source)
        before, after = _shape(source), _shape(node)
        assert before is not None and after is not None  # ShapeProp ran every node
        (h, w), (oh, ow) = before[2:], after[2:]
        scope = target or _scope(node)
        if (oh, ow) == (h, w):
            self._pass(node, source)
        elif (oh, ow) == (1, 1) and kind == "avgpool":
            self._add_layer(node, {"name": self.namer.pool(scope, "globalpool"),
                                   "type": "globalpool", "from": act.layer}, flat=False)
        elif h % oh == 0 and w % ow == 0:
            window = [h // oh, w // ow]
            self._add_layer(node, {"name": self.namer.pool(scope, kind), "type": kind,
                                   "from": act.layer, "kernel_size": window,
                                   "stride": window}, flat=False)
        else:
            raise self._error(node, f"adaptive pooling {h}x{w} -> {oh}x{ow}",
                              expected="an output size that divides the map")

    def _mean(self, node: fx.Node, source: Any, args: Sequence[Any],
              kwargs: dict[str, Any]) -> None:
        dims = args[0] if args else kwargs.get("dim")
        keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        dims_list = [dims] if isinstance(dims, int) else list(dims or [])
        if sorted(d % 4 for d in dims_list) != [2, 3]:
            raise self._error(node, f"mean over dims {dims_list}",
                              expected="(2, 3), a global average pool")
        act = self._act(node, source)
        self._add_layer(node, {"name": self.namer.pool(_scope(node), "globalpool"),
                               "type": "globalpool", "from": act.layer},
                        flat=not keepdim)

    def _merge(self, node: fx.Node, args: list[Any], kind: str) -> None:
        acts = [self._act(node, arg, spatial=False) for arg in args]
        flat = [a.flat for a in acts]
        if any(flat) and not all(a.flat and self.by_name.get(a.layer, {}).get("type")
                                 == "linear" for a in acts):
            raise self._error(node, "merges flattened feature maps",
                              expected="[N, C, H, W] maps, or the outputs of linear layers")
        self._add_layer(node, {"name": self.namer.merge(_scope(node), kind), "type": kind,
                               "from": [a.layer for a in acts]}, flat=any(flat))

    def _concat(self, node: fx.Node, tensors: Any, dim: Any) -> None:
        if not isinstance(tensors, list | tuple) or not tensors:
            raise self._error(node, "concatenates no list of tensors")
        shape = _shape(tensors[0])
        rank = len(shape) if shape is not None else 4
        if not isinstance(dim, int) or dim % rank != 1:
            raise self._error(node, f"concatenates along dim {dim}",
                              expected="dim=1 (channels)")
        if len(tensors) == 1:
            self._pass(node, tensors[0])
            return
        self._merge(node, list(tensors), "concat")

