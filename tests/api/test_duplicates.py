"""Submitting the same spec twice: an Idempotency-Key gives the first study back; without
one a second study is made and ``duplicate_of`` says so (issue 24 item 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epim import results
from epim.cli import app as cli_app
from epim.settings import Settings
from tests.api.test_api import SPEC


def test_a_repeated_spec_is_named_as_a_duplicate(client: TestClient, settings: Settings
                                                 ) -> None:
    first = client.post("/studies", json=SPEC)
    assert first.status_code == 202 and first.json()["duplicate_of"] is None
    second = client.post("/studies", json=SPEC)
    assert second.status_code == 202
    assert second.json()["duplicate_of"] == first.json()["id"] != second.json()["id"]
    # the spec written out in full (defaults spelled) is the same spec
    full = client.get(f"/studies/{first.json()['id']}").json()["spec"]
    assert client.post("/studies", json=full).json()["duplicate_of"] == second.json()["id"]
    other = client.post("/studies", json={**SPEC, "name": "api-study-2"})
    assert other.json()["duplicate_of"] is None  # another name is another study
    changed = client.post("/studies", json={**SPEC, "budget": {"n_trials": 20}})
    assert changed.json()["duplicate_of"] is None
    assert client.get(f"/studies/{first.json()['id']}").json().keys() == {
        *first.json().keys()} - {"duplicate_of"}  # GET keeps its schema
    client.delete(f"/studies/{first.json()['id']}")
    client.delete(f"/studies/{second.json()['id']}")
    left = results.list_studies(settings.database_url, name=SPEC["name"], limit=10).items
    full_id = left[-1].id
    assert [r.id for r in left] == [changed.json()["id"], full_id]
    assert client.post("/studies", json=SPEC).json()["duplicate_of"] == full_id  # deleted: gone


def test_an_idempotency_key_returns_the_first_study(client: TestClient, settings: Settings
                                                    ) -> None:
    key = {"Idempotency-Key": "submit-7f3a"}
    first = client.post("/studies", json=SPEC, headers=key)
    again = client.post("/studies", json=SPEC, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Location"] == f"/studies/{first.json()['id']}"
    assert results.count_studies(settings.database_url) == 1
    reused = client.post("/studies", json={**SPEC, "budget": {"n_trials": 20}}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "another spec" in reused.json()["detail"][0]["msg"]
    other = client.post("/studies", json=SPEC, headers={"Idempotency-Key": "another"})
    assert other.status_code == 202 and other.json()["duplicate_of"] == first.json()["id"]
    assert client.post(f"/studies/{first.json()['id']}/cancel").status_code == 200
    assert client.delete(f"/studies/{first.json()['id']}").status_code == 204
    gone = client.post("/studies", json=SPEC, headers=key)
    assert gone.status_code == 422 and "was deleted" in gone.json()["detail"][0]["msg"]
    assert results.count_studies(settings.database_url) == 1


def test_a_replay_is_answered_when_the_queue_is_full(tmp_path: Path) -> None:
    from epim.api import create_app
    from tests.api.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'full.db'}"
    results.upgrade(url)
    with TestClient(create_app(make_settings(url, max_queued=1))) as c:
        key = {"Idempotency-Key": "k"}
        first = c.post("/studies", json=SPEC, headers=key)
        assert c.post("/studies", json={**SPEC, "name": "b"}).status_code == 429
        again = c.post("/studies", json=SPEC, headers=key)
        assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


def test_epim_submit_says_so(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> None:
    """``epim submit`` against the app (its requests go to the app in this process)."""
    import httpx

    monkeypatch.setattr(httpx, "post", lambda url, timeout=None, **kwargs: client.post(
        url.removeprefix("http://testserver"), **kwargs))
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    cli = CliRunner()

    def submit(*extra: str) -> Any:
        result = cli.invoke(cli_app, ["submit", str(spec), "--url", "http://testserver",
                                      *extra])
        assert result.exit_code == 0, result.output
        return result

    first = submit()
    assert "note:" not in first.stderr
    second = submit()
    assert "note: study 1 has the same spec" in second.stderr
    assert second.stdout.startswith("study 2 ")
    keyed = submit("--idempotency-key", "k-1")
    again = submit("--idempotency-key", "k-1")
    assert keyed.stdout.split()[1] == again.stdout.split()[1] == "3"
    assert "submitted before with this --idempotency-key" in again.stdout
