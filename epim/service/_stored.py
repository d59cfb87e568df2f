"""A stored study's spec, parsed once per spec text and kept.

A study's spec is stored as JSON (every default filled in, ``canonical_spec``); readers
(fronts, references, the runner, the CLI) need it as a :class:`~epim.search.StudySpec`.
Validating a whole spec costs about a millisecond and specs never change once stored, so
each stored spec is parsed once (the 64 most recently read are kept). ``StudySpec`` is
frozen: the kept object is shared safely.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from epim import results
from epim.search import StudySpec


def spec_text(document: Mapping[str, Any]) -> str:
    """The text a stored spec is kept under (its keys sorted)."""
    return json.dumps(document, sort_keys=True, default=str)


@functools.lru_cache(maxsize=64)
def parsed_spec(text: str) -> StudySpec:
    """The spec of a :func:`spec_text` (kept per text)."""
    return StudySpec.model_validate(json.loads(text), strict=False)


def spec_of(document: Mapping[str, Any]) -> StudySpec:
    """A stored spec document as a ``StudySpec`` (kept per document).

    Raises:
        pydantic.ValidationError: If this version no longer reads the document.

    """
    return parsed_spec(spec_text(document))


def stored_spec(row: results.StudyRow) -> StudySpec:
    """The study's spec (parsed once per stored spec, then kept)."""
    return spec_of(row.spec)
