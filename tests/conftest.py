"""Shared fixtures: the databases every storage-level test runs against."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

#: This machine's PostgreSQL (trust auth, database ``test``); CI runs on the same machine.
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
POSTGRES_URL = f"{POSTGRES_SERVER}/test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards.

    Created on the machine's server, so queue tests never see another test's studies.
    """
    name = f"epim_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        from epim.results import make_engine

        make_engine(f"{POSTGRES_SERVER}/{name}").dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file in a temp dir, and a fresh PostgreSQL database (never skipped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'epim.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def unique_name() -> str:
    """A study name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


#: The slowest files first (``make test`` keeps this order: --no-loadscope-reorder). With two
#: test processes, a file per process, the long ones then overlap instead of one finishing
#: alone at the end.
SLOW_FIRST = ("tests/deploy/test_topology.py", "tests/service/test_runner.py",
              "tests/service/test_reliability.py",
              "tests/ui/test_browser.py", "tests/api/test_fuzz.py",
              "tests/search/test_driver.py", "tests/search/test_layerwise.py",
              "tests/proxy/test_train.py", "tests/nn/test_build.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the collected tests: ``SLOW_FIRST`` files, then the rest as collected."""
    rank = {path: index for index, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
