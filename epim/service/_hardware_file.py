"""A trial's hardware as a preset file: what ``epim cost --hardware`` reads back.

A trial of a hardware co-search carries hardware genes (crossbar size, ADC, cells, ...); its
hardware is the study's preset (``hardware.set`` applied) with those genes applied, built by
the study's own cost model (``CostModel.variant``), so the file costs the design exactly as
the study did.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from epim import results
from epim.cost_model import Hardware
from epim.service._designs import prepared_study


def trial_hardware(row: results.StudyRow, trial: results.TrialRow) -> Hardware:
    """The hardware the study costed ``trial`` on (the preset with the trial's genes).

    Raises:
        PresetError: If the stored genes no longer fit the preset (naming the gene).

    """
    genes = {str(k): int(v) for k, v in ((trial.design or {}).get("hardware") or {}).items()}
    return prepared_study(row).model.variant(genes)


def hardware_document(hardware: Hardware, *, note: str = "") -> dict[str, Any]:
    """The preset file of ``hardware`` (``Hardware.to_dict`` without the derived values).

    ``note`` is added to the description (where the hardware came from).
    """
    document = hardware.to_dict()
    document.pop("derived", None)
    if note:
        document["description"] = " ".join(p for p in (document["description"], note) if p)
    return document


def hardware_text(document: dict[str, Any], fmt: str) -> str:
    """A preset file (``yaml`` or ``json``) that ``epim cost --hardware`` reads back."""
    if fmt == "json":
        return json.dumps(document, indent=1) + "\n"
    return yaml.safe_dump(document, sort_keys=False, width=200)
