"""The hardware: one typed, frozen description of an accelerator, built once per preset.

:class:`Hardware` has one field per preset constant, named with its unit (SI, unprefixed:
``_s`` seconds, ``_j`` joules, ``_m2`` square metres, ``_v`` volts, ``_ohm`` ohms, ``_bps``
bits per second, ``_j_per_bit``); counts and bit-widths are ``int``, the mapping options
literals. Each field's unit and meaning are its metadata, and what may be written in it comes
from its type: a ``Literal`` of strings (or ``bool``) is a mapping *option*, everything else
a *parameter* whose ``Annotated`` bound (or ``Literal`` of integers) says what is allowed.
The value's citation is per preset (``sources``): the same constant comes from MNSIM in one
preset and from ISAAC in another.

A preset document (``epim/cost_model/presets/*.yaml``, or inline in a study spec) has
``name``, ``description``, ``options`` and ``parameters`` (each ``{value, unit, source}``);
:meth:`Hardware.from_document` reads one, :meth:`Hardware.to_dict` writes one back, and
:meth:`Hardware.with_overrides` applies ``key: value`` overrides (a spec's ``hardware.set``,
the CLI's ``--set``, a design's hardware genes). Loading presets by name or path is
``epim.cost_model._presets``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from epim.cost_model._components import mnsim_tables, table_converter
from epim.cost_model._placement import PlacementOrder
from epim.errors import PresetError

#: Largest value of a count or bit-width parameter (a crossbar of 2^20 rows is already absurd).
MAX_COUNT = 2**20


@dataclass(frozen=True)
class Bound:
    """What a numeric parameter may hold (``Annotated`` metadata of its type).

    Attributes:
        low: Smallest value.
        high: Largest value.
        low_open: ``low`` itself is excluded (``> low``).
        what: The quantity, for messages (e.g. ``a fraction of cells``).

    """

    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    what: str = ""


Count = Annotated[int, Bound(1, MAX_COUNT)]
NonNegative = Annotated[float, Bound(0)]
Positive = Annotated[float, Bound(0, low_open=True)]
Fraction = Annotated[float, Bound(0, 1, what="a fraction of cells")]


def _p(unit: str, what: str) -> dict[str, str]:
    """A parameter field's metadata: its unit and meaning."""
    return {"unit": unit, "what": what}


def _o(what: str) -> dict[str, str]:
    """A mapping-option field's metadata: its meaning."""
    return {"unit": "", "what": what}


