"""Read an MNSIM 2.0 ``SimConfig.ini`` into a complete preset (``epim presets import``).

Every key of MNSIM's configuration format is handled one of three ways:

- **mapped**: it sets preset parameters, each with a source line naming the key, its value
  and the MNSIM table it was looked up in (``epim/cost_model/mnsim_tables.yaml``);
- **ignored**: it can affect neither the hardware path nor the crossbar-faithful accuracy
  (write settings, SRAM-only energies, LUTs); reported back as a list;
- **default only**: the model has no parameter for it yet; any value other than MNSIM's
  default is an error naming the key, its value and what is supported.

Unknown keys and sections are errors too. Parameters the configuration does not determine
keep the base preset's values and sources (the ``mnsim`` preset: MNSIM's default components;
``epim.cost_model._presets`` passes it in).
"""

from __future__ import annotations

import configparser
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from epim.cost_model._components import adc_parameters, dac_parameters, mnsim_tables
from epim.cost_model._hardware import Hardware
from epim.cost_model._placement import PLACEMENT_ORDERS
from epim.errors import PresetError

#: MNSIM's spelling of its sections (keys are read case-insensitively).
SECTION_NAMES = {name.lower(): name for name in (
    "Device level", "Crossbar level", "Interface level", "Process element level",
    "Digital module", "Tile level", "Architecture level", "Algorithm Configuration")}

#: Keys that change neither MNSIM's hardware results nor the crossbar-faithful accuracy
#: (writes, SRAM-only energies for an NVM device, NoC simulation switches handled below).
IGNORED_KEYS: dict[str, frozenset[str]] = {
    "device level": frozenset({"write_level", "write_voltage", "write_latency", "read_level",
                               "read_energy", "write_energy", "device_tech"}),
    "crossbar level": frozenset({"transistor_tech"}),
    "architecture level": frozenset({"lut_capacity", "lut_area", "lut_power",
                                     "lut_bandwidth"}),
    "algorithm configuration": frozenset({"weight_polarity"}),
}

#: Keys the model supports at MNSIM's default value only: key -> (default, why).
DEFAULT_ONLY: dict[str, dict[str, tuple[str, str]]] = {
    "device level": {"device_type": ("NVM", "only NVM crossbars are modelled")},
    "crossbar level": {
        "subarray_size": ("=rows", "subarrays smaller than the crossbar are not modelled"),
        "cell_type": ("1T1R", "only 1T1R cells are modelled"),
        "wire_resistance": ("-1", "wire parasitics are not modelled"),
        "wire_capacity": ("-1", "wire parasitics are not modelled"),
        "load_resistance": ("-1", "load resistance is not modelled"),
        "area_calculation": ("0", "crossbar area comes from Device_Area"),
    },
    "interface level": {
        "logic_op": ("-1", "digital PIM logic is not modelled"),
        "adc_interval_thres": ("-1", "the crossbar-faithful accuracy models a uniform ADC; "
                               "non-uniform thresholds are not modelled"),
    },
    "process element level": {
        "pim_type": ("0", "only analog PIM is modelled"),
        "sub_position": ("0", "only analog subtraction of the polarity pair is modelled"),
        "pe_inbuf_size": ("0", "buffers are MNSIM's <= 2 KB SRAM class"),
        "pe_inbuf_area": ("0", "buffer areas come from MNSIM's SRAM table"),
        "tile_outbuf_size": ("0", "buffers are MNSIM's <= 2 KB SRAM class"),
        "tile_outbuf_area": ("0", "buffer areas come from MNSIM's SRAM table"),
        "dfu_buf_size": ("0", "buffers are MNSIM's <= 2 KB SRAM class"),
        "dfu_buf_area": ("0", "buffer areas come from MNSIM's SRAM table"),
    },
    "digital module": {
        key: (default, "the digital modules are MNSIM's default components")
        for key, default in (("adder_tech", "45"), ("adder_area", "0"), ("adder_power", "0"),
                             ("multiplier_tech", "45"), ("multiplier_area", "0"),
                             ("multiplier_power", "0"), ("shiftreg_tech", "65"),
                             ("shiftreg_area", "0"), ("shiftreg_power", "0"),
                             ("reg_tech", "45"), ("reg_area", "0"), ("reg_power", "0"),
                             ("jointmodule_tech", "45"), ("jointmodule_area", "0"),
                             ("jointmodule_power", "0"))
    },
    "tile level": {
        "pooling_tech": ("65", "the pooling unit is MNSIM's default"),
        "pooling_area": ("0", "the pooling unit is MNSIM's default"),
        "tile_adder_num": ("0", "the tile's adders are MNSIM's joint-module H-tree"),
        "tile_adder_level": ("0", "the tile's adders are MNSIM's joint-module H-tree"),
        "tile_shiftreg_num": ("0", "the tile's shift registers are MNSIM's defaults"),
        "tile_shiftreg_level": ("0", "the tile's shift registers are MNSIM's defaults"),
        "tile_outbuf_size": ("0", "buffers are MNSIM's <= 2 KB SRAM class"),
        "tile_outbuf_area": ("0", "buffer areas come from MNSIM's SRAM table"),
        "dfu_buf_size": ("0", "buffers are MNSIM's <= 2 KB SRAM class"),
        "dfu_buf_area": ("0", "buffer areas come from MNSIM's SRAM table"),
    },
    "architecture level": {
        "buffer_choice": ("1", "only MNSIM's SRAM buffer is modelled"),
        "buffer_technology": ("90", "the buffer table is MNSIM's 90 nm SRAM"),
        "buffer_readpower": ("0", "the buffer's energy comes from MNSIM's SRAM table"),
        "buffer_writepower": ("0", "the buffer's energy comes from MNSIM's SRAM table"),
    },
    "algorithm configuration": {
        "simulation_level": ("0", "only the behaviour level (no weight values) is modelled"),
        "noc_enable": ("0", "the NoC is modelled analytically, not by booksim"),
    },
}

