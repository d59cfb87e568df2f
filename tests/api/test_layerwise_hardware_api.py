"""A layerwise co-search over HTTP: hardware genes are accepted, a chip budget is a 422."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

SPEC: dict[str, Any] = {
    "name": "lw-hw-api", "network": "resnet20",
    "space": {"replication": [1, 2], "hardware": {"xbar_size": [64, 128], "adc_choice": [4, 7]}},
    "objectives": [{"metric": "energy_j"}, {"metric": "accuracy"}],
    "sampler": {"name": "layerwise"}, "budget": {"n_trials": 10},
    "accuracy": {"dataset": "digits"},
}


def test_a_layerwise_study_with_hardware_genes_is_accepted(checks: TestClient) -> None:
    response = checks.post("/studies", json=SPEC)
    assert response.status_code in (200, 201, 202), response.text


def test_a_layerwise_chip_budget_gets_422_naming_the_field(checks: TestClient) -> None:
    space = {**SPEC["space"], "hardware": {**SPEC["space"]["hardware"], "max_tiles": 400}}
    response = checks.post("/studies", json={**SPEC, "space": space})
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(d["loc"][:4] == ["body", "space", "hardware", "max_tiles"]
               and "layerwise" in d["msg"] and "chip budget" in d["msg"]
               for d in details), details
