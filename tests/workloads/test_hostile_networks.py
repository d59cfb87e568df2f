"""Networks and documents built to hurt a server: refused with the layer and the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from epim.errors import NetworkError
from epim.workloads import (
    MAX_NAME_LENGTH,
    NetworkLimits,
    find_unsafe_text,
    formula_safe,
    get_network,
    is_valid_name,
    list_networks,
    load_document_text,
    load_network_file,
    network_from_dict,
    scale_network,
)
from tests.workloads.test_network_files import SCHEMA


def net(*, name: str = "n", size: int = 32, **conv: Any) -> dict[str, Any]:
    first = {"name": "c1", "type": "conv", "out_channels": 8, "kernel_size": 3, **conv}
    return {"name": name, "input": [3, size, size],
            "layers": [first, {"name": "g", "type": "globalpool"},
                       {"name": "fc", "type": "linear", "out_features": 10}]}


HOSTILE = [
    # (network, layer named, field named, words of the expected values)
    (net(stride=2**31), "c1", "stride", "1..4096"),
    (net(stride=[1, 2**63]), "c1", "stride", "1..4096"),
    (net(padding=2**31), "c1", "padding", "0..4096"),
    (net(padding=2**28), "c1", "padding", "0..4096"),
    (net(padding=3), "c1", "padding", "dilation * (kernel_size - 1)"),
    (net(kernel_size=1, padding=1), "c1", "padding", "dilation * (kernel_size - 1)"),
    (net(dilation=2**40, kernel_size=1), "c1", "dilation", "1..4096"),
    (net(kernel_size=3, dilation=2048, padding=4096), "c1", "padding", "feature maps"),
    (net(kernel_size=2**40), "c1", "kernel_size", "1..64"),
    (net(name="n" * (MAX_NAME_LENGTH + 1)), None, "name", "at most 100 characters"),
    (net(name="=HYPERLINK(1)"), None, "name", "a letter, digit or _ first"),
    (net(name="a b"), None, "name", "letters, digits"),
    (net(name="a\x00b"), None, "name", "letters, digits"),
    (net(name="a\ud800b"), None, "name", "letters, digits"),
]


@pytest.mark.parametrize(("data", "layer", "field", "needle"), HOSTILE)
def test_hostile_networks_are_refused_with_layer_and_field(data: dict[str, Any],
                                                           layer: str | None, field: str,
                                                           needle: str) -> None:
    with pytest.raises(NetworkError) as info:
        network_from_dict(data)
    assert info.value.field == field, str(info.value)
    if layer is not None:
        assert info.value.location == ("layers", layer), info.value.location
    assert needle in str(info.value), str(info.value)
    str(info.value).encode("utf-8")  # the message can be sent (no lone surrogate in it)


@pytest.mark.parametrize("name", ["c" * (MAX_NAME_LENGTH + 1), "-c", "c\x00", "c\udfff",
                                  "c d", "c\u00e9"])
def test_layer_names_follow_the_pattern(name: str) -> None:
    data = net()
    data["layers"][0]["name"] = name
    data["layers"][1]["from"] = name
    with pytest.raises(NetworkError) as info:
        network_from_dict(data)
    assert info.value.field == "name" and info.value.location == ("layers", "[0]")
    assert len(str(info.value)) < 400  # the name is cut, not echoed whole


def test_the_schema_states_the_name_pattern() -> None:
    for bad in ("n" * (MAX_NAME_LENGTH + 1), "=x", "a b"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(net(name=bad), SCHEMA)
    jsonschema.validate(net(name="n" * MAX_NAME_LENGTH), SCHEMA)


@pytest.mark.parametrize("name", list_networks())
def test_builtin_names_and_their_proxies_fit(name: str) -> None:
    network = get_network(name)
    assert all(is_valid_name(layer.name) for layer in network.layers)
    assert is_valid_name(network.name)
    proxy = scale_network(network, width=0.25, image_size=28, in_channels=1, num_classes=10)
    assert proxy.name == f"{name}-proxy"


def test_a_longest_name_still_scales() -> None:
    network = network_from_dict(net(name="n" * MAX_NAME_LENGTH))
    proxy = scale_network(network, width=0.5)
    assert is_valid_name(proxy.name) and proxy.name.endswith("-proxy")


def test_within_the_bounds_networks_build() -> None:
    built = network_from_dict(net(kernel_size=3, padding=2, dilation=1))  # "full" padding
    assert built.layer("c1").out_hw == (34, 34)
    assert network_from_dict(net(kernel_size=3, dilation=2, padding=4)).layer("c1").out_hw \
        == (36, 36)
    assert network_from_dict(net(stride=4096, size=32)).layer("c1").out_hw == (1, 1)


def test_feature_maps_never_outgrow_the_input_limit() -> None:
    layers = [{"name": f"c{i}", "type": "conv", "out_channels": 4, "kernel_size": 3,
               "padding": 2} for i in range(20)]
    data = {"name": "grow", "input": [3, 8, 8], "layers": layers}
    with pytest.raises(NetworkError, match="feature maps of at most 40") as info:
        network_from_dict(data, NetworkLimits(max_input_size=40))
    assert info.value.location == ("layers", "c16")  # 8 + 2 per layer: 42 at the 17th


BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
                  *(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]"
                    for p, n in zip("abcdefgh", "bcdefghi", strict=True))])


def test_yaml_aliases_are_refused_on_one_line() -> None:
    with pytest.raises(ValueError, match="anchors and aliases") as info:
        load_document_text(BOMB)
    assert "\n" not in str(info.value) and "line 1" in str(info.value)
    with pytest.raises(ValueError, match="anchors and aliases"):
        load_document_text("base: &b {x: 1}\nother: {<<: *b}\n")
    with pytest.raises(ValueError, match=r"not valid YAML/JSON: .*\(line \d+, column \d+\)"):
        load_document_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="nested too deeply"):
        load_document_text("[" * 100_000, json_only=True)
    assert load_document_text("a: [1, 2]\nb: {c: x}\n") == {"a": [1, 2], "b": {"c": "x"}}


def test_a_network_file_bomb_exits_2_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\nname: bomb\n")
    with pytest.raises(NetworkError, match="anchors and aliases"):
        load_network_file(path)
    result = subprocess.run([sys.executable, "-m", "epim.cli", "cost", "--network", str(path)],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "aliases" in result.stderr


def test_unsafe_text_is_found_with_its_path() -> None:
    document = {"name": "ok", "layers": [{"name": "a"}, {"name": "b\x00"}]}
    found = find_unsafe_text(document)
    assert found is not None and found.path == ("layers", 1, "name")
    assert found.reason == "a NUL character" and found.shown == "b\\x00"
    found = find_unsafe_text({"set": {"k\ud800": 1}})
    assert found is not None and found.path == ("set", "k\\ud800")
    assert "surrogate" in found.reason
    assert find_unsafe_text({"name": "caf\u00e9 \U0001f600", "n": [1, 2.5, None]}) is None


@pytest.mark.parametrize(("text", "cell"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("conv1", "conv1"),
    ("a=b", "a=b"), ("", ""),
])
def test_formula_starts_are_escaped(text: str, cell: str) -> None:
    assert formula_safe(text) == cell


def test_epim_submit_refuses_an_alias_bomb_on_one_line(tmp_path: Path) -> None:
    # 9^9 strings behind a free-form field (an inline preset): on main, encoding the spec for
    # the request never ends.
    spec = tmp_path / "bomb.yaml"
    nested = "\n".join("    " + line for line in BOMB.splitlines())
    spec.write_text("name: bomb\nnetwork: resnet20\nobjectives: [{metric: latency_s}]\n"
                    f"hardware:\n  preset:\n    name: p\n{nested}\n")
    result = subprocess.run(  # checked before any request: the URL is never reached
        [sys.executable, "-m", "epim.cli", "submit", str(spec), "--url", "http://127.0.0.1:9"],
        capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(spec) in lines[0] and "aliases" in lines[0]


def test_unsafe_text_is_found_at_any_depth() -> None:
    deep: Any = "x\x00"
    for _ in range(5_000):  # deeper than Python's recursion limit
        deep = {"k": [deep]}
    found = find_unsafe_text(deep)
    assert found is not None and len(found.path) == 10_000