#: Keys that set parameters (handled in ``_map``).
MAPPED_KEYS: dict[str, frozenset[str]] = {
    "device level": frozenset({"device_area", "read_voltage", "read_latency", "device_level",
                               "device_resistance", "device_variation", "device_saf"}),
    "crossbar level": frozenset({"xbar_size"}),
    "interface level": frozenset({"dac_choice", "dac_area", "dac_precision", "dac_power",
                                  "dac_sample_rate", "adc_choice", "adc_area",
                                  "adc_precision", "adc_power", "adc_sample_rate"}),
    "process element level": frozenset({"xbar_polarity", "dac_num", "adc_num", "group_num"}),
    "digital module": frozenset({"digital_frequency"}),
    "tile level": frozenset({"inter_tile_bandwidth", "intra_tile_bandwidth", "pe_num",
                             "pooling_shape", "pooling_unit_num"}),
    "architecture level": frozenset({"tile_connection", "tile_num", "buffer_bitwidth"}),
    "algorithm configuration": frozenset(),
}


@dataclass
class ImportedPreset:
    """The result of reading a ``SimConfig.ini``.

    Attributes:
        document: The preset in the preset file format (``epim/cost_model/presets``).
        ignored: ``section.Key`` of every key read that can affect neither the hardware
            path nor the crossbar-faithful accuracy.

    """

    document: dict[str, Any]
    ignored: list[str] = field(default_factory=list)


