from pathlib import Path

import pytest
import yaml

from epim.cost_model import PRESET_DIR, Hardware, hardware_from_dict, list_presets, load_hardware
from epim.cost_model._simconfig import simconfig_document
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
        data = yaml.safe_load((PRESET_DIR / f"{hw.name}.yaml").read_text())
        assert set(data["parameters"]) == set(hw.parameters)  # no parameter defaulted
        for key, entry in data["parameters"].items():  # the file's unit is the field's
            assert entry["unit"] == hw.units[key], key


def test_mnsim_derived_tile_area() -> None:
    hw = load_hardware("mnsim")
    assert hw.tile_area_m2 == pytest.approx(4.3178e-6, rel=1e-4)
    assert 8 * hw.xbar_area_m2 == pytest.approx(3.1102e-6, rel=1e-4)
    assert hw.adc_energy_j == pytest.approx(10.08e-12)


def test_overrides_apply_and_rename() -> None:
    hw = load_hardware("mnsim", {"adc_bits": "8", "row_packing": "unrolled"})
    assert hw.adc_bits == 8 and hw.row_packing == "unrolled"
    assert "adc_bits=8" in hw.name
    assert load_hardware("mnsim").adc_bits == 6  # the cached preset is untouched


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


def test_user_preset_file(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    data["name"] = "mine"
    data["parameters"]["adc_bits"]["value"] = 7
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    hw = load_hardware(str(path))
    assert hw.name == "mine" and hw.adc_bits == 7


def test_user_presets_without_device_effects_get_ideal_cells(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    for key in ("cell_variation", "cell_stuck_on_rate", "cell_stuck_off_rate"):
        del data["parameters"][key]  # a preset written before these parameters existed
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    hw = load_hardware(str(path))
    assert hw.cell_variation == hw.cell_stuck_on_rate == hw.cell_stuck_off_rate == 0
    assert "default 0" in hw.sources["cell_variation"]
    noisy = load_hardware("mnsim", {"cell_variation": "0.1", "cell_stuck_off_rate": "0.01"})
    assert noisy.cell_variation == 0.1
    assert noisy.cell_stuck_off_rate == 0.01


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


@pytest.mark.parametrize("preset", ["mnsim", "isaac"])
def test_the_fields_come_from_the_types(preset: str) -> None:
    hardware = load_hardware(preset)
    specs = Hardware.field_specs()
    assert set(specs) == set(hardware.parameters) | set(hardware.options)
    for name, spec in specs.items():
        value = getattr(hardware, name)
        if spec.kind == "option":
            assert hardware.options[name] in spec.choices, name
        elif spec.integer:
            assert isinstance(value, int) and not isinstance(value, bool), name
        else:
            assert isinstance(value, float), name
        assert spec.what, name
    assert specs["polarity"].choices == (1, 2)
    assert specs["pooling_tiles"].choices == ("true", "false")
    assert specs["tile_placement"].choices == ("row_major", "snake", "spiral", "zigzag")
    assert specs["buffer_access_s"].bound.low_open  # strictly positive
    assert specs["cell_stuck_on_rate"].bound.high == 1


@pytest.mark.parametrize("preset", ["mnsim", "isaac"])
def test_a_document_round_trips(preset: str) -> None:
    hardware = load_hardware(preset, {"adc_choice": 7, "xbar_size": 128})
    document = hardware.to_dict()
    assert document.pop("derived")["tile_area_m2"] == hardware.tile_area_m2
    again = hardware_from_dict(document, source="round trip")
    assert again == hardware and again.sources == hardware.sources


def test_a_unit_other_than_the_fields_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "mnsim.yaml").read_text())
    data["parameters"]["adc_latency_s"]["unit"] = "ns"
    with pytest.raises(PresetError, match=r"adc_latency_s.*'s'"):
        hardware_from_dict(data, source="mine")


def test_presets_without_add_latency_keep_their_numbers() -> None:
    data = load_hardware("mnsim").to_dict()
    data.pop("derived")
    del data["parameters"]["add_latency_s"]  # a preset written before the parameter
    old = hardware_from_dict(data, source="old")
    assert old.add_latency_s == old.digital_clock_s == 2e-9  # one clock, as before
    assert "one digital clock" in old.sources["add_latency_s"]
    assert load_hardware("mnsim").add_latency_s == 1e-8  # MNSIM's element_sum: 10 ns


def test_converter_shorthands_are_the_simconfig_import() -> None:
    base = load_hardware("mnsim")
    for choice in (1, 4, 7, 8, 9):
        gene = load_hardware("mnsim", {"adc_choice": choice}, source="gene")
        imported = hardware_from_dict(simconfig_document(
            f"[Interface level]\nADC_Choice = {choice}\n", base=base, source="x",
            name="x").document, source="x")
        for key in ("adc_bits", "adc_latency_s", "adc_energy_j", "adc_area_m2"):
            assert getattr(gene, key) == pytest.approx(getattr(imported, key), rel=1e-12), key
            assert f"ADC_Choice = {choice}" in gene.sources[key]
    ramp = load_hardware("mnsim", {"adc_choice": 9})
    assert ramp.adc_latency_s == pytest.approx(2**6 / 6e9)  # MNSIM's ramp ADC
    dac = load_hardware("isaac", {"dac_choice": 4})
    assert (dac.dac_bits, dac.dac_latency_s) == (4, pytest.approx(6e-9))
    assert dac.dac_energy_j == pytest.approx(3.12e-5 * 6e-9)
    # a parameter given by name wins over the shorthand
    assert load_hardware("mnsim", {"adc_bits": 5, "adc_choice": 7}).adc_bits == 5


def test_crossbars_per_pe_keeps_the_converters_per_crossbar() -> None:
    mnsim = load_hardware("mnsim", {"crossbars_per_pe": 6})  # PEs of whole +/- groups
    assert (mnsim.pe_crossbars, mnsim.xbar_groups, mnsim.adcs_per_pe) == (6, 3, 384)
    assert mnsim.dacs_per_pe == 3 * 128
    isaac = load_hardware("isaac", {"crossbars_per_pe": 4})  # 8 crossbars, 8 ADCs per IMA
    assert (isaac.pe_crossbars, isaac.xbar_groups, isaac.adcs_per_pe) == (4, 1, 4)
    assert isaac.tile_area_m2 < load_hardware("isaac").tile_area_m2
    with pytest.raises(PresetError, match="multiple of 2"):
        load_hardware("mnsim", {"crossbars_per_pe": 3})
    with pytest.raises(PresetError, match=r"adc_choice.*1, 2, 3"):
        load_hardware("mnsim", {"adc_choice": 42})


def test_no_import_cycle_in_the_cost_model() -> None:
    """Every import among the cost model's modules is at module level, and they form no cycle."""
    import ast

    package = PRESET_DIR.parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("_*.py"):
        tree = ast.parse(path.read_text())
        top = {node for node in tree.body if isinstance(node, ast.ImportFrom)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "epim.cost_model"):
                assert node in top, f"{path.name}: import of {node.module} inside a function"
                graph.setdefault(path.stem, set()).add(node.module.rsplit(".", 1)[-1])
    done: set[str] = set()

    def visit(module: str, stack: tuple[str, ...]) -> None:
        assert module not in stack, " -> ".join((*stack, module))
        if module not in done:
            for imported in graph.get(module, ()):
                visit(imported, (*stack, module))
            done.add(module)

    for module in graph:
        visit(module, ())
    assert "_presets" not in graph.get("_hardware", set()) | graph.get("_simconfig", set())
