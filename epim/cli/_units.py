"""Engineering units for people: the one formatter of every table the CLI prints.

Stored values and the JSON/CSV outputs stay in unprefixed SI (m^2, s, J); tables show them
with a prefix chosen per quantity (the units of ``epim cost``: mm^2, ms, uJ) so that a column
reads ``186.610 mm^2`` rather than ``0.00018661``. A metric's unit is the metric registry's
(:mod:`epim.metrics`, ``MetricInfo.table_unit``); this module adds the columns that are not
metrics (elapsed time, hypervolume, per-component energies).
"""

from __future__ import annotations

from typing import Any

from epim.metrics import REGISTRY, TABLE_UNITS, DisplayUnit

#: The quantities' table units under the names ``epim cost`` uses.
AREA = TABLE_UNITS["area"]
LATENCY = TABLE_UNITS["time"]
ENERGY = TABLE_UNITS["energy"]
SECONDS = DisplayUnit(1.0, "s", 1)
PLAIN = DisplayUnit(1.0, "", 4)

#: Columns that are not metrics but have a unit.
OTHER_UNITS: dict[str, DisplayUnit] = {"elapsed_s": SECONDS, "hypervolume": PLAIN}


def unit_of(name: str) -> DisplayUnit | None:
    """The unit a column called ``name`` is shown in (``None``: shown as it is).

    A metric's is the registry's; names that are neither metrics nor in
    :data:`OTHER_UNITS` whose head (before a ``.``) ends in ``_m2`` or ``_j`` are areas and
    energies, so ``energy_breakdown_j.adc`` shows in uJ.
    """
    if name in REGISTRY:
        return REGISTRY[name].table_unit
    if name in OTHER_UNITS:
        return OTHER_UNITS[name]
    head = name.split(".", 1)[0]
    if head.endswith("_m2"):
        return AREA
    if head.endswith("_j"):
        return ENERGY
    return None


def format_quantity(name: str, value: Any) -> str:
    """A number as people read it: in the unit of ``name`` if it has one.

    Integers get thousands separators; other floats 6 significant digits; ``None`` is empty.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    unit = unit_of(name)
    if unit is not None:
        return unit.format(float(value))
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"
