"""Pruning fields in designs, design files, batches and the search space."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from epim.errors import DesignError
from epim.search import StudySpec, prepare_study
from epim.space import Design, DesignBatch, design_from_dict, prunable_consumers
from epim.workloads import get_network


def test_only_inner_convs_of_resnet_blocks_are_channel_prunable() -> None:
    net = get_network("resnet20")
    pairs = prunable_consumers(net)
    assert len(pairs) == 9
    assert all(p.endswith("conv1") and c == p[:-1] + "2" for p, c in pairs.items())
    assert "conv1" not in pairs  # the stem feeds a residual add


def test_chains_give_pairs_that_do_not_overlap() -> None:
    pairs = prunable_consumers(get_network("vgg16"))  # conv -> conv -> pool chains
    assert pairs["features.0"] == "features.2" and "features.2" not in pairs
    assert pairs["features.10"] == "features.12" and "features.12" not in pairs
    assert set(pairs).isdisjoint(pairs.values())


def test_design_files_round_trip_and_digests_stay_for_unpruned_designs() -> None:
    net = get_network("resnet20")
    dense = Design.dense(net)
    before = dense.digest()
    pruned = dense.with_layer("layer2.0.conv1", prune_out=16).with_layer(
        "layer3.1.conv2", prune_cols=20)
    document = pruned.to_dict()
    assert document["layers"]["layer2.0.conv1"]["prune_out"] == 16
    assert "prune_out" not in dense.to_dict()["layers"]["layer2.0.conv1"]
    assert design_from_dict(document, net) == pruned
    batch = DesignBatch.from_designs(net, [dense, pruned])
    assert batch.digests() == [before, pruned.digest()] and before != pruned.digest()
    assert batch.design(1) == pruned and batch.to_dicts()[1] == document
    assert not DesignBatch.from_designs(net, [dense]).pruned


@pytest.mark.parametrize(("layer", "entry", "field"), [
    ("layer1.0.conv2", {"prune_out": 8}, "prune_out"),  # feeds a residual add
    ("layer1.0.conv1", {"prune_rows": 10, "prune_cols": 4}, "prune_cols"),
    ("layer1.0.conv1", {"prune_rows": 145}, "prune_rows"),  # 16*9 = 144 rows
    ("layer1.0.conv1", {"prune_out": 8, "in_ratio": 2}, "prune_out"),  # an epitome
    ("layer1.0.conv1", {"prune_cols": -1}, "prune_cols"),
])
def test_bad_pruning_is_refused_naming_the_field(layer: str, entry: dict[str, int],
                                                 field: str) -> None:
    net = get_network("resnet20")
    with pytest.raises(DesignError) as caught:
        design_from_dict({"layers": {layer: entry}}, net)
    assert caught.value.field == field and layer in str(caught.value)
    if "in_ratio" not in entry:  # the batch's vectorized check refuses it too
        design = Design.dense(net).with_layer(layer, **entry)
        arrays = dict(DesignBatch.from_designs(net, [Design.dense(net)]).arrays)
        j = [x.name for x in net.compute_layers].index(layer)
        for key, value in entry.items():
            arrays[key] = np.zeros((1, 22), np.int64)
            arrays[key][0, j] = value
        with pytest.raises(DesignError):
            DesignBatch(net, arrays).validate()
        with pytest.raises(DesignError):
            design.validate(net)


def spec(operators: list[str]) -> StudySpec:
    return StudySpec.model_validate({
        "name": "ops", "network": "resnet20", "objectives": [{"metric": "crossbars"}],
        "space": {"operators": operators, "weight_bits": [4, 8]}})


def test_operators_choose_the_families_a_space_searches() -> None:
    assert spec(["epitome"]).space.operators == StudySpec.model_validate({
        "name": "d", "network": "resnet20",
        "objectives": [{"metric": "crossbars"}]}).space.operators
    suffixes = {}
    for operators in (["epitome"], ["prune"], ["prune_channels"], ["prune_crossbar"],
                      ["epitome", "prune"], []):
        params = prepare_study(spec(operators)).space.parameters()
        suffixes[tuple(operators)] = {key.rsplit("/", 1)[1] for key in params}
    # (output epitomes of ResNet-20's <= 64 channels align to the whole 256-column crossbar)
    assert suffixes[("epitome",)] == {"in", "wbits"}
    assert suffixes[("prune",)] == {"pout", "prows", "pcols", "wbits"}
    assert suffixes[("prune_channels",)] == {"pout", "wbits"}
    assert suffixes[("prune_crossbar",)] == {"prows", "pcols", "wbits"}
    assert suffixes[("epitome", "prune")] == {"in", "pout", "prows", "pcols", "wbits"}
    assert suffixes[()] == {"wbits"}
    space = prepare_study(spec(["prune"])).space
    assert space.parameters()["layer3.0.conv2/prows"] == (0, 256, 512)  # whole crossbars


def test_decoding_drops_pruning_where_a_layer_takes_an_epitome_or_both_kinds() -> None:
    space = prepare_study(spec(["epitome", "prune"])).space
    assert space.parameters()["layer3.0.conv1/in"] == (28, 32)
    values = {**space.dense_choice(), "layer3.0.conv1/pout": 16, "layer3.0.conv1/in": 28,
              "layer2.1.conv1/prows": 256, "layer2.1.conv1/pcols": 8,
              "layer2.2.conv1/pout": 8}
    design = space.decode(values)
    assert design.layers["layer3.0.conv1"].prune_out == 0  # an epitome: not pruned
    assert (design.layers["layer2.1.conv1"].prune_rows,
            design.layers["layer2.1.conv1"].prune_cols) == (256, 0)
    assert design.layers["layer2.2.conv1"].prune_out == 8
    assert space.encode(design)["layer2.2.conv1/pout"] == 8
    assert not space.decode(space.dense_choice()).layers["layer2.2.conv1"].pruned


@pytest.mark.parametrize(("space", "where"), [
    ({"operators": ["wrap"]}, ("space", "operators", 0)),
    ({"operators": ["prune", "prune"]}, ("space", "operators")),
    ({"prune": {"channel_ratios": [0.5]}}, ("space", "prune", "channel_ratios", 0)),
    ({"prune": {"crossbar_ratios": []}}, ("space", "prune", "crossbar_ratios")),
])
def test_bad_operator_settings_name_the_field(space: dict[str, object],
                                              where: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        StudySpec.model_validate({"name": "x", "network": "resnet20", "space": space,
                                  "objectives": [{"metric": "crossbars"}]})
    assert tuple(caught.value.errors()[0]["loc"]) == where
