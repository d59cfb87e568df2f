"""Shared fixtures: the databases every storage-level test runs against."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

#: This machine's PostgreSQL (trust auth, database ``test``); CI runs on the same machine.
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file in a temp dir, and the machine's PostgreSQL (never skipped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'epim.db'}"
    else:
        yield POSTGRES_URL


@pytest.fixture
def unique_name() -> str:
    """A study name no other test (or earlier run on the shared PostgreSQL) uses."""
    return f"t-{uuid.uuid4().hex[:12]}"
