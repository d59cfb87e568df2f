"""Hardware genes and per-layer replication in designs, batches, design files and the space."""

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from epim.errors import DesignError, InputError
from epim.space import (
    ChipBudget,
    Design,
    DesignBatch,
    LayerOptions,
    SearchSpace,
    design_from_dict,
    load_design_file,
)
from epim.workloads import get_network

NET = get_network("resnet20")


def test_a_design_file_carries_hardware_and_replication(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({
        "network": "resnet20", "hardware": {"adc_choice": 7, "xbar_size": 128},
        "default": {"weight_bits": 4, "replication": 2},
        "layers": {"conv1": {"replication": 4}, "fc": {"replication": 1}}}))
    design = load_design_file(path, NET)
    assert design.hardware == {"adc_choice": 7, "xbar_size": 128}
    assert design.layers["conv1"].replication == 4 and design.layers["fc"].replication == 1
    assert design.layers["layer1.0.conv1"].replication == 2
    document = design.to_dict()
    assert document["hardware"] == {"adc_choice": 7, "xbar_size": 128}
    assert "replication" not in document["layers"]["fc"]
    assert design_from_dict(document, NET) == design  # the file format round-trips
    batch = DesignBatch.from_designs(NET, [design, Design.dense(NET)])
    assert batch.to_dicts()[0] == document and batch.to_dicts()[1] == Design.dense(NET).to_dict()
    assert batch.design(0) == design and batch.design(1) == Design.dense(NET)
    assert batch.digests() == [design.digest(), Design.dense(NET).digest()]
    assert batch.hardware_of(1) == {} and batch.genes == ("adc_choice", "xbar_size")
    part = batch.take([1, 0])
    assert part.design(0) == Design.dense(NET) and part.design(1) == design


def test_defaults_keep_documents_and_digests() -> None:
    dense = Design.dense(NET)
    # the digest of a design without genes or copies is what it was before they existed
    table = np.array([choice.as_tuple() for choice in dense.layers.values()], dtype=np.int64)
    assert dense.digest() == hashlib.sha256(b"resnet20\0" + table.tobytes()).hexdigest()[:16]
    assert "hardware" not in dense.to_dict()
    assert all("replication" not in layer for layer in dense.to_dict()["layers"].values())
    copied = dense.with_layer("conv1", replication=2)
    geared = Design(dense.network, dense.layers, {"cell_bits": 2})
    assert len({dense.digest(), copied.digest(), geared.digest()}) == 3
    batch = DesignBatch.from_designs(NET, [dense])
    assert "replication" not in batch.arrays and batch.hardware == {}
    assert not batch.replicated and batch.replication.min() == 1


@pytest.mark.parametrize(("data", "needle"), [
    ({"hardware": {"adc_bits": 4}}, "unknown hardware gene"),
    ({"hardware": {"adc_choice": 0}}, "adc_choice"),
    ({"hardware": {"adc_choice": "7"}}, "adc_choice"),
    ({"hardware": [7]}, "hardware"),
    ({"layers": {"conv1": {"replication": 0}}}, "replication"),
    ({"layers": {"conv1": {"replication": 65}}}, "1..64"),
    ({"default": {"replication": 1.5}}, "replication"),
])
def test_bad_hardware_or_replication_names_the_field(data: dict, needle: str) -> None:
    with pytest.raises(DesignError, match=needle):
        design_from_dict(data, NET)


def test_the_space_searches_replication_and_hardware() -> None:
    space = SearchSpace.build(NET, options=LayerOptions(replication=(1, 2, 4)),
                              hardware={"xbar_size": [256, 128], "adc_choice": [7]},
                              chip=ChipBudget(max_tiles=100))
    params = space.parameters()
    assert params["conv1/rep"] == (1, 2, 4)  # frozen layers too: copies, not weights
    assert params["hw/xbar_size"] == (128, 256) and "hw/adc_choice" not in params
    assert space.hardware_variants() == [{"xbar_size": 128, "adc_choice": 7},
                                         {"xbar_size": 256, "adc_choice": 7}]
    plain = SearchSpace.build(NET)
    one_copy = SearchSpace.build(NET, hardware={"xbar_size": [256, 128]})
    assert space.size == one_copy.size * 3 ** len(space.layers)
    assert one_copy.size == 2 * math.prod(layer.size for layer in one_copy.layers)
    choice = {key: values[-1] for key, values in params.items()}
    design = space.decode(choice)
    assert design.hardware == {"adc_choice": 7, "xbar_size": 256}
    assert all(layer.replication == 4 for layer in design.layers.values())
    assert space.encode(design) == choice
    batch = space.decode_batch([choice, {**choice, "hw/xbar_size": 128, "conv1/rep": 1}])
    assert batch.hardware["xbar_size"].tolist() == [256, 128]
    assert batch.hardware["adc_choice"].tolist() == [7, 7]
    assert batch.replication[:, 0].tolist() == [4, 1]
    assert space.decode(space.dense_choice()).layers["conv1"].replication == 1
    with pytest.raises(InputError, match="hw/xbar_size"):
        space.decode({**choice, "hw/xbar_size": 512})
    # channel candidates are aligned to both crossbar sizes: 128 // 9 = 14 and 28 channels
    layer = next(layer for layer in space.layers if layer.name == "layer3.0.conv2")
    assert 14 in layer.epitome_in or 42 in layer.epitome_in
    assert all(c % 14 == 0 or c == 64 for c in layer.epitome_in)
    assert plain.hardware_variants() == [{}] and not plain.replicated


def test_the_chip_budget_is_a_relative_violation() -> None:
    budget = ChipBudget(max_tiles=100, max_area_m2=1e-4)
    violation = budget.violation(np.array([50, 100, 150, 80]), np.array([0, 0, 0, 2e-4]))
    np.testing.assert_allclose(violation, [-0.5, 0.0, 0.5, 1.0])
    assert ChipBudget().violation(np.array([10**6]), np.array([1.0]))[0] == -1.0
    with pytest.raises(InputError, match="max_tiles"):
        ChipBudget(max_tiles=0)
    with pytest.raises(InputError, match="hardware"):
        SearchSpace.build(NET, hardware={"colour": [1]})
    with pytest.raises(InputError, match="replication"):
        LayerOptions(replication=(0,))