def simconfig_document(text: str, *, base: Hardware, source: str, name: str
                       ) -> ImportedPreset:
    """Turn the text of a ``SimConfig.ini`` into a preset over ``base`` (MNSIM's defaults).

    Raises:
        PresetError: On an unknown section or key, a bad value, or a non-default value of a
            key the model does not support; the message names the key (``section.Key``), its
            value and what is allowed.

    """
    parser = configparser.ConfigParser(inline_comment_prefixes=("#",), strict=False,
                                       interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise PresetError(f"not a SimConfig file: {exc.message}", source=source) from None
    config: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        key = section.strip().lower()
        if key not in MAPPED_KEYS:
            raise PresetError(f"unknown section [{section}]", source=source,
                              expected="the sections of MNSIM 2.0's SimConfig.ini: "
                              + ", ".join(f"[{s}]" for s in MAPPED_KEYS))
        config.setdefault(key, {}).update({k: v.strip() for k, v in parser[section].items()})
    reader = _Reader(config, source)
    ignored = reader.check_keys()
    document = base.to_dict()
    document.pop("derived")
    parameters: dict[str, dict[str, Any]] = document["parameters"]
    defaults = {key: float(entry["value"]) for key, entry in parameters.items()}
    for key, (value, why) in _map(reader, defaults).items():
        parameters[key] = {"value": value, "unit": parameters[key]["unit"], "source": why}
    document["options"].update(_options(reader))
    document["options"] = {key: value == "true" if value in ("true", "false") else value
                           for key, value in document["options"].items()}  # YAML flags
    document["name"] = name
    document["description"] = (f"imported from {Path(source).name} (MNSIM 2.0 SimConfig "
                               "format)")
    return ImportedPreset(document=document, ignored=ignored)


class _Reader:
    """Typed access to the parsed configuration, with errors that name ``section.Key``."""

    def __init__(self, config: dict[str, dict[str, str]], source: str) -> None:
        self.config, self.source = config, source

    def raw(self, section: str, key: str) -> str | None:
        return self.config.get(section, {}).get(key)

    def where(self, section: str, key: str) -> str:
        return f"[{SECTION_NAMES[section]}] {_pretty(key)}"

    def number(self, section: str, key: str, default: float,
               check: Callable[[float], bool] = lambda v: v > 0,
               expected: str = "a number > 0") -> float:
        raw = self.raw(section, key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not check(value):
            raise PresetError(f"bad value {raw!r}", source=self.source,
                              field=self.where(section, key), expected=expected)
        return value

    def numbers(self, section: str, key: str, count: int | None = None) -> list[float]:
        raw = self.raw(section, key) or ""
        try:
            values = [float(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or (count is not None and len(values) != count) or not all(
                math.isfinite(v) and v >= 0 for v in values):
            shape = f"{count} comma-separated numbers" if count else "comma-separated numbers"
            raise PresetError(f"bad value {raw!r}", source=self.source,
                              field=self.where(section, key), expected=f"{shape} >= 0")
        return values

    def pair(self, section: str, key: str, default: tuple[int, int], what: str,
             means_default: Callable[[list[float]], bool] = lambda v: v == [0.0, 0.0]
             ) -> tuple[int, int]:
        """Two integers >= 1 (``what``: their meaning), or MNSIM's ``default``.

        ``means_default`` says when the value asks for the default (``0,0``).
        """
        values = self.numbers(section, key, 2)
        if means_default(values):
            return default
        if not all(v.is_integer() and v >= 1 for v in values):
            raise PresetError(f"bad value {self.raw(section, key)!r}", source=self.source,
                              field=self.where(section, key),
                              expected=f"two integers >= 1 ({what}), or 0,0 "
                              f"({default[0]}x{default[1]})")
        return int(values[0]), int(values[1])

    def check_keys(self) -> list[str]:
        ignored = []
        for section, values in self.config.items():
            for key, raw in values.items():
                if key in MAPPED_KEYS[section]:
                    continue
                if key in IGNORED_KEYS.get(section, frozenset()):
                    ignored.append(self.where(section, key))
                    continue
                rule = DEFAULT_ONLY.get(section, {}).get(key)
                if rule is None:
                    raise PresetError("unknown key", source=self.source,
                                      field=self.where(section, key),
                                      expected="a key of MNSIM 2.0's SimConfig.ini")
                default, why = rule
                if default == "=rows":
                    rows = self.raw("crossbar level", "xbar_size") or "256,256"
                    default = rows.split(",")[0].strip()
                if not _same(raw, default):
                    raise PresetError(f"{raw!r} is not supported: {why}", source=self.source,
                                      field=self.where(section, key),
                                      expected=f"MNSIM's default {default}")
        return sorted(ignored)


def _map(reader: _Reader, defaults: dict[str, float]) -> dict[str, tuple[float, str]]:
    """Every parameter the configuration determines: name -> (value, source line).

    ``defaults`` are the ``mnsim`` preset's values (MNSIM's default configuration).
    """
    out: dict[str, tuple[float, str]] = {}
    dev, xbar, pe = "device level", "crossbar level", "process element level"

    def line(section: str, key: str, note: str = "") -> str:
        raw = reader.raw(section, key)
        shown = "(MNSIM default)" if raw is None else f"= {raw}"
        return f"SimConfig {reader.where(section, key)} {shown}{'; ' + note if note else ''}"

    if reader.raw(xbar, "xbar_size") is not None:
        rows, cols = (int(v) for v in reader.numbers(xbar, "xbar_size", 2))
        if rows < 1 or cols < 1:
            raise PresetError("bad value", source=reader.source,
                              field=reader.where(xbar, "xbar_size"),
                              expected="two integers >= 1 (rows, columns)")
        out["xbar_rows"] = (rows, line(xbar, "xbar_size", "rows"))
        out["xbar_cols"] = (cols, line(xbar, "xbar_size", "columns"))
    if reader.raw(dev, "device_area") is not None:
        out["cell_area_m2"] = (reader.number(dev, "device_area", 1.44) * 1e-12,
                               line(dev, "device_area", "um^2"))
    if reader.raw(dev, "read_latency") is not None:
        out["cell_read_latency_s"] = (reader.number(dev, "read_latency", 3.16) * 1e-9,
                                      line(dev, "read_latency", "ns"))
    if reader.raw(dev, "read_voltage") is not None:
        out["read_voltage_v"] = (max(reader.numbers(dev, "read_voltage")),
                                 line(dev, "read_voltage", "the highest read level, V"))
    if reader.raw(dev, "device_resistance") is not None:
        out["cell_r_read_ohm"] = (max(reader.numbers(dev, "device_resistance")),
                                  line(dev, "device_resistance", "HRS: bit-slice cells of "
                                       "trained weights are mostly 0"))
    if reader.raw(dev, "device_level") is not None:
        level = reader.number(dev, "device_level", 2, lambda v: v >= 2 and v.is_integer(),
                              "an integer >= 2")
        out["cell_bits"] = (1, line(dev, "device_level", f"{int(level)} levels; MNSIM's "
                                    "mapping stores one weight bit per crossbar whatever the "
                                    "levels (set cell_bits for multi-bit cells, ISAAC-style)"))
    polarity = int(reader.number(pe, "xbar_polarity", 2, lambda v: v in (1, 2), "1 or 2"))
    groups = _groups(reader)
    if reader.raw(pe, "xbar_polarity") is not None:
        out["polarity"] = (polarity, line(pe, "xbar_polarity"))
    if reader.raw(pe, "xbar_polarity") is not None or groups > 1:
        out["pe_crossbars"] = (groups * polarity, line(
            pe, "group_num", f"{groups} group(s) x {polarity} crossbar(s) (Xbar_Polarity) "
            "per PE"))
    if reader.raw(pe, "group_num") is not None:
        out["xbar_groups"] = (groups, line(pe, "group_num", "bit slices fill whole groups"))
    out.update(_device_effects(reader, line))
    out.update(_dac(reader, line))
    out.update(_tile(reader, line))
    out.update(_adc(reader, line))
    rows, cols = (int(v) for v in (reader.numbers(xbar, "xbar_size", 2)
                                   if reader.raw(xbar, "xbar_size") is not None else (256, 256)))
    dacs = int(out.get("dacs_per_xbar", (defaults["dacs_per_xbar"], ""))[0])
    adcs = int(out.get("adcs_per_xbar", (defaults["adcs_per_xbar"], ""))[0])
    levels = _levels(math.ceil(rows / dacs))
    out["decoder_latency_s"] = (levels * 0.27933e-9, f"{levels} levels x 0.27933 ns (1:8 "
                                f"decoders, 65 nm) for {rows} rows over {dacs} DACs, MNSIM "
                                "PE_latency")
    levels = _levels(math.ceil(cols / adcs))
    out["mux_latency_s"] = (levels * 32.744e-12, f"{levels} levels x 32.744 ps (8:1 muxes, "
                            f"65 nm) for {cols} columns over {adcs} ADCs, MNSIM PE_latency")
    if reader.raw("digital module", "digital_frequency") is not None:
        mhz = reader.number("digital module", "digital_frequency", 500)
        out["digital_clock_s"] = (1e-6 / mhz, line("digital module", "digital_frequency",
                                                   "MHz"))
    if reader.raw("architecture level", "tile_num") is not None:
        rows, cols = reader.pair("architecture level", "tile_num", (8, 8),
                                 "tile rows, columns", lambda v: v[0] == 0)  # MNSIM's TCG
        out["chip_tile_rows"] = (rows, line("architecture level", "tile_num", "tile rows"))
        out["chip_tile_cols"] = (cols, line("architecture level", "tile_num", "tile columns"))
    for key, parameter in (("inter_tile_bandwidth", "inter_tile_bandwidth_bps"),
                           ("intra_tile_bandwidth", "intra_tile_bandwidth_bps")):
        if reader.raw("tile level", key) is not None:
            out[parameter] = (reader.number("tile level", key, 1) * 1e9,
                              line("tile level", key, "Gb/s"))
    return out


def _device_effects(reader: _Reader, line: Callable[..., str]) -> dict[str, tuple[float, str]]:
    """Conductance variation (``Device_Variation``) and stuck-at faults (``Device_SAF``).

    MNSIM gives both in percent: ``Device_Variation = v`` draws each resistance level as
    ``R + N(0, R v / 100)`` (MNSIM ``Accuracy_Model/Weight_update.py``), i.e. a relative sigma
    of ``v / 100``, here applied to the conductance as NeuroSim does (the same to first order);
    ``Device_SAF = a,b`` sets ``a`` % of cells stuck at HRS (level 0, stuck-off) and ``b`` %
    stuck at LRS (the largest level, stuck-on).
    """
    dev = "device level"
    out: dict[str, tuple[float, str]] = {}
    if reader.raw(dev, "device_variation") is not None:
        percent = reader.number(dev, "device_variation", 0, lambda v: v >= 0,
                                "a number >= 0 (percent of the ideal resistance)")
        out["cell_variation"] = (percent / 100, line(
            dev, "device_variation", f"% of the ideal resistance: relative sigma {percent / 100:g}"
            " (MNSIM Weight_update.py: R + N(0, R v/100))"))
    if reader.raw(dev, "device_saf") is not None:
        off, on = reader.numbers(dev, "device_saf", 2)
        if off + on > 100:
            raise PresetError(f"bad value {reader.raw(dev, 'device_saf')!r}",
                              source=reader.source, field=reader.where(dev, "device_saf"),
                              expected="two percentages (stuck at HRS, stuck at LRS) adding up "
                              "to at most 100")
        out["cell_stuck_off_rate"] = (off / 100, line(dev, "device_saf",
                                                      f"{off:g} % of cells stuck at HRS"))
        out["cell_stuck_on_rate"] = (on / 100, line(dev, "device_saf",
                                                    f"{on:g} % of cells stuck at LRS"))
    return out


def _options(reader: _Reader) -> dict[str, str]:
    """Mapping options the configuration sets: the tile placement order."""
    arch = "architecture level"
    if reader.raw(arch, "tile_connection") is None:
        return {}
    order = reader.number(arch, "tile_connection", 2,
                          lambda v: v.is_integer() and 0 <= v < len(PLACEMENT_ORDERS),
                          "0 (row-major), 1 (snake), 2 (spiral) or 3 (zigzag)")
    return {"tile_placement": PLACEMENT_ORDERS[int(order)]}


def _tile(reader: _Reader, line: Callable[..., str]) -> dict[str, tuple[float, str]]:
    """PEs per tile (``PE_Num``) and the buffers (``Buffer_Bitwidth``, MNSIM's SRAM table)."""
    out: dict[str, tuple[float, str]] = {}
    tile, arch = "tile level", "architecture level"
    if reader.raw(tile, "pe_num") is not None:
        pe_rows, pe_cols = reader.pair(tile, "pe_num", (4, 4), "PE rows, columns")
        pes = pe_rows * pe_cols
        out["tile_pes"] = (pes, line(tile, "pe_num", f"{pes} PEs per tile"))
    if reader.raw(tile, "pooling_unit_num") is not None:
        units = reader.number(tile, "pooling_unit_num", 64, lambda v: v >= 0 and v.is_integer(),
                              "an integer >= 0 (0: MNSIM's 64)")
        units = units or 64.0
        out["pooling_units"] = (int(units), line(tile, "pooling_unit_num", "channels at once"))
        area_um2 = 91917.1562 * units / 64
        out["tile_periphery_area_m2"] = (area_um2 * 1e-12, line(
            tile, "pooling_unit_num", f"MNSIM Pooling area 91917.1562 um^2 per 64 units at "
            f"65 nm: {area_um2:.1f} um^2"))
    if reader.raw(tile, "pooling_shape") is not None:
        window_rows, window_cols = reader.pair(tile, "pooling_shape", (3, 3),
                                               "window rows, columns")
        window = window_rows * window_cols
        out["pooling_window"] = (window, line(tile, "pooling_shape", f"{window} values at once"))
    if reader.raw(arch, "buffer_bitwidth") is not None:
        width = int(reader.number(arch, "buffer_bitwidth", 64,
                                  lambda v: v >= 0 and v.is_integer(), "an integer >= 0"))
        width = width or 256  # MNSIM: 0 is its default 256-bit bus
        table = mnsim_tables()["buffer"]
        bus = min((w for w in table if width <= w), default=None)
        if bus is None:
            raise PresetError(f"{width} is not supported: MNSIM's SRAM table has no buffer of "
                              "at most 2 KB with a bus this wide", source=reader.source,
                              field=reader.where(arch, "buffer_bitwidth"),
                              expected="a width up to " + str(max(table)) + " bits")
        entry = table[bus]
        what = (f"MNSIM SRAM buffer table, 90 nm, <= 2 KB, {bus}-bit class (Buffer_Bitwidth = "
                f"{width})")
        cycle_s = 20e-9
        out["buffer_width_bits"] = (width, line(arch, "buffer_bitwidth", "bits per access"))
        for key in ("pe_buffer_area_m2", "tile_buffer_area_m2"):
            out[key] = (entry["area_mm2"] * 1e-6, f"{what}: {entry['area_mm2']} mm^2")
        for key, kind in (("buffer_read_energy_j", "read"), ("buffer_write_energy_j", "write")):
            out[key] = ((entry[f"{kind}_nj"] * 1e-9 + entry["leakage_mw"] * 1e-3 * cycle_s),
                        f"{what}: {entry[f'{kind}_nj']} nJ dynamic {kind} + "
                        f"{entry['leakage_mw']} mW leakage x 20 ns, per access of one buffer")
    return out


def _levels(lines_per_converter: int) -> int:
    """Decoder (mux) levels as MNSIM counts them: 1 + the base-8 digits of lines per DAC (ADC)."""
    levels, remaining = 1, lines_per_converter
    while remaining > 0:
        remaining //= 8
        levels += 1
    return levels


def _groups(reader: _Reader) -> int:
    """``Group_Num``: crossbar groups per PE (MNSIM reads 0 as 1)."""
    value = reader.number("process element level", "group_num", 1,
                          lambda v: v >= 0 and v.is_integer(), "an integer >= 0")
    return max(int(value), 1)


def _touched(reader: _Reader, kind: str) -> bool:
    """Whether the configuration sets any key of the ADC or DAC (``kind``)."""
    return any(reader.raw("interface level", f"{kind}_{key}") is not None
               for key in ("choice", "area", "precision", "power", "sample_rate"))


def _component(reader: _Reader, kind: str) -> tuple[dict[str, Any], str]:
    """The ADC or DAC as MNSIM resolves it: a table choice, or user-defined (-1)."""
    io = "interface level"
    choice_key = f"{kind}_choice"
    table = mnsim_tables()[kind]
    choice = int(reader.number(io, choice_key, 1 if kind == "dac" else 6,
                               lambda v: v.is_integer() and (v == -1 or int(v) in table),
                               "-1 (user defined) or one of "
                               + ", ".join(map(str, sorted(table)))))
    if choice != -1:
        entry = dict(table[choice])
        for key, field_name in (("area", "area_um2"), ("precision", "bits"),
                                ("power", "power_w"), ("sample_rate", "rate_gsps")):
            given = reader.raw(io, f"{kind}_{key}")
            if given is not None and not _same(given, "0") and field_name in entry:
                raise PresetError(f"{given!r} with {kind.upper()}_Choice = {choice}",
                                  source=reader.source,
                                  field=reader.where(io, f"{kind}_{key}"),
                                  expected=f"0 (the table's value), or {kind.upper()}_Choice "
                                  "= -1 to define the component")
        entry.setdefault("rate_gsps", 1.0)
        return entry, f"{kind.upper()}_Choice = {choice}: MNSIM table, {entry['source']}"
    entry = {"bits": reader.number(io, f"{kind}_precision", 0,
                                   lambda v: v >= 1 and v.is_integer(), "an integer >= 1"),
             "area_um2": reader.number(io, f"{kind}_area", 0, lambda v: v >= 0, ">= 0"),
             "power_w": reader.number(io, f"{kind}_power", 0, lambda v: v >= 0, ">= 0"),
             "rate_gsps": reader.number(io, f"{kind}_sample_rate", 0)}
    if kind == "adc":
        entry["rate_gsps"] /= 1e9  # MNSIM: the ADC's user-defined rate is in samples/s
    return entry, f"{kind.upper()}_Choice = -1: user defined"


def _dac(reader: _Reader, line: Callable[..., str]) -> dict[str, tuple[float, str]]:
    """The DAC's parameters: the component and its count per crossbar pair."""
    pe = "process element level"
    touched = _touched(reader, "dac")
    out: dict[str, tuple[float, str]] = {}
    if touched:
        entry, what = _component(reader, "dac")
        out.update(dac_parameters(entry, what=what))
    dacs = None
    if reader.raw(pe, "dac_num") is not None:
        dacs = int(reader.number(pe, "dac_num", 128, lambda v: v >= 1 and v.is_integer(),
                                 "an integer >= 1 (0, MNSIM's default, is not supported)"))
        out["dacs_per_xbar"] = (dacs, line(pe, "dac_num", "per crossbar pair"))
    return out


def _adc(reader: _Reader, line: Callable[..., str]) -> dict[str, tuple[float, str]]:
    io, pe = "interface level", "process element level"
    out: dict[str, tuple[float, str]] = {}
    if _touched(reader, "adc"):
        entry, what = _component(reader, "adc")
        choice = reader.raw(io, "adc_choice")
        chosen = None if choice is None else int(float(choice))
        out.update(adc_parameters(entry, choice=chosen, what=what))
    groups = _groups(reader)
    if reader.raw(pe, "adc_num") is not None or groups > 1:
        adcs = int(reader.number(pe, "adc_num", 128, lambda v: v >= 1 and v.is_integer(),
                                 "an integer >= 1 (0, MNSIM's default, is not supported)"))
        out["adcs_per_xbar"] = (adcs, line(pe, "adc_num", "per crossbar pair"))
        out["adcs_per_pe"] = (adcs * groups, line(pe, "adc_num", f"x {groups} group(s) per "
                                                  "PE (Group_Num)"))

    return out


def _same(raw: str, default: str) -> bool:
    """Whether a configuration value equals a default (numbers compared as numbers)."""
    left = [v.strip() for v in raw.split(",")]
    right = [v.strip() for v in default.split(",")]
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        try:
            if float(a) != float(b):
                return False
        except ValueError:
            if a.lower() != b.lower():
                return False
    return True


def _pretty(key: str) -> str:
    """``xbar_size`` -> ``Xbar_Size`` (MNSIM's spelling, for messages)."""
    irregular = {"pooling_shape": "Pooling_shape", "pooling_unit_num": "Pooling_unit_num",
                 "pooling_area": "Pooling_area"}
    if key in irregular:
        return irregular[key]
    special = {"adc": "ADC", "dac": "DAC", "pe": "PE", "pim": "PIM", "noc": "NoC",
               "saf": "SAF", "lut": "LUT", "dfu": "DFU", "inbuf": "inBuf", "outbuf": "outBuf",
               "readpower": "ReadPower", "writepower": "WritePower", "shiftreg": "ShiftReg",
               "jointmodule": "JointModule"}
    return "_".join(special.get(part, part.capitalize()) for part in key.split("_"))
