"""Registry of named networks (timm-style): ``list_networks()`` drives parametrized tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from epim.errors import UnknownNameError
from epim.workloads import _zoo
from epim.workloads._layer import Network
from epim.workloads._onnx import load_onnx_network
from epim.workloads._parse import load_network_file, network_from_dict

_FACTORIES: dict[str, Callable[[], dict[str, Any]]] = {}


def register_network(name: str, factory: Callable[[], dict[str, Any]]) -> None:
    """Register a network factory that returns the file-format dict.

    Raises:
        ValueError: If ``name`` is already registered.

    """
    if name in _FACTORIES:
        raise ValueError(f"network '{name}' is already registered")
    _FACTORIES[name] = factory


def list_networks() -> list[str]:
    """Names of all registered networks, sorted."""
    return sorted(_FACTORIES)


@cache
def get_network(name: str) -> Network:
    """Build the registered network ``name`` (cached; networks are immutable).

    Raises:
        UnknownNameError: If no network of that name is registered.

    """
    if name not in _FACTORIES:
        raise UnknownNameError("network", name, list(_FACTORIES))
    return network_from_dict(_FACTORIES[name]())


def resolve_network(name_or_path: str | Path) -> Network:
    """Return a built-in network by name, or load a network file by path.

    A value that names an existing file, or ends in ``.yaml``/``.yml``/``.json``, is read as
    a file (``.onnx``: an ONNX model, converted by :func:`load_onnx_network`); anything else
    must be a registered name. For the CLI, which may read its own user's files; a server
    never resolves a client's path.
    """
    text = str(name_or_path)
    if text in _FACTORIES:
        return get_network(text)
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        return load_onnx_network(path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        return load_network_file(path)
    raise UnknownNameError("network", text, list(_FACTORIES))


for _name, _factory in [
    ("resnet18", _zoo.resnet18),
    ("resnet34", _zoo.resnet34),
    ("resnet50", _zoo.resnet50),
    ("resnet20", _zoo.resnet20),
    ("vgg16", _zoo.vgg16),
    ("vgg8", _zoo.vgg8),
    ("mobilenet_v2", _zoo.mobilenet_v2),
]:
    register_network(_name, _factory)