@dataclass(frozen=True, kw_only=True)
class Hardware:
    """Every constant of an accelerator; see ``docs/cost_model.md`` section 7 for sources.

    Attributes:
        name: Preset name (``+key=value,...`` when overrides were applied).
        description: Human-readable description.
        sources: Parameter name -> the citation of its value in this preset.

    The other fields are the options and parameters; ``Hardware.field_specs()`` lists them
    with unit, meaning and what each may hold.

    """

    name: str
    description: str = ""
    # mapping options (docs/cost_model.md sections 1, 3 and 5)
    row_packing: Literal["kernel", "unrolled"] = field(metadata=_o(
        "rows: whole kernels per crossbar (MNSIM) or the unrolled Cin*k*k (NeuroSim)"))
    slice_placement: Literal["crossbar", "columns"] = field(metadata=_o(
        "weight bit slices: one crossbar each (MNSIM) or side by side in columns (ISAAC)"))
    adc_accounting: Literal["mnsim", "per_column"] = field(metadata=_o(
        "ADC energy: MNSIM's power x busy time of every ADC of a busy PE, or per used column"))
    pooling_tiles: bool = field(metadata=_o("every pooling layer gets a tile of its own (MNSIM)"))
    tile_placement: PlacementOrder = field(metadata=_o(
        "tile numbering of the chip, MNSIM Tile_Connection 0..3"))
    pe_input_buffers: bool = field(metadata=_o(
        "each PE has an input buffer, charged with the tile's output buffer (MNSIM)"))
    # crossbar and cell
    xbar_rows: Count = field(metadata=_p("1", "crossbar rows (MNSIM Xbar_Size)"))
    xbar_cols: Count = field(metadata=_p("1", "crossbar columns (MNSIM Xbar_Size)"))
    polarity: Literal[1, 2] = field(metadata=_p(
        "1", "crossbars per weight: 2 for a +/- pair (MNSIM Xbar_Polarity), 1 biased"))
    cell_bits: Count = field(metadata=_p("bit", "weight bits per cell"))
    cell_area_m2: NonNegative = field(metadata=_p("m^2", "area of one cell (MNSIM Device_Area)"))
    row_driver_area_m2: NonNegative = field(metadata=_p("m^2", "crossbar periphery per row"))
    cell_read_latency_s: NonNegative = field(metadata=_p(
        "s", "one crossbar read (MNSIM Read_Latency)"))
    read_voltage_v: Positive = field(metadata=_p("V", "read voltage (MNSIM Read_Level)"))
    cell_r_read_ohm: Positive = field(metadata=_p(
        "ohm", "effective resistance of a read cell (MNSIM Device_Resistance)"))
    # device non-idealities (read by the crossbar-faithful accuracy, not by the cost model)
    cell_variation: NonNegative = field(metadata=_p(
        "1", "relative sigma of a cell's conductance (MNSIM Device_Variation / 100)"))
    cell_stuck_on_rate: Fraction = field(metadata=_p(
        "1", "fraction of cells stuck at LRS (MNSIM Device_SAF, second value / 100)"))
    cell_stuck_off_rate: Fraction = field(metadata=_p(
        "1", "fraction of cells stuck at HRS (MNSIM Device_SAF, first value / 100)"))
    # converters
    dac_bits: Count = field(metadata=_p("bit", "input bits per DAC cycle (MNSIM DAC_Choice)"))
    dacs_per_xbar: Count = field(metadata=_p("1", "DACs per crossbar (pair) (MNSIM DAC_Num)"))
    dac_latency_s: NonNegative = field(metadata=_p("s", "one DAC conversion"))
    dac_energy_j: NonNegative = field(metadata=_p("J", "one DAC conversion"))
    dac_area_m2: NonNegative = field(metadata=_p("m^2", "one DAC"))
    adc_bits: Count = field(metadata=_p("bit", "ADC resolution (MNSIM ADC_Choice)"))
    adcs_per_xbar: Count = field(metadata=_p("1", "ADCs per crossbar (pair) (MNSIM ADC_Num)"))
    adc_latency_s: NonNegative = field(metadata=_p("s", "one ADC conversion"))
    adc_energy_j: NonNegative = field(metadata=_p("J", "one ADC conversion"))
    adc_area_m2: NonNegative = field(metadata=_p("m^2", "one ADC"))
    # processing element and tile
    adcs_per_pe: Count = field(metadata=_p("1", "ADCs of one PE"))
    pe_crossbars: Count = field(metadata=_p("1", "crossbars of one PE"))
    xbar_groups: Count = field(metadata=_p(
        "1", "crossbar groups per PE; bit slices fill whole groups (MNSIM Group_Num)"))
    tile_pes: Count = field(metadata=_p("1", "PEs per tile (MNSIM PE_Num)"))
    pe_periphery_area_m2: NonNegative = field(metadata=_p("m^2", "a PE's digital periphery"))
    pe_buffer_area_m2: NonNegative = field(metadata=_p("m^2", "a PE's input buffer"))
    joint_module_area_m2: NonNegative = field(metadata=_p(
        "m^2", "one joint module (PE-output merging adder)"))
    tile_buffer_area_m2: NonNegative = field(metadata=_p("m^2", "a tile's output buffer"))
    tile_periphery_area_m2: NonNegative = field(metadata=_p(
        "m^2", "the rest of a tile (pooling unit, ...)"))
    chip_tile_rows: Count = field(metadata=_p("1", "tile rows of the chip (MNSIM Tile_Num)"))
    chip_tile_cols: Count = field(metadata=_p("1", "tile columns of the chip (MNSIM Tile_Num)"))
    # digital logic, buffers, interconnect
    digital_clock_s: NonNegative = field(metadata=_p(
        "s", "one digital clock (MNSIM Digital_Frequency)"))
    decoder_latency_s: NonNegative = field(metadata=_p("s", "the input decoders of one step"))
    mux_latency_s: NonNegative = field(metadata=_p("s", "the output multiplexers of one step"))
    buffer_access_s: Positive = field(metadata=_p("s", "one buffer access"))
    buffer_width_bits: Count = field(metadata=_p(
        "bit", "bits per buffer access (MNSIM Buffer_Bitwidth)"))
    buffer_read_energy_j: NonNegative = field(metadata=_p("J", "one buffer read"))
    buffer_write_energy_j: NonNegative = field(metadata=_p("J", "one buffer write"))
    digital_op_energy_j: NonNegative = field(metadata=_p(
        "J", "one digital operation (shift-and-add, pooling compare, add)"))
    pooling_unit_latency_s: NonNegative = field(metadata=_p(
        "s", "the pooling unit on one window of pooling_units channels"))
    pooling_units: Count = field(metadata=_p(
        "1", "channels pooled at once (MNSIM Pooling_unit_num)"))
    pooling_window: Count = field(metadata=_p(
        "1", "window values pooled at once (MNSIM Pooling_shape)"))
    add_latency_s: NonNegative = field(metadata=_p(
        "s", "an element-wise add's compute time per output pixel, besides its buffer "
        "accesses (MNSIM Model_latency element_sum: 10 ns)"))
    inter_tile_bandwidth_bps: Positive = field(metadata=_p(
        "bit/s", "between tiles (MNSIM Inter_Tile_Bandwidth)"))
    intra_tile_bandwidth_bps: Positive = field(metadata=_p(
        "bit/s", "inside a tile (MNSIM Intra_Tile_Bandwidth)"))
    hop_energy_j_per_bit: NonNegative = field(metadata=_p("J/bit", "one bit over one router hop"))
    # epitome datapath (docs/epitome.md section 5)
    epitome_add_energy_j: NonNegative = field(metadata=_p("J", "one pre-sum addition"))
    epitome_table_lookup_energy_j: NonNegative = field(metadata=_p(
        "J", "one address-table (IFAT/IFRT/OFAT) lookup"))
    epitome_table_latency_s: NonNegative = field(metadata=_p("s", "one address-table lookup"))
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False,
                                       repr=False)

    # --- the fields as data ---------------------------------------------------------------

    @staticmethod
    def field_specs() -> dict[str, FieldSpec]:
        """Every option and parameter: name -> :class:`FieldSpec`, in declaration order."""
        return dict(_field_specs())

    @property
    def options(self) -> dict[str, str]:
        """The mapping options as a preset document writes them (``true``/``false`` for flags)."""
        return {name: _option_text(getattr(self, name))
                for name, spec in _field_specs().items() if spec.kind == "option"}

    @property
    def parameters(self) -> dict[str, float]:
        """The parameters: name -> value (SI; ``int`` for counts and bit-widths)."""
        return {name: getattr(self, name)
                for name, spec in _field_specs().items() if spec.kind == "parameter"}

    @property
    def units(self) -> dict[str, str]:
        """Parameter name -> unit (from the field metadata)."""
        return {name: spec.unit for name, spec in _field_specs().items()
                if spec.kind == "parameter"}

    # --- derived constants (docs/cost_model.md sections 5 and 6) --------------------------

    @property
    def xbar_area_m2(self) -> float:
        """Area of one crossbar with its row drivers, ``R*C*a_cell + R*a_row_driver`` (m^2)."""
        return (self.xbar_rows * self.xbar_cols * self.cell_area_m2
                + self.xbar_rows * self.row_driver_area_m2)

    @property
    def dacs_per_pe(self) -> int:
        """DACs of one PE: ``dacs_per_xbar`` per crossbar (a +/- pair shares its DACs)."""
        return self.dacs_per_xbar * max(1, self.pe_crossbars // self.polarity)

    @property
    def joint_modules_per_tile(self) -> int:
        """Joint modules (PE-output merging adders) of a tile.

        One per ADC output at every node of the H-tree over its PEs (MNSIM
        ``Tile.calculate_intra_PE_connection``).
        """
        nodes, remaining = 0, self.tile_pes
        while remaining >= 2:
            nodes += -(-remaining // 2)
            remaining //= 2
        return nodes * self.adcs_per_pe

    @property
    def pe_area_m2(self) -> float:
        """Area of one PE: crossbars, ADCs, DACs, digital periphery and input buffer (m^2)."""
        return (self.pe_crossbars * self.xbar_area_m2 + self.adcs_per_pe * self.adc_area_m2
                + self.dacs_per_pe * self.dac_area_m2 + self.pe_periphery_area_m2
                + self.pe_buffer_area_m2)

    @property
    def tile_area_m2(self) -> float:
        """Area of one fully populated tile (m^2; docs/cost_model.md section 6).

        ``PEs x A_PE + joint modules x a_joint + A_tile_buffer + A_tile_periphery``.
        """
        return (self.tile_pes * self.pe_area_m2
                + self.joint_modules_per_tile * self.joint_module_area_m2
                + self.tile_buffer_area_m2 + self.tile_periphery_area_m2)

    @property
    def adc_mux(self) -> int:
        """Columns sharing one ADC, ``ceil(xbar_cols / adcs_per_xbar)``."""
        return max(1, -(-self.xbar_cols // self.adcs_per_xbar))

    @property
    def cell_read_energy_j(self) -> float:
        """Energy of one cell read, ``V^2 / R_read * t_read`` (J); R_read is effective."""
        return self.read_voltage_v ** 2 / self.cell_r_read_ohm * self.cell_read_latency_s

    @property
    def crossbars_per_tile(self) -> int:
        """Crossbars of a fully populated tile."""
        return self.pe_crossbars * self.tile_pes

    # --- documents and overrides ----------------------------------------------------------

    @classmethod
    def from_document(cls, data: Any, *, source: str) -> Hardware:
        """Build the hardware from a preset document (a file's contents, an inline spec).

        Every option and parameter must be given, except those with a default for presets
        written before they existed (:data:`DEFAULTED_PARAMETERS`); a given unit must be the
        field's.

        Raises:
            PresetError: Naming ``source``, the field and what was expected.

        """
        if not isinstance(data, Mapping):
            raise PresetError("a preset must be a mapping", source=source,
                              expected="keys name, description, options, parameters")
        unknown = set(data) - {"name", "description", "options", "parameters"}
        if unknown:
            raise PresetError(f"unknown key(s) {sorted(map(str, unknown))}", source=source,
                              expected="name, description, options, parameters")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise PresetError("missing or empty", source=source, field="name",
                              expected="a non-empty string")
        specs = _field_specs()
        raw_options = data.get("options") or {}
        if not isinstance(raw_options, Mapping):
            raise PresetError("must be a mapping", source=source, field="options")
        values: dict[str, Any] = {}
        for key, spec in specs.items():
            if spec.kind != "option":
                continue
            if key not in raw_options:
                raise PresetError("missing option", source=source, location=("options",),
                                  field=key, expected="one of " + ", ".join(spec.choices))
            values[key] = spec.coerce(raw_options[key], source=source)
        extra = set(raw_options) - set(values)
        if extra:
            raise PresetError(f"unknown option(s) {sorted(map(str, extra))}", source=source,
                              expected="only " + ", ".join(values))
        raw_parameters = data.get("parameters")
        if not isinstance(raw_parameters, Mapping) or not raw_parameters:
            raise PresetError("missing or empty", source=source, field="parameters",
                              expected="a mapping of name -> {value, unit, source}")
        sources: dict[str, str] = {}
        for key, entry in raw_parameters.items():
            found = specs.get(key) if isinstance(key, str) else None
            if found is None or found.kind != "parameter":
                continue  # reported below, with every other unknown parameter
            spec = found
            if not isinstance(entry, Mapping) or "value" not in entry:
                raise PresetError("bad entry", source=source, location=("parameters",),
                                  field=key, expected="{value, unit, source}")
            values[key] = spec.coerce(entry["value"], source=source)
            unit = entry.get("unit")
            if unit not in (None, "", spec.unit):
                raise PresetError(f"unit {unit!r}", source=source, location=("parameters",),
                                  field=key, expected=f"{spec.unit!r} (SI, unprefixed)")
            sources[key] = str(entry.get("source", ""))
        extra = {str(k) for k in raw_parameters} - {k for k, s in specs.items()
                                                     if s.kind == "parameter"}
        if extra:
            raise PresetError(f"unknown parameter(s) {sorted(extra)}", source=source,
                              field="parameters", expected="only the parameters of the "
                              "mnsim preset (epim presets mnsim)")
        for key, default in DEFAULTED_PARAMETERS.items():
            if key not in values:
                value, why = default(values)
                values[key], sources[key] = value, why
        missing = [k for k, s in specs.items() if s.kind == "parameter" and k not in values]
        if missing:
            raise PresetError(f"missing parameter(s) {sorted(missing)}", source=source,
                              field="parameters", expected="every parameter of the mnsim "
                              "preset (epim presets mnsim)")
        _check_stuck_rates(values, source=source)
        return cls(name=name, description=str(data.get("description", "")), sources=sources,
                   **values)

    def to_dict(self) -> dict[str, Any]:
        """The preset document (for JSON output, the API and ``--hardware`` files).

        ``derived`` adds the crossbar and tile areas, the ADC multiplexing and the cell read
        energy; :meth:`from_document` reads the rest back.
        """
        return {
            "name": self.name,
            "description": self.description,
            "options": self.options,
            "parameters": {
                key: {"value": value, "unit": _field_specs()[key].unit,
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

    def with_genes(self, genes: Mapping[str, int]) -> Hardware:
        """A copy with a design's hardware genes applied (a gene of 0: the preset's value).

        The one rule by which a design's genes become its hardware, for its cost
        (``CostModel.variant``) and for the crossbars its accuracy is scored on.

        Raises:
            PresetError: If a gene's value does not fit the preset (naming the gene).

        """
        chosen = {gene: value for gene, value in sorted(genes.items()) if value}
        return self.with_overrides(chosen, source="hardware genes") if chosen else self

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str) -> Hardware:
        """Return a copy with options or parameters replaced.

        Keys are option and parameter names, and the shorthands of :data:`SHORTHANDS`
        (``xbar_size``, ``adc_choice``, ``dac_choice``, ``crossbars_per_pe``), which set
        several parameters at once and are applied first (so a parameter given by name
        wins). Each changed parameter's source names ``source``.

        Args:
            overrides: Key -> value (numbers, or text as the CLI reads it).
            source: Where the overrides came from, for errors and sources (a spec field,
                ``--set``, a design's ``hardware``).

        Raises:
            PresetError: On an unknown key or a value out of range; names the key and the
                allowed values.

        """
        if not overrides:
            return self
        specs = _field_specs()
        values: dict[str, Any] = {name: getattr(self, name) for name in specs}
        sources = dict(self.sources)
        for key, raw in overrides.items():
            if key in SHORTHANDS:
                for name, (value, why) in SHORTHANDS[key].apply(values, raw, source).items():
                    values[name], sources[name] = value, why
        for key, raw in overrides.items():
            if key in SHORTHANDS:
                continue
            spec = specs.get(key)
            if spec is None:
                raise PresetError(
                    f"unknown hardware parameter '{key}'", source=source, field=key,
                    expected="one of " + ", ".join(sorted([*SHORTHANDS, *specs])))
            values[key] = spec.coerce(raw, source=source)
            if spec.kind == "parameter":
                sources[key] = f"{source}: {raw}"
        _check_stuck_rates(values, source=source)
        suffix = ",".join(f"{k}={overrides[k]}" for k in sorted(overrides))
        return Hardware(name=f"{self.name}+{suffix}", description=self.description,
                        sources=sources, **values)


@dataclass(frozen=True)
class FieldSpec:
    """One option or parameter of :class:`Hardware`, from its type and metadata.

    Attributes:
        name: The field.
        kind: ``option`` (a mapping strategy) or ``parameter`` (a number).
        unit: The parameter's unit (``""`` for options).
        what: What it is (and the MNSIM key it restates, where there is one).
        integer: Counts and bit-widths.
        choices: The allowed values: option texts, or a parameter's allowed integers
            (empty: any value within ``bound``).
        bound: The numeric range of a parameter.

    """

    name: str
    kind: Literal["option", "parameter"]
    unit: str
    what: str
    integer: bool
    choices: tuple[Any, ...]
    bound: Bound

    @property
    def expected(self) -> str:
        """What the field accepts, in words."""
        bound = self.bound
        if self.kind == "option":
            return "one of " + ", ".join(self.choices)
        if self.choices:
            return " or ".join(map(str, self.choices))
        if self.integer:
            return f"an integer {int(bound.low)}..{int(bound.high)}"
        if bound.high < math.inf:
            return f"{bound.what}, {bound.low:g}..{bound.high:g}"
        return f"a finite number {'>' if bound.low_open else '>='} {bound.low:g}"

    def coerce(self, raw: Any, *, source: str) -> Any:
        """``raw`` as this field's value (text read as the CLI reads it).

        Raises:
            PresetError: Naming the field and :attr:`expected`.

        """
        if self.kind == "option":
            text = str(raw).lower() if isinstance(raw, bool | str) else None
            if text not in self.choices:
                raise PresetError(f"bad value {raw!r}", source=source, field=self.name,
                                  expected=self.expected)
            return text == "true" if self.choices == _FLAG else text
        try:
            if isinstance(raw, bool):
                raise TypeError
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise PresetError(f"not a number: {raw!r}", source=source, field=self.name,
                              expected="a number") from None
        if self.integer:
            if not value.is_integer() or not self.bound.low <= value <= self.bound.high:
                raise PresetError(f"bad value {raw!r}", source=source, field=self.name,
                                  expected=f"an integer {int(self.bound.low)}.."
                                  f"{int(self.bound.high)}")
            if self.choices and int(value) not in self.choices:
                raise PresetError(f"bad value {raw!r}", source=source, field=self.name,
                                  expected=self.expected)
            return int(value)
        low_ok = value > self.bound.low if self.bound.low_open else value >= self.bound.low
        if not math.isfinite(value) or not low_ok:
            raise PresetError(f"bad value {raw!r}", source=source, field=self.name,
                              expected=f"a finite number {'>' if self.bound.low_open else '>='}"
                              f" {self.bound.low:g}")
        if value > self.bound.high:
            raise PresetError(f"bad value {raw!r}", source=source, field=self.name,
                              expected=self.expected)
        return value


_FLAG = ("true", "false")


@cache
def _field_specs() -> dict[str, FieldSpec]:
    """The options and parameters of :class:`Hardware`, from the types (read once)."""
    hints = get_type_hints(Hardware, include_extras=True)
    specs: dict[str, FieldSpec] = {}
    for spec in fields(Hardware):
        if spec.name in ("name", "description", "sources"):
            continue
        hint, bound = hints[spec.name], Bound()
        if get_origin(hint) is Annotated:
            hint, bound = get_args(hint)[0], get_args(hint)[1]
        unit, what = spec.metadata["unit"], spec.metadata["what"]
        if hint is bool:
            specs[spec.name] = FieldSpec(spec.name, "option", "", what, False, _FLAG, bound)
        elif get_origin(hint) is Literal and all(isinstance(a, str) for a in get_args(hint)):
            specs[spec.name] = FieldSpec(spec.name, "option", "", what, False,
                                         get_args(hint), bound)
        elif get_origin(hint) is Literal:  # allowed integers
            specs[spec.name] = FieldSpec(spec.name, "parameter", unit, what, True,
                                         get_args(hint), Bound(1, MAX_COUNT))
        else:
            specs[spec.name] = FieldSpec(spec.name, "parameter", unit, what, hint is int, (),
                                         bound)
    return specs


def option_choices() -> dict[str, tuple[str, ...]]:
    """Option name -> its allowed values, as a preset document writes them."""
    return {name: spec.choices for name, spec in _field_specs().items()
            if spec.kind == "option"}


def _option_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _check_stuck_rates(values: Mapping[str, Any], *, source: str) -> None:
    """Stuck-on and stuck-off cells are disjoint, so their rates add up to at most 1."""
    total = values.get("cell_stuck_on_rate", 0.0) + values.get("cell_stuck_off_rate", 0.0)
    if total > 1:
        raise PresetError(f"stuck-at rates add up to {total:g}", source=source,
                          field="cell_stuck_on_rate",
                          expected="cell_stuck_on_rate + cell_stuck_off_rate <= 1")


def _ideal(_: Mapping[str, Any]) -> tuple[float, str]:
    return 0.0, "default 0 (not in the preset): ideal cells"


def _one_clock(values: Mapping[str, Any]) -> tuple[float, str]:
    return (values.get("digital_clock_s", 0.0),
            "default: one digital clock (not in the preset; what the model charged an "
            "element-wise add before add_latency_s existed)")


#: Parameters a preset document may leave out, and what they then are (from the document's
#: other values): those added after presets without them were written, at the value that
#: keeps such a preset's numbers as they were.
DEFAULTED_PARAMETERS: dict[str, Any] = {
    "cell_variation": _ideal, "cell_stuck_on_rate": _ideal, "cell_stuck_off_rate": _ideal,
    "add_latency_s": _one_clock,
}


@dataclass(frozen=True)
class Shorthand:
    """An override key that sets several parameters consistently (also a hardware gene).

    Attributes:
        name: The key.
        what: What it sets, in words.
        apply: ``(current values, raw value, source) -> {parameter: (value, source line)}``.

    """

    name: str
    what: str
    apply: Any


def _int_value(key: str, raw: Any, source: str, expected: str,
               allowed: tuple[int, ...] | None = None) -> int:
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not value.is_integer() or not 1 <= value <= MAX_COUNT or (
            allowed is not None and int(value) not in allowed):
        raise PresetError(f"bad value {raw!r}", source=source, field=key, expected=expected)
    return int(value)


def _xbar_size(values: Mapping[str, Any], raw: Any, source: str) -> dict[str, tuple[Any, str]]:
    size = _int_value("xbar_rows", raw, source, f"an integer 1..{MAX_COUNT}")
    line = f"{source}: xbar_size = {raw} (converters per crossbar unchanged)"
    return {"xbar_rows": (size, line), "xbar_cols": (size, line)}


def _converter(kind: str) -> Any:
    def apply(values: Mapping[str, Any], raw: Any, source: str) -> dict[str, tuple[Any, str]]:
        table = mnsim_tables()[kind]
        choice = _int_value(f"{kind}_choice", raw, source,
                            f"one of {', '.join(map(str, sorted(table)))} (MNSIM's "
                            f"{kind.upper()} table: {_table_summary(kind)})", tuple(table))
        return {name: (value, f"{source}: {line}")
                for name, (value, line) in table_converter(kind, choice).items()}
    return apply


def _table_summary(kind: str) -> str:
    return ", ".join(f"{k} = {row['bits']}-bit" for k, row in sorted(mnsim_tables()[kind].items()))


def _crossbars_per_pe(values: Mapping[str, Any], raw: Any, source: str
                      ) -> dict[str, tuple[Any, str]]:
    """``N`` crossbars per PE, the ADCs per crossbar kept.

    A PE of whole crossbar groups (``pe_crossbars = xbar_groups x polarity``, MNSIM) gets
    ``N / polarity`` groups.
    """
    old, adcs, polarity = values["pe_crossbars"], values["adcs_per_pe"], values["polarity"]
    grouped = old == values["xbar_groups"] * polarity
    count = _int_value("crossbars_per_pe", raw, source, f"an integer 1..{MAX_COUNT}")
    if grouped and count % polarity:
        raise PresetError(f"bad value {raw!r}", source=source, field="crossbars_per_pe",
                          expected=f"a multiple of {polarity} (whole crossbar groups of "
                          "a +/- pair, MNSIM Group_Num)")
    if (adcs * count) % old:
        raise PresetError(f"bad value {raw!r}", source=source, field="crossbars_per_pe",
                          expected=f"a count giving whole ADCs ({adcs} ADCs per {old} "
                          "crossbars)")
    line = f"{source}: crossbars_per_pe = {count} ({adcs} ADCs per {old} crossbars kept)"
    out: dict[str, tuple[Any, str]] = {"pe_crossbars": (count, line),
                                       "adcs_per_pe": (adcs * count // old, line)}
    if grouped:
        out["xbar_groups"] = (count // polarity, line + "; MNSIM Group_Num")
    return out


#: Override keys that set several parameters; each is also a hardware gene.
SHORTHANDS: dict[str, Shorthand] = {s.name: s for s in (
    Shorthand("xbar_size", "N x N crossbars (xbar_rows, xbar_cols; converters per crossbar "
              "unchanged)", _xbar_size),
    Shorthand("adc_choice", "MNSIM's ADC_Choice table entry: adc_bits, adc_latency_s, "
              "adc_energy_j, adc_area_m2 as MNSIM models the component", _converter("adc")),
    Shorthand("dac_choice", "MNSIM's DAC_Choice table entry: dac_bits, dac_latency_s, "
              "dac_energy_j, dac_area_m2 as MNSIM models the component", _converter("dac")),
    Shorthand("crossbars_per_pe", "pe_crossbars with the ADCs per crossbar kept (adcs_per_pe); "
              "a PE of whole crossbar groups (MNSIM) gets N / polarity groups",
              _crossbars_per_pe),
)}


#: Option name -> its allowed values (as a preset document writes them).
OPTION_CHOICES: dict[str, tuple[str, ...]] = option_choices()
