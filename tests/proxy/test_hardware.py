"""Hardware effects on proxy accuracy: specs from presets, robust accuracy, fine-tuning (digits)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from epim.cost_model import load_hardware
from epim.datasets import load_cached_dataset
from epim.errors import InputError
from epim.nn import EpimNet, build, crossbar_layers
from epim.proxy import (
    ProxyConfig,
    crossbar_spec,
    evaluate,
    finetune_hardware,
    robust_accuracy,
    train_steps,
)
from epim.space import Design
from epim.workloads import network_from_dict

CONFIG = ProxyConfig(dataset="digits", batch_size=32, lr=0.1, eval_samples=None,
                     pretrain_steps=0)
NETWORK = network_from_dict({"name": "tiny", "input": [1, 8, 8], "layers": [
    {"name": "conv1", "type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"name": "conv2", "type": "conv", "out_channels": 32, "kernel_size": 3, "padding": 1,
     "stride": 2},
    {"name": "gap", "type": "globalpool"},
    {"name": "fc", "type": "linear", "out_features": 10}]})


@pytest.fixture(scope="module")
def trained() -> tuple[EpimNet, float]:
    """A small network trained briefly on digits at 6-bit weights and activations."""
    torch.manual_seed(0)
    model = build(NETWORK, Design.dense(NETWORK, 6, 6))
    train_steps(model, load_cached_dataset("digits", None), CONFIG, steps=100)
    return model, evaluate(model, load_cached_dataset("digits", None), CONFIG)


def test_specs_come_from_the_presets() -> None:
    mnsim = crossbar_spec(load_hardware("mnsim"))
    assert (mnsim.xbar_rows, mnsim.dac_rows, mnsim.row_packing, mnsim.polarity) == \
        (256, 128, "kernel", 2)
    assert (mnsim.cell_bits, mnsim.dac_bits, mnsim.adc_bits) == (1, 1, 6)
    assert mnsim.ideal_device
    isaac = crossbar_spec(load_hardware("isaac", {"cell_variation": 0.05,
                                                  "cell_stuck_on_rate": 0.01}))
    assert (isaac.xbar_rows, isaac.row_packing, isaac.polarity, isaac.cell_bits,
            isaac.adc_bits) == (128, "unrolled", 1, 2, 8)
    assert (isaac.variation, isaac.stuck_on, isaac.stuck_off) == (0.05, 0.01, 0.0)


def test_low_adc_bits_visibly_cost_accuracy(trained: tuple[EpimNet, float]) -> None:
    model, ideal = trained
    data = load_cached_dataset("digits", None)
    spec = crossbar_spec(load_hardware("mnsim"))
    assert ideal > 0.8
    high = robust_accuracy(model, data, CONFIG, dataclasses.replace(spec, adc_bits=12))
    low = robust_accuracy(model, data, CONFIG, dataclasses.replace(spec, adc_bits=3))
    assert high.accuracies == (high.mean,)  # ideal cells: one evaluation
    assert high.mean >= ideal - 0.03
    assert low.mean < high.mean - 0.3
    assert not crossbar_layers(model)  # the trained model itself is untouched


def test_robust_accuracy_is_reproducible_and_feels_variation(
        trained: tuple[EpimNet, float]) -> None:
    model, ideal = trained
    data = load_cached_dataset("digits", None)
    spec = dataclasses.replace(crossbar_spec(load_hardware("mnsim")), adc_bits=10,
                               variation=0.4, stuck_off=0.01)
    first = robust_accuracy(model, data, CONFIG, spec, samples=2, seed=5)
    again = robust_accuracy(model, data, CONFIG, spec, samples=2, seed=5)
    assert first == again and len(first.accuracies) == 2
    assert len(set(first.accuracies)) > 1  # the draws differ
    assert first.p5 <= first.mean <= max(first.accuracies)
    assert first.mean < ideal - 0.03
    with pytest.raises(InputError, match="samples"):
        robust_accuracy(model, data, CONFIG, spec, samples=0)


def test_hardware_aware_finetuning_recovers_accuracy(trained: tuple[EpimNet, float]) -> None:
    model, _ = trained
    data = load_cached_dataset("digits", None)
    spec = dataclasses.replace(crossbar_spec(load_hardware("mnsim")), adc_bits=3)
    before = robust_accuracy(model, data, CONFIG, spec).mean
    tuned = finetune_hardware(model, data, CONFIG, spec, steps=40, lr=0.03)
    assert len(crossbar_layers(tuned)) == 3
    after = robust_accuracy(tuned, data, CONFIG, spec).mean
    assert after > before + 0.2
