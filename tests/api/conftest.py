from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from epim.api import Settings, create_app
from epim.service import prepare_database


@pytest.fixture
def settings(database_url: str) -> Settings:
    prepare_database(database_url)
    return Settings(database_url=database_url, max_trials=500, max_queued=5,
                    max_body_bytes=200_000, heartbeat_s=0.5, stale_after_s=30)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[TestClient]:
    keyed = replace(settings, api_key="write-secret", read_key="read-secret")
    with TestClient(create_app(keyed)) as test_client:
        yield test_client
