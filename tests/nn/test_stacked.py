"""``epim.nn.StackedNet``: N designs as one model give each design's own outputs and gradients."""

import pytest
import torch
from torch import nn

from epim.nn import (
    CrossbarSpec,
    EpimNet,
    StackedNet,
    _fused,
    build,
    crossbar_model,
    from_torch,
    stackable,
)
from epim.nn._fused import Kernel, LsqActivation
from epim.nn._quant import _round_ste
from epim.nn._stacked import default_formulation, stacked_conv
from epim.space import Design
from epim.workloads import Network, get_network, scale_network
from tests.nn.models import INPUT, ConcatNet, DepthwiseNet

#: Float32 outputs of two summation orders of the same products (absolute, on O(1) logits).
TOLERANCE = 1e-4


def designs_of(net: Network, n: int, seed: int = 0) -> list[Design]:
    """``n`` designs that differ in every stacked quantity: epitome shapes and both bits."""
    generator = torch.Generator().manual_seed(seed)
    designs = []
    for _ in range(n):
        design = Design.dense(net, int(torch.randint(2, 9, (1,), generator=generator)),
                              int(torch.randint(2, 9, (1,), generator=generator)))
        for layer in net.compute_layers[1:]:
            cout, cin_g, _, _ = layer.weight_shape
            divide = int(torch.randint(1, 3, (1,), generator=generator)) * 2 - 1  # 1 or 3
            design = design.with_layer(layer.name, epitome_in=max(1, cin_g // divide),
                                       epitome_out=max(1, cout // divide),
                                       weight_bits=int(torch.randint(1, 9, (1,),
                                                                     generator=generator)))
        designs.append(design)
    return designs


def models_of(net: Network, designs: list[Design], quantize: bool) -> list[EpimNet]:
    torch.manual_seed(0)
    return [build(net, design, quantize=quantize) for design in designs]


@pytest.mark.parametrize("make", [ConcatNet, DepthwiseNet])
def test_stacked_outputs_equal_each_designs_own(make: type[nn.Module]) -> None:
    """Concat per design, depthwise groups, a classifier on a flattened map, float weights."""
    net = from_torch(make(), INPUT)
    designs = designs_of(net, 3)
    models = models_of(net, designs, quantize=False)
    x = torch.randn(5, *INPUT)
    stacked = StackedNet(models, tune=False).eval()
    expected = torch.stack([model.eval()(x) for model in models], dim=1)
    assert torch.allclose(stacked(x), expected, atol=TOLERANCE)


@pytest.mark.parametrize(("quantize", "tolerance"), [(False, 1e-4), (True, 0.05)])
def test_stacked_gradients_are_each_designs_own(quantize: bool, tolerance: float) -> None:
    """The sum of the designs' losses gives each design its own gradient.

    Relative error of each design's epitome gradient: float rounding only without
    quantization; quantized, a value that float rounding moves across a rounding boundary of
    the grid changes a level (both are right), so a few percent.
    """
    net = scale_network(get_network("resnet20"), width=0.25, image_size=8, in_channels=1,
                        num_classes=10)
    designs = designs_of(net, 3, seed=1)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(6, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (6,), generator=generator)
    models = models_of(net, designs, quantize=quantize)
    for model in models:  # initialize every quantizer on this batch, as training would
        model.train()(x)
    stacked = StackedNet(models, tune=False).train()  # copies the quantizers' steps
    for model in models:
        nn.functional.cross_entropy(model(x), y).backward()
    logits = stacked(x)
    losses = nn.functional.cross_entropy(logits.transpose(1, 2), y.unsqueeze(1).expand(-1, 3),
                                         reduction="none").mean(dim=0)
    losses.sum().backward()
    block = stacked.blocks["layer2__1__conv1"]
    grad = block.weights.epitome.grad
    owner = block.weights.epitome_owner
    for i, model in enumerate(models):
        own = model.blocks["layer2__1__conv1"].op.epitome.grad.flatten()
        assert float(own.norm()) > 0  # the comparison is not between zeros
        assert float((grad[owner == i] - own).norm() / own.norm()) < tolerance


@pytest.mark.parametrize(("fold", "channels_last"), [(1, True), (2, False), (4, True)])
def test_conv_formulations_agree(fold: int, channels_last: bool) -> None:
    layer = scale_network(get_network("resnet20"), width=0.25, image_size=8, in_channels=1,
                          num_classes=10).layer("layer1.0.conv1")
    n = 4
    x = torch.randn(3, n * layer.in_channels, 8, 8)
    weight = torch.randn(n * layer.out_channels, layer.in_channels, *layer.kernel)
    grouped = stacked_conv(x, weight, None, layer, n, 1, False)
    other = stacked_conv(x, weight, None, layer, n, fold, channels_last)
    assert torch.allclose(grouped, other, atol=TOLERANCE)


def test_pointwise_convolution_as_a_batched_matmul_agrees_with_the_grouped_one() -> None:
    layer = scale_network(get_network("resnet20"), width=0.25, image_size=8, in_channels=1,
                          num_classes=10).layer("layer2.0.downsample.0")
    assert layer.kernel == (1, 1) and layer.stride == (2, 2)
    assert default_formulation(layer, 4) == (0, False)
    n = 3
    x = torch.randn(2, n * layer.in_channels, 8, 8, requires_grad=True)
    weight = torch.randn(n * layer.out_channels, layer.in_channels, 1, 1, requires_grad=True)
    bias = torch.randn(n * layer.out_channels, requires_grad=True)
    outputs, grads = [], []
    for fold in (1, 0):
        out = stacked_conv(x, weight, bias, layer, n, fold, False)
        out.pow(2).sum().backward()
        outputs.append(out.detach())
        grads.append([t.grad.clone() for t in (x, weight, bias)])
        x.grad = weight.grad = bias.grad = None
    assert outputs[0].shape == outputs[1].shape
    assert torch.allclose(outputs[0], outputs[1], atol=TOLERANCE)
    for grouped, matmul in zip(*grads, strict=True):
        assert torch.allclose(grouped, matmul, rtol=1e-4, atol=TOLERANCE)


@pytest.mark.parametrize("compiled", [True, False])
def test_fused_activation_quantizer_matches_the_straight_through_composition(
        compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled (``torch.compile``) and eager kernels give LSQ's values and gradients."""
    if not compiled:
        for name in ("LSQ_FORWARD", "LSQ_BACKWARD"):
            eager = Kernel(getattr(_fused, name).fn)
            eager._run = eager.fn
            monkeypatch.setattr(_fused, name, eager)
    torch.manual_seed(0)
    x = (torch.randn(4, 6, 5, 5) * 2).requires_grad_()
    step = (torch.rand(1, 6, 1, 1) + 0.2).requires_grad_()
    q_max = torch.tensor([3.0, 3, 3, 15, 15, 15]).view(1, 6, 1, 1)
    grad = torch.randn(4, 6, 5, 5)
    fused = LsqActivation.apply(x, step, q_max)
    fused.backward(grad)
    assert _fused.LSQ_BACKWARD.compiled is compiled
    fused_x, fused_step = x.grad.clone(), step.grad.clone()
    x.grad = step.grad = None
    composed = _round_ste(torch.clamp(x / step, torch.zeros_like(q_max), q_max)) * step
    composed.backward(grad)
    assert torch.allclose(fused, composed, atol=1e-6)
    assert torch.allclose(fused_x, x.grad, atol=1e-6)
    assert torch.allclose(fused_step, step.grad, rtol=1e-5, atol=1e-4)


def test_a_kernel_whose_compilation_fails_runs_eagerly(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    def failing_compile(fn: object, **_: object) -> object:
        def run(*args: object) -> object:
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", failing_compile)
    kernel = Kernel(lambda a, b: a * b + 1)
    x = torch.arange(4.0)
    assert torch.equal(kernel(x, x), x * x + 1)
    assert not kernel.compiled
    assert torch.equal(kernel(x, -x), 1 - x * x)  # decided once: eager from now on


def test_crossbar_models_are_not_stackable() -> None:
    """Crossbar hardware effects are not stacked: such a model is left to the per-design path."""
    net = scale_network(get_network("resnet20"), width=0.25, image_size=8, in_channels=1,
                        num_classes=10)
    model = build(net)
    assert stackable(model)
    spec = CrossbarSpec(xbar_rows=32, dac_rows=16, row_packing="kernel", polarity=2,
                        cell_bits=2, dac_bits=2, adc_bits=16)
    assert not stackable(crossbar_model(model, spec))
    with pytest.raises(ValueError, match="stackable"):
        StackedNet([model, build(get_network("resnet20"))])


def test_pruned_models_are_not_stackable() -> None:
    """A pruned layer's weight mask is not stacked: its design takes the per-design path."""
    net = scale_network(get_network("resnet20"), width=0.25, image_size=8, in_channels=1,
                        num_classes=10)
    design = Design.dense(net, 8, 8).with_layer("layer1.0.conv1", prune_out=2)
    model = build(net, design)
    assert not stackable(model)
