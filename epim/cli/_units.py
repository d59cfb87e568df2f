"""Engineering units for people: the one formatter of every table the CLI prints.

Stored values and the JSON/CSV outputs stay in unprefixed SI (m^2, s, J); tables show them
with a prefix chosen per quantity (the units of ``epim cost``: mm^2, ms, uJ) so that a column
reads ``186.610 mm^2`` rather than ``0.00018661``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unit:
    """How a quantity is shown: ``value * scale`` with ``decimals`` and ``symbol``."""

    scale: float
    symbol: str
    decimals: int

    def format(self, value: float) -> str:
        """``value`` (SI, unprefixed) in this unit, with thousands separators."""
        text = f"{value * self.scale:,.{self.decimals}f}"
        return f"{text} {self.symbol}" if self.symbol else text


AREA = Unit(1e6, "mm^2", 3)
LATENCY = Unit(1e3, "ms", 4)
ENERGY = Unit(1e6, "uJ", 3)
#: Energy-delay product: 1 uJ x 1 ms = 1e-9 J s.
EDP = Unit(1e9, "uJ*ms", 3)
RATIO = Unit(1.0, "x", 2)
SECONDS = Unit(1.0, "s", 1)
PLAIN = Unit(1.0, "", 4)

#: Quantities by the name a metric, counter or cost-report key has (SI units in the name).
UNITS: dict[str, Unit] = {
    "crossbar_area_m2": AREA, "area_m2": AREA, "latency_s": LATENCY, "energy_j": ENERGY,
    "edp": EDP, "crossbar_area_reduction": RATIO, "energy_reduction": RATIO,
    "latency_reduction": RATIO, "elapsed_s": SECONDS, "hypervolume": PLAIN,
    "accuracy": PLAIN, "accuracy_drop": PLAIN, "robust_accuracy": PLAIN,
}


def unit_of(name: str) -> Unit | None:
    """The unit a column called ``name`` is shown in (``None``: shown as it is).

    Names not in :data:`UNITS` whose head (before a ``.``) ends in ``_m2`` or ``_j`` are
    areas and energies, so ``energy_breakdown_j.adc`` shows in uJ.
    """
    if name in UNITS:
        return UNITS[name]
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
