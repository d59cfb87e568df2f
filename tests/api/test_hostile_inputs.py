"""Requests built to get a 5xx, store too much or guess a key, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from epim import results
from epim.api import create_app
from epim.api._deps import SESSION_COOKIE, new_session, session_token, session_valid
from epim.api._throttle import FailureThrottle
from epim.settings import Settings
from tests.api.conftest import make_settings

SPEC: dict[str, Any] = {"name": "hostile", "objectives": [{"metric": "latency_s"}],
                        "sampler": {"name": "random"}, "budget": {"n_trials": 5}}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def network(*, name: str = "n", layer: str = "c1", **conv: Any) -> dict[str, Any]:
    return {"name": name, "input": [3, 32, 32], "layers": [
        {"name": layer, "type": "conv", "out_channels": 8, "kernel_size": 3, **conv},
        {"name": "fc", "type": "linear", "out_features": 10}]}


def post_text(client: TestClient, path: str, body: Any) -> Any:
    """POST ``body`` as JSON text (``\\ud800`` and ``\\u0000`` escapes kept as JSON has them)."""
    return client.post(path, content=json.dumps(body),
                       headers={"content-type": "application/json"})


HOSTILE_STUDIES = [
    # (network, the body path the 422 names)
    (network(stride=2**31), ["network", "layers", "c1", "stride"]),
    (network(padding=2**31), ["network", "layers", "c1", "padding"]),
    (network(padding=2**28), ["network", "layers", "c1", "padding"]),
    (network(name="a\ud800b"), ["network", "name"]),
    (network(layer="a\ud800b"), ["network", "layers", 0, "name"]),
    (network(name="n" * 300), ["network", "name"]),
    (network(name="a\x00b"), ["network", "name"]),
    (network(layer="a\x00b"), ["network", "layers", 0, "name"]),
    (network(layer="=cmd|' /C calc'!A0"), ["network", "layers", "[0]", "name"]),
]


@pytest.fixture
def unchecked(settings: Settings) -> Iterator[TestClient]:
    """The app on a fresh database of each kind; a server error is an answer, not a raise."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_hostile_networks_get_422_at_their_path(unchecked: TestClient) -> None:
    for net, loc in HOSTILE_STUDIES:  # one database of each kind for all of them
        response = post_text(unchecked, "/studies", {**SPEC, "network": net})
        assert response.status_code == 422, response.text
        assert any(error["loc"] == ["body", *loc] for error in response.json()["detail"]), \
            response.json()
        evaluated = post_text(unchecked, "/evaluate", {"network": net})
        assert evaluated.status_code == 422, evaluated.text
    assert results.count_studies(unchecked.app.state.settings.database_url) == 0


HOSTILE_EVALUATIONS = [
    ({"network": "resnet20", "design": {"default": {"in_ratio": float("nan")}}},
     ["body", "design", "layers", "conv1", "in_ratio"]),
    ({"network": "resnet20", "design": {"layers": {"conv1": {"channel_offsets": "x"}}}},
     ["body", "design", "layers", "conv1", "channel_offsets"]),
    ({"network": "resnet20", "hardware": {"name": "p\ud800"}}, ["body", "hardware", "name"]),
    ({"network": "resnet20", "set": {"k\x00": 1}}, ["body", "set", "k\\x00"]),
]
NUL_QUERIES = ["/studies?name=a%00b", "/studies?status=queued%00",
               "/studies/1/trials?sort=latency_s%00", "/studies?name=%00&limit=5"]


