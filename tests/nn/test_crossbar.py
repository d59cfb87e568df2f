"""The crossbar-faithful forward pass against the ideal quantized layer, and its device effects.

Equality tolerance: with a 16-bit ADC, ideal cells and no stuck cells, every output differs
from the ideal quantized layer by at most the ADC's rounding bound, half an LSB per
conversion shift-added over input slices, weight slices and row groups
(``lsb / 2 * sum_i 2^(i dac) * sum_t 2^(t cell) * groups * alpha * w_step * x_step``), plus
1e-5 of the largest output (float32 sums). Weights are kept off the quantizer's lowest level
(which a +/- pair cannot store, tested apart).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
import torch

from epim.errors import InputError
from epim.nn import (
    ActivationQuantizer,
    CrossbarLayer,
    CrossbarSpec,
    EpitomeConv2d,
    EpitomeLinear,
    build,
    calibrate_crossbars,
    crossbar_layers,
    crossbar_model,
    pair_weight_levels,
    sample_devices,
)
from epim.space import Design
from epim.workloads import network_from_dict

LAYERS: dict[str, Any] = {
    "conv": lambda bits: EpitomeConv2d(12, 10, 3, padding=1, weight_bits=bits),
    "conv-wrapped": lambda bits: EpitomeConv2d(12, 10, 3, padding=1, epitome_in=5,
                                               epitome_out=4, weight_bits=bits),
    "conv-offsets": lambda bits: EpitomeConv2d(10, 12, 3, padding=1, stride=2, epitome_in=4,
                                               epitome_out=3, channel_offsets=True,
                                               weight_bits=bits),
    "conv-windows": lambda bits: EpitomeConv2d(8, 6, 3, padding=2, dilation=2, epitome_in=5,
                                               epitome_out=2, epitome_h=5, epitome_w=4,
                                               weight_bits=bits),
    "linear": lambda bits: EpitomeLinear(40, 7, weight_bits=bits),
    "linear-offsets": lambda bits: EpitomeLinear(20, 7, epitome_in=6, epitome_out=3,
                                                 channel_offsets=True, weight_bits=bits),
}


def spec(**changes: Any) -> CrossbarSpec:
    values: dict[str, Any] = {"xbar_rows": 32, "dac_rows": 16, "row_packing": "kernel",
                              "polarity": 2, "cell_bits": 2, "dac_bits": 2, "adc_bits": 16}
    return CrossbarSpec(**{**values, **changes})


def quantized_pair(kind: str, bits: int, act_bits: int = 5, seed: int = 0
                   ) -> tuple[EpitomeConv2d | EpitomeLinear, ActivationQuantizer, torch.Tensor]:
    """A layer with its weight steps set so no weight sits on the lowest level, and its input."""
    torch.manual_seed(seed)
    op = LAYERS[kind](bits)
    act = ActivationQuantizer(act_bits)
    shape = (3, op.in_features) if isinstance(op, EpitomeLinear) else (3, op.in_channels, 9, 9)
    x = act(torch.rand(shape) * 2)
    op(x)
    with torch.no_grad():
        dims = tuple(range(1, op.epitome.dim()))
        op.quantizer.step.copy_(op.epitome.abs().amax(dim=dims) / max(op.quantizer.q_max, 1))
    return op, act, x.detach()


def rounding_bound(layer: CrossbarLayer, x_step: float) -> float:
    """The largest output error the ADC's rounding can cause (module docstring)."""
    s = layer.spec
    signed = s.polarity == 2
    top = 2 ** (s.adc_bits - 1) - 1 if signed else 2**s.adc_bits - 1
    lsb = float(layer.adc_range) / top
    channels = layer.op.in_features if layer.linear else layer.op.in_channels
    largest = -(-channels // layer.cin_e) * (2**layer.act_bits - 1)
    in_slices = -(-largest.bit_length() // s.dac_bits)
    inputs = sum(2 ** (i * s.dac_bits) for i in range(in_slices))
    weights = sum(2 ** (t * s.cell_bits) for t in range(layer.slices))
    alpha = 2.0 if s.polarity == 1 and layer.weight_bits == 1 else 1.0
    step = float(layer.weight_quantizer.step.detach().abs().max())
    return lsb / 2 * inputs * weights * layer.group_index.shape[0] * alpha * step * x_step


#: (layer, row packing, polarity, weight bits): every layer on both packings and polarities,
#: sign-only weights on two.
CASES = [(kind, packing, polarity, 4) for kind in LAYERS for packing, polarity in
         (("kernel", 2), ("unrolled", 1))] + [
    ("conv", "unrolled", 2, 4), ("linear", "kernel", 1, 4), ("conv-wrapped", "kernel", 2, 1),
    ("linear-offsets", "unrolled", 1, 1)]


@pytest.mark.parametrize(("kind", "packing", "polarity", "bits"), CASES)
def test_high_adc_ideal_cells_equal_the_quantized_layer(kind: str, packing: str, polarity: int,
                                                        bits: int) -> None:
    op, act, x = quantized_pair(kind, bits)
    ideal = op(x).detach()
    layer = CrossbarLayer(op, spec=spec(row_packing=packing, polarity=polarity),
                          input_quantizer=act)
    calibrate_crossbars(layer, [x])
    with torch.no_grad():
        out = layer(x)
    assert out.shape == ideal.shape
    tolerance = rounding_bound(layer, float(act.step.detach().abs())) \
        + 1e-5 * float(ideal.abs().max())
    assert float((out - ideal).abs().max()) <= tolerance
    assert layer.group_index.shape[0] > 1 or kind.startswith("linear")  # blocks really split


def test_row_groups_follow_the_packing() -> None:
    op, act, _ = quantized_pair("conv", 4)  # 12 channels x 3x3 = 108 stored rows
    kernel = CrossbarLayer(op, spec=spec(xbar_rows=32, dac_rows=32), input_quantizer=act)
    unrolled = CrossbarLayer(op, spec=spec(xbar_rows=32, dac_rows=32, row_packing="unrolled"),
                             input_quantizer=act)
    # kernel: 3 whole kernels (27 rows) per crossbar, 4 crossbars; unrolled: 32 rows, 4 blocks
    assert (kernel.group_index.shape[0], kernel.group_rows) == (4, 27)
    assert (unrolled.group_index.shape[0], unrolled.group_rows) == (4, 32)
    half = CrossbarLayer(op, spec=spec(xbar_rows=32, dac_rows=16), input_quantizer=act)
    assert half.group_index.shape[0] == 8  # each crossbar driven 16 rows at a time


def test_a_pair_cannot_store_the_lowest_level() -> None:
    op, act, x = quantized_pair("conv", 3)
    with torch.no_grad():
        op.epitome[0, 0, 0, 0] = -10 * float(op.quantizer.step[0])  # clamps to q_min = -4
    layer = CrossbarLayer(op, spec=spec(), input_quantizer=act)
    calibrate_crossbars(layer, [x])
    with torch.no_grad():
        out = layer(x)
        ideal = op(x)
        stored = op.quantizer(op.epitome).clone()
        stored[0, 0, 0, 0] = -3 * op.quantizer.step[0]  # what the +/- pair reads: -(2^2 - 1)
        saturated = torch.nn.functional.conv2d(x, stored, op.bias, padding=1)
    assert float((out - saturated).abs().max()) < 1e-4
    assert float((out - ideal).abs().max()) > 1e-3
    offset = CrossbarLayer(op, spec=spec(polarity=1, adc_bits=22), input_quantizer=act)
    calibrate_crossbars(offset, [x])
    with torch.no_grad():
        assert float((offset(x) - ideal).abs().max()) < 1e-4  # offset binary stores -4
    assert pair_weight_levels(op) == 1 and op.quantizer.q_min == -3  # train for the pair
    calibrate_crossbars(layer, [x])
    with torch.no_grad():
        assert float((layer(x) - op(x)).abs().max()) < 1e-4


def test_adc_error_shrinks_as_bits_grow() -> None:
    op, act, x = quantized_pair("conv-wrapped", 6, act_bits=6)
    ideal = op(x).detach()
    errors = []
    for bits in (3, 5, 7, 9, 11):
        layer = CrossbarLayer(op, spec=spec(adc_bits=bits), input_quantizer=act)
        calibrate_crossbars(layer, [x])
        with torch.no_grad():
            errors.append(float((layer(x) - ideal).abs().mean()))
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.01 * errors[0]


def test_full_scale_range_is_coarser_than_calibrated() -> None:
    op, act, x = quantized_pair("conv", 6, act_bits=6)
    ideal = op(x).detach()
    errors = {}
    for rule in ("calibrated", "full"):
        layer = CrossbarLayer(op, spec=spec(adc_bits=6, adc_range=rule), input_quantizer=act)
        calibrate_crossbars(layer, [x])
        with torch.no_grad():
            errors[rule] = float((layer(x) - ideal).abs().mean())
    assert float(layer.adc_range) < layer.adc_full_scale()
    assert errors["full"] > errors["calibrated"]


def test_device_samples_are_reproducible_and_change_outputs() -> None:
    op, act, x = quantized_pair("conv", 4)
    noisy = CrossbarLayer(op, spec=spec(variation=0.1, stuck_on=0.01, stuck_off=0.01),
                          input_quantizer=act)
    clean = CrossbarLayer(op, spec=spec(), input_quantizer=act)
    for layer in (noisy, clean):
        calibrate_crossbars(layer, [x])
        layer.eval()  # a training layer draws a new device at every call
    outputs = []
    with torch.no_grad():
        for seed in (1, 1, 2):
            sample_devices(noisy, seed)
            outputs.append(noisy(x))
        reference = clean(x)
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])
    assert float((outputs[0] - reference).abs().mean()) > 1e-3
    stuck = noisy.device_stuck
    assert stuck.shape == (noisy.slices, 2, 10, 108)  # per cell of each +/- pair
    assert 0.005 < float((stuck == 1).float().mean()) < 0.02  # stuck at HRS
    assert 0.005 < float((stuck == 2).float().mean()) < 0.02  # stuck at LRS


