"""Many designs of one network as one model: every layer holds all designs' generated kernels.

:class:`StackedNet` takes N built :class:`~epim.nn.EpimNet` models of the same layer table
(different epitome shapes, weight and activation bits) and runs them as one network whose
activations are the N designs' side by side along the channel axis (design-major: channels
``[i*C, (i+1)*C)`` belong to design ``i``):

- a conv becomes one grouped convolution over designs (``groups = N * groups``) with the N
  generated kernels stacked; the network input is shared, so a first conv is one ordinary
  convolution with ``N * Cout`` filters;
- a linear layer becomes a batched matmul over designs (or one matmul on the shared input);
- BatchNorm over ``N * C`` channels is per design automatically (statistics are per channel);
- the epitomes of all designs are one flat parameter per layer and each design's gather
  index is offset into it; LSQ steps, bit ranges and gradient scales are tensors with one
  entry per design (activations) or per epitome output channel (weights), so every design
  keeps its own quantizer (Esser et al., "Learned Step Size Quantization", ICLR 2020).

The designs do not interact: each design's outputs depend only on its own parameters, so the
sum of the designs' losses has, for each design, that design's own gradient. Every trainable
element has an owner (:meth:`StackedNet.owners`) for per-design gradient clipping and for
isolating a design that diverges. Generated kernels use the gather path (docs/epitome.md
section 3); it equals the reuse path of a single model up to float rounding.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from epim.nn._build import ComputeBlock, EpimNet, module_key
from epim.nn._epitome import EpitomeConv2d, EpitomeLinear
from epim.nn._fused import LsqActivation
from epim.nn._quant import ActivationQuantizer, WeightQuantizer, _grad_scale, _round_ste
from epim.workloads import MERGE_KINDS, Layer

#: Module types a model may contain to be stacked (exact types: a subclass may change the math).
STACKABLE_TYPES: tuple[type[nn.Module], ...] = (
    EpimNet, nn.ModuleDict, ComputeBlock, EpitomeConv2d, EpitomeLinear, WeightQuantizer,
    ActivationQuantizer, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def stackable(model: nn.Module) -> bool:
    """Whether :class:`StackedNet` reproduces ``model`` (only the modules it knows, exactly).

    Pruned layers (a weight mask) are not stacked: their designs take the per-design path.
    """
    return type(model) is EpimNet and all(
        type(m) in STACKABLE_TYPES and getattr(m, "weight_mask", None) is None
        for m in model.modules())


def _cat_owned(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten and concatenate per-design tensors; the design index of every element."""
    owner = torch.cat([torch.full((t.numel(),), i, dtype=torch.long)
                       for i, t in enumerate(tensors)])
    return torch.cat([t.detach().flatten() for t in tensors]), owner


