"""``epim.nn.StackedNet``: N designs as one model give each design's own outputs and gradients."""

import pytest
import torch
from torch import nn

from epim.nn import (
    CrossbarSpec,
    EpimNet,
    StackedNet,
    build,
    crossbar_model,
    from_torch,
    stackable,
)
from epim.nn._quant import _round_ste
from epim.nn._stacked import _LsqActivation, stacked_conv
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


def test_fused_activation_quantizer_matches_the_straight_through_composition() -> None:
    torch.manual_seed(0)
    x = (torch.randn(4, 6, 5, 5) * 2).requires_grad_()
    step = (torch.rand(1, 6, 1, 1) + 0.2).requires_grad_()
    q_max = torch.tensor([3.0, 3, 3, 15, 15, 15]).view(1, 6, 1, 1)
    grad = torch.randn(4, 6, 5, 5)
    fused = _LsqActivation.apply(x, step, q_max)
    fused.backward(grad)
    fused_x, fused_step = x.grad.clone(), step.grad.clone()
    x.grad = step.grad = None
    composed = _round_ste(torch.clamp(x / step, torch.zeros_like(q_max), q_max)) * step
    composed.backward(grad)
    assert torch.allclose(fused, composed, atol=1e-6)
    assert torch.allclose(fused_x, x.grad, atol=1e-6)
    assert torch.allclose(fused_step, step.grad, rtol=1e-5, atol=1e-4)


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
