"""``accuracy.hardware_effects`` and the robust metrics in a study spec: validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from epim.search import HIGHER_IS_BETTER, StudySpec
from epim.search._metrics import normalized
from epim.search._pareto import normalized_hypervolume


def spec(objectives: list[str], accuracy: dict[str, Any] | None = None,
         **changes: Any) -> StudySpec:
    data: dict[str, Any] = {"name": "robust", "network": "resnet20",
                            "objectives": [{"metric": m} for m in objectives], **changes}
    if accuracy is not None:
        data["accuracy"] = accuracy
    return StudySpec.model_validate(data)


def test_hardware_effects_are_off_by_default_and_take_the_presets_device() -> None:
    plain = spec(["energy_j", "accuracy"])
    assert plain.accuracy is not None and plain.accuracy.hardware_effects is None
    robust = spec(["energy_j", "robust_accuracy"], {"hardware_effects": {}})
    effects = robust.accuracy.hardware_effects if robust.accuracy else None
    assert effects is not None and effects.samples == 4 and effects.finetune_steps == 0
    assert (effects.variation, effects.stuck_on, effects.stuck_off) == (None, None, None)
    assert robust.needs_accuracy and robust.objectives[1].direction == "maximize"
    assert {"robust_accuracy", "robust_accuracy_p5"} <= HIGHER_IS_BETTER


def test_robust_metrics_need_hardware_effects() -> None:
    for used in ({"objectives": [{"metric": "robust_accuracy"}]},
                 {"objectives": [{"metric": "energy_j"}],
                  "constraints": [{"metric": "robust_accuracy_p5", "min": 0.5}]}):
        with pytest.raises(ValidationError) as info:
            StudySpec.model_validate({"name": "r", "network": "resnet20", **used})
        error = info.value.errors()[0]
        assert error["loc"] == ("accuracy", "hardware_effects")
        assert "needs accuracy.hardware_effects" in error["msg"]


@pytest.mark.parametrize(("effects", "location"), [
    ({"samples": 0}, ("accuracy", "hardware_effects", "samples")),
    ({"samples": 65}, ("accuracy", "hardware_effects", "samples")),
    ({"finetune_steps": -1}, ("accuracy", "hardware_effects", "finetune_steps")),
    ({"variation": -0.1}, ("accuracy", "hardware_effects", "variation")),
    ({"stuck_on": 1.5}, ("accuracy", "hardware_effects", "stuck_on")),
    ({"stuck_on": 0.6, "stuck_off": 0.6}, ("accuracy", "hardware_effects")),
    ({"adc_range": "auto"}, ("accuracy", "hardware_effects", "adc_range")),
    ({"adc_percentile": 0}, ("accuracy", "hardware_effects", "adc_percentile")),
    ({"colour": 1}, ("accuracy", "hardware_effects", "colour")),
])
def test_bad_settings_are_located(effects: dict[str, Any], location: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        spec(["robust_accuracy"], {"hardware_effects": effects})
    assert info.value.errors()[0]["loc"][:len(location)] == location


def test_zero_cost_proxies_have_no_crossbars() -> None:
    with pytest.raises(ValidationError, match="hardware_effects needs proxy: train"):
        spec(["robust_accuracy"], {"proxy": "synflow", "hardware_effects": {}},
             sampler={"name": "nsga2"})


def test_robust_accuracy_enters_the_hypervolume_as_accuracy_does() -> None:
    baseline = {"energy_j": 2.0}
    assert normalized("robust_accuracy", 0.8, baseline) == pytest.approx(0.2)
    assert normalized("robust_accuracy_p5", 0.8, baseline) == normalized("accuracy", 0.8,
                                                                         baseline)
    volume = normalized_hypervolume([[1.0, 0.8]], ["energy_j", "robust_accuracy"],
                                    ["minimize", "maximize"], baseline)
    assert volume == pytest.approx(0.5 * 0.8)
