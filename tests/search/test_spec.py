from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from epim.search import StudySpec

ROOT = Path(__file__).resolve().parents[2]
ISSUE_SPEC = yaml.safe_load("""
name: resnet18-quickstart
network: resnet18
hardware: {preset: mnsim, set: {}}
space:
  epitome: {channel_ratios: [1, 2, 4, 8], spatial: false, pim_aligned: true}
  weight_bits: [2, 3, 4, 5, 6, 8]
  activation_bits: 8
  frozen: [first, last]
objectives:
  - {metric: crossbar_area_m2, direction: minimize}
  - {metric: latency_s, direction: minimize}
  - {metric: accuracy, direction: maximize}
constraints:
  - {metric: energy_j, max: 1.0e-3}
  - {metric: crossbar_area_reduction, min: 10}
baseline_bits: 16
sampler: {name: nsga2, seed: 0}
budget: {n_trials: 500, timeout_s: 3600}
accuracy: {proxy: train, dataset: fashion-mnist, steps: 200, width: 0.25, image_size: 28}
executor: {kind: ray, cpus_per_trial: 1}
latency_mode: layer_by_layer
""")


def test_the_issue_spec_validates() -> None:
    spec = StudySpec.model_validate(ISSUE_SPEC)
    assert spec.hardware.preset == "mnsim" and spec.needs_accuracy
    assert spec.accuracy is not None and spec.accuracy.steps == 200


@pytest.mark.parametrize("path", sorted((ROOT / "examples/studies").glob("*.yaml")))
def test_example_specs_validate(path: Path) -> None:
    StudySpec.model_validate(yaml.safe_load(path.read_text()))


def test_shorthands_and_defaults() -> None:
    spec = StudySpec.model_validate({"name": "s", "network": "vgg8", "hardware": "isaac",
                                     "objectives": [{"metric": "accuracy"},
                                                    {"metric": "energy_reduction"}]})
    assert spec.hardware.preset == "isaac"
    assert [o.direction for o in spec.objectives] == ["maximize", "maximize"]
    assert spec.accuracy is not None  # accuracy used: the default proxy is filled in
    cost_only = StudySpec.model_validate({"name": "c", "network": "vgg8",
                                          "objectives": [{"metric": "crossbars"}]})
    assert cost_only.accuracy is None and not cost_only.needs_accuracy


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(ISSUE_SPEC))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BAD = [
    (["name"], "", ("name",), "at least 1"),
    (["name"], "has spaces", ("name",), "pattern"),
    (["network"], "resnet99", ("network",), "resnet18"),
    (["network"], {"name": "x", "input": [3, 8, 8], "layers": []}, ("network",), "layers"),
    (["hardware"], "fpga", ("hardware", "preset"), "isaac, mnsim"),
    (["hardware", "set"], {"xbar_rows": 0}, ("hardware", "set"), "positive integer"),
    (["space", "weight_bits"], [0, 4], ("space", "weight_bits", 0), "greater than or equal"),
    (["space", "epitome", "channel_ratios"], [0.5], ("space", "epitome", "channel_ratios", 0),
     "greater than or equal to 1"),
    (["space", "colour"], 1, ("space", "colour"), "Extra inputs"),
    (["objectives"], [], ("objectives",), "at least 1"),
    (["objectives", 0, "metric"], "speed", ("objectives", 0, "metric"), "'crossbars'"),
    (["objectives", 0, "direction"], "up", ("objectives", 0, "direction"), "'minimize'"),
    (["constraints", 0], {"metric": "energy_j"}, ("constraints", 0), "min and/or max"),
    (["constraints", 0, "min"], 5.0, ("constraints", 0), "above max"),
    (["baseline_bits"], 17, ("baseline_bits",), "less than or equal to 16"),
    (["sampler", "name"], "cmaes", ("sampler", "name"), "'nsga2', 'tpe', 'random', 'gp'"),
    (["budget", "n_trials"], 0, ("budget", "n_trials"), "greater than or equal to 1"),
    (["budget", "timeout_s"], -1, ("budget", "timeout_s"), "greater than 0"),
    (["accuracy", "proxy"], "guess", ("accuracy", "proxy"), "'train', 'synflow'"),
    (["accuracy", "dataset"], "mnist", ("accuracy", "dataset"), "'fashion-mnist'"),
    (["executor", "kind"], "slurm", ("executor", "kind"), "'local' or 'ray'"),
    (["executor", "cpus_per_trial"], 0, ("executor", "cpus_per_trial"), "greater than 0"),
    (["latency_mode"], "fast", ("latency_mode",), "'layer_by_layer'"),
    (["batch_size"], 0, ("batch_size",), "greater than or equal to 1"),
    (["sampler", "seed"], "zero", ("sampler", "seed"), "integer"),
]


@pytest.mark.parametrize(("path", "value", "loc", "needle"), BAD)
def test_bad_specs_name_path_and_allowed(path: list[Any], value: Any, loc: tuple[Any, ...],
                                         needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        StudySpec.model_validate(with_change(path, value))
    errors = info.value.errors()
    assert any(tuple(e["loc"][:len(loc)]) == loc and needle in e["msg"] for e in errors), errors


def test_repeated_objective_rejected() -> None:
    data = with_change(["objectives"], [{"metric": "energy_j"}, {"metric": "energy_j"}])
    with pytest.raises(ValidationError, match="repeat"):
        StudySpec.model_validate(data)
