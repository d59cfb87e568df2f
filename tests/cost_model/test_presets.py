from pathlib import Path

import pytest
import yaml

from epim.cost_model import list_presets, load_hardware, parse_assignments
from epim.cost_model._hardware import PRESET_DIR
from epim.errors import PresetError


def test_builtin_presets_cite_every_constant() -> None:
    assert list_presets() == ["isaac", "mnsim"]
    mnsim = load_hardware("mnsim")
    isaac = load_hardware("isaac")
    assert set(mnsim.parameters) == set(isaac.parameters)
    for hw in (mnsim, isaac):
        for key in hw.parameters:
            assert hw.sources[key], f"{hw.name}.{key} has no source"
            assert hw.units[key], f"{hw.name}.{key} has no unit"


def test_mnsim_derived_tile_area() -> None:
    hw = load_hardware("mnsim")
    assert hw.tile_area_m2 == pytest.approx(4.3178e-6, rel=1e-4)
    assert 8 * hw.xbar_area_m2 == pytest.approx(3.1102e-6, rel=1e-4)
    assert hw["adc_energy_j"] == pytest.approx(10.08e-12)


def test_overrides_apply_and_rename() -> None:
    hw = load_hardware("mnsim", {"adc_bits": "8", "row_packing": "unrolled"})
    assert hw["adc_bits"] == 8 and hw.option("row_packing") == "unrolled"
    assert "adc_bits=8" in hw.name
    assert load_hardware("mnsim")["adc_bits"] == 6  # the cached preset is untouched


@pytest.mark.parametrize(("overrides", "field", "expected"), [
    ({"nonsense": 1}, "nonsense", "one of"),
    ({"xbar_rows": "0"}, "xbar_rows", "an integer 1.."),
    ({"xbar_rows": "12.5"}, "xbar_rows", "an integer 1.."),
    ({"polarity": "3"}, "polarity", "1 or 2"),
    ({"adc_energy_j": "-1"}, "adc_energy_j", ">= 0"),
    ({"adc_energy_j": "abc"}, "adc_energy_j", "a number"),
    ({"buffer_access_s": "0"}, "buffer_access_s", "> 0"),
    ({"row_packing": "diagonal"}, "row_packing", "kernel, unrolled"),
    ({"xbar_size": "-4"}, "xbar_rows", "an integer 1.."),
    ({"cell_stuck_on_rate": "1.5"}, "cell_stuck_on_rate", "0..1"),
    ({"cell_stuck_on_rate": "0.6", "cell_stuck_off_rate": "0.5"}, "cell_stuck_on_rate",
     "<= 1"),
    ({"cell_variation": "-0.1"}, "cell_variation", ">= 0"),
])
def test_bad_overrides_name_field_and_allowed(overrides: dict[str, str], field: str,
                                              expected: str) -> None:
    with pytest.raises(PresetError) as info:
        load_hardware("mnsim", overrides)
    assert f"'{field}'" in str(info.value) and expected in str(info.value)


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", " b = x "]) == {"a": "1", "b": "x"}
    with pytest.raises(PresetError, match="KEY=VALUE"):
        parse_assignments(["novalue"])


def test_user_preset_file(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    data["name"] = "mine"
    data["parameters"]["adc_bits"]["value"] = 7
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    hw = load_hardware(str(path))
    assert hw.name == "mine" and hw["adc_bits"] == 7


def test_user_presets_without_device_effects_get_ideal_cells(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    for key in ("cell_variation", "cell_stuck_on_rate", "cell_stuck_off_rate"):
        del data["parameters"][key]  # a preset written before these parameters existed
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    hw = load_hardware(str(path))
    assert hw["cell_variation"] == hw["cell_stuck_on_rate"] == hw["cell_stuck_off_rate"] == 0
    assert "default 0" in hw.sources["cell_variation"]
    noisy = load_hardware("mnsim", {"cell_variation": "0.1", "cell_stuck_off_rate": "0.01"})
    assert noisy.constants.cell_variation == 0.1
    assert noisy.constants.cell_stuck_off_rate == 0.01


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["parameters"].pop("adc_bits"), "missing parameter"),
    (lambda d: d["parameters"].update(extra={"value": 1}), "unknown parameter"),
    (lambda d: d["options"].update(row_packing="zigzag"), "row_packing"),
    (lambda d: d.update(colour="red"), "unknown key"),
    (lambda d: d["parameters"].update(adc_bits="six"), "adc_bits"),
])
def test_bad_user_presets(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PresetError) as info:
        load_hardware(str(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(PresetError, match="isaac, mnsim"):
        load_hardware("nope")
