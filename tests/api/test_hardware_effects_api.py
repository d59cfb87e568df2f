"""A study spec's ``accuracy.hardware_effects`` over HTTP: bad values are 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

SPEC: dict[str, Any] = {
    "name": "robust-api", "network": "resnet20",
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "robust_accuracy"}],
    "sampler": {"name": "nsga2"}, "budget": {"n_trials": 10},
}


@pytest.mark.parametrize(("accuracy", "loc", "needle"), [
    ({}, ["body", "accuracy", "hardware_effects"], "'robust_accuracy' needs"),
    ({"hardware_effects": {"samples": 0}}, ["body", "accuracy", "hardware_effects", "samples"],
     "greater than or equal to 1"),
    ({"hardware_effects": {"stuck_off": 2}},
     ["body", "accuracy", "hardware_effects", "stuck_off"], "less than or equal to 1"),
])
def test_bad_hardware_effects_get_422_with_path(checks: TestClient, accuracy: dict[str, Any],
                                                loc: list[Any], needle: str) -> None:
    response = checks.post("/studies", json={**SPEC, "accuracy": accuracy})
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(d["loc"][:len(loc)] == loc and needle in d["msg"] for d in details), details
