"""Networks from ONNX: models the tests export themselves, and hostile files."""

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from epim.cli import main
from epim.errors import NetworkError
from epim.workloads import (
    load_network_file,
    load_onnx_network,
    network_from_dict,
    network_to_dict,
    onnx_network_dict,
    resolve_network,
)

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from epim.nn import from_torch  # noqa: E402
from tests.nn.models import INPUT, MODELS, export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exported() -> dict[str, tuple[Any, bytes]]:
    torch.manual_seed(0)
    models = {key: cls() for key, cls in MODELS.items()}
    return {key: (model, export_onnx(model)) for key, model in models.items()}


@pytest.mark.parametrize("key", sorted(MODELS))
def test_import_equals_from_torch(key: str, exported: dict[str, tuple[Any, bytes]]) -> None:
    model, data = exported[key]
    imported = network_from_dict(onnx_network_dict(data, name=key))
    traced = from_torch(model, INPUT, name=key)
    assert imported == traced  # same names, kinds, edges, shapes, biases
    assert imported.macs == traced.macs > 0


def run(args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["epim", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_cli_import_and_cost(tmp_path: Path, exported: dict[str, tuple[Any, bytes]],
                             capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    model_path = tmp_path / "net.onnx"
    model_path.write_bytes(exported["concat_net"][1])
    out = tmp_path / "net.yaml"
    code, stdout, _ = run(["networks", "import", str(model_path), "--out", str(out)],
                          capsys, monkeypatch)
    assert code == 0 and f"wrote {out} (net: 14 layers" in stdout
    written = load_network_file(out)
    assert written == load_onnx_network(model_path) == resolve_network(str(model_path))
    assert written.layer("concat").kind == "concat"
    code, stdout, _ = run(["networks", "import", str(model_path), "--name", "mine",
                           "--out", str(tmp_path / "net.json")], capsys, monkeypatch)
    assert code == 0 and json.loads((tmp_path / "net.json").read_text())["name"] == "mine"
    code, stdout, _ = run(["cost", "--network", str(model_path), "--format", "json"],
                          capsys, monkeypatch)
    from_onnx = json.loads(stdout)
    code_yaml, stdout_yaml, _ = run(["cost", "--network", str(out), "--format", "json"],
                                    capsys, monkeypatch)
    assert code == code_yaml == 0
    assert from_onnx == json.loads(stdout_yaml)
    assert from_onnx["crossbars"] > 0 and from_onnx["latency_s"] > 0
    concat = next(layer for layer in from_onnx["layers"] if layer["name"] == "concat")
    assert concat["crossbars"] == 0 and concat["energy_j"] == 0


def test_a_spec_naming_an_onnx_file_is_sent_inline(
        tmp_path: Path, exported: dict[str, tuple[Any, bytes]]) -> None:
    from epim.cli._study import load_spec_file

    (tmp_path / "model.onnx").write_bytes(exported["resnet_like"][1])
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({
        "name": "from-onnx", "network": "model.onnx", "hardware": "mnsim",
        "objectives": [{"metric": "crossbar_area_m2", "direction": "minimize"},
                       {"metric": "latency_s", "direction": "minimize"}],
        "budget": {"n_trials": 4}}))
    spec = load_spec_file(spec_path)
    assert spec.network == network_to_dict(load_onnx_network(tmp_path / "model.onnx"))


# ---------------------------------------------------------------- hostile files
def graph(nodes: list[Any], *, input_dims: list[Any] | None = None,
          weights: dict[str, list[int]] | None = None, outputs: tuple[str, ...] = ("y",),
          inputs: tuple[str, ...] = ("x",)) -> bytes:
    """A hand-written ONNX model (weights are shapes without data: only shapes are read)."""
    initializers = []
    for name, dims in (weights or {}).items():
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT)
        tensor.dims.extend(dims)
        initializers.append(tensor)
    model = helper.make_model(helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, input_dims or [1, 3, 8, 8])
         for n in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        initializer=initializers), opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def conv(name: str = "conv", src: str = "x", out: str = "h", **attrs: Any) -> Any:
    return helper.make_node("Conv", [src, "w"], [out], name=name,
                            **({"pads": [1, 1, 1, 1]} | attrs))


W = {"w": [4, 3, 3, 3]}


