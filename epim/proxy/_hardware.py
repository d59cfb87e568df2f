"""Hardware effects on proxy accuracy: the crossbar-faithful proxy, robust accuracy, fine-tuning.

``crossbar_spec`` reads what the crossbar-faithful pass (``epim.nn.CrossbarLayer``) needs from
a hardware preset; ``robust_accuracy`` scores a trained proxy on that hardware over several
device samples (conductance variation and stuck cells drawn per sample); ``finetune_hardware``
trains a proxy with the hardware in the loop (noise injection, straight-through gradients).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from epim.cost_model import Hardware
from epim.datasets import ArrayDataset
from epim.errors import InputError
from epim.nn import (
    CrossbarSpec,
    calibrate_crossbars,
    crossbar_layers,
    crossbar_model,
    sample_devices,
)
from epim.nn._crossbar import AdcRange
from epim.proxy._train import (
    ProxyConfig,
    _device_of,
    evaluate,
    minibatches,
    resize,
    torch_threads,
)

#: Training images the ADC and input ranges are calibrated on (the first of the split).
CALIBRATION_IMAGES = 256


def crossbar_spec(hardware: Hardware, *, adc_range: AdcRange = "calibrated",
                  adc_percentile: float = 100.0) -> CrossbarSpec:
    """The crossbar-faithful pass's view of a preset.

    Crossbar rows, rows driven at once (``dacs_per_xbar``), row packing, polarity, cell, DAC
    and ADC bits, and the cells' variation and stuck-at rates; the ADC range rule is not a
    hardware constant and is chosen here.
    """
    c = hardware
    return CrossbarSpec(
        xbar_rows=c.xbar_rows, dac_rows=min(c.dacs_per_xbar, c.xbar_rows),
        row_packing=c.row_packing, polarity=c.polarity, cell_bits=c.cell_bits,
        dac_bits=c.dac_bits, adc_bits=c.adc_bits, variation=c.cell_variation,
        stuck_on=c.cell_stuck_on_rate, stuck_off=c.cell_stuck_off_rate, adc_range=adc_range,
        adc_percentile=adc_percentile)


@dataclass(frozen=True)
class RobustAccuracy:
    """Top-1 of a proxy on crossbars over device samples.

    Attributes:
        mean: Mean top-1 over the samples (0..1).
        p5: 5th percentile of top-1 over the samples (numpy's linear interpolation).
        accuracies: Top-1 of each sample, in seed order (one value for an ideal device, where
            every sample is the same).

    """

    mean: float
    p5: float
    accuracies: tuple[float, ...]


def calibrate(model: nn.Module, data: ArrayDataset, config: ProxyConfig, *,
              images: int = CALIBRATION_IMAGES) -> None:
    """Calibrate a crossbar model's input and ADC ranges on the first training images."""
    device = _device_of(model)
    x = torch.from_numpy(data.x_train[:images]).to(device)
    calibrate_crossbars(model, [resize(x[i:i + 128], config.image_size)
                                for i in range(0, len(x), 128)])


def robust_accuracy(model: nn.Module, data: ArrayDataset, config: ProxyConfig,
                    spec: CrossbarSpec, *, samples: int = 8, seed: int = 0,
                    bits: Mapping[str, tuple[int, int]] | None = None,
                    calibration_images: int = CALIBRATION_IMAGES) -> RobustAccuracy:
    """Top-1 of ``model`` computed on crossbars, over ``samples`` device draws.

    The model is converted (a copy; a crossbar model is rebuilt for ``spec``), its ranges
    calibrated once on the first training images with ideal cells (design time), then each
    draw ``k`` (seed ``seed + k``) is evaluated on the held-out split as ``evaluate`` does.

    Args:
        model: A trained model (e.g. ``start_model`` / ``proxy_model`` after training).
        data: The dataset.
        config: Proxy settings (image size, evaluation samples, threads).
        spec: The crossbar hardware (``crossbar_spec``).
        samples: Device draws ``K`` (ignored for an ideal device: one evaluation).
        seed: The first draw's seed.
        bits: ``(weight_bits, act_bits)`` by module name, for layers without quantizers.
        calibration_images: Training images the ranges are calibrated on.

    Raises:
        InputError: If ``samples < 1`` or a layer cannot be mapped.

    """
    if samples < 1:
        raise InputError(f"bad value {samples!r}", field="samples", expected="an integer >= 1")
    with torch_threads(config.threads):
        xbar = crossbar_model(model, spec, bits=bits)
        calibrate(xbar, data, config, images=calibration_images)
        if spec.ideal_device:
            accuracies = [evaluate(xbar, data, config)]
        else:
            accuracies = []
            for k in range(samples):
                sample_devices(xbar, seed + k)
                accuracies.append(evaluate(xbar, data, config))
    values = np.asarray(accuracies)
    return RobustAccuracy(mean=float(values.mean()), p5=float(np.percentile(values, 5)),
                          accuracies=tuple(float(v) for v in values))


def train_steps(model: nn.Module, data: ArrayDataset, config: ProxyConfig, *, steps: int,
                lr: float | None = None) -> float:
    """Train ``model`` for ``steps`` (the proxy's SGD: Nesterov, cosine schedule, clipping).

    Batches and, for a crossbar model with non-ideal cells, the device drawn at every step
    follow ``config.seed``. Returns the mean loss of the last tenth of the steps.
    """
    if steps < 1:
        raise InputError(f"bad value {steps!r}", field="steps", expected="an integer >= 1")
    torch.manual_seed(config.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr or config.lr, momentum=0.9,
                                nesterov=True, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    model.train()
    with torch_threads(config.threads):
        for x, y in minibatches(config, data, steps, _device_of(model)):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    return float(np.mean(losses[-max(1, len(losses) // 10):]))


def finetune_hardware(model: nn.Module, data: ArrayDataset, config: ProxyConfig,
                      spec: CrossbarSpec, *, steps: int, lr: float | None = None,
                      bits: Mapping[str, tuple[int, int]] | None = None,
                      calibration_images: int = CALIBRATION_IMAGES) -> nn.Module:
    """Hardware-aware fine-tuning: train the crossbar version of ``model`` for ``steps``.

    The forward pass is the crossbars' (ADC rounding with the calibrated ranges, a new device
    draw at every step when the cells are not ideal: noise injection); gradients come from
    the ideal layer on the drawn device's weights (straight-through). Ranges are calibrated
    before and again after training. Returns the fine-tuned crossbar model (``model`` is
    left as it was); ``robust_accuracy`` scores it.
    """
    xbar = crossbar_model(model, spec, bits=bits)
    if not crossbar_layers(xbar):
        raise InputError("the model has no epitome conv or linear layer", field="model",
                         expected="a model built by epim.nn")
    with torch_threads(config.threads):
        calibrate(xbar, data, config, images=calibration_images)
        train_steps(xbar, data, config, steps=steps, lr=lr)
        calibrate(xbar, data, config, images=calibration_images)
    return xbar
