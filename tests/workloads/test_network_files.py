import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from epim.errors import NetworkError
from epim.workloads import get_network, list_networks, load_network_file, network_from_dict
from epim.workloads._zoo import mobilenet_v2, resnet50, vgg16

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "epim/workloads/schema/network.schema.json").read_text())
EXAMPLE = ROOT / "examples/networks/my-net.yaml"


def good() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_file_builds_with_inferred_shapes() -> None:
    net = load_network_file(EXAMPLE)
    assert net.layer("conv2").in_channels == 64
    assert net.layer("conv2").in_hw == (16, 16)
    assert net.layer("add1").inputs == ("conv2", "pool1")
    assert net.layer("fc").in_channels == 64 * 16 * 16  # flattened


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(good()))
    assert load_network_file(path) == load_network_file(EXAMPLE)


@pytest.mark.parametrize("spec", [good(), resnet50(), vgg16(), mobilenet_v2()])
def test_schema_accepts_good_networks(spec: dict[str, Any]) -> None:
    jsonschema.validate(spec, SCHEMA)


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = good()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()

BAD = [
    # (mutation path, value, layer named in the message, field named in the message)
    (["layers", 0, "type"], "deconv", "conv1", "type"),
    (["layers", 0, "out_channels"], 0, "conv1", "out_channels"),
    (["layers", 0, "out_channels"], DELETE, "conv1", "out_channels"),
    (["layers", 0, "kernel_size"], 99, "conv1", "kernel_size"),
    (["layers", 0, "in_channels"], 4, "conv1", "in_channels"),
    (["layers", 0, "groups"], 5, "conv1", "groups"),
    (["layers", 0, "stride"], "two", "conv1", "stride"),
    (["layers", 0, "colour"], "red", "conv1", None),
    (["layers", 2, "from"], "nowhere", "conv2", "from"),
    (["layers", 3, "from"], ["conv2", "conv1"], "add1", "from"),
    (["layers", 3, "from"], ["conv2"], "add1", "from"),
    (["layers", 4, "out_features"], -1, "fc", "out_features"),
    (["layers", 1, "name"], "conv1", "conv1", "name"),
    (["input"], [3, 32], None, "input"),
    (["layers"], [], None, "layers"),
]


@pytest.mark.parametrize(("path", "value", "layer", "field"), BAD)
def test_bad_networks_name_layer_and_field(path: list[Any], value: Any, layer: str | None,
                                          field: str | None) -> None:
    data = mutate(path, value)
    with pytest.raises(NetworkError) as info:
        network_from_dict(data)
    message = str(info.value)
    if layer:
        assert layer in message
    if field:
        assert f"field '{field}'" in message
    assert "expected" in message or "unknown" in message


@pytest.mark.parametrize(("path", "value"), [(b[0], b[1]) for b in BAD
                                            if b[3] in {"type", "out_channels", "stride",
                                                        "out_features", "input", "layers"}
                                            or b[3] is None])
def test_schema_rejects_what_the_loader_rejects(path: list[Any], value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mutate(path, value), SCHEMA)


def test_cli_bad_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(mutate(["layers", 2, "from"], "nowhere")))
    result = subprocess.run(
        [sys.executable, "-m", "epim.cli", "cost", "--network", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0] and "conv2" in lines[0] and "from" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_invalid_yaml_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    result = subprocess.run(
        [sys.executable, "-m", "epim.cli", "cost", "--network", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr


@pytest.mark.parametrize("name", list_networks())
def test_every_builtin_is_valid_under_the_schema(name: str) -> None:
    from epim.workloads import network_to_dict

    jsonschema.validate(network_to_dict(get_network(name)), SCHEMA)
