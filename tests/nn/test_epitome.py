import pytest
import torch
from torch import nn

from epim.nn import (
    ActivationQuantizer,
    EpitomeConv2d,
    EpitomeLinear,
    WeightQuantizer,
    weight_levels,
)

torch.manual_seed(0)


def test_full_size_epitome_equals_conv2d() -> None:
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1, bias=True)
    epi = EpitomeConv2d.from_conv(conv)
    x = torch.randn(2, 6, 9, 9)
    assert torch.equal(epi.weight, conv.weight)  # a copy of the same numbers: exact
    # Two convolution calls may pick different kernels (CPU, BLAS): float32 tolerance.
    torch.testing.assert_close(epi(x), conv(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cin", "cout", "cin_e", "cout_e"), [
    (16, 32, 4, 8),     # integer ratios
    (10, 14, 4, 5),     # non-integer: repeat, then truncate
    (7, 9, 7, 3),
])
def test_reuse_path_equals_gather_path(cin: int, cout: int, cin_e: int, cout_e: int) -> None:
    gather = EpitomeConv2d(cin, cout, 3, padding=1, epitome_in=cin_e, epitome_out=cout_e,
                           path="gather")
    reuse = EpitomeConv2d(cin, cout, 3, padding=1, epitome_in=cin_e, epitome_out=cout_e,
                          path="reuse")
    reuse.load_state_dict(gather.state_dict())
    x = torch.randn(2, cin, 8, 8, dtype=torch.float64)
    gather.double()
    reuse.double()
    torch.testing.assert_close(reuse(x), gather(x), rtol=1e-10, atol=1e-10)


def test_wrapping_rule_tile_then_truncate() -> None:
    layer = EpitomeConv2d(5, 7, 1, epitome_in=2, epitome_out=3, bias=False)
    w = layer.weight
    e = layer.epitome
    for co in range(7):
        for ci in range(5):
            assert torch.equal(w[co, ci], e[co % 3, ci % 2])


def test_gradients_match_finite_differences() -> None:
    for path in ("gather", "reuse"):
        layer = EpitomeConv2d(6, 8, 3, padding=1, epitome_in=4, epitome_out=3, path=path).double()
        x = torch.randn(1, 6, 5, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda inp, lay=layer: lay(inp), (x,))
        e = layer.epitome
        frozen_input = x.detach()
        assert torch.autograd.gradcheck(
            lambda ep, lay=layer, inp=frozen_input: torch.nn.functional.conv2d(
                inp, ep.flatten()[lay.index], None, 1, 1), (e,))


def test_spatial_epitome_and_offsets_use_gather() -> None:
    layer = EpitomeConv2d(8, 16, 3, padding=1, epitome_in=4, epitome_out=4, epitome_h=4,
                          epitome_w=4, channel_offsets=True)
    assert not layer.reuse_applies
    y = layer(torch.randn(1, 8, 6, 6))
    assert y.shape == (1, 16, 6, 6)
    w = layer.weight
    # block 1 (channels 4..7) reads another window and another channel shift than block 0
    assert not torch.equal(w[0], w[4])
    with pytest.raises(ValueError, match="reuse path"):
        EpitomeConv2d(8, 16, 3, epitome_h=4, path="reuse")


def test_groups() -> None:
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    epi = EpitomeConv2d.from_conv(conv)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(epi(x), conv(x))
    shared = EpitomeConv2d(8, 8, 3, padding=1, groups=4, epitome_out=4)
    assert shared(x).shape == (2, 8, 5, 5)
    assert torch.equal(shared.weight[0], shared.weight[4])