class StackedWeights(nn.Module):
    """The epitomes of N designs' versions of one layer and their generated, stacked kernels.

    Args:
        ops: The layer's epitome module in each design (same kernel shape; any epitome).

    """

    epitome_owner: torch.Tensor
    index: torch.Tensor
    bias_owner: torch.Tensor
    step_owner: torch.Tensor
    step_channel: torch.Tensor
    q_min: torch.Tensor
    q_max: torch.Tensor
    binary: torch.Tensor
    grad_scale: torch.Tensor

    def __init__(self, ops: list[EpitomeConv2d] | list[EpitomeLinear]) -> None:
        super().__init__()
        n = len(ops)
        flat, owner = _cat_owned([op.epitome for op in ops])
        self.epitome = nn.Parameter(flat)
        self.register_buffer("epitome_owner", owner, persistent=False)
        offsets = [0]
        for op in ops[:-1]:
            offsets.append(offsets[-1] + op.epitome.numel())
        index = torch.stack([op.index.to(torch.long) + off for op, off in zip(ops, offsets,
                                                                             strict=True)])
        self.kernel_shape = tuple(ops[0].index.shape)
        self.register_buffer("index", index.reshape(n * self.kernel_shape[0],
                                                    *self.kernel_shape[1:]), persistent=False)
        biases = [op.bias for op in ops]
        self.bias: nn.Parameter | None = None
        if biases[0] is not None:
            values, bias_owner = _cat_owned([b for b in biases if b is not None])
            self.bias = nn.Parameter(values)
            self.register_buffer("bias_owner", bias_owner, persistent=False)
        self.quantized = ops[0].quantizer is not None
        if self.quantized:
            self._stack_quantizers(ops)

    def _stack_quantizers(self, ops: list[EpitomeConv2d] | list[EpitomeLinear]) -> None:
        steps, channel, q_min, q_max, binary, scale = [], [], [], [], [], []
        first_step = 0
        for op in ops:
            quantizer = op.quantizer
            assert quantizer is not None
            if not bool(quantizer.initialized):
                quantizer._init_step(op.epitome)  # what its first forward pass would do
            count = quantizer.step.numel()
            numel = op.epitome.numel()
            steps.append(quantizer.step.detach())
            channel.append(first_step + torch.arange(numel) // (numel // count))
            first_step += count
            q_min.append(torch.full((numel,), float(quantizer.q_min)))
            q_max.append(torch.full((numel,), float(quantizer.q_max)))
            binary.append(torch.full((numel,), quantizer.bits == 1))
            scale.append(torch.full((count,), 1.0 / math.sqrt(numel * max(quantizer.q_max, 1))))
        values, step_owner = _cat_owned(steps)
        self.step = nn.Parameter(values)
        self.register_buffer("step_owner", step_owner, persistent=False)
        self.register_buffer("step_channel", torch.cat(channel), persistent=False)
        self.register_buffer("q_min", torch.cat(q_min), persistent=False)
        self.register_buffer("q_max", torch.cat(q_max), persistent=False)
        self.register_buffer("binary", torch.cat(binary), persistent=False)
        self.register_buffer("grad_scale", torch.cat(scale), persistent=False)
        self.any_binary = bool(self.binary.any())

    def stored(self) -> torch.Tensor:
        """All designs' epitomes, flat, fake-quantized as each design's quantizer would."""
        if not self.quantized:
            return self.epitome
        step = _grad_scale(self.step, self.grad_scale).abs().clamp_min(1e-12)  # type: ignore[arg-type]
        step = step[self.step_channel]
        q = _round_ste(torch.clamp(self.epitome / step, self.q_min, self.q_max)) * step
        if self.any_binary:
            sign = torch.where(self.epitome >= 0, 1.0, -1.0) * step
            q = torch.where(self.binary, sign, q)
        return q

    def kernels(self) -> torch.Tensor:
        """The N generated kernels stacked along the output axis: ``(N * Cout, ...)``."""
        return self.stored()[self.index]


class StackedActivations(nn.Module):
    """N designs' unsigned LSQ activation quantizers (one step and bit-width per design)."""

    initialized: torch.Tensor
    step_owner: torch.Tensor
    q_max: torch.Tensor

    def __init__(self, quantizers: list[ActivationQuantizer]) -> None:
        super().__init__()
        self.n = len(quantizers)
        self.step = nn.Parameter(torch.cat([q.step.detach().reshape(1) for q in quantizers]))
        self.register_buffer("step_owner", torch.arange(self.n), persistent=False)
        self.register_buffer("q_max", torch.tensor([float(q.q_max) for q in quantizers]),
                             persistent=False)
        self.register_buffer("initialized", torch.tensor(all(bool(q.initialized)
                                                             for q in quantizers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantize stacked ``x`` (B, N*C, ...) with each design's step and bits."""
        channels = x.shape[1] // self.n
        if not bool(self.initialized):  # LSQ's rule on the first batch, per design
            dims = [0, *range(2, x.dim())]
            mean = x.detach().abs().mean(dim=dims).view(self.n, channels).mean(dim=1)
            self.step.data.copy_(2 * mean.clamp_min(1e-8) / self.q_max.sqrt())
            self.initialized.fill_(True)
        scale = (x.numel() / self.n * self.q_max).rsqrt()
        step = _grad_scale(self.step, scale).abs().clamp_min(1e-12)  # type: ignore[arg-type]
        rows = x.reshape(x.shape[0], self.n, -1)  # one step per row: a fast broadcast
        out: torch.Tensor = LsqActivation.apply(  # type: ignore[no-untyped-call]
            rows, step.view(1, -1, 1), self.q_max.view(1, -1, 1))
        return out.view_as(x)


class StackedBlock(nn.Module):
    """N designs' :class:`ComputeBlock` of one layer as one block."""

    def __init__(self, blocks: list[ComputeBlock], layer: Layer) -> None:
        super().__init__()
        self.n = len(blocks)
        first = blocks[0]
        self.is_linear = first.is_linear
        self.relu = first.relu
        self.act_quant = (StackedActivations([b.act_quant for b in blocks  # type: ignore[misc]
                                              ]) if first.act_quant is not None else None)
        self.weights = StackedWeights([b.op for b in blocks])  # type: ignore[arg-type]
        self.layer = layer
        self.tune = False
        self.formulation: tuple[int, bool] | None = None
        self.bn: nn.BatchNorm2d | None = None
        if first.bn is not None:
            bns = [b.bn for b in blocks]
            self.bn = nn.BatchNorm2d(self.n * layer.out_channels)
            state = {name: torch.cat([bn.state_dict()[name] for bn in bns])  # type: ignore[union-attr]
                     for name in ("weight", "bias", "running_mean", "running_var")}
            state["num_batches_tracked"] = bns[0].state_dict()["num_batches_tracked"]  # type: ignore[union-attr]
            self.bn.load_state_dict(state)
            self.bn.to(first.bn.weight.device)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Apply the block to ``x``: stacked (B, N*C, ...) or, when ``shared``, one copy."""
        layer = self.layer
        if self.act_quant is not None:
            if shared:
                x, shared = expand(x, self.n), False
            x = self.act_quant(x)
        weight = self.weights.kernels()
        bias = self.weights.bias
        if self.is_linear:
            x = x.flatten(1)
            if shared:
                y = F.linear(x, weight, bias)
            else:
                batch = x.shape[0]
                y = torch.bmm(x.view(batch, self.n, -1).transpose(0, 1),
                              weight.view(self.n, layer.out_channels, -1).transpose(1, 2))
                y = y.transpose(0, 1).reshape(batch, -1)
                if bias is not None:
                    y = y + bias
        elif shared:
            y = F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation,
                         layer.groups)
        else:
            if self.formulation is None:
                self.formulation = (choose_formulation(layer, self.n, tuple(x.shape), x.device)
                                    if self.tune and x.requires_grad
                                    else default_formulation(layer, self.n))
            y = stacked_conv(x, weight, bias, layer, self.n, *self.formulation)
        if self.bn is not None:
            y = self.bn(y)
        # In place: y is this block's own fresh output (BatchNorm's and the convolution's
        # backward do not read it), so no second activation-sized buffer is written.
        return torch.relu_(y) if self.relu else y

    def owned(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """Every parameter of the block with the design index of each of its elements."""
        pairs: list[tuple[nn.Parameter, torch.Tensor]] = [
            (self.weights.epitome, self.weights.epitome_owner)]
        if self.weights.bias is not None:
            pairs.append((self.weights.bias, self.weights.bias_owner))
        if self.weights.quantized:
            pairs.append((self.weights.step, self.weights.step_owner))
        if self.act_quant is not None:
            pairs.append((self.act_quant.step, self.act_quant.step_owner))
        if self.bn is not None:
            per_channel = torch.arange(self.n, device=self.bn.weight.device
                                       ).repeat_interleave(self.layer.out_channels)
            pairs += [(self.bn.weight, per_channel), (self.bn.bias, per_channel)]
        return pairs


def stacked_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 layer: Layer, n: int, fold: int, channels_last: bool) -> torch.Tensor:
    """The convolution of ``n`` stacked designs (design-major channels) with their kernels.

    Args:
        x: Stacked input (B, n * Cin, H, W).
        weight: Stacked kernels (n * Cout, Cin / groups, kh, kw).
        bias: Stacked biases (n * Cout) or ``None``.
        layer: The layer (stride, padding, dilation, groups).
        n: Designs.
        fold: Designs per convolution group: 0 is a batched matmul over designs (1 x 1
            kernels without padding only: :func:`_pointwise_conv`); 1 is a grouped
            convolution over designs; ``g >
            1`` (``groups == 1``, ``g`` divides ``n``) places ``g`` designs' kernels on the
            diagonal of one dense ``(g Cout, g Cin)`` kernel, ``g`` times the arithmetic of
            the grouped form but far faster for channels of a few (a dense kernel of 16
            channels runs at ~10x the FLOP rate of a 4-channel group on one core).
        channels_last: Run the convolution on NHWC tensors.

    """
    if fold == 0:
        return _pointwise_conv(x, weight, bias, layer, n)
    if fold > 1:
        cout, cin = weight.shape[0] // n, weight.shape[1]
        eye = torch.eye(fold, dtype=weight.dtype, device=weight.device)
        weight = (weight.view(n // fold, fold, cout, 1, cin, *weight.shape[2:])
                  * eye.view(1, fold, 1, fold, 1, 1, 1)
                  ).reshape(n * cout, fold * cin, *weight.shape[2:])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation,
                 n * layer.groups // fold)
    return y.contiguous() if channels_last else y


def pointwise(layer: Layer) -> bool:
    """Whether :func:`_pointwise_conv` computes the layer (1 x 1, no padding or groups)."""
    return (layer.kernel == (1, 1) and layer.padding == (0, 0) and layer.groups == 1
            and layer.dilation == (1, 1))


def _pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    layer: Layer, n: int) -> torch.Tensor:
    """A 1 x 1 convolution of ``n`` stacked designs as one batched matmul over designs.

    The stride subsamples the input first; then each design's ``(Cout, Cin)`` kernel
    multiplies its ``(Cin, H W)`` slice of every image (``torch.matmul`` broadcast over the
    batch). A resnet20 proxy's strided 1 x 1 shortcuts (32 designs, 4 to 8 channels at 28 x
    28 and 8 to 16 at 14 x 14, with bias, forward and backward, one core of a loaded
    machine) ran 1.2-1.4x faster so than as a grouped convolution. ``channels_last`` does
    not apply.
    """
    stride_h, stride_w = layer.stride
    if (stride_h, stride_w) != (1, 1):
        x = x[:, :, ::stride_h, ::stride_w]
    batch, _, height, width = x.shape
    cout = weight.shape[0] // n
    rows = x.reshape(batch, n, -1, height * width)                        # (B, n, Cin, HW)
    y = torch.matmul(weight.view(1, n, cout, -1), rows)                   # (B, n, Cout, HW)
    y = y.view(batch, n * cout, height, width)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def default_formulation(layer: Layer, n: int) -> tuple[int, bool]:
    """The ``(fold, channels_last)`` of :func:`stacked_conv` measured fastest for the layer.

    Timed with ``choose_formulation`` on one core (forward and backward, 32 designs, batch
    64, the resnet20 and resnet18 proxies at width 0.25 on 28 x 28 images, a loaded two-core
    machine): 3 x 3 groups of at most 4 input channels run about 1.7-2.2x faster folded in
    pairs (two designs per dense NCHW kernel); 1 x 1 kernels without padding 1.2-1.4x faster
    as a batched matmul (fold 0); every wider group is fastest (or within the timing noise) as
    the plain grouped convolution. Unfolding 3 x 3 inputs for a batched matmul (im2col) ran
    3-10x slower than the grouped convolution at every resnet20 proxy shape.
    """
    if pointwise(layer):
        return 0, False
    cin = layer.in_channels // layer.groups
    if layer.groups != 1 or cin > 4 or layer.kernel == (1, 1):
        return 1, False
    return (2, False) if n % 2 == 0 else (1, False)


_FORMULATIONS: dict[tuple[object, ...], tuple[int, bool]] = {}


def choose_formulation(layer: Layer, n: int, shape: tuple[int, ...], device: torch.device,
                       repeats: int = 2) -> tuple[int, bool]:
    """The fastest ``(fold, channels_last)`` of :func:`stacked_conv` for a layer and input.

    Timed here, forward and backward, and kept per process for equal shapes.

    Folds 1, 2, 4 and 8 are tried where ``groups == 1``, the fold divides ``n`` and the folded
    kernel has at most 32 input channels, and the batched matmul (fold 0) for 1 x 1 kernels;
    each in both memory formats.
    """
    key = (layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding,
           layer.dilation, layer.groups, n, shape, str(device), torch.get_num_threads())
    if key in _FORMULATIONS:
        return _FORMULATIONS[key]
    cin = layer.in_channels // layer.groups
    folds = [g for g in (1, 2, 4, 8)
             if g == 1 or (layer.groups == 1 and n % g == 0 and g * cin <= 32)]
    if pointwise(layer):
        folds.insert(0, 0)
    x = torch.randn(shape, device=device, requires_grad=True)
    weight = torch.randn(n * layer.out_channels, cin, *layer.kernel, device=device,
                         requires_grad=True)
    best, best_time = (1, False), math.inf
    for fold in folds:
        for channels_last in (False, True):
            seconds = math.inf
            for _ in range(repeats + 1):  # the first run warms up; the best of the rest
                began = time.perf_counter()
                out = stacked_conv(x, weight, None, layer, n, fold, channels_last).sum()
                out.backward()  # type: ignore[no-untyped-call]
                seconds = min(seconds, time.perf_counter() - began)
            if seconds < best_time:
                best, best_time = (fold, channels_last), seconds
    _FORMULATIONS[key] = best
    return best


def expand(x: torch.Tensor, n: int) -> torch.Tensor:
    """The shared tensor ``x`` (B, C, ...) repeated for ``n`` designs: (B, n*C, ...)."""
    return x.repeat(1, n, *([1] * (x.dim() - 2)))


class StackedNet(nn.Module):
    """N designs of one network trained as one model (see the module docstring).

    Args:
        models: Built models of the same network (``stackable``), e.g. each design's proxy
            fine-tuned from a dense start. Their current weights, quantizer steps and
            BatchNorm statistics are copied; the models are not changed (except that weight
            quantizers not yet initialized are, as their first forward pass would).
        tune: Time the convolution formulations of every stacked conv on its first
            training forward pass and keep the fastest (:func:`choose_formulation`); else
            :func:`default_formulation` (deterministic: timings would make the float
            rounding, hence a quantized result, depend on the machine's load).

    Raises:
        ValueError: If the models are of different networks or not stackable.

    """

    def __init__(self, models: list[EpimNet], *, tune: bool = False) -> None:
        super().__init__()
        if not models:
            raise ValueError("no models to stack")
        network = models[0].network
        for model in models:
            if not stackable(model) or model.network != network:
                raise ValueError("models must be stackable EpimNets of one network")
        self.n = len(models)
        self.network = network
        self.blocks = nn.ModuleDict()
        for layer in network.layers:
            key = module_key(layer.name)
            if layer.is_compute:
                self.blocks[key] = StackedBlock(
                    [model.blocks[key] for model in models], layer)  # type: ignore[misc]
            elif layer.kind not in MERGE_KINDS:
                self.blocks[key] = models[0].blocks[key]  # pools hold no state
        for block in self.blocks.values():
            if isinstance(block, StackedBlock):
                block.tune = tune and self.n > 1
        device = next(models[0].parameters()).device
        self.to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run all designs on the shared input ``x`` (B, C, H, W); logits (B, N, classes)."""
        outputs: dict[str, tuple[torch.Tensor, bool]] = {"input": (x, True)}
        for layer in self.network.layers:
            if layer.kind in MERGE_KINDS:
                out, shared = self._merge(layer, outputs)
            else:
                source, shared = outputs[layer.inputs[0]]
                block = self.blocks[module_key(layer.name)]
                if isinstance(block, StackedBlock):
                    out, shared = block(source, shared), False
                else:
                    out = block(source)
            outputs[layer.name] = (out, shared)
        result, shared = outputs[self.network.layers[-1].name]
        if shared:
            result = expand(result, self.n)
        return result.reshape(result.shape[0], self.n, -1)

    def _merge(self, layer: Layer, outputs: dict[str, tuple[torch.Tensor, bool]]
               ) -> tuple[torch.Tensor, bool]:
        entries = [outputs[source] for source in layer.inputs]
        if all(shared for _, shared in entries):
            inputs, shared = [x for x, _ in entries], True
        else:
            inputs = [expand(x, self.n) if s else x for x, s in entries]
            shared = False
        if layer.kind == "concat":
            if shared:
                return torch.cat(inputs, dim=1), True
            batch, rest = inputs[0].shape[0], inputs[0].shape[2:]
            parts = [x.reshape(batch, self.n, -1, *rest) for x in inputs]
            return torch.cat(parts, dim=2).reshape(batch, -1, *rest), False
        if len(inputs) == 1:
            return torch.relu(inputs[0]), shared
        total = inputs[0] + inputs[1]
        for other in inputs[2:]:
            total += other
        return torch.relu_(total), shared  # a fresh sum: relu in place (add saves nothing)

    def owners(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """Every trainable parameter with the design index (0..N-1) of each element."""
        pairs: list[tuple[nn.Parameter, torch.Tensor]] = []
        for block in self.blocks.values():
            if isinstance(block, StackedBlock):
                pairs += block.owned()
        return pairs
