"""The concat layer type: parsing, errors naming the layer and field, schema, scaling."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from epim.errors import NetworkError
from epim.workloads import (
    load_network_file,
    network_from_dict,
    network_to_dict,
    proxy_memory,
    scale_network,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "epim/workloads/schema/network.schema.json").read_text())
EXAMPLE = ROOT / "examples/networks/mini-inception.yaml"


def spec() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def test_concat_sums_channels_and_keeps_the_map() -> None:
    net = load_network_file(EXAMPLE)
    cat = net.layer("inc.cat")
    assert cat.kind == "concat"
    assert cat.inputs == ("inc.b1", "inc.b2.conv", "inc.b3.conv", "inc.b4.proj")
    assert cat.in_channels == cat.out_channels == 16 + 24 + 8 + 8
    assert cat.in_hw == cat.out_hw == (16, 16)
    assert cat.params == 0 and cat.macs == 0 and not cat.is_compute
    assert net.layer("dense.conv2").in_channels == 56 + 12
    assert net.layer("dw").groups == 80 and net.layer("dw").in_channels == 80
    assert net.layer("fc").in_channels == 80


def test_round_trip_and_schema() -> None:
    net = load_network_file(EXAMPLE)
    document = network_to_dict(net)
    assert network_from_dict(document) == net
    jsonschema.validate(spec(), SCHEMA)
    jsonschema.validate(document, SCHEMA)
    bad = spec()
    bad["layers"][9]["from"] = "inc.b1"  # one source: not a list
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"from": ["inc.b1", "stem"]}, "from", "different map sizes"),
    ({"from": ["inc.b1"]}, "from", "at least two inputs"),
    ({"from": "inc.b1"}, "from", "at least two inputs"),
    ({"from": ["inc.b1", "nowhere"]}, "from", "unknown layer 'nowhere'"),
    ({"out_channels": 5}, None, "unknown key(s) ['out_channels']"),
])
def test_bad_concat_names_layer_and_field(change: dict[str, Any], field: str | None,
                                          words: str) -> None:
    document = spec()
    document["layers"][9].update(change)
    with pytest.raises(NetworkError) as info:
        network_from_dict(document)
    assert info.value.location == ("layers", "inc.cat")
    assert info.value.field == field
    assert words in str(info.value)


def test_an_add_over_a_concat_checks_the_channel_sum() -> None:
    document = spec()
    proj = next(layer for layer in document["layers"] if layer["name"] == "proj")
    proj["out_channels"] = 79
    with pytest.raises(NetworkError, match="different shapes") as info:
        network_from_dict(document)
    assert info.value.location == ("layers", "sum")


@pytest.mark.parametrize("width", [0.1, 0.25, 0.3, 0.5, 0.7, 1.3])
def test_scaling_keeps_concat_sums_and_adds_consistent(width: float) -> None:
    net = load_network_file(EXAMPLE)
    scaled = scale_network(net, width=width, image_size=16, num_classes=4)
    assert [layer.name for layer in scaled.layers] == [layer.name for layer in net.layers]
    for layer in scaled.layers:
        if layer.kind == "concat":
            assert layer.out_channels == sum(scaled.layer(s).out_channels
                                             for s in layer.inputs)
        if layer.kind == "add":
            assert len({scaled.layer(s).out_channels for s in layer.inputs}) == 1
    dw = scaled.layer("dw")
    assert dw.groups == dw.in_channels == dw.out_channels == scaled.layer("sum").out_channels
    assert scaled.layer("fc").out_channels == 4
    assert scaled.layer("inc.b1").out_channels == max(1, -(-16 * width // 1))


def test_scaling_widens_the_conv_added_to_a_concat() -> None:
    # ceil(3 w) + ceil(3 w) = 4 at w = 0.5, ceil(6 w) = 3: the conv follows the concat
    net = network_from_dict({"name": "n", "input": [2, 8, 8], "layers": [
        {"name": "a", "type": "conv", "out_channels": 3, "kernel_size": 1},
        {"name": "b", "type": "conv", "out_channels": 3, "kernel_size": 1, "from": "input"},
        {"name": "cat", "type": "concat", "from": ["a", "b"]},
        {"name": "c", "type": "conv", "out_channels": 6, "kernel_size": 1, "from": "input"},
        {"name": "sum", "type": "add", "from": ["cat", "c"]},
        {"name": "fc", "type": "linear", "out_features": 2}]})
    scaled = scale_network(net, width=0.5)
    assert scaled.layer("cat").out_channels == 4
    assert scaled.layer("c").out_channels == 4


def test_an_add_with_the_network_input_anchors_the_width() -> None:
    net = network_from_dict({"name": "n", "input": [6, 8, 8], "layers": [
        {"name": "a", "type": "conv", "out_channels": 3, "kernel_size": 1},
        {"name": "b", "type": "conv", "out_channels": 3, "kernel_size": 1, "from": "input"},
        {"name": "cat", "type": "concat", "from": ["a", "b"]},
        {"name": "sum", "type": "add", "from": ["cat", "input"]},
        {"name": "fc", "type": "linear", "out_features": 2}]})
    scaled = scale_network(net, width=0.5)  # the input keeps 6 channels: so does the concat
    assert scaled.layer("cat").out_channels == 6
    assert scaled.layer("sum").out_channels == 6


def test_proxy_memory_keeps_a_concat_output_and_saves_nothing_for_it() -> None:
    net = load_network_file(EXAMPLE)
    memory = proxy_memory(net)
    elements = {layer.name: layer.out_channels * layer.output_pixels for layer in net.layers}
    assert memory.outputs_per_image == 4 * sum(elements.values())
    # torch.cat's backward slices the gradient: nothing saved (torch's saved_tensors_hooks)
    torch = pytest.importorskip("torch")
    saved: list[int] = []
    parts = [torch.ones(1, 3, 4, 4, requires_grad=True) for _ in range(2)]
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t.numel()) or t, lambda t: t):
        torch.cat(parts, dim=1).sum()
    assert saved == []