def test_variation_scales_the_error_linearly_and_dead_cells_leave_the_bias() -> None:
    op, act, x = quantized_pair("conv", 6, act_bits=6)
    ideal = op(x).detach()
    errors = []
    for sigma in (0.05, 0.1, 0.2):
        layer = CrossbarLayer(op, spec=spec(adc_bits=24, adc_range="full", variation=sigma),
                              input_quantizer=act)
        calibrate_crossbars(layer, [x])
        sample_devices(layer, 0)
        layer.eval()
        with torch.no_grad():
            errors.append(float((layer(x) - ideal).abs().mean()))
    # the same normal draws scaled by sigma: the error doubles with sigma (gains stay > 0)
    assert errors[1] == pytest.approx(2 * errors[0], rel=0.05)
    assert errors[2] == pytest.approx(2 * errors[1], rel=0.05)
    dead = CrossbarLayer(op, spec=spec(stuck_off=1.0), input_quantizer=act)
    calibrate_crossbars(dead, [x])
    with torch.no_grad():
        out = dead(x)
    assert torch.allclose(out, op.bias.detach().view(1, -1, 1, 1).expand_as(out))


def test_training_resamples_devices_and_passes_ideal_gradients() -> None:
    op, act, x = quantized_pair("conv-wrapped", 4)
    ideal_grad = torch.autograd.grad(op(x).square().sum(), op.epitome)[0]
    layer = CrossbarLayer(op, spec=spec(), input_quantizer=act)
    calibrate_crossbars(layer, [x])
    layer.train()
    out = layer(x)
    grad = torch.autograd.grad(out.square().sum(), op.epitome)[0]
    assert torch.allclose(grad, ideal_grad, rtol=1e-3, atol=1e-4 * float(ideal_grad.abs().max()))
    noisy = CrossbarLayer(op, spec=spec(variation=0.2), input_quantizer=act)
    calibrate_crossbars(noisy, [x])
    noisy.train()
    first, second = noisy(x), noisy(x)
    assert not torch.equal(first, second)  # a new device every training step
    first.sum().backward()
    assert op.epitome.grad is not None and float(op.epitome.grad.abs().sum()) > 0


