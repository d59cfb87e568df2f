"""`epim presets import`: MNSIM 2.0 SimConfig files to presets, and agreement with MNSIM runs.

The goldens (golden/mnsim/mnsim_agreement.json) are MNSIM 2.0's own results for our variant
configurations (golden/mnsim/simconfig/*.ini); see that file's ``source`` for the commit and
how they were produced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from epim.cli import app
from epim.cost_model import (
    CostModel,
    hardware_from_dict,
    load_hardware,
    read_simconfig,
    simconfig_to_preset,
)
from epim.errors import PresetError
from epim.space import DesignBatch
from epim.workloads import resolve_network

GOLDEN = Path(__file__).parent / "golden" / "mnsim"
AGREEMENT = json.loads((GOLDEN / "mnsim_agreement.json").read_text())
NETWORKS = {"vgg8": "vgg8", "alexnet": str(GOLDEN / "alexnet_cifar.yaml"),
            "resnet18": str(GOLDEN / "resnet18_mnsim.yaml")}
#: The issue's tolerances (relative): area, energy, layer-by-layer and pipelined latency.
TOLERANCE = {"area_m2": 0.02, "energy_j": 0.10, "latency_layer_by_layer_s": 0.10,
             "latency_pipelined_s": 0.05}


def ours(run: dict[str, Any]) -> Any:
    hardware = load_hardware(str(GOLDEN / "simconfig" / f"{run['variant']}.ini"))
    network = resolve_network(NETWORKS[run["network"]])
    return CostModel(network=network, hardware=hardware).evaluate(
        DesignBatch.dense(network, 1, weight_bits=9, act_bits=9))


def pe_crossbars(run: dict[str, Any]) -> int:
    """Crossbars per MNSIM PE: Group_Num x Xbar_Polarity."""
    changes = run["changes"]
    return int(changes.get("Group_Num", 1)) * int(changes.get("Xbar_Polarity", 2))


@pytest.mark.parametrize("run", AGREEMENT["runs"],
                         ids=[f"{r['variant']}-{r['network']}" for r in AGREEMENT["runs"]])
def test_imported_presets_reproduce_mnsim(run: dict[str, Any]) -> None:
    costs = ours(run)
    assert int(costs.crossbars[0]) == run["units"] * pe_crossbars(run)  # exact
    per_layer = [int(n) for n, layer in zip(costs.layer_crossbars[0], costs.network.layers,
                                            strict=True) if layer.is_compute]
    assert per_layer == [u * pe_crossbars(run) for u in run["layer_units"]]
    assert int(costs.tiles[0]) == run["tiles"]  # exact
    measured = {"area_m2": costs.area_m2[0], "energy_j": costs.energy_j[0],
                "latency_layer_by_layer_s": costs.latency_s("layer_by_layer")[0],
                "latency_pipelined_s": costs.latency_s("pipelined")[0]}
    for metric, tolerance in TOLERANCE.items():
        assert measured[metric] == pytest.approx(run[metric], rel=tolerance), metric
    components = run["energy_by_component_j"]
    breakdown = costs.energy_breakdown_j
    assert breakdown["adc"][0] == pytest.approx(components["adc"], rel=0.02)
    assert breakdown["buffer"][0] == pytest.approx(components["buffer"], rel=0.10)
    # DACs: energy per conversion here, DAC power x busy time in MNSIM (fewer DACs work
    # longer): within 4x of MNSIM's, and under 1% of the total in both
    assert components["dac"] / 4 <= breakdown["dac"][0] <= components["dac"] * 4
    assert breakdown["dac"][0] < 0.01 * costs.energy_j[0]
    assert components["dac"] < 0.01 * run["energy_j"]
    # tile placement: every layer's merge and transfer hops are MNSIM's
    assert costs.layer_merge_hops[0].tolist() == run["merge_hops"]
    assert costs.layer_transfer_hops[0].tolist() == run["transfer_hops"]


def test_default_config_reproduces_the_mnsim_preset() -> None:
    imported = read_simconfig(GOLDEN / "simconfig" / "default.ini")
    hardware = hardware_from_dict(imported.document, source="default.ini")
    preset = load_hardware("mnsim")
    # the preset's cells are ideal (0); MNSIM's default file asks for 1 % variation and
    # 0.1 % of cells stuck at each of HRS and LRS
    device = {"cell_variation": 0.01, "cell_stuck_off_rate": 0.001,
              "cell_stuck_on_rate": 0.001}
    for key, value in preset.parameters.items():
        assert getattr(hardware, key) == pytest.approx(device.get(key, value), rel=1e-3), key
    assert all(getattr(preset, key) == 0 for key in device)
    assert hardware.sources["cell_variation"].startswith(
        "SimConfig [Device level] Device_Variation = 1")
    assert "Device_SAF = 0.1,0.1" in hardware.sources["cell_stuck_on_rate"]
    assert hardware.options == preset.options
    assert "SimConfig [Interface level] ADC_Choice = 6" in hardware.sources["adc_energy_j"] \
        or "ADC_Choice = 6" in hardware.sources["adc_energy_j"]
    assert not any("Device_Variation" in key or "Device_SAF" in key for key in imported.ignored)
    assert "[Device level] Write_Latency" in imported.ignored
    assert hardware.sources["chip_tile_rows"].startswith(
        "SimConfig [Architecture level] Tile_Num")
    assert hardware.tile_placement == "spiral"  # Tile_Connection = 2
    assert hardware.sources["xbar_rows"].startswith("SimConfig [Crossbar level] Xbar_Size")


def test_components_come_from_the_tables() -> None:
    hardware = hardware_from_dict(simconfig_to_preset(
        "[Interface level]\nADC_Choice = 7\nDAC_Choice = 6\n").document)
    assert hardware.adc_bits == 4 and hardware.dac_bits == 8
    assert hardware.adc_latency_s == pytest.approx(6e-9)  # (4 + 2) / 1 GS/s
    assert hardware.adc_energy_j == pytest.approx(0.7e-3 * 6e-9)
    assert hardware.dac_energy_j == pytest.approx(0.4992 * 10e-9)
    assert hardware.dac_area_m2 == pytest.approx(21.248e-12)
    # a tile's 512 DACs are 21.248 um^2 each instead of 0.166 um^2
    dac_only = hardware_from_dict(simconfig_to_preset("[Interface level]\nDAC_Choice = 6\n")
                                  .document)
    assert dac_only.tile_area_m2 - load_hardware("mnsim").tile_area_m2 == pytest.approx(
        512 * (21.248 - 0.166) * 1e-12)
    user = hardware_from_dict(simconfig_to_preset(
        "[Interface level]\nADC_Choice = -1\nADC_Precision = 5\nADC_Area = 800\n"
        "ADC_Power = 1e-3\nADC_Sample_Rate = 2e9\n").document)
    assert user.adc_bits == 5 and user.adc_latency_s == pytest.approx(3.5e-9)
    assert user.adc_area_m2 == pytest.approx(800e-12)


def test_device_variation_and_stuck_at_faults_are_mapped() -> None:
    hardware = hardware_from_dict(simconfig_to_preset(
        "[Device level]\nDevice_Variation = 5\nDevice_SAF = 2,0.5\n").document)
    assert hardware.cell_variation == pytest.approx(0.05)
    assert hardware.cell_stuck_off_rate == pytest.approx(0.02)  # stuck at HRS
    assert hardware.cell_stuck_on_rate == pytest.approx(0.005)  # stuck at LRS
    assert hardware.cell_variation == pytest.approx(0.05)
    assert hardware.adc_bits == 6  # the ADC is untouched: MNSIM's default choice
    low = hardware_from_dict(simconfig_to_preset(
        "[Interface level]\nADC_Choice = 8\n").document)
    assert low.adc_bits == 1 and low.cell_variation == 0  # the sense amplifier


def test_tile_structure_and_buffers_come_from_the_config() -> None:
    hardware = hardware_from_dict(simconfig_to_preset(
        "[Tile level]\nPE_Num = 0,0\n[Architecture level]\nBuffer_Bitwidth = 0\n"
        "Tile_Connection = 3\nTile_Num = 0,0\n").document)
    assert hardware.tile_pes == 16  # MNSIM: 0,0 is 4 x 4
    assert hardware.buffer_width_bits == 256  # MNSIM: 0 is a 256-bit bus
    assert hardware.pe_buffer_area_m2 == pytest.approx(0.170796e-6)
    assert hardware.buffer_read_energy_j == pytest.approx(0.0374838e-9 + 1.253224e-3 * 20e-9)
    assert (hardware.chip_tile_rows, hardware.chip_tile_cols) == (8, 8)  # 0,0 is 8 x 8
    assert hardware.tile_placement == "zigzag"
    pooled = hardware_from_dict(simconfig_to_preset(
        "[Tile level]\nPooling_unit_num = 128\nPooling_shape = 2,2\n").document)
    assert (pooled.pooling_units, pooled.pooling_window) == (128, 4)
    assert pooled.tile_periphery_area_m2 == pytest.approx(2 * 91917.1562e-12)
    assert "PE_Num = 0,0" in hardware.sources["tile_pes"]
    # 16 PEs: 16 input buffers and 15 x 128 joint modules, as MNSIM's 4x4 tile
    base = load_hardware("mnsim")
    assert hardware.joint_modules_per_tile == 15 * 128
    assert base.joint_modules_per_tile == 3 * 128
    assert base.tile_area_m2 == pytest.approx(4.3177981e-6, rel=1e-5)  # MNSIM's 2x2 tile


@pytest.mark.parametrize(("text", "field"), [
    ("[Process element level]\nGroup_Num = -2\n", "[Process element level] Group_Num"),
    ("[Tile level]\nPE_Num = 4\n", "[Tile level] PE_Num"),
    ("[Tile level]\nPE_Num = 2.5,2\n", "[Tile level] PE_Num"),
    ("[Tile level]\nPE_Num = 0,2\n", "[Tile level] PE_Num"),
    ("[Tile level]\nPooling_shape = 3\n", "[Tile level] Pooling_shape"),
    ("[Tile level]\nPooling_unit_num = -4\n", "[Tile level] Pooling_unit_num"),
    ("[Architecture level]\nTile_Connection = 4\n", "[Architecture level] Tile_Connection"),
    ("[Architecture level]\nTile_Num = 8,-1\n", "[Architecture level] Tile_Num"),
    ("[Architecture level]\nTile_Num = 8.5,8\n", "[Architecture level] Tile_Num"),
    ("[Architecture level]\nBuffer_Bitwidth = 512\n", "[Architecture level] Buffer_Bitwidth"),
    ("[Architecture level]\nBuffer_Technology = 65\n",
     "[Architecture level] Buffer_Technology"),
    ("[Tile level]\nWarp_Drive = 1\n", "[Tile level] Warp_Drive"),
    ("[Interface level]\nADC_Choice = 12\n", "[Interface level] ADC_Choice"),
    ("[Interface level]\nADC_Choice = 6\nADC_Area = 5\n", "[Interface level] ADC_Area"),
    ("[Crossbar level]\nXbar_Size = 256\n", "[Crossbar level] Xbar_Size"),
    ("[Crossbar level]\nXbar_Size = 128,128\n", "[Crossbar level] Subarray_Size"),
    ("[Device level]\nDevice_Variation = -1\n", "[Device level] Device_Variation"),
    ("[Device level]\nDevice_SAF = 0.1\n", "[Device level] Device_SAF"),
    ("[Device level]\nDevice_SAF = 60,50\n", "[Device level] Device_SAF"),
    ("[Interface level]\nADC_Interval_Thres = 0.1,0.2\n",
     "[Interface level] ADC_Interval_Thres"),
])
def test_unsupported_and_bad_keys_name_the_key(text: str, field: str) -> None:
    if "Subarray_Size" in field:
        text += "Subarray_Size = 256\n"
    with pytest.raises(PresetError) as info:
        simconfig_to_preset(text, source="variant.ini")
    assert info.value.field == field
    assert "expected" in str(info.value) and "variant.ini" in str(info.value)


def test_unknown_section_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="unknown section"):
        simconfig_to_preset("[Quantum level]\nQubits = 5\n")
    with pytest.raises(PresetError, match="not a SimConfig file"):
        simconfig_to_preset("no section header\n")
    with pytest.raises(PresetError, match="cannot read"):
        read_simconfig(tmp_path / "missing.ini")


def test_cli_import_and_cost_with_a_simconfig(tmp_path: Path) -> None:
    runner = CliRunner()
    variant = GOLDEN / "simconfig" / "xbar128.ini"
    out = tmp_path / "xbar128.yaml"
    result = runner.invoke(app, ["presets", "import", str(variant), "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text())
    assert document["parameters"]["xbar_rows"]["value"] == 128
    assert "Xbar_Size" in document["parameters"]["xbar_rows"]["source"]
    from_yaml = runner.invoke(app, ["cost", "--network", "vgg8", "--hardware", str(out),
                                    "--format", "json"])
    from_ini = runner.invoke(app, ["cost", "--network", "vgg8", "--hardware", str(variant),
                                   "--format", "json"])
    assert from_yaml.exit_code == from_ini.exit_code == 0, from_ini.output
    a, b = json.loads(from_yaml.output), json.loads(from_ini.output)
    assert a["crossbars"] == b["crossbars"] and a["energy_j"] == pytest.approx(b["energy_j"])
    bad = tmp_path / "bad.ini"
    bad.write_text("[Tile level]\nPE_Num = 4\n")
    refused = runner.invoke(app, ["presets", "import", str(bad)])
    assert refused.exit_code == 2 and "PE_Num" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
