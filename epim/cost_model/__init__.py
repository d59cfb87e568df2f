"""The analytic PIM cost model (numpy only): crossbars, area, latency and energy."""

from epim.cost_model._hardware import OPTION_CHOICES, SHORTHANDS, FieldSpec, Hardware
from epim.cost_model._model import (
    ENERGY_COMPONENTS,
    LATENCY_MODES,
    CostBatch,
    CostModel,
    LatencyMode,
    check_latency_mode,
)
from epim.cost_model._presets import (
    PRESET_DIR,
    builtin_preset,
    hardware_from_dict,
    list_presets,
    load_hardware,
    read_simconfig,
    simconfig_to_preset,
)
from epim.cost_model._report import cost_report, report_from_batch
from epim.cost_model._resolve import hardware_from, network_from
from epim.cost_model._simconfig import ImportedPreset

__all__ = [
    "ENERGY_COMPONENTS",
    "LATENCY_MODES",
    "OPTION_CHOICES",
    "PRESET_DIR",
    "SHORTHANDS",
    "CostBatch",
    "CostModel",
    "FieldSpec",
    "Hardware",
    "ImportedPreset",
    "LatencyMode",
    "builtin_preset",
    "check_latency_mode",
    "cost_report",
    "hardware_from",
    "hardware_from_dict",
    "list_presets",
    "load_hardware",
    "network_from",
    "read_simconfig",
    "report_from_batch",
    "simconfig_to_preset",
]
