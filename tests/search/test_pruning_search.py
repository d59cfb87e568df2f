"""Searching pruning: exact per-layer tables and a small ``operators: [prune]`` study."""

from __future__ import annotations

from typing import Any

import numpy as np

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._tables import layer_tables
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy
from epim.space import DesignBatch, design_from_dict


def test_tables_of_pruning_spaces_add_up_to_the_cost_model() -> None:
    spec = StudySpec.model_validate({
        "name": "t", "network": "resnet20", "objectives": [{"metric": "crossbars"}],
        "space": {"operators": ["epitome", "prune"], "weight_bits": [2, 4, 8]}})
    prepared = prepare_study(spec)
    params = prepared.space.parameters()
    rng = np.random.default_rng(0)
    batch = prepared.space.decode_batch(
        [{k: int(rng.choice(v)) for k, v in params.items()} for _ in range(128)])
    assert batch["prune_out"].any() and batch["prune_rows"].any()
    costs = prepared.model.evaluate(batch)
    tables = layer_tables(prepared.space, prepared.model)
    assert tables.pairs  # the channel-pruning pairs: the reader's costs per kept count
    index = tables.index(batch)
    np.testing.assert_allclose(tables.totals("crossbars", index), costs.crossbars, rtol=1e-12)
    np.testing.assert_allclose(tables.totals("params", index), costs.params, rtol=1e-12)
    np.testing.assert_allclose(tables.totals("energy_j", index), costs.energy_j, rtol=0.02)
    groups, members = tables.group_values(["crossbars"])
    assert len(groups) == len(tables.layers) - len(tables.pairs)
    # a group choice of a pair adds up to the pair's cost in the model
    pair = next(m for m in members if len(m) == 2)
    g = members.index(pair)
    split = tables.split_choices(np.arange(len(groups[g]))[:, None].repeat(len(groups), 1),
                                 members)
    assert {tuple(r) for r in split[:, list(pair)].tolist()} == {
        (i, j) for i in range(len(tables.layers[pair[0]]))
        for j in range(len(tables.layers[pair[1]]))}


SPEC: dict[str, Any] = {
    "name": "prune", "network": "resnet20",
    "space": {"operators": ["prune"], "weight_bits": [4, 8],
              "frozen": ["first", "last", "layer1.*", "layer2.*"],
              "prune": {"channel_ratios": [1, 4], "crossbar_ratios": [1, 2]}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "budget": {"n_trials": 4}, "batch_size": 4,
    "sampler": {"name": "layerwise", "layerwise": {"profile_samples": 64,
                                                   "screen_steps": 0}},
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 8, "width": 0.25,
                 "batch_size": 32, "pretrain_steps": 30, "eval_samples": 100},
}


def test_a_pruning_study_runs_end_to_end() -> None:
    spec = StudySpec.model_validate(SPEC)
    prepared = prepare_study(spec)
    store = MemoryStore()
    assert spec.accuracy is not None
    result = StudyDriver(prepared, store=store, executor=LocalExecutor(),
                         accuracy=ProxyAccuracy(spec.accuracy)).run()
    assert result.reason == "trials" and result.progress.completed == 4
    trials = [r for r in store.study.records if r.state == "complete"]
    designs = [design_from_dict(r.design, prepared.network) for r in trials]
    assert any(choice.pruned for d in designs for choice in d.layers.values())
    assert all(not choice.pruned for d in designs for name, choice in d.layers.items()
               if not name.startswith("layer3"))  # frozen layers stay whole
    costs = prepared.model.evaluate(DesignBatch.from_designs(prepared.network, designs))
    stored = [r.metrics["crossbar_area_m2"] for r in trials]
    np.testing.assert_allclose(stored, costs.crossbar_area_m2, rtol=1e-12)
    assert all(0 <= r.metrics["accuracy"] <= 1 for r in trials)


def test_parameter_values_that_decoding_drops_find_their_choice() -> None:
    spec = StudySpec.model_validate({
        "name": "t", "network": "resnet20", "objectives": [{"metric": "crossbars"}],
        "space": {"operators": ["epitome", "prune"], "weight_bits": [4, 8]}})
    prepared = prepare_study(spec)
    tables = layer_tables(prepared.space, prepared.model)
    values = {**prepared.space.dense_choice(), "layer3.0.conv1/in": 28,
              "layer3.0.conv1/prows": 256, "layer3.0.conv2/prows": 256,
              "layer3.0.conv2/pcols": 32}  # an epitome drops pruning; rows drop columns
    index = tables.index_of_values(values)
    decoded = prepared.space.decode_batch([values])
    assert np.array_equal(index, tables.index(decoded)[0])