TINY = {"name": "tiny", "input": [1, 8, 8], "layers": [
    {"name": "conv1", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"name": "conv2", "type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1,
     "stride": 2},
    {"name": "gap", "type": "globalpool"},
    {"name": "fc", "type": "linear", "out_features": 10}]}


def test_crossbar_model_converts_and_rebuilds() -> None:
    net = network_from_dict(TINY)
    model = build(net, Design.dense(net, 4, 6)).eval()
    x = torch.rand(4, 1, 8, 8)
    model(x)
    high = crossbar_model(model, spec(adc_bits=16))
    layers = crossbar_layers(high)
    assert len(layers) == 3 and not crossbar_layers(model)  # the model is left as it was
    assert layers[0].input_quantizer is None  # the first conv quantizes its own (signed) input
    assert layers[1].input_quantizer is high.blocks["conv2"].act_quant
    calibrate_crossbars(high, [x])
    assert bool(layers[0].input_signed) is False  # torch.rand is non-negative
    with torch.no_grad():
        expected, got = model(x), high(x)
    assert float((got - expected).abs().max()) < 0.05 * float(expected.abs().max())
    low = crossbar_model(high, spec(adc_bits=2))  # a crossbar model rebuilt for other hardware
    assert [layer.spec.adc_bits for layer in crossbar_layers(low)] == [2, 2, 2]
    calibrate_crossbars(low, [x])
    with torch.no_grad():
        assert float((low(x) - expected).abs().max()) > float((got - expected).abs().max())
    floating = build(net, Design.dense(net, 4, 6), quantize=False)  # bits from the design
    assert [layer.weight_bits for layer in crossbar_layers(crossbar_model(floating, spec()))] \
        == [4, 4, 4]


