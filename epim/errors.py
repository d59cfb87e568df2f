"""The one error hierarchy of EPIM Search.

Every error names what was wrong (a file, a layer, a field) and what was expected, so that a
CLI can print it on one line and an API can turn it into a 422 with a path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class EpimError(Exception):
    """Base class of every error EPIM Search raises on purpose."""


class InputError(EpimError, ValueError):
    """Bad user input: a network, design, preset or option that cannot be used.

    Attributes:
        source: Where the input came from (a file path, ``"--set"``, ...), or ``None``.
        location: Path to the offending item inside the source, e.g. ``("layers", "conv1")``.
        field: The offending field, or ``None``.
        expected: What would have been accepted, in words.

    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        location: Sequence[str] = (),
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.location = tuple(location)
        self.field = field
        self.expected = expected
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.location:
            where.append(".".join(self.location))
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ": ".join(where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def with_source(self, source: str) -> InputError:
        """Return a copy of this error that names ``source`` (e.g. the file it came from)."""
        return InputError(
            self.message,
            source=source,
            location=self.location,
            field=self.field,
            expected=self.expected,
        )


def located(prefix: Sequence[str], build: Callable[[], T]) -> T:
    """Run ``build``; re-raise its :class:`InputError` located under ``prefix``.

    E.g. a preset's error at ``("xbar_size",)`` becomes ``("hardware", "xbar_size")``, so an
    API reports it at the request field that carried the preset.
    """
    try:
        return build()
    except InputError as exc:
        raise InputError(exc.message, location=(*prefix, *exc.location), field=exc.field,
                         expected=exc.expected) from None


class NetworkError(InputError):
    """A network description that cannot be built (bad field, shape mismatch, ...)."""


class DesignError(InputError):
    """A design that does not fit its network (unknown layer, epitome too large, bad bits)."""


class PresetError(InputError):
    """A hardware preset or override that is missing, unknown or out of range."""


class UnknownNameError(InputError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __init__(self, kind: str, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown {kind} '{name}'",
            expected="one of " + ", ".join(sorted(known)),
        )

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0] if self.args else ""
