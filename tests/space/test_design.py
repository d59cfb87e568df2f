from pathlib import Path

import numpy as np
import pytest
import yaml

from epim.errors import DesignError
from epim.space import Design, DesignBatch, design_from_dict, load_design_file
from epim.workloads import get_network

ROOT = Path(__file__).resolve().parents[2]


def test_dense_default_and_round_trip() -> None:
    net = get_network("resnet18")
    dense = Design.dense(net)
    assert all(choice.is_dense_for(net.layer(n)) for n, choice in dense.layers.items())
    batch = DesignBatch.from_designs(net, [dense, dense])
    assert batch["weight_bits"].shape == (2, len(net.compute_layers))
    assert batch.design(1) == dense
    assert dense.digest() == Design.dense(net).digest() != Design.dense(net, 8, 8).digest()


def test_design_file_patterns_ratios_and_defaults() -> None:
    net = get_network("resnet50")
    design = load_design_file(ROOT / "examples/designs/resnet50_epim_3bit.yaml", net)
    conv1, fc = design.layers["conv1"], design.layers["fc"]
    assert conv1.weight_bits == 8 and conv1.is_dense_for(net.layer("conv1"))
    assert fc.weight_bits == 8 and fc.is_dense_for(net.layer("fc"))
    l1 = design.layers["layer1.0.conv2"]
    assert (l1.epitome_in, l1.epitome_out, l1.weight_bits, l1.act_bits) == (16, 16, 3, 8)
    l4 = design.layers["layer4.0.conv3"]
    assert (l4.epitome_in, l4.epitome_out) == (64, 256)


@pytest.mark.parametrize(("data", "layer", "field"), [
    ({"layers": {"nolayer": {"weight_bits": 4}}}, "nolayer", None),
    ({"layers": {"maxpool": {"weight_bits": 4}}}, "maxpool", None),
    ({"layers": {"conv1": {"weight_bits": 17}}}, "conv1", "weight_bits"),
    ({"layers": {"conv1": {"act_bits": 0}}}, "conv1", "act_bits"),
    ({"layers": {"conv1": {"epitome_in": 4}}}, "conv1", "epitome_in"),
    ({"layers": {"fc": {"epitome_out": 1001}}}, "fc", "epitome_out"),
    ({"layers": {"layer1.0.conv1": {"epitome_h": 0}}}, "layer1.0.conv1", "epitome_h"),
    ({"layers": {"conv1": {"epitome_h": 8, "epitome_w": 8}}}, "conv1", "epitome_h"),
    ({"layers": {"conv1": {"colour": 1}}}, "conv1", None),
    ({"layers": {"conv1": {"in_ratio": 0}}}, "conv1", "in_ratio"),
    ({"layers": {"conv1": {"in_ratio": 2, "epitome_in": 1}}}, "conv1", "in_ratio"),
    ({"network": "vgg16"}, None, "network"),
])
def test_bad_designs_name_the_layer(data: dict, layer: str | None, field: str | None) -> None:
    net = get_network("resnet18")
    with pytest.raises(DesignError) as info:
        design_from_dict(data, net, source="d.yaml")
    message = str(info.value)
    assert message.startswith("d.yaml")
    if layer:
        assert layer in message
    if field:
        assert f"'{field}'" in message


def test_batch_validate_points_at_the_bad_design() -> None:
    net = get_network("resnet20")
    batch = DesignBatch.dense(net, 3)
    arrays = dict(batch.arrays)
    bits = arrays["weight_bits"].copy()
    bits[2, 5] = 40
    arrays["weight_bits"] = bits
    with pytest.raises(DesignError, match=r"design 2.*weight_bits"):
        DesignBatch(net, arrays).validate()


def test_batch_shape_mismatch() -> None:
    net = get_network("resnet20")
    arrays = {k: np.ones((2, 3), np.int64) for k in DesignBatch.dense(net).arrays}
    with pytest.raises(DesignError, match="does not match"):
        DesignBatch(net, arrays)


def test_design_file_json(tmp_path: Path) -> None:
    net = get_network("vgg8")
    path = tmp_path / "d.json"
    path.write_text('{"default": {"weight_bits": 4}, "layers": {"conv2": {"out_ratio": 2}}}')
    design = load_design_file(path, net)
    assert design.layers["conv2"].epitome_out == 64 and design.layers["fc"].weight_bits == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"layers": {"conv9": {}}}))
    with pytest.raises(DesignError, match="conv9"):
        load_design_file(bad, net)
