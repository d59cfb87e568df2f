"""Layer probes on the pretrained dense proxy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from epim.datasets import load_cached_dataset
from epim.errors import InputError
from epim.proxy import ProxyConfig, dense_start, profile_layers, start_model
from epim.proxy._profile import _score, calibration_split
from epim.space import Design
from epim.workloads import get_network, load_network_file

NET = get_network("resnet20")
CONFIG = ProxyConfig(dataset="digits", batch_size=32, width=0.25, pretrain_steps=60,
                     eval_samples=200)
REFERENCE = Design.dense(NET, 8, 8)


def test_a_probe_of_the_reference_choice_changes_nothing_and_others_equal_a_full_forward(
) -> None:
    start = dense_start(NET, CONFIG)
    name = "layer2.0.conv1"
    wrapped = dataclasses.replace(REFERENCE.layers[name], epitome_in=4, epitome_out=8,
                                  weight_bits=3)
    result = profile_layers(NET, REFERENCE, [(name, REFERENCE.layers[name]), (name, wrapped)],
                            CONFIG, start=start, samples=128)
    assert result.losses[0] == pytest.approx(result.reference_loss, rel=1e-6)
    assert result.accuracies[0] == result.reference_accuracy
    data = load_cached_dataset(CONFIG.dataset, None)
    x, y = calibration_split(data, CONFIG, 128)
    reference = start_model(NET, REFERENCE, CONFIG, data, start)
    reference.eval()
    model = start_model(NET, Design(NET.name, {**REFERENCE.layers, name: wrapped}), CONFIG,
                        data, start)
    model.eval()
    with torch.no_grad():
        reference(x)  # initializes its activation quantizers on the reference activations
        for key, block in model.blocks.items():  # downstream steps stay the reference's
            quantizer = getattr(block, "act_quant", None)
            if quantizer is not None and key != name.replace(".", "__"):
                quantizer.load_state_dict(reference.blocks[key].act_quant.state_dict())
        full_loss, _ = _score(model(x), y)  # the whole network, not the downstream shortcut
    assert result.losses[1] == pytest.approx(full_loss, rel=1e-5)
    assert result.losses[1] > result.reference_loss  # wrapping 4x at 3 bits does damage


def test_two_bits_damage_more_than_six_on_most_layers() -> None:
    layers = [layer.name for layer in NET.compute_layers[1:-1]]
    probes = [(name, dataclasses.replace(REFERENCE.layers[name], weight_bits=bits))
              for name in layers for bits in (2, 6)]
    result = profile_layers(NET, REFERENCE, probes, CONFIG, samples=128)
    worse = [result.losses[2 * i] > result.losses[2 * i + 1] for i in range(len(layers))]
    assert sum(worse) >= 0.8 * len(layers)
    tuned = profile_layers(NET, REFERENCE, probes[:2], CONFIG, samples=128, steps=3)
    assert len(tuned.losses) == 2 and all(loss > 0 for loss in tuned.losses)


def test_bad_probes() -> None:
    with pytest.raises(InputError, match="not a conv/linear layer"):
        profile_layers(NET, REFERENCE, [("layer1.0.add", REFERENCE.layers["conv1"])], CONFIG)
    with pytest.raises(InputError, match="samples"):
        profile_layers(NET, REFERENCE, [], CONFIG, samples=0)


def test_layers_after_a_concat_are_profiled_on_the_concatenated_map() -> None:
    net = load_network_file(Path(__file__).parents[2] / "examples/networks/mini-inception.yaml")
    reference = Design.dense(net, 8, 8)
    config = dataclasses.replace(CONFIG, pretrain_steps=5)
    name = "inc.b2.conv"  # feeds three concats, an add and the depthwise conv after them
    wrapped = dataclasses.replace(reference.layers[name], weight_bits=2)
    result = profile_layers(net, reference, [(name, reference.layers[name]), (name, wrapped)],
                            config, samples=64)
    assert result.losses[0] == pytest.approx(result.reference_loss, rel=1e-6)
    assert result.losses[1] != pytest.approx(result.reference_loss, rel=1e-6)


def test_pruning_probes_equal_a_full_forward_of_the_pruned_proxy() -> None:
    start = dense_start(NET, CONFIG)
    probes = [("layer2.0.conv1", dataclasses.replace(REFERENCE.layers["layer2.0.conv1"],
                                                     prune_out=8)),
              ("layer3.1.conv2", dataclasses.replace(REFERENCE.layers["layer3.1.conv2"],
                                                     prune_rows=200))]
    result = profile_layers(NET, REFERENCE, probes, CONFIG, start=start, samples=128)
    data = load_cached_dataset(CONFIG.dataset, None)
    x, y = calibration_split(data, CONFIG, 128)
    reference = start_model(NET, REFERENCE, CONFIG, data, start)
    reference.eval()
    with torch.no_grad():
        reference(x)  # activation steps fitted to the reference activations, as the probes'
    for (name, choice), loss in zip(probes, result.losses, strict=True):
        model = start_model(NET, Design(NET.name, {**REFERENCE.layers, name: choice}),
                            CONFIG, data, start)
        model.eval()
        for key, block in model.blocks.items():
            quantizer = getattr(block, "act_quant", None)
            if quantizer is not None:
                quantizer.load_state_dict(reference.blocks[key].act_quant.state_dict())
        with torch.no_grad():  # weight steps fitted to the masked weights in both
            full_loss, _ = _score(model(x), y)
        assert loss == pytest.approx(full_loss, rel=1e-5)
        assert loss != pytest.approx(result.reference_loss, rel=1e-6)  # the probe mattered
