"""Hardware presets: data files loaded and validated once, with user overrides.

A preset is a YAML file with ``name``, ``description``, ``options`` (mapping strategies) and
``parameters`` (each ``{value, unit, source}``, SI units, unprefixed). Every preset defines
the same parameters, so a user preset is a copy of a built-in one with other numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from epim.cost_model._constants import HardwareConstants
from epim.cost_model._placement import PLACEMENT_ORDERS
from epim.errors import PresetError
from epim.workloads import load_document_text

PRESET_DIR = Path(__file__).parent / "presets"

OPTION_CHOICES: dict[str, tuple[str, ...]] = {
    "row_packing": ("kernel", "unrolled"),
    "slice_placement": ("crossbar", "columns"),
    "adc_accounting": ("mnsim", "per_column"),
    "pooling_tiles": ("true", "false"),
    "tile_placement": PLACEMENT_ORDERS,
    "pe_input_buffers": ("true", "false"),
}

#: Parameters that must be positive integers (counts and bit-widths).
INTEGER_PARAMETERS = frozenset({
    "xbar_rows", "xbar_cols", "polarity", "cell_bits", "dac_bits", "dacs_per_xbar", "adc_bits",
    "adcs_per_xbar", "adcs_per_pe", "pe_crossbars", "tile_pes", "buffer_width_bits",
    "xbar_groups", "chip_tile_rows", "chip_tile_cols", "pooling_units", "pooling_window",
})
#: Largest value of a count or bit-width parameter (a crossbar of 2^20 rows is already absurd).
MAX_COUNT = 2**20
#: Parameters that must be strictly positive reals (the rest may be zero).
POSITIVE_PARAMETERS = frozenset({
    "buffer_access_s", "inter_tile_bandwidth_bps", "intra_tile_bandwidth_bps", "read_voltage_v",
    "cell_r_read_ohm",
})
#: Fractions of cells (0..1): the stuck-at fault rates; together at most 1.
FRACTION_PARAMETERS = frozenset({"cell_stuck_on_rate", "cell_stuck_off_rate"})
#: Parameters a user preset (file or inline document) may leave out, and what they then are:
#: the device non-idealities, added after presets without them were written. 0 is an ideal
#: device, which is what the cost model assumed before.
OPTIONAL_PARAMETERS: dict[str, tuple[float, str, str]] = {
    key: (0.0, "1", "default 0 (not in the preset): ideal cells")
    for key in ("cell_variation", "cell_stuck_on_rate", "cell_stuck_off_rate")
}


def list_presets() -> list[str]:
    """Names of the built-in hardware presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class Hardware:
    """A validated hardware description: the constants of one preset plus overrides.

    Attributes:
        name: Preset name (with ``+overrides`` when any were applied).
        description: Human-readable description.
        options: Mapping strategies (see ``OPTION_CHOICES``).
        parameters: Constant name to value, SI units (see the preset files for each source).
        sources: Constant name to its citation.
        units: Constant name to its unit.

    """

    name: str
    description: str
    options: Mapping[str, str]
    parameters: Mapping[str, float]
    sources: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.parameters[key]

    def option(self, key: str) -> str:
        """Return the mapping option ``key``."""
        return self.options[key]

    @cached_property
    def constants(self) -> HardwareConstants:
        """The typed constants the cost model computes with (built once per preset)."""
        return HardwareConstants.from_hardware(self)

    # Derived constants (docs/cost_model.md sections 5 and 6).
    @property
    def xbar_area_m2(self) -> float:
        """Area of one crossbar with its row drivers, ``R*C*a_cell + R*a_row_driver`` (m^2)."""
        return self.constants.xbar_area_m2

    @property
    def tile_area_m2(self) -> float:
        """Area of one fully populated tile: PEs, joint modules, tile buffer, periphery (m^2)."""
        return self.constants.tile_area_m2

    @property
    def adc_mux(self) -> int:
        """Columns sharing one ADC, ``ceil(xbar_cols / adcs_per_xbar)``."""
        return self.constants.adc_mux

    @property
    def cell_read_energy_j(self) -> float:
        """Energy of one cell read, ``V^2 / R_read * t_read`` (J); R_read is effective."""
        return self.constants.cell_read_energy_j

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str = "set") -> Hardware:
        """Return a copy with parameters or options replaced.

        ``source`` names where the overrides came from in errors (a spec field, ``--set``).

        ``xbar_size`` is a shorthand for ``xbar_rows`` and ``xbar_cols`` (ADC and DAC counts per
        crossbar unchanged).

        Raises:
            PresetError: On an unknown key or a value out of range; names the key and the
                allowed values.

        """
        if not overrides:
            return self
        parameters = dict(self.parameters)
        options = dict(self.options)
        for key, raw in overrides.items():
            if key == "xbar_size":
                size = _coerce_parameter("xbar_rows", raw, source=source)
                parameters["xbar_rows"] = parameters["xbar_cols"] = size
            elif key in OPTION_CHOICES:
                options[key] = _coerce_option(key, raw, source=source)
            elif key in parameters:
                parameters[key] = _coerce_parameter(key, raw, source=source)
            else:
                raise PresetError(
                    f"unknown hardware parameter '{key}'", source=source, field=key,
                    expected="one of xbar_size, "
                    + ", ".join(sorted([*parameters, *options])),
                )
        _check_stuck_rates(parameters, source=source)
        suffix = ",".join(f"{k}={overrides[k]}" for k in sorted(overrides))
        return Hardware(name=f"{self.name}+{suffix}", description=self.description,
                        options=options, parameters=parameters, sources=self.sources,
                        units=self.units)

    def to_dict(self) -> dict[str, Any]:
        """The preset as plain data (for JSON output and the API)."""
        return {
            "name": self.name,
            "description": self.description,
            "options": dict(self.options),
            "parameters": {
                key: {"value": value, "unit": self.units.get(key, ""),
                      "source": self.sources.get(key, "")}
                for key, value in self.parameters.items()
            },
            "derived": {
                "xbar_area_m2": self.xbar_area_m2,
                "tile_area_m2": self.tile_area_m2,
                "adc_mux": self.adc_mux,
                "cell_read_energy_j": self.cell_read_energy_j,
            },
        }


