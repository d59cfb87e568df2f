"""Names and text a client may send.

One pattern for network and layer names, and a check that a document holds no text a database
or a UTF-8 response cannot carry. Network and layer names are stored with every trial of a
study (in its design and its sampler parameters), so their length bounds what a study stores;
their characters keep them usable as CSV column names, PyTorch module keys (``.`` becomes
``__``) and database text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

#: Longest network or layer name (characters).
MAX_NAME_LENGTH = 100
#: Network and layer names: a letter, digit or ``_`` first (so no spreadsheet formula can
#: start with it), then letters, digits and ``_ . - : /``.
NAME_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9_.:/\-]{{0,{MAX_NAME_LENGTH - 1}}}$"
NAME_CHARSET = "letters, digits and _ . - : / (a letter, digit or _ first)"
_NAME = re.compile(NAME_PATTERN)
#: Characters no stored text may hold: NUL (PostgreSQL text refuses it) and lone UTF-16
#: surrogates (no UTF-8 encoding exists for them).
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def is_valid_name(name: object) -> bool:
    """True for a string that ``NAME_PATTERN`` admits."""
    return isinstance(name, str) and _NAME.match(name) is not None


def unsafe_text(text: str) -> str | None:
    """What makes ``text`` unstorable, or ``None`` if it can be stored and sent as UTF-8.

    The reason reads ``"a NUL character"`` or ``"a lone surrogate (U+D800-DFFF)"``.
    """
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone surrogate (U+D800-DFFF)"


class UnsafeText(NamedTuple):
    """Where a document holds text that cannot be stored, and why.

    Attributes:
        path: Keys (escaped by :func:`printable`) and list indices down to the text.
        reason: What it holds (see :func:`unsafe_text`).
        shown: The text, escaped by :func:`printable`.

    """

    path: tuple[str | int, ...]
    reason: str
    shown: str


def find_unsafe_text(data: Any) -> UnsafeText | None:
    """The first key or string value inside ``data`` that :func:`unsafe_text` refuses.

    Args:
        data: A parsed document (mappings, lists, scalars), searched to any depth.

    Returns:
        Where and why, or ``None`` if every text is safe.

    """
    for path, text in _texts(data):
        reason = unsafe_text(text)
        if reason is not None:
            return UnsafeText(path, reason, printable(text))
    return None


def _texts(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every key and string of ``data`` with its path, depth first (no recursion limit)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, Mapping):
            children: list[tuple[tuple[str | int, ...], Any]] = []
            for key, value in node.items():
                if isinstance(key, str):
                    yield (*path, printable(key)), key
                children.append(((*path, printable(str(key))), value))
            stack.extend(reversed(children))
        elif isinstance(node, list | tuple):
            stack.extend(reversed([((*path, index), value) for index, value in enumerate(node)]))


#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV
#: injection"): ``= + - @``, tab and carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    """``text`` for a CSV cell: prefixed with ``'`` if a spreadsheet would run it as a formula.

    As OWASP's CSV-injection advice says: a cell starting with ``= + - @``, a tab or a
    carriage return is written with a leading single quote, which spreadsheets show as text.
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def printable(text: str) -> str:
    r"""``text`` with NUL and lone surrogates escaped (``\x00``, ``\ud800``): safe to send."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
