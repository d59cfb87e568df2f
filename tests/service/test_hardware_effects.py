"""``accuracy.hardware_effects``: the evaluator scores each design on its own crossbars (digits).

A three-layer network on 8x8 digits, a few dozen proxy steps: cheap enough to train several
designs; the study at the end runs through the service (``run_study_here``, SQLite).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from epim import results
from epim.cost_model import load_hardware
from epim.errors import InputError
from epim.proxy import HardwareEffects, ProxyConfig, robust_key
from epim.search import StudySpec
from epim.search._spec import AccuracySpec
from epim.service import ProxyAccuracy, run_study_here
from epim.space import Design, design_from_dict
from epim.workloads import network_from_dict

NETWORK: dict[str, Any] = {"name": "tiny", "input": [1, 8, 8], "layers": [
    {"name": "conv1", "type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"name": "conv2", "type": "conv", "out_channels": 32, "kernel_size": 3, "padding": 1,
     "stride": 2},
    {"name": "gap", "type": "globalpool"},
    {"name": "fc", "type": "linear", "out_features": 10}]}
ACCURACY: dict[str, Any] = {"dataset": "digits", "steps": 60, "batch_size": 32, "lr": 0.1,
                            "width": 1.0, "pretrain_steps": 0, "eval_samples": None}


def evaluator(hardware_set: dict[str, Any] | None = None, **effects: Any) -> ProxyAccuracy:
    spec = AccuracySpec.model_validate({**ACCURACY, "hardware_effects": effects})
    return ProxyAccuracy(spec).for_hardware(load_hardware("mnsim", hardware_set or {}))


def design(bits: int = 6, **genes: int) -> dict[str, Any]:
    document = Design.dense(network_from_dict(NETWORK), bits, bits).to_dict()
    if genes:
        document["hardware"] = genes
    return document


@pytest.fixture(scope="module")
def noisy() -> dict[str, Any]:
    """A design scored on cells with 30 % conductance sigma over two device samples."""
    result = evaluator(samples=2, variation=0.3)((NETWORK, design()))
    assert isinstance(result, dict)
    return result


def test_robust_metrics_are_fractions_and_the_percentile_is_below_the_mean(
        noisy: dict[str, Any]) -> None:
    assert set(noisy) == {"accuracy", "accuracy_se", "robust_accuracy",
                          "robust_accuracy_p5", "error"}
    assert noisy["error"] is None and noisy["accuracy"] > 0.5
    assert 0.0 <= noisy["robust_accuracy_p5"] <= noisy["robust_accuracy"] <= 1.0
    # two different draws: the 5th percentile interpolates towards the worse one
    assert noisy["robust_accuracy_p5"] < noisy["robust_accuracy"]
    assert noisy["robust_accuracy"] < noisy["accuracy"]  # sigma 0.3 costs accuracy


def test_ideal_cells_and_a_16_bit_adc_give_the_plain_accuracy() -> None:
    """Tolerance: 2 of the 360 held-out images may flip (the ADC rounds partial sums)."""
    result = evaluator({"adc_bits": 16}, samples=2)((NETWORK, design()))
    assert isinstance(result, dict)
    assert abs(result["robust_accuracy"] - result["accuracy"]) <= 2 / 360
    assert result["robust_accuracy_p5"] == result["robust_accuracy"]  # one ideal device


def test_each_design_is_scored_on_its_own_adc() -> None:
    ev = evaluator(samples=1)
    low, high = design(adc_choice=7), design(adc_choice=1)  # MNSIM's 4-bit and 10-bit ADCs
    assert ev.crossbars(low).adc_bits == 4 and ev.crossbars(high).adc_bits == 10
    assert ev.crossbars(design()).adc_bits == 6  # no gene: the preset's ADC
    network = network_from_dict(NETWORK)
    config, effects = ev.config(), ev.effects()
    keys = {robust_key(network, design_from_dict(d, network), config, ev.crossbars(d), effects)
            for d in (low, high)}
    assert len(keys) == 2  # results on different crossbars never mix
    scored = ev.evaluate_many([(NETWORK, low), (NETWORK, high)])
    assert scored[0]["accuracy"] == scored[1]["accuracy"]  # the same proxy
    assert scored[0]["robust_accuracy"] < scored[1]["robust_accuracy"] - 0.05


def test_genes_the_accuracy_cannot_see_share_a_result() -> None:
    network = network_from_dict(NETWORK)
    effects = HardwareEffects(samples=2)
    hardware = load_hardware("mnsim")
    crossbars = effects.crossbars(hardware)
    a, b = (design_from_dict(design(tile_pes=pes), network) for pes in (8, 16))
    assert a.digest() != b.digest()
    assert robust_key(network, a, ProxyConfig(), crossbars, effects) == \
        robust_key(network, b, ProxyConfig(), crossbars, effects)
    assert robust_key(network, a, ProxyConfig(), crossbars, effects) != \
        robust_key(network, a, ProxyConfig(), crossbars, HardwareEffects(samples=3))


def test_overrides_replace_the_presets_device_and_a_screening_rung_gives_one_number() -> None:
    ev = evaluator({"cell_variation": 0.02}, samples=1, stuck_off=0.01)
    crossbars = ev.crossbars(design())
    assert (crossbars.variation, crossbars.stuck_on, crossbars.stuck_off) == (0.02, 0.0, 0.01)
    assert evaluator(samples=1, variation=0.1).crossbars(design()).variation == 0.1
    rung = ev.at_steps(5)((NETWORK, design()))
    assert isinstance(rung, float) and 0.0 <= rung <= 1.0
    shipped = pickle.loads(pickle.dumps(ev))  # as an executor ships it
    assert shipped.crossbars(design()) == crossbars
    unbound = ProxyAccuracy(ev.spec)
    with pytest.raises(InputError, match="study's hardware"):
        unbound((NETWORK, design()))


def test_a_co_search_study_stores_robust_accuracy_on_its_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hw.db'}"
    spec = StudySpec.model_validate({
        "name": "co-search", "network": NETWORK,
        "space": {"weight_bits": [4, 6], "frozen": [],
                  "epitome": {"pim_aligned": False, "channel_ratios": [1, 2]},
                  "hardware": {"adc_choice": [7, 1]}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "robust_accuracy"}],
        "constraints": [{"metric": "robust_accuracy_p5", "min": 0.05}],
        "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
        "budget": {"n_trials": 6}, "batch_size": 6, "baseline_bits": 8,
        "accuracy": {**ACCURACY, "steps": 30, "hardware_effects": {"samples": 2,
                                                                  "variation": 0.05}}})
    row = run_study_here(spec, url, worker_max_bytes=None)
    assert row.status == "completed", row.error
    trials = results.load_trials(url, row.id)
    assert len(trials) == 6
    for trial in trials:
        metrics = trial.metrics
        assert trial.state == "complete" and trial.accuracy_evaluated
        assert 0.0 <= metrics["robust_accuracy_p5"] <= metrics["robust_accuracy"] <= 1.0
        assert trial.values is not None and trial.values[1] == metrics["robust_accuracy"]
        assert trial.feasible == (metrics["robust_accuracy_p5"] >= 0.05)
        assert trial.design["hardware"]["adc_choice"] in (7, 1)
