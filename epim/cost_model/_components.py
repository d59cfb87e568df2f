"""MNSIM 2.0's component tables and converter models, shared by the SimConfig import and genes.

``mnsim_tables.yaml`` holds MNSIM's ``ADC_Choice`` and ``DAC_Choice`` components (bits, area,
power, sample rate) and its SRAM buffer classes. A converter becomes preset parameters the
way MNSIM models it (``Hardware_Model/ADC.py`` and ``DAC.py`` at ca39ccb): the latency of one
conversion is ``(bits + 2) / rate`` (a 1-bit ADC ``1 / rate``, the ramp ADC ``2^bits / rate``)
and its energy ``power x latency``. ``epim presets import`` (``ADC_Choice``, ``DAC_Choice``)
and the hardware genes ``adc_choice`` and ``dac_choice`` both go through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TABLES_PATH = Path(__file__).parent / "mnsim_tables.yaml"

#: MNSIM's ramp ADC (its latency is ``2^bits / rate``).
RAMP_ADC_CHOICE = 9

#: A parameter value with the line that says where it came from.
Sourced = tuple[float, str]


@cache
def mnsim_tables() -> dict[str, dict[int, dict[str, Any]]]:
    """MNSIM's component tables: ``adc``, ``dac`` (by choice) and ``buffer`` (by bus width)."""
    data = yaml.safe_load(TABLES_PATH.read_text(encoding="utf-8"))
    return {kind: {int(k): v for k, v in rows.items()} for kind, rows in data.items()}


def adc_parameters(entry: Mapping[str, Any], *, choice: int | None, what: str
                   ) -> dict[str, Sourced]:
    """The ADC parameters of a component, MNSIM's ADC model.

    Args:
        entry: The component (a table row, or a user-defined one): ``bits``, ``area_um2``,
            ``power_w`` and ``rate_gsps`` (1 if absent).
        choice: Its ``ADC_Choice`` (``None`` for a user-defined ADC).
        what: How the component was chosen, for the source lines.

    """
    bits = int(entry["bits"])
    rate = float(entry.get("rate_gsps", 1.0)) * 1e9
    if bits == 1:
        latency, rule = 1 / rate, "1 / sample rate (1-bit)"
    elif choice == RAMP_ADC_CHOICE:
        latency, rule = 2**bits / rate, "2^bits / sample rate (ramp)"
    else:
        latency, rule = (bits + 2) / rate, "(bits + 2) / sample rate"
    return {
        "adc_bits": (bits, f"SimConfig {what}"),
        "adc_latency_s": (latency, f"{rule}, MNSIM's ADC model; {what}"),
        "adc_energy_j": (float(entry["power_w"]) * latency,
                         f"power x latency per conversion, MNSIM's ADC model; {what}"),
        "adc_area_m2": (float(entry["area_um2"]) * 1e-12, what),
    }


def dac_parameters(entry: Mapping[str, Any], *, what: str) -> dict[str, Sourced]:
    """The DAC parameters of a component ``entry``, MNSIM's DAC model (see the module)."""
    bits = int(entry["bits"])
    latency = (bits + 2) / (float(entry.get("rate_gsps", 1.0)) * 1e9)
    return {
        "dac_bits": (bits, f"SimConfig {what}"),
        "dac_latency_s": (latency, f"(bits + 2) / sample rate, MNSIM's DAC model; {what}"),
        "dac_energy_j": (float(entry["power_w"]) * latency,
                         f"power x latency per conversion, MNSIM's DAC model; {what}"),
        "dac_area_m2": (float(entry["area_um2"]) * 1e-12,
                        f"{what} (dacs_per_xbar per crossbar pair of each PE)"),
    }


def table_converter(kind: str, choice: int) -> dict[str, Sourced]:
    """The parameters of MNSIM's ``ADC_Choice`` or ``DAC_Choice`` ``choice`` (``kind``).

    Raises:
        KeyError: If ``choice`` is not in the table.

    """
    entry = mnsim_tables()[kind][choice]
    what = f"{kind.upper()}_Choice = {choice}: MNSIM table, {entry['source']}"
    if kind == "adc":
        return adc_parameters(entry, choice=choice, what=what)
    return dac_parameters(entry, what=what)

