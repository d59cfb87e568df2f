"""Read the YAML and JSON documents users write (networks, designs, specs, presets) safely.

A YAML alias refers to an earlier node, so a few lines can stand for a document of billions of
nodes (the "billion laughs"): ``yaml.safe_load`` builds it quickly as shared references, and
the first walk over it (validation, JSON encoding) never ends. No document of ours needs
anchors or aliases, so :func:`load_document_text` refuses them, and reports any syntax
error on one line.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import ComposerError


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors (``&name``) and aliases (``*name``)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, "YAML anchors and aliases (&name, *name) are not "
                                "allowed; write the values out", event.start_mark)
        return super().compose_node(parent, index)


def load_document_text(text: str, *, json_only: bool = False) -> Any:
    """Parse a YAML (or, with ``json_only``, a JSON) document without anchors or aliases.

    Raises:
        ValueError: ``not valid YAML/JSON: <problem> (line L, column C)``, on one line.

    """
    try:
        if json_only:
            return json.loads(text)
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid YAML/JSON: {exc.msg} (line {exc.lineno}, "
                         f"column {exc.colno})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML/JSON: {yaml_problem(exc)}") from None
    except RecursionError:
        raise ValueError("not valid YAML/JSON: nested too deeply") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where (``line L, column C``, 1-based)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return " ".join(f"{problem}{where}".split())
    return " ".join(str(exc).split())
