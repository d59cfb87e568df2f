from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from epim import results
from epim.api import create_app
from epim.settings import Settings


def make_settings(url: str, **changes: object) -> Settings:
    values: dict[str, object] = {"database_url": url, "max_trials": 500, "max_queued": 5,
                                 "max_body_bytes": 200_000, "heartbeat_s": 0.5,
                                 "stale_after_s": 30, **changes}
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A fresh, migrated database of each kind (SQLite and PostgreSQL)."""
    results.upgrade(database_url)
    return make_settings(database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app on one SQLite database for the tests that only check requests at the door."""
    url = f"sqlite:///{tmp_path_factory.mktemp('checks') / 'epim.db'}"
    results.upgrade(url)
    with TestClient(create_app(make_settings(url, max_queued=10_000))) as test_client:
        yield test_client


@pytest.fixture
def keyed_client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    results.upgrade(url)
    keyed = make_settings(url, api_key="write-secret", api_read_key="read-secret")
    with TestClient(create_app(keyed)) as test_client:
        yield test_client
