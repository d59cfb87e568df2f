"""Hardware presets by name or file: the built-in ones, user files and MNSIM ``SimConfig.ini``.

Above both :mod:`epim.cost_model._hardware` (the class) and
:mod:`epim.cost_model._simconfig` (the MNSIM reader), so neither imports the other's loader:
the reader gets the ``mnsim`` preset it completes from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from epim.cost_model._hardware import Hardware
from epim.cost_model._simconfig import ImportedPreset, simconfig_document
from epim.errors import PresetError
from epim.workloads import load_document_text

PRESET_DIR = Path(__file__).parent / "presets"


def list_presets() -> list[str]:
    """Names of the built-in hardware presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


@cache
def builtin_preset(name: str) -> Hardware:
    """The built-in preset ``name`` (read once per process).

    Raises:
        PresetError: If there is no such preset.

    """
    if name not in list_presets():
        raise PresetError(f"unknown hardware preset '{name}'", field="hardware",
                          expected="one of " + ", ".join(list_presets()))
    path = PRESET_DIR / f"{name}.yaml"
    return Hardware.from_document(_read_yaml(path, str(path)), source=str(path))


def hardware_from_dict(data: Any, *, source: str = "preset") -> Hardware:
    """Build a preset from a document in the preset file format (e.g. inline in a spec).

    Raises:
        PresetError: Naming ``source``, the field and what was expected; every parameter of
            the ``mnsim`` preset must be given (but the defaulted ones), and no other.

    """
    return Hardware.from_document(data, source=source)


def load_hardware(name_or_path: str | Path = "mnsim",
                  overrides: Mapping[str, Any] | None = None, *,
                  source: str = "overrides") -> Hardware:
    """Load a built-in preset by name, or a user preset file, and apply overrides.

    Args:
        name_or_path: ``mnsim`` (default), ``isaac``, a path to a preset YAML file, or to an
            MNSIM 2.0 ``SimConfig.ini`` (read by :func:`read_simconfig`).
        overrides: Option or parameter values to replace, and the shorthands of
            ``Hardware.with_overrides`` (``xbar_size`` sets both crossbar dimensions).
        source: Where the overrides came from, for error messages (the CLI: ``--set``).

    Raises:
        PresetError: On an unknown preset, a bad file, or a bad override.

    """
    text = str(name_or_path)
    if text in list_presets():
        hardware = builtin_preset(text)
    else:
        path = Path(text)
        if not path.exists():
            raise PresetError(f"unknown hardware preset '{text}'", field="hardware",
                              expected="one of " + ", ".join(list_presets()) +
                              " or an existing preset file")
        if path.suffix.lower() == ".ini":  # an MNSIM 2.0 SimConfig.ini
            data = read_simconfig(path).document
        else:
            data = _read_yaml(path, text)
        hardware = Hardware.from_document(data, source=text)
    return hardware.with_overrides(overrides or {}, source=source)


def read_simconfig(path: str | Path) -> ImportedPreset:
    """Read ``path`` (MNSIM 2.0's ``SimConfig.ini`` format) into a preset.

    Parameters the file does not determine keep the ``mnsim`` preset's values and sources.

    Raises:
        PresetError: If the file cannot be read, or on an unknown section or key, a bad value,
            or a non-default value of a key the model does not support; the message names
            the key (``section.Key``), its value and what is allowed.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"cannot read SimConfig file ({exc.strerror})",
                          source=str(path)) from None
    return simconfig_to_preset(text, source=str(path), name=path.stem)


def simconfig_to_preset(text: str, *, source: str = "SimConfig.ini",
                        name: str = "simconfig") -> ImportedPreset:
    """Turn the text of a ``SimConfig.ini`` into a preset (see :func:`read_simconfig`)."""
    return simconfig_document(text, base=builtin_preset("mnsim"), source=source, name=name)


def _read_yaml(path: Path, source: str) -> Any:
    try:
        return load_document_text(path.read_text(encoding="utf-8"))  # no YAML aliases
    except OSError as exc:
        raise PresetError(f"cannot read preset file ({exc.strerror})", source=source) from None
    except ValueError as exc:
        raise PresetError(str(exc), source=source) from None