def _coerce_parameter(key: str, raw: Any, *, source: str) -> float:
    value: float
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise PresetError(f"not a number: {raw!r}", source=source, field=key,
                          expected="a number") from None
    if key in INTEGER_PARAMETERS:
        if not value.is_integer() or not 1 <= value <= MAX_COUNT:
            raise PresetError(f"bad value {raw!r}", source=source, field=key,
                              expected=f"an integer 1..{MAX_COUNT}")
        if key == "polarity" and value not in (1, 2):
            raise PresetError(f"bad value {raw!r}", source=source, field=key, expected="1 or 2")
        return int(value)
    if not math.isfinite(value) or value < 0 or (key in POSITIVE_PARAMETERS and value == 0):
        bound = "> 0" if key in POSITIVE_PARAMETERS else ">= 0"
        raise PresetError(f"bad value {raw!r}", source=source, field=key,
                          expected=f"a finite number {bound}")
    if key in FRACTION_PARAMETERS and value > 1:
        raise PresetError(f"bad value {raw!r}", source=source, field=key,
                          expected="a fraction of cells, 0..1")
    return value


def _check_stuck_rates(parameters: Mapping[str, float], *, source: str) -> None:
    """Stuck-on and stuck-off cells are disjoint, so their rates add up to at most 1."""
    total = sum(parameters.get(key, 0.0) for key in FRACTION_PARAMETERS)
    if total > 1:
        raise PresetError(f"stuck-at rates add up to {total:g}", source=source,
                          field="cell_stuck_on_rate",
                          expected="cell_stuck_on_rate + cell_stuck_off_rate <= 1")


def _coerce_option(key: str, raw: Any, *, source: str) -> str:
    value = str(raw).lower() if isinstance(raw, bool | str) else None
    if value not in OPTION_CHOICES[key]:
        raise PresetError(f"bad value {raw!r}", source=source, field=key,
                          expected="one of " + ", ".join(OPTION_CHOICES[key]))
    return value


