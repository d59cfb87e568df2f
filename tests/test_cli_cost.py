import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from epim.cli import app

runner = CliRunner()
REQUIRED = {"network", "hardware", "crossbars", "tiles", "area_m2", "crossbar_area_m2",
            "latency_mode", "latency_s", "latency_s_by_mode", "energy_j", "energy_breakdown_j",
            "params", "macs", "layers"}


def cost(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["cost", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_contract() -> None:
    report = cost("--network", "vgg8")
    assert report.keys() >= REQUIRED
    assert report["crossbars"] == 2544 and report["tiles"] == 322
    assert set(report["latency_s_by_mode"]) == {"layer_by_layer", "pipelined", "throughput"}
    assert set(report["energy_breakdown_j"]) == {"adc", "dac", "crossbar", "buffer", "digital",
                                                 "interconnect", "epitome"}
    layer = report["layers"][0]
    assert {"name", "crossbars", "tiles", "latency_s", "energy_j"} <= layer.keys()
    assert sum(x["crossbars"] for x in report["layers"]) == report["crossbars"]
    assert sum(x["energy_j"] for x in report["layers"]) == pytest.approx(report["energy_j"])


def test_baseline_and_reduction() -> None:
    report = cost("--network", "resnet50", "--design",
                  "examples/designs/resnet50_epim_3bit.yaml", "--baseline-bits", "16",
                  "--set", "cell_bits=2")
    assert report["baseline"]["crossbars"] == 6944  # docs/epitome.md section 7 illustration
    assert report["crossbar_area_reduction"] == pytest.approx(
        report["baseline"]["crossbar_area_m2"] / report["crossbar_area_m2"])
    assert report["crossbar_area_reduction"] > 10


def test_options_change_the_numbers() -> None:
    base = cost("--network", "resnet20")
    small = cost("--network", "resnet20", "--xbar-size", "128")
    low = cost("--network", "resnet20", "--weight-bits", "3", "--act-bits", "4")
    pipe = cost("--network", "resnet20", "--latency-mode", "pipelined")
    isaac = cost("--network", "resnet20", "--hardware", "isaac")
    ramp = cost("--network", "resnet20", "--set", "adc_choice=7", "--set", " tile_pes = 16 ")
    assert small["crossbars"] > base["crossbars"]
    assert low["crossbars"] < base["crossbars"] and low["energy_j"] < base["energy_j"]
    assert pipe["latency_s"] == base["latency_s_by_mode"]["pipelined"]
    assert isaac["hardware"] == "isaac" and isaac["crossbars"] != base["crossbars"]
    # a 4-bit ADC of MNSIM's table (0.7 mW for 6 ns instead of 1.26 mW for 8 ns), 16 PEs
    assert ramp["hardware"] == "mnsim+adc_choice=7,tile_pes=16"
    assert ramp["energy_breakdown_j"]["adc"] < 0.5 * base["energy_breakdown_j"]["adc"]
    assert ramp["tiles"] < base["tiles"]


def test_table_output() -> None:
    result = runner.invoke(app, ["cost", "--network", "vgg8"])
    assert result.exit_code == 0
    assert "crossbars        2,544" in result.output and "conv7" in result.output


@pytest.mark.parametrize(("args", "needle"), [
    (["--network", "nonet"], "unknown network 'nonet'"),
    (["--network", "vgg8", "--hardware", "fpga"], "unknown hardware preset"),
    (["--network", "vgg8", "--weight-bits", "0"], "weight_bits"),
    (["--network", "vgg8", "--latency-mode", "fast"], "'layer_by_layer', 'pipelined'"),
    (["--network", "vgg8", "--set", "xbar_rows=-1"], "xbar_rows"),
    (["--network", "vgg8", "--set", "novalue"], "KEY=VALUE"),
    (["--network", "vgg8", "--set", "adc_choice=42"], "MNSIM's ADC table"),
    (["--network", "vgg8", "--design", "missing.yaml"], "missing.yaml"),
    (["--network", "vgg8", "--baseline-bits", "20"], "weight_bits"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], needle: str) -> None:
    result = subprocess.run([sys.executable, "-m", "epim.cli", "cost", *args],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_networks_and_presets_commands() -> None:
    result = runner.invoke(app, ["networks", "--format", "json"])
    names = {row["name"] for row in json.loads(result.output)}
    assert "mobilenet_v2" in names
    shown = runner.invoke(app, ["presets", "mnsim", "--format", "json"])
    assert json.loads(shown.output)["parameters"]["adc_bits"]["value"] == 6


def test_a_design_with_hardware_genes_and_replication(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "design.yaml"
    path.write_text("hardware: {adc_choice: 7}\nlayers:\n  conv1: {replication: 4}\n")
    base = cost("--network", "resnet20", "--latency-mode", "pipelined")
    report = cost("--network", "resnet20", "--design", str(path), "--latency-mode",
                  "pipelined", "--baseline-bits", "9")
    assert report["hardware"] == "mnsim+adc_choice=7"
    assert report["layers"][0]["crossbars"] == 4 * base["layers"][0]["crossbars"]
    assert report["energy_breakdown_j"]["adc"] < base["energy_breakdown_j"]["adc"]
    assert report["baseline"]["hardware"] == "mnsim"  # the dense baseline: the preset
    bad = tmp_path / "bad.yaml"
    bad.write_text("hardware: {adc_choice: 42}\n")
    result = subprocess.run([sys.executable, "-m", "epim.cli", "cost", "--network", "resnet20",
                             "--design", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "adc_choice" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