@pytest.mark.parametrize(("data", "words"), [
    (b"\x08\x07garbage that is no protobuf \xff\xff", "not an ONNX model"),
    (graph([conv(), helper.make_node("Resize", ["h"], ["y"], name="up")], weights=W),
     "graph.node.up: field 'op_type': Resize node: op type Resize is not supported"),
    (graph([conv(), helper.make_node("Mul", ["h", "h"], ["y"], name="square")], weights=W),
     "graph.node.square: field 'op_type': Mul node: op type Mul is not supported"),
    (graph([conv(out="y")], weights=W, input_dims=[1, 3, 100_000, 100_000]),
     "input [3, 100000, 100000] is too large"),
    (graph([conv(out="y")], weights={"w": [10**9, 3, 3, 3]}), "is too large"),
    (graph([conv(out="y", pads=[0, 0, 1, 1])], weights=W),
     "Conv node: asymmetric pads [0, 0, 1, 1]"),
    (graph([conv(out="y")], weights=W, input_dims=[1, 3, "h", "w"]),
     "input 'x' has shape [1, 3, ?, ?]"),
    (graph([conv(src="a", out="y")], weights=W, inputs=("a", "b")), "the graph has 2 inputs"),
    (graph([helper.make_node("Relu", ["x"], ["y"])]), "no layer between the input"),
    (graph([conv(out="y"), helper.make_node("Conv", ["x", "v"], ["z"], name="c2")],
           weights={**W, "v": [4, 3, 3, 3]}, outputs=("y", "z")),
     "the graph has 2 activation outputs"),
])
def test_hostile_models_give_one_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(NetworkError) as info:
        network_from_dict(onnx_network_dict(data, name="bad"))
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_asymmetric_pads_with_a_symmetric_equivalent_are_accepted() -> None:
    # stride 2 on 8 pixels: pads (0, 1) and (1, 1) both give 4 outputs
    net = network_from_dict(onnx_network_dict(
        graph([conv(out="y", pads=[0, 0, 1, 1], strides=[2, 2])], weights=W), name="n"))
    assert net.layers[0].padding == (1, 1) and net.layers[0].out_hw == (4, 4)
    same = network_from_dict(onnx_network_dict(
        graph([conv(out="y", auto_pad="SAME_UPPER", strides=[2, 2])], weights=W), name="n"))
    assert same.layers[0].out_hw == (4, 4)


def test_external_data_is_never_read(tmp_path: Path) -> None:
    model = onnx.load_model_from_string(graph([conv(out="y")], weights=W))
    weight = model.graph.initializer[0]
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "/etc/shadow"
    net = network_from_dict(onnx_network_dict(model.SerializeToString(), name="n"))
    assert net.layers[0].out_channels == 4


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(graph([conv(), helper.make_node("Erf", ["h"], ["y"], name="erf")],
                          weights=W))
    for args, needle in (
            (["networks", "import", str(bad)], "node.erf: field 'op_type': Erf node"),
            (["cost", "--network", str(bad)], "op type Erf is not supported"),
            (["networks", "import", str(tmp_path / "missing.onnx")], "cannot read ONNX file")):
        code, _, stderr = run(args, capsys, monkeypatch)
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1, stderr
        assert lines[0].startswith(f"error: {tmp_path}") and needle in lines[0]


def test_hand_written_graph_maps_every_kind() -> None:
    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> Any:
        return helper.make_node(op, inputs, [output], name=output, **attrs)

    nodes = [
        conv(name="c1", out="h1"),
        node("BatchNormalization", ["h1", "s", "b", "m", "v"], "h2"),
        node("Clip", ["h2"], "h3"),
        node("MaxPool", ["h3"], "p1", kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p1", "w2"], "c2", group=4, pads=[1, 1, 1, 1]),
        node("Concat", ["p1", "c2"], "cat", axis=1),
        node("ReduceMean", ["cat"], "gap", axes=[2, 3], keepdims=1),
        node("Flatten", ["gap"], "flat", axis=1),
        node("MatMul", ["flat", "fc_w"], "mm"),
        node("Add", ["mm", "fc_b"], "logits"),
        node("Softmax", ["logits"], "y"),
    ]
    weights = {**W, "w2": [4, 1, 3, 3], "s": [4], "b": [4], "m": [4], "v": [4],
               "fc_w": [8, 5], "fc_b": [5]}
    net = network_from_dict(onnx_network_dict(graph(nodes, weights=weights), name="n"))
    assert [(layer.name, layer.kind) for layer in net.layers] == [
        ("c1", "conv"), ("p1", "pool"), ("c2", "conv"), ("cat", "concat"),
        ("gap", "globalpool"), ("mm", "linear")]
    assert net.layer("c1").bias  # the BatchNorm after it, folded
    assert net.layer("c2").groups == 4 and net.layer("cat").out_channels == 8
    assert net.layer("mm").bias and net.layer("mm").out_channels == 5
    assert net.layer("mm").inputs == ("gap",)