def test_from_conv_recovers_a_conv_generated_from_an_epitome() -> None:
    source = EpitomeConv2d(12, 20, 3, padding=1, epitome_in=4, epitome_out=5)
    conv = nn.Conv2d(12, 20, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(source.weight)
        conv.bias.copy_(source.bias)
    fitted = EpitomeConv2d.from_conv(conv, epitome_in=4, epitome_out=5)
    torch.testing.assert_close(fitted.epitome, source.epitome)
    x = torch.randn(1, 12, 6, 6)
    torch.testing.assert_close(fitted(x), conv(x), rtol=1e-5, atol=1e-5)


def test_from_conv_is_the_mean_of_mapped_entries() -> None:
    conv = nn.Conv2d(4, 4, 1, bias=False)
    fitted = EpitomeConv2d.from_conv(conv, epitome_in=2, epitome_out=2)
    w = conv.weight.detach()[:, :, 0, 0]
    # E[o, i] averages W[co, ci] over co = o (mod 2), ci = i (mod 2)
    expected = (w[0:2, 0:2] + w[0:2, 2:4] + w[2:4, 0:2] + w[2:4, 2:4]) / 4
    torch.testing.assert_close(fitted.epitome.detach()[:, :, 0, 0], expected)


def test_linear_paths_and_from_linear() -> None:
    dense = nn.Linear(10, 6)
    full = EpitomeLinear.from_linear(dense)
    x = torch.randn(3, 10)
    torch.testing.assert_close(full(x), dense(x))
    gather = EpitomeLinear(10, 6, epitome_in=3, epitome_out=4, path="gather").double()
    reuse = EpitomeLinear(10, 6, epitome_in=3, epitome_out=4, path="reuse").double()
    reuse.load_state_dict(gather.state_dict())
    xd = x.double()
    torch.testing.assert_close(reuse(xd), gather(xd))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weight_quantizer_grid_and_ste(bits: int) -> None:
    quant = WeightQuantizer(bits, channels=3)
    e = torch.randn(3, 4, 3, 3, requires_grad=True)
    q = quant(e)
    step = quant.step.detach().abs().view(-1, 1, 1, 1)
    levels = q.detach() / step
    torch.testing.assert_close(levels, levels.round())
    q_min, q_max = weight_levels(bits)
    assert levels.round().min() >= q_min and levels.round().max() <= q_max
    assert len(torch.unique(levels.round())) <= 2**bits
    q.sum().backward()
    inside = ((e.detach() / step) > q_min) & ((e.detach() / step) < q_max)
    assert e.grad is not None
    torch.testing.assert_close(e.grad[inside], torch.ones_like(e.grad[inside]))
    assert quant.step.grad is not None and torch.all(torch.isfinite(quant.step.grad))


def test_per_channel_scales_are_shared_by_wrapped_channels() -> None:
    layer = EpitomeConv2d(8, 12, 3, epitome_in=4, epitome_out=3, weight_bits=3)
    w = layer.weight.detach()
    steps = layer.quantizer.step.detach().abs()  # type: ignore[union-attr]
    assert steps.numel() == 3
    for co in range(12):
        levels = w[co] / steps[co % 3]
        torch.testing.assert_close(levels, levels.round())


def test_activation_quantizer_unsigned_grid() -> None:
    quant = ActivationQuantizer(4)
    x = torch.randn(100)
    y = quant(x)
    assert y.min() >= 0
    levels = y / quant.step.detach().abs()
    torch.testing.assert_close(levels, levels.round())
    assert levels.max() <= 15


def test_bad_epitome_shapes() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        EpitomeConv2d(4, 4, 3, epitome_in=5)
    with pytest.raises(ValueError, match="does not fit"):
        EpitomeConv2d(4, 4, 3, epitome_h=2)
    with pytest.raises(ValueError, match=r"1\.\.16"):
        WeightQuantizer(17)


def test_from_conv_keeps_the_source_dtype() -> None:
    conv = nn.Conv2d(4, 6, 3).double()
    epi = EpitomeConv2d.from_conv(conv, epitome_in=2)
    assert epi.epitome.dtype == torch.float64
    assert epi(torch.randn(1, 4, 5, 5, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("bits", [1, 3, 8])
@pytest.mark.parametrize("channels", [None, 6])
def test_weight_step_init_matches_a_sequential_grid_search(bits: int, channels: int | None
                                                           ) -> None:
    """The vectorized MSE step search picks what a one-step-at-a-time search picks."""
    from epim.nn._quant import WeightQuantizer, weight_levels

    torch.manual_seed(bits)
    weight = torch.randn(6, 5, 3, 3) * torch.rand(6, 1, 1, 1)
    quantizer = WeightQuantizer(bits, channels=channels)
    quantizer._init_step(weight)
    w = weight.reshape(channels or 1, -1)
    q_min, q_max = weight_levels(bits)
    peak = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
    best, best_error = peak / q_max, torch.full((w.shape[0], 1), float("inf"))
    for fraction in torch.linspace(0.05, 1.0, 40):
        step = fraction * peak / q_max
        q = (torch.where(w >= 0, 1.0, -1.0) * step if bits == 1
             else torch.clamp(torch.round(w / step), q_min, q_max) * step)
        error = (q - w).pow(2).mean(dim=1, keepdim=True)
        better = error < best_error
        best_error, best = torch.where(better, error, best_error), torch.where(better, step, best)
    torch.testing.assert_close(quantizer.step.detach(), best.reshape(-1), rtol=1e-6, atol=0.0)
