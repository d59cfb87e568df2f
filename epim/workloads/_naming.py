"""Layer names for imported graphs (ONNX files, traced PyTorch modules), one rule for both.

A conv or linear layer is named after its module's dotted path (``layer1.0.conv1``), so a
design over the imported network applies by name to the user's own module
(``epim.nn.epitomize``). A pooling module is named after its path too; an element-wise add or
a concat (a function call inside some module's ``forward``) after the module it ran in plus
``.add`` / ``.concat``; repeats get ``_1``, ``_2``, ... in network order. PyTorch's ONNX
exporter scopes node names by module (``/layer1/layer1.0/conv1/Conv``), and ``torch.fx``
records the same modules per node, so both importers name a module's layers alike.
"""

from __future__ import annotations

import re

from epim.workloads._names import MAX_NAME_LENGTH

_BAD = re.compile(r"[^A-Za-z0-9_.:/\-]")
#: Characters kept for a name before a ``_N`` suffix.
_ROOM = MAX_NAME_LENGTH - 6


def scoped(scope: str, base: str) -> str:
    """``scope.base``, or ``base`` at the top level."""
    return f"{scope}.{base}" if scope else base


def torch_scope(node_name: str) -> str:
    """The dotted module path of a node named by PyTorch's ONNX exporter, else ``""``.

    ``/layer2/layer2.0/downsample/downsample.0/Conv`` gives ``layer2.0.downsample.0``: the
    exporter writes each enclosing module's attribute name, a container's children prefixed
    by the container's own name (``layer2.0``, ``downsample.0``); the last part is the
    operator.
    """
    if not node_name.startswith("/"):
        return ""
    parts = [part for part in node_name.split("/") if part][:-1]
    path = previous = ""
    for part in parts:
        if previous and part.startswith(previous + "."):
            path += part[len(previous):]
        else:
            path = f"{path}.{part}" if path else part
        previous = part
    return path


class LayerNamer:
    """Hands out unique, valid layer names (see the module docstring).

    Attributes:
        used: Names given so far (``input`` is reserved).

    """

    def __init__(self) -> None:
        self.used: set[str] = {"input"}

    def module(self, path: str, fallback: str) -> str:
        """A conv, linear or pooling module's name: its dotted path (else ``fallback``)."""
        return self._unique(path or fallback)

    def pool(self, scope: str, base: str) -> str:
        """A pooling call inside module ``scope``: the scope while free, else ``scope.base``."""
        clean = _clean(scope)
        if clean and clean not in self.used:
            return self._unique(clean)
        return self._unique(scoped(scope, base))

    def merge(self, scope: str, base: str) -> str:
        """An add or concat inside module ``scope``: ``scope.base``."""
        return self._unique(scoped(scope, base))

    def _unique(self, name: str) -> str:
        name = _clean(name) or "layer"
        candidate, number = name, 0
        while candidate in self.used:
            number += 1
            candidate = f"{name}_{number}"
        self.used.add(candidate)
        return candidate


def _clean(name: str) -> str:
    """``name`` in the name character set, cut to leave room for a suffix."""
    name = _BAD.sub("_", name)[:_ROOM]
    if name and not (name[0].isascii() and (name[0].isalnum() or name[0] == "_")):
        name = "_" + name[1:]
    return name
