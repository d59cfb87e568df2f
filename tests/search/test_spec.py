from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from epim.errors import InputError
from epim.search import StudyLimits, StudySpec, prepare_study
from epim.workloads import NetworkLimits

ROOT = Path(__file__).resolve().parents[2]
README_SPEC = yaml.safe_load("""
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


def test_the_readme_spec_validates() -> None:
    spec = StudySpec.model_validate(README_SPEC)
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
    data = yaml.safe_load(yaml.safe_dump(README_SPEC))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BAD = [
    (["name"], "", ("name",), "at least 1"),
    (["name"], "has spaces", ("name",), "pattern"),
    (["network"], "resnet99", ("network",), "resnet18"),
    (["network"], "/etc/passwd.yaml", ("network",), "inline network"),
    (["hardware"], "fpga", ("hardware", "preset"), "isaac, mnsim"),
    (["hardware"], "/etc/secrets.yaml", ("hardware", "preset"), "inline preset document"),
    (["hardware", "set"], {"xbar_rows": float("nan")}, ("hardware", "set"), "finite"),
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
    (["sampler", "seed"], 2**40, ("sampler", "seed"), "less than or equal to 4294967295"),
    (["sampler", "seed"], -1, ("sampler", "seed"), "greater than or equal to 0"),
    (["accuracy", "seed"], 2**32, ("accuracy", "seed"), "less than or equal"),
    (["accuracy", "data_root"], "/home/user/photos", ("accuracy", "data_root"), "pattern"),
    (["constraints", 0, "max"], float("inf"), ("constraints", 0, "max"), "finite"),
    (["constraints", 0, "max"], float("nan"), ("constraints", 0, "max"), "finite"),
    (["budget", "timeout_s"], float("inf"), ("budget", "timeout_s"), "finite"),
    (["accuracy", "lr"], float("nan"), ("accuracy", "lr"), "finite"),
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


def inline_network(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "inline", "input": [3, 16, 16], "layers": layers}


CONV = {"name": "c", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}
FC = {"name": "fc", "type": "linear", "out_features": 10}
SEMANTIC = [  # structurally valid, but they would fail in a runner: refused at submission
    (["network"], inline_network([]), ("network",), "layers", "non-empty"),
    (["network"], inline_network([{**CONV, "out_channels": 10**30}, FC]),
     ("network", "layers", "c"), "out_channels", "at most 65536"),
    (["network"], inline_network([{**CONV, "name": f"c{i}", "kernel_size": 1, "padding": 0}
                                  for i in range(10_000)]), ("network",), "layers",
     "at most 1000 layers"),
    (["network"], inline_network([{**CONV, "kernel_size": 1.5}, FC]),
     ("network", "layers", "c"), "kernel_size", "integer"),
    (["hardware", "set"], {"xbar_rows": 0}, ("hardware", "set"), "xbar_rows", "integer 1.."),
    (["hardware", "set"], {"colour": 1}, ("hardware", "set"), "colour", "xbar_size"),
    (["hardware", "preset"], {"name": "mine", "options": {}, "parameters": {}},
     ("hardware", "preset"), "row_packing", "kernel, unrolled"),
    (["space", "frozen"], ["nothing.*"], ("space",), "frozen", "first, last"),
    (["space", "overrides"], {"zzz": {"weight_bits": [4]}}, ("space",), "overrides",
     "layer names"),
]


@pytest.mark.parametrize(("path", "value", "location", "field", "needle"), SEMANTIC)
def test_specs_that_would_fail_later_fail_in_prepare(path: list[Any], value: Any,
                                                     location: tuple[str, ...], field: str,
                                                     needle: str) -> None:
    spec = StudySpec.model_validate(with_change(path, value))
    with pytest.raises(InputError) as info:
        prepare_study(spec)
    assert info.value.location[:len(location)] == location, info.value.location
    assert info.value.field == field and needle in str(info.value), str(info.value)


def test_limits_bound_trials_and_parameters() -> None:
    spec = StudySpec.model_validate(README_SPEC)
    with pytest.raises(InputError, match="at most 100 trials") as info:
        prepare_study(spec, StudyLimits(max_trials=100))
    assert info.value.location == ("budget",) and info.value.field == "n_trials"
    with pytest.raises(InputError, match="at most 10 on this server") as info:
        prepare_study(spec, StudyLimits(max_parameters=10))
    assert info.value.location == ("space",)
    small = StudyLimits(network=NetworkLimits(max_layers=3))
    inline = StudySpec.model_validate(with_change(["network"], inline_network(
        [CONV, {**CONV, "name": "d"}, {**CONV, "name": "e"}, FC])))
    with pytest.raises(InputError, match="at most 3 layers"):
        prepare_study(inline, small)


def test_an_inline_preset_is_a_preset_document() -> None:
    from epim.cost_model import load_hardware

    document = load_hardware("isaac").to_dict()
    document.pop("derived")
    document["parameters"] = {k: {"value": v["value"], "unit": v["unit"],
                                  "source": v["source"]}
                              for k, v in document["parameters"].items()}
    document["parameters"]["adc_bits"]["value"] = 7
    spec = StudySpec.model_validate(with_change(["hardware"], {"preset": document,
                                                               "set": {"xbar_size": 64}}))
    prepared = prepare_study(spec)
    assert prepared.hardware.adc_bits == 7 and prepared.hardware.xbar_rows == 64
    assert spec.hardware.preset_name == "isaac"


UNSTORABLE = [  # text no database stores and no UTF-8 response carries, anywhere in a spec
    (["name"], "a\x00b", ("name",)),
    (["network"], {"name": "n\ud800", "input": [3, 8, 8], "layers": []}, ("network", "name")),
    (["network"], {"name": "n", "input": [3, 8, 8], "layers": [{"name": "c", "from": "\x00"}]},
     ("network", "layers", 0, "from")),
    (["hardware", "set"], {"xbar\udc00": 1}, ("hardware", "set", "xbar\\udc00")),
    (["hardware", "set"], {"placement": "a\x00"}, ("hardware", "set", "placement")),
    (["hardware"], {"preset": {"name": "p", "description": "\ud83d"}},
     ("hardware", "preset", "description")),
    (["space", "frozen"], ["first", "x\x00"], ("space", "frozen", 1)),
]


@pytest.mark.parametrize(("path", "value", "loc"), UNSTORABLE)
def test_unstorable_text_is_refused_at_its_path(path: list[Any], value: Any,
                                                loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        StudySpec.model_validate(with_change(path, value))
    errors = info.value.errors()
    assert len(errors) == 1 and errors[0]["type"] == "unstorable_text", errors
    assert tuple(errors[0]["loc"]) == loc, errors
    str(info.value).encode("utf-8")  # the message itself is sendable


def test_other_unicode_text_is_still_welcome() -> None:
    spec = StudySpec.model_validate(with_change(["space", "frozen"],
                                                ["first", "caf\u00e9 \U0001f600"]))
    assert spec.space.frozen == ["first", "caf\u00e9 \U0001f600"]


@pytest.mark.parametrize("value", [True, 1.0, "energy_j", {"metric": "energy_j"}])
def test_lists_of_another_type_are_validation_errors(value: Any) -> None:
    for key in ("objectives", "constraints"):  # never a TypeError (a 500 in the API)
        with pytest.raises(ValidationError):
            StudySpec.model_validate({"name": "s", "network": {}, key: value,
                                      "objectives": [{"metric": "edp"}]} | {key: value})


def _constraint(**bounds: Any) -> Any:
    from epim.search._spec import ConstraintSpec

    return ConstraintSpec.model_validate(bounds)


@pytest.mark.parametrize("bounds", [{"max": 2.0}, {"min": -1.0}, {"min": 0.0, "max": 3.0},
                                    {"max": 0.0}])
def test_a_constraints_values_and_verdicts_agree(bounds: dict[str, float]) -> None:
    import numpy as np

    constraint = _constraint(metric="energy_j", **bounds)
    values = np.array([-5.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 2.0, 2.5, 3.0, 7.0, np.inf, np.nan])
    verdicts = constraint.holds(values)
    for value, verdict in zip(values, verdicts, strict=True):
        scaled = constraint.violations(float(value))
        assert len(scaled) == len(bounds)
        assert verdict == all(v <= 0 for v in scaled), value
        assert all(np.isfinite(scaled))  # samplers take finite numbers only
    if bounds.get("max"):  # overshoot as a share of the bound
        assert constraint.violations(bounds["max"] * 1.5)[0] == pytest.approx(0.5)


def test_constraints_bound_per_layer_sums_as_the_registry_says() -> None:
    dense = {"crossbar_area_m2": 2e-4, "energy_j": 3e-5, "latency_s": 4e-3}
    reduction = _constraint(metric="crossbar_area_reduction", min=10, max=40)
    assert reduction.additive_bound(dense) == ("crossbar_area_m2", pytest.approx(2e-5))
    assert reduction.whole_design_bounds() == ["max"]
    energy = _constraint(metric="energy_j", min=1e-6, max=2e-5)
    assert energy.additive_bound(dense) == ("energy_j", 2e-5)
    assert energy.whole_design_bounds() == ["min"]
    edp = _constraint(metric="edp", max=1e-8)  # a product: no per-layer form
    assert edp.additive_bound(dense) is None and edp.whole_design_bounds() == ["max"]
    accuracy = _constraint(metric="accuracy", min=0.5)
    assert accuracy.additive_bound(dense) is None and accuracy.needs_accuracy
    assert not energy.needs_accuracy


@pytest.mark.parametrize("metric", ["robust_accuracy", "robust_accuracy_p5"])
def test_robust_accuracy_needs_hardware_effects(metric: str) -> None:
    spec = {"name": "r", "network": "resnet20", "objectives": [{"metric": "crossbars"}],
            "constraints": [{"metric": metric, "min": 0.5}]}
    with pytest.raises(ValidationError, match=rf"'{metric}' needs accuracy\.hardware_effects"):
        StudySpec.model_validate(spec)
    with pytest.raises(ValidationError, match=r"needs accuracy\.hardware_effects"):
        StudySpec.model_validate({**spec, "constraints": [], "objectives": [
            {"metric": "crossbars"}, {"metric": metric}]})
    from epim.search._spec import ObjectiveSpec

    assert ObjectiveSpec.model_validate({"metric": metric}).direction == "maximize"
