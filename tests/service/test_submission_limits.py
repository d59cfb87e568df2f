"""What one study may cost a server, bounded at submission: proxy memory and stored bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from epim import results
from epim.errors import InputError
from epim.search import StudyLimits, StudySpec
from epim.service import prepare_submission, run_study_here
from epim.service._study import stored_bytes_per_trial


def wide(channels: int = 4096, convs: int = 20) -> dict[str, Any]:
    """Twenty 3x3 convs of 4,096 channels: 2 KB of spec, within every network limit."""
    layers = [{"name": f"c{i}", "type": "conv", "out_channels": channels, "kernel_size": 3,
               "padding": 1} for i in range(convs)]
    return {"name": "wide", "input": [3, 32, 32],
            "layers": [*layers, {"name": "g", "type": "globalpool"},
                       {"name": "fc", "type": "linear", "out_features": 10}]}


def spec(network: Any = "resnet20", **changes: Any) -> StudySpec:
    data: dict[str, Any] = {"name": "limits", "network": network,
                            "objectives": [{"metric": "accuracy"}, {"metric": "latency_s"}],
                            "budget": {"n_trials": 100}}
    for key, value in changes.items():
        data[key] = value
    return StudySpec.model_validate(data)


def refused(study: StudySpec, limits: StudyLimits | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        prepare_submission(study, limits=limits)
    return info.value


def test_a_2kb_spec_that_would_exhaust_memory_is_refused() -> None:
    study = spec(wide())
    assert len(json.dumps(study.model_dump(mode="json")["network"])) < 2_500
    error = refused(study)
    assert error.location == ("accuracy",) and error.field == "width", str(error)
    assert "EPIM_MAX_PROXY_BYTES" in str(error) and "GiB" in str(error)


def test_the_field_named_is_the_one_to_lower() -> None:
    big_batch = refused(spec("resnet18", accuracy={"width": 1.0, "image_size": 64,
                                                   "batch_size": 1024}))
    assert (big_batch.location, big_batch.field) == (("accuracy",), "batch_size")
    big_images = refused(spec("resnet18", accuracy={"width": 1.0, "image_size": 64,
                                                    "batch_size": 8}))
    assert (big_images.location, big_images.field) == (("accuracy",), "image_size")
    big_profile = refused(spec("resnet50", sampler={"name": "layerwise", "layerwise": {
        "profile_samples": 10_000}}))
    assert (big_profile.location, big_profile.field) == (("sampler", "layerwise"),
                                                         "profile_samples")


def test_defaults_fit_and_the_limit_is_the_operators() -> None:
    prepare_submission(spec("resnet50"))  # the default layerwise study of ResNet-50
    prepare_submission(spec(wide(channels=256)))
    error = refused(spec("resnet20"), StudyLimits(max_proxy_bytes=2**20))
    assert "at most 1.0 MiB" in str(error)
    cost_only = StudySpec.model_validate({"name": "c", "network": wide(),
                                          "objectives": [{"metric": "latency_s"}]})
    prepare_submission(cost_only)  # no proxy, no proxy memory


def test_stored_bytes_are_bounded_per_study() -> None:
    layers = [{"name": f"{'c' * 95}{i:04d}", "type": "conv", "out_channels": 8,
               "kernel_size": 1} for i in range(1000)]
    many = {"name": "many", "input": [3, 4, 4], "layers": layers}
    study = StudySpec.model_validate({"name": "s", "network": many,
                                      "objectives": [{"metric": "latency_s"}],
                                      "budget": {"n_trials": 100_000}})
    error = refused(study)
    assert (error.location, error.field) == (("budget",), "n_trials")
    assert "EPIM_MAX_STUDY_BYTES" in str(error)
    most = int(str(error).split("at most ")[-1].split(" trials")[0])
    prepare_submission(study.model_copy(update={"budget": study.budget.model_copy(
        update={"n_trials": most})}))
    prepare_submission(spec("resnet50").model_copy(update={
        "budget": spec().budget.model_copy(update={"n_trials": 100_000}),
        "sampler": spec().sampler.model_copy(update={"name": "nsga2"})}))


def stored_json_bytes(trial: results.TrialRow) -> int:
    columns = (trial.design, trial.layers, trial.params, trial.metrics, trial.constraints,
               trial.values, trial.system_attrs)
    return sum(len(json.dumps(value)) for value in columns) + len(trial.design_hash)


def test_the_stored_size_estimate_covers_what_is_stored(database_url: str) -> None:
    results.upgrade(database_url)
    study = StudySpec.model_validate({
        "name": "sized", "network": "resnet20", "sampler": {"name": "random", "seed": 0},
        "objectives": [{"metric": "latency_s"}, {"metric": "crossbars"}],
        "constraints": [{"metric": "energy_j", "max": 1.0}], "budget": {"n_trials": 6}})
    row = run_study_here(study, database_url)
    trials = results.load_trials(database_url, row.id)  # every column (listings defer some)
    assert len(trials) == 6
    stored = max(stored_json_bytes(trial) for trial in trials)
    estimate = stored_bytes_per_trial(prepare_submission(study))
    assert 1.0 <= estimate / stored <= 1.6, (estimate, stored)


def test_epim_study_run_refuses_the_memory_bomb(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(spec(wide()).model_dump(mode="json")))
    result = subprocess.run(
        [sys.executable, "-m", "epim.cli", "study", "run", str(path), "--database-url",
         f"sqlite:///{tmp_path / 'epim.db'}"], capture_output=True, text=True, check=False,
        timeout=120)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "accuracy" in result.stderr and "width" in result.stderr
    assert "EPIM_MAX_PROXY_BYTES" in result.stderr
