"""The typed hardware description the cost model computes with, built once per preset.

A preset file keeps each constant with its unit and source (``Hardware``); the model needs
them as typed attributes, not string lookups: :class:`HardwareConstants` has one field per
preset parameter, named with its unit (SI, unprefixed), counts as ``int``, and the mapping
options as literals. ``Hardware.constants`` builds it once and caches it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from epim.cost_model._hardware import Hardware
    from epim.cost_model._placement import PlacementOrder


@dataclass(frozen=True)
class HardwareConstants:
    """Every constant of a preset; see ``docs/cost_model.md`` section 7 for their sources.

    Counts and bit-widths are ``int``; every other field is SI with its unit in the name
    (``_s`` seconds, ``_j`` joules, ``_m2`` square metres, ``_v`` volts, ``_ohm`` ohms,
    ``_bps`` bits per second, ``_j_per_bit``); the device non-idealities are fractions
    (``cell_variation`` a relative standard deviation, the stuck-at rates fractions of cells).
    """

    # mapping options (docs/cost_model.md sections 1 and 5)
    row_packing: Literal["kernel", "unrolled"]
    slice_placement: Literal["crossbar", "columns"]
    adc_accounting: Literal["mnsim", "per_column"]
    pooling_tiles: bool
    tile_placement: PlacementOrder
    pe_input_buffers: bool
    # crossbar and cell
    xbar_rows: int
    xbar_cols: int
    polarity: int
    cell_bits: int
    cell_area_m2: float
    row_driver_area_m2: float
    cell_read_latency_s: float
    read_voltage_v: float
    cell_r_read_ohm: float
    # device non-idealities (read by the crossbar-faithful accuracy, not by the cost model)
    cell_variation: float
    cell_stuck_on_rate: float
    cell_stuck_off_rate: float
    # converters
    dac_bits: int
    dacs_per_xbar: int
    dac_latency_s: float
    dac_energy_j: float
    dac_area_m2: float
    adc_bits: int
    adcs_per_xbar: int
    adc_latency_s: float
    adc_energy_j: float
    adc_area_m2: float
    # processing element and tile
    adcs_per_pe: int
    pe_crossbars: int
    xbar_groups: int
    tile_pes: int
    pe_periphery_area_m2: float
    pe_buffer_area_m2: float
    joint_module_area_m2: float
    tile_buffer_area_m2: float
    tile_periphery_area_m2: float
    chip_tile_rows: int
    chip_tile_cols: int
    # digital logic, buffers, interconnect
    digital_clock_s: float
    decoder_latency_s: float
    mux_latency_s: float
    buffer_access_s: float
    buffer_width_bits: int
    buffer_read_energy_j: float
    buffer_write_energy_j: float
    digital_op_energy_j: float
    pooling_unit_latency_s: float
    pooling_units: int
    pooling_window: int
    inter_tile_bandwidth_bps: float
    intra_tile_bandwidth_bps: float
    hop_energy_j_per_bit: float
    # epitome datapath (docs/epitome.md section 5)
    epitome_add_energy_j: float
    epitome_table_lookup_energy_j: float
    epitome_table_latency_s: float

    @classmethod
    def from_hardware(cls, hardware: Hardware) -> HardwareConstants:
        """The constants of a validated preset (every parameter and option is present)."""
        values: dict[str, object] = {}
        for spec in fields(cls):
            if spec.name in hardware.options:
                option = hardware.options[spec.name]
                values[spec.name] = option == "true" if option in ("true", "false") else option
            elif spec.type == "int":
                values[spec.name] = int(hardware.parameters[spec.name])
            else:
                values[spec.name] = float(hardware.parameters[spec.name])
        return cls(**values)  # type: ignore[arg-type]

    # Derived constants (docs/cost_model.md sections 5 and 6).
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