def _parse_preset(data: Any, source: str, required: frozenset[str] | None) -> Hardware:
    if not isinstance(data, Mapping):
        raise PresetError("a preset must be a mapping", source=source,
                          expected="keys name, description, options, parameters")
    unknown = set(data) - {"name", "description", "options", "parameters"}
    if unknown:
        raise PresetError(f"unknown key(s) {sorted(unknown)}", source=source,
                          expected="name, description, options, parameters")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise PresetError("missing or empty", source=source, field="name",
                          expected="a non-empty string")
    raw_options = data.get("options") or {}
    if not isinstance(raw_options, Mapping):
        raise PresetError("must be a mapping", source=source, field="options")
    options = {}
    for key in OPTION_CHOICES:
        if key not in raw_options:
            raise PresetError("missing option", source=source, location=("options",), field=key,
                              expected="one of " + ", ".join(OPTION_CHOICES[key]))
        options[key] = _coerce_option(key, raw_options[key], source=source)
    extra = set(raw_options) - set(OPTION_CHOICES)
    if extra:
        raise PresetError(f"unknown option(s) {sorted(extra)}", source=source,
                          expected="only " + ", ".join(OPTION_CHOICES))
    raw_parameters = data.get("parameters")
    if not isinstance(raw_parameters, Mapping) or not raw_parameters:
        raise PresetError("missing or empty", source=source, field="parameters",
                          expected="a mapping of name -> {value, unit, source}")
    parameters: dict[str, float] = {}
    units: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, entry in raw_parameters.items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise PresetError("bad entry", source=source, location=("parameters",), field=key,
                              expected="{value, unit, source}")
        parameters[key] = _coerce_parameter(key, entry["value"], source=source)
        units[key] = str(entry.get("unit", ""))
        sources[key] = str(entry.get("source", ""))
    if required is not None:
        for key, (value, unit, why) in OPTIONAL_PARAMETERS.items():
            if key not in parameters:
                parameters[key], units[key], sources[key] = value, unit, why
        missing = required - set(parameters)
        if missing:
            raise PresetError(f"missing parameter(s) {sorted(missing)}", source=source,
                              field="parameters", expected="every parameter of the mnsim preset")
        extra_parameters = set(parameters) - required
        if extra_parameters:
            raise PresetError(f"unknown parameter(s) {sorted(extra_parameters)}", source=source,
                              field="parameters",
                              expected="only the parameters of the mnsim preset")
    _check_stuck_rates(parameters, source=source)
    return Hardware(name=name, description=str(data.get("description", "")), options=options,
                    parameters=parameters, sources=sources, units=units)


def _read_yaml(path: Path, source: str) -> Any:
    try:
        return load_document_text(path.read_text(encoding="utf-8"))  # no YAML aliases
    except OSError as exc:
        raise PresetError(f"cannot read preset file ({exc.strerror})", source=source) from None
    except ValueError as exc:
        raise PresetError(str(exc), source=source) from None


@cache
def _builtin(name: str) -> Hardware:
    path = PRESET_DIR / f"{name}.yaml"
    required = None if name == "mnsim" else _required_parameters()
    return _parse_preset(_read_yaml(path, str(path)), str(path), required)


def _required_parameters() -> frozenset[str]:
    return frozenset(_builtin("mnsim").parameters)


def hardware_from_dict(data: Any, *, source: str = "preset") -> Hardware:
    """Build a preset from a document in the preset file format (e.g. inline in a spec).

    Raises:
        PresetError: Naming ``source``, the field and what was expected; every parameter of
            the ``mnsim`` preset must be given, and no other.

    """
    return _parse_preset(data, source, _required_parameters())


def load_hardware(name_or_path: str | Path = "mnsim",
                  overrides: Mapping[str, Any] | None = None, *,
                  source: str = "--set") -> Hardware:
    """Load a built-in preset by name, or a user preset file, and apply overrides.

    Args:
        name_or_path: ``mnsim`` (default), ``isaac``, a path to a preset YAML file, or to an
            MNSIM 2.0 ``SimConfig.ini`` (read by :func:`epim.cost_model.read_simconfig`).
        overrides: Parameter or option values to replace (``xbar_size`` sets both crossbar
            dimensions).
        source: Where the overrides came from, for error messages.

    Raises:
        PresetError: On an unknown preset, a bad file, or a bad override.

    """
    text = str(name_or_path)
    if text in list_presets():
        hardware = _builtin(text)
    else:
        path = Path(text)
        if not path.exists():
            raise PresetError(f"unknown hardware preset '{text}'", field="hardware",
                              expected="one of " + ", ".join(list_presets()) +
                              " or an existing preset file")
        if path.suffix.lower() == ".ini":  # an MNSIM 2.0 SimConfig.ini
            from epim.cost_model._simconfig import read_simconfig

            data = read_simconfig(path).document
        else:
            data = _read_yaml(path, text)
        hardware = _parse_preset(data, text, _required_parameters())
    return hardware.with_overrides(overrides or {}, source=source)


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """Turn ``["key=value", ...]`` (the CLI's ``--set``) into a mapping.

    Raises:
        PresetError: If an item has no ``=``.

    """
    result: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PresetError(f"bad assignment {item!r}", source="--set",
                              expected="KEY=VALUE, e.g. xbar_rows=128")
        result[key.strip()] = value.strip()
    return result
