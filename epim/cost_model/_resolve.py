"""What a cost is computed on: a network and a hardware preset, from names or documents.

The one resolution of "network + hardware + overrides" that studies (``prepare_study``),
``POST /evaluate`` and ``epim cost`` share: a built-in name or an inline document, and, for
the CLI alone (which may read its own user's files), a file. Errors are located where the
caller wants them reported (``hardware.preset``/``hardware.set`` in a spec, ``hardware`` and
``set`` in a request body, ``--set`` on the command line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from epim.cost_model._hardware import Hardware
from epim.cost_model._presets import hardware_from_dict, list_presets, load_hardware
from epim.errors import InputError, located
from epim.workloads import (
    Network,
    NetworkLimits,
    get_network,
    list_networks,
    network_from_dict,
    resolve_network,
)


def network_from(network: str | Mapping[str, Any], limits: NetworkLimits | None = None,
                    *, files: bool = False) -> Network:
    """A network by built-in name, or from an inline network document within ``limits``.

    The one resolution of a network that studies, ``POST /evaluate`` and ``epim cost``
    share. ``files``: a name may also be a network file (``.yaml``/``.json``/``.onnx``): the
    CLI reads its own user's files; a server never resolves a client's path.

    Raises:
        InputError: On an unknown name (naming the built-in ones), a file that cannot be
            read, or a document that is not a network (located inside it).

    """
    if isinstance(network, str):
        if files:
            return resolve_network(network)
        if network not in list_networks():
            raise InputError(f"unknown network {network!r}", expected="one of "
                             + ", ".join(list_networks()) + " or an inline network document")
        return get_network(network)
    return network_from_dict(network, limits or NetworkLimits())


def hardware_from(preset: str | Mapping[str, Any],
                     overrides: Mapping[str, Any] | None = None, *, files: bool = False,
                     preset_source: str = "hardware.preset", set_source: str = "hardware.set",
                     preset_location: Sequence[str] = ("preset",),
                     set_location: Sequence[str] = ("set",)) -> Hardware:
    """A hardware preset (built-in name or inline document) with ``overrides`` applied.

    The one resolution of hardware that studies (``hardware.preset`` and ``hardware.set``),
    ``POST /evaluate`` and ``epim cost`` share. ``files``: a name may also be a preset file
    or an MNSIM 2.0 ``SimConfig.ini`` (the CLI's own user's files).

    Args:
        preset: A built-in preset's name, or a preset document.
        overrides: Parameters and options to replace (and ``Hardware.with_overrides``'
            shorthands).
        files: Whether ``preset`` may name a file.
        preset_source: What an inline preset's errors call it.
        set_source: What an override's errors call the overrides.
        preset_location: Where the preset's errors are located.
        set_location: Where an override's errors are located.

    Raises:
        InputError: At ``preset_location`` (an unknown name, naming the built-in presets; a
            bad document) or at ``set_location`` (a bad override).

    """
    if isinstance(preset, str):
        if not files and preset not in list_presets():
            raise InputError(f"unknown preset {preset!r}", location=preset_location,
                             expected="one of " + ", ".join(list_presets())
                             + " or an inline preset document")
        base = load_hardware(preset)
    else:
        document = preset
        base = located(preset_location,
                       lambda: hardware_from_dict(document, source=preset_source))
    return located(set_location,
                   lambda: base.with_overrides(overrides or {}, source=set_source))