def test_hostile_evaluations_and_queries_get_422(unchecked: TestClient) -> None:
    for body, loc in HOSTILE_EVALUATIONS:
        text = json.dumps(body)  # NaN as the JSON literal a client may send
        response = unchecked.post("/evaluate", content=text,
                                  headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [loc], response.json()
    for query in NUL_QUERIES:
        response = unchecked.get(query)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["detail"][0]["loc"][0] == "query"


def test_a_chunked_oversized_body_gets_413(unchecked: TestClient) -> None:
    limit = unchecked.app.state.settings.max_body_bytes

    def chunks(total: int) -> Iterator[bytes]:
        body = json.dumps({**SPEC, "network": "resnet20", "pad": "x" * total}).encode()
        for start in range(0, len(body), 16_384):
            yield body[start:start + 16_384]

    response = unchecked.post("/studies", content=chunks(limit + 10),
                              headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert str(limit) in response.json()["detail"]
    small = unchecked.post("/studies", content=chunks(10),
                           headers={"content-type": "application/json"})
    assert small.status_code == 422  # read whole, then judged: "pad" is no spec field
    ok = unchecked.post("/studies", content=iter([json.dumps(
        {**SPEC, "network": "resnet20"}).encode()]), headers={"content-type": "application/json"})
    assert ok.status_code == 202, ok.text


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    results.upgrade(url)
    settings = make_settings(url, api_key="write-secret", api_read_key="read-secret",
                             login_failures_per_minute=3, session_s=600, cookie_secure=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_login_failures_are_limited_per_client(keyed: TestClient) -> None:
    codes = [keyed.post("/ui/login", content="key=guess", headers=FORM,
                        follow_redirects=False).status_code for _ in range(4)]
    assert codes == [303, 303, 303, 429]
    blocked = keyed.post("/ui/login", content="key=read-secret", headers=FORM,
                         follow_redirects=False)
    assert blocked.status_code == 429 and 0 < int(blocked.headers["retry-after"]) <= 60
    assert SESSION_COOKIE not in blocked.cookies  # the right key waits too


def forged(token: str) -> str:
    """``token`` with its last signature digit changed (always: one in 16 already ends in 0)."""
    return token[:-1] + ("1" if token.endswith("0") else "0")


def test_the_session_cookie_expires_and_is_secure_when_told(keyed: TestClient) -> None:
    login = keyed.post("/ui/login", content="key=read-secret", headers=FORM,
                       follow_redirects=False)
    header = login.headers["set-cookie"]
    assert "Max-Age=600" in header and "Secure" in header and "HttpOnly" in header
    cookie = login.cookies[SESSION_COOKIE]
    settings = keyed.app.state.settings
    now = time.time()
    assert session_valid(settings, cookie, now)
    assert not session_valid(settings, cookie, now + 601)  # refused after its lifetime
    keyed.cookies.clear()
    for stale in (new_session("read-secret", -1),  # expired
                  new_session("read-secret", 10 * 86400),  # longer than EPIM_SESSION_S
                  forged(session_token("read-secret", int(now) + 60)),  # forged
                  cookie.replace(cookie.split(".")[0], str(int(now) + 86400)),  # extended
                  "a" * 64):  # a cookie of the old, never-expiring form
        keyed.cookies.set(SESSION_COOKIE, stale)
        assert keyed.get("/studies").status_code == 401, stale
    keyed.cookies.set(SESSION_COOKIE, cookie)
    assert keyed.get("/studies").status_code == 200


def test_the_throttle_forgets_after_its_window() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=2, window_s=60, max_clients=2, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 60 and throttle.retry_after("b") is None
    now[0] = 30.0
    assert throttle.retry_after("a") == 30
    now[0] = 60.5
    assert throttle.retry_after("a") is None
    for client in ("b", "c", "d"):  # at most max_clients remembered: the oldest go
        throttle.failed(client)
        throttle.failed(client)
    assert throttle.retry_after("b") is None and throttle.retry_after("d") is not None


def test_the_new_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIM_MAX_PROXY_BYTES", "1000")
    monkeypatch.setenv("EPIM_MAX_STUDY_BYTES", "2000")
    monkeypatch.setenv("EPIM_COOKIE_SECURE", "")
    monkeypatch.setenv("EPIM_SESSION_S", "60")
    settings = Settings()
    assert settings.limits().max_proxy_bytes == 1000
    assert settings.limits().max_study_bytes == 2000
    assert settings.cookie_secure is None and settings.session_s == 60
    monkeypatch.setenv("EPIM_COOKIE_SECURE", "true")
    assert Settings().cookie_secure is True
    assert Settings().login_failures_per_minute == 10


def test_text_deep_in_a_free_form_document_is_checked(unchecked: TestClient) -> None:
    deep: Any = "\ud800"
    for _ in range(200):
        deep = {"k": deep}
    response = post_text(unchecked, "/studies", {**SPEC, "network": "resnet20",
                                                 "hardware": {"preset": {"name": "p", **deep}}})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:4] == ["body", "hardware", "preset", "k"]


def test_a_sampler_asked_for_more_parameters_than_it_handles_gets_422(
        unchecked: TestClient) -> None:
    """gp over ResNet-50's searched parameters would stall a runner: refused at the door."""
    response = post_text(unchecked, "/studies", {**SPEC, "network": "resnet50",
                                                 "sampler": {"name": "gp"}})
    assert response.status_code == 422, response.text
    assert any(error["loc"][:2] == ["body", "sampler"] and "at most" in error["msg"]
               for error in response.json()["detail"]), response.json()
    assert results.count_studies(unchecked.app.state.settings.database_url) == 0
