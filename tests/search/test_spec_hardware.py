"""``space.hardware`` and ``space.replication`` in a study spec: validation with field paths."""

from typing import Any

import pytest
from pydantic import ValidationError

from epim.errors import InputError
from epim.search import StudySpec, prepare_study
from epim.space import DesignBatch


def spec(**space: Any) -> StudySpec:
    return StudySpec.model_validate({
        "name": "co-search", "network": "resnet20", "space": space,
        "objectives": [{"metric": "energy_j"}, {"metric": "latency_s"}],
        "latency_mode": "pipelined"})


def test_hardware_and_replication_become_the_space() -> None:
    prepared = prepare_study(spec(
        replication=[1, 2], overrides={"layer3.*": {"replication": [1]}},
        hardware={"xbar_size": [128, 256], "adc_choice": [4, 7], "max_tiles": 400}))
    space = prepared.space
    params = space.parameters()
    assert params["conv1/rep"] == (1, 2) and "layer3.0.conv1/rep" not in params
    assert params["hw/xbar_size"] == (128, 256) and params["hw/adc_choice"] == (4, 7)
    assert len(space.hardware_variants()) == 4
    assert space.chip is not None and space.chip.max_tiles == 400
    choice = {key: values[-1] for key, values in params.items()}
    batch: DesignBatch = space.decode_batch([choice, space.dense_choice()])
    costs = prepared.model.evaluate(batch)
    assert costs.hardware_of(0).name == "mnsim+adc_choice=7,xbar_size=256"
    assert costs.hardware_of(1).name == "mnsim+adc_choice=4,xbar_size=128"
    assert costs.crossbars[0] > 0 and costs.latency_s("pipelined")[0] > 0
    violation = space.chip.violation(costs.tiles, costs.area_m2)
    assert ((violation <= 0) == (costs.tiles <= 400)).all()


def test_old_specs_search_no_hardware() -> None:
    prepared = prepare_study(spec())
    assert prepared.spec.space.replication == [1]
    assert prepared.space.hardware_variants() == [{}] and prepared.space.chip is None
    assert not any(key.startswith("hw/") or key.endswith("/rep")
                   for key in prepared.space.parameters())


@pytest.mark.parametrize(("space", "location"), [
    ({"hardware": {"colour": [1]}}, ("space", "hardware", "colour")),
    ({"hardware": {"xbar_size": []}}, ("space", "hardware", "xbar_size")),
    ({"hardware": {"xbar_size": [0]}}, ("space", "hardware", "xbar_size", 0)),
    ({"hardware": {"max_tiles": 0}}, ("space", "hardware", "max_tiles")),
    ({"hardware": {"xbar_size": list(range(64, 80)), "adc_choice": list(range(1, 10)),
                   "cell_bits": [1, 2]}}, ("space", "hardware")),
    ({"replication": [0]}, ("space", "replication", 0)),
    ({"replication": [65]}, ("space", "replication", 0)),
    ({"overrides": {"conv1": {"replication": []}}},
     ("space", "overrides", "conv1", "replication")),
])
def test_bad_hardware_space_is_located(space: dict[str, Any], location: tuple[Any, ...]
                                       ) -> None:
    with pytest.raises(ValidationError) as info:
        spec(**space)
    assert info.value.errors()[0]["loc"][:len(location)] == location


@pytest.mark.parametrize(("hardware", "field", "expected"), [
    ({"adc_choice": [6, 42]}, "adc_choice", "MNSIM's ADC table"),
    ({"crossbars_per_pe": [2, 3]}, "crossbars_per_pe", "multiple of 2"),
    ({"dac_choice": [8]}, "dac_choice", "one of 1, 2"),
])
def test_values_the_preset_cannot_take_fail_at_submission(
        hardware: dict[str, Any], field: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        prepare_study(spec(hardware=hardware))
    assert info.value.location == ("space", "hardware") and info.value.field == field
    assert expected in str(info.value)


def test_the_layerwise_sampler_searches_hardware_but_refuses_a_chip_budget() -> None:
    data: dict[str, Any] = {
        "name": "lw", "network": "resnet20",
        "space": {"replication": [1, 2], "hardware": {"xbar_size": [64, 128],
                                                      "adc_choice": [4, 7]}},
        "objectives": [{"metric": "energy_j"}, {"metric": "accuracy"}],
        "accuracy": {"dataset": "digits"}}
    spec = StudySpec.model_validate(data)
    assert spec.sampler.name == "layerwise"
    prepared = prepare_study(spec)  # genes and copies: searched by the layerwise engine
    assert prepared.space.replicated and len(prepared.space.hardware_variants()) == 4
    for budget, field in (({"max_tiles": 400}, "max_tiles"), ({"max_area_m2": 1e-4},
                                                              "max_area_m2")):
        space = {**data["space"], "hardware": {**data["space"]["hardware"], **budget}}
        with pytest.raises(InputError, match=r"layerwise .*chip budget") as info:
            prepare_study(StudySpec.model_validate({**data, "space": space}))
        assert info.value.location == ("space", "hardware") and info.value.field == field
        assert "nsga2" in (info.value.expected or "")
        nsga = StudySpec.model_validate({**data, "space": space, "sampler": {"name": "nsga2"}})
        assert prepare_study(nsga).space.chip is not None


def test_a_cost_only_co_search_keeps_the_chip_budget() -> None:
    from epim.search._driver import StudyDriver
    from epim.search._records import MemoryStore
    from epim.search.executors import LocalExecutor

    study = spec(weight_bits=[2, 8], replication=[1, 4],
                 hardware={"xbar_size": [128, 256], "adc_choice": [4, 7], "max_tiles": 150})
    study = study.model_copy(update={"sampler": study.sampler.model_copy(
        update={"name": "random", "population_size": 8}), "batch_size": 8,
        "budget": study.budget.model_copy(update={"n_trials": 24})})
    store = MemoryStore()
    prepared = prepare_study(study)
    StudyDriver(prepared, store=store, executor=LocalExecutor()).run()
    records = store.load().records
    assert len(records) == 24
    for record in records:
        tiles = sum(record.layers["tiles"])
        assert record.feasible == (tiles <= 150)  # the budget is the last constraint value
        assert record.constraints[-1] == pytest.approx(tiles / 150 - 1)
        assert record.design["hardware"]["xbar_size"] in (128, 256)
    assert {r.number for r in records if r.feasible} >= set(store.front)
    assert any(not r.feasible for r in records) and any(r.feasible for r in records)