def test_bits_must_be_known_and_groups_are_refused() -> None:
    bare = torch.nn.Sequential(EpitomeLinear(8, 4))
    with pytest.raises(InputError) as info:
        crossbar_model(bare, spec())
    assert info.value.field == "weight_bits" and info.value.location == ("0",)
    assert crossbar_layers(crossbar_model(bare, spec(), bits={"0": (4, 6)}))[0].act_bits == 6
    with pytest.raises(InputError, match="groups"):
        CrossbarLayer(EpitomeConv2d(4, 4, 3, groups=2, weight_bits=4), spec=spec(),
                      act_bits=4)
    op, act, _ = quantized_pair("conv", 4)
    with pytest.raises(InputError, match="weight_bits"):
        CrossbarLayer(op, spec=spec(), weight_bits=5, input_quantizer=act)


@pytest.mark.parametrize(("changes", "field"), [
    ({"adc_bits": 0}, "adc_bits"), ({"xbar_rows": 2.5}, "xbar_rows"),
    ({"polarity": 3}, "polarity"), ({"row_packing": "diagonal"}, "row_packing"),
    ({"variation": -0.1}, "variation"), ({"stuck_on": 1.5}, "stuck_on"),
    ({"stuck_on": 0.6, "stuck_off": 0.6}, "stuck_on"), ({"adc_percentile": 0}, "adc_percentile"),
    ({"adc_range": "auto"}, "adc_range"),
])
def test_bad_specs_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        dataclasses.replace(spec(), **changes)
    assert info.value.field == field and info.value.expected


def test_the_convolution_and_matrix_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from epim.nn import _crossbar

    op, act, x = quantized_pair("conv-wrapped", 4)
    outputs = []
    for groups in (_crossbar.CONV_PATH_GROUPS, 0):
        monkeypatch.setattr(_crossbar, "CONV_PATH_GROUPS", groups)
        for polarity in (1, 2):
            layer = CrossbarLayer(op, spec=spec(adc_bits=5, polarity=polarity),
                                  input_quantizer=act).eval()
            calibrate_crossbars(layer, [x])
            with torch.no_grad():
                outputs.append((layer.conv_path, layer(x)))
    assert [path for path, _ in outputs] == [True, True, False, False]
    for (_, a), (_, b) in zip(outputs[:2], outputs[2:], strict=True):
        assert torch.allclose(a, b, atol=1e-5)
