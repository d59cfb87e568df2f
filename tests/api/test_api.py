"""The REST API over SQLite and PostgreSQL, with a real in-process runner."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from epim import results
from epim.api import create_app
from epim.service import Runner
from epim.settings import Settings

SPEC: dict[str, Any] = {
    "name": "api-study", "network": "resnet20",
    "space": {"epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 10},
    "budget": {"n_trials": 30}, "batch_size": 10,
}


def run_queue(settings: Settings, until: float = 120) -> None:
    runner = Runner(database_url=settings.database_url, poll_s=0.1, heartbeat_s=0.5)
    runner.start()
    deadline = time.monotonic() + until
    try:
        while time.monotonic() < deadline:
            page = results.list_studies(settings.database_url, limit=100)
            if all(r.status in results.FINISHED for r in page.items):
                return
            time.sleep(0.2)
        raise AssertionError("studies did not finish")
    finally:
        runner.stop()


def test_submit_run_and_browse(client: TestClient, settings: Settings) -> None:
    response = client.post("/studies", json=SPEC)
    assert response.status_code == 202
    study = response.json()
    assert response.headers["location"] == f"/studies/{study['id']}"
    assert study["status"] == "queued" and study["progress"]["n_trials"] == 30
    run_queue(settings)
    done = client.get(f"/studies/{study['id']}").json()
    assert done["status"] == "completed" and done["finished_at"]
    assert done["progress"]["completed"] == 30
    assert done["baseline"]["crossbars"] > 0 and done["spec"]["name"] == "api-study"
    listed = client.get("/studies", params={"status": "completed"}).json()
    summary = next(s for s in listed["items"] if s["id"] == study["id"])
    assert "spec" not in summary and summary["network"] == "resnet20"
    assert set(summary["best"]) == {"crossbar_area_m2", "latency_s"}  # filled in listings too
    assert summary["best"] == done["best"]

    trials = client.get(f"/studies/{study['id']}/trials",
                        params={"sort": "latency_s", "limit": 5}).json()
    assert trials["total"] == 30 and len(trials["items"]) == 5
    latencies = [t["values"]["latency_s"] for t in trials["items"]]
    assert latencies == sorted(latencies)
    feasible = client.get(f"/studies/{study['id']}/trials", params={"feasible": "true",
                                                                    "limit": 100}).json()
    assert all(t["feasible"] for t in feasible["items"])

    detail = client.get(f"/studies/{study['id']}/trials/{trials['items'][0]['number']}").json()
    assert len(detail["layers"]) == 32 and sum(x["crossbars"] for x in detail["layers"]) == \
        detail["values"]["crossbars"]
    assert detail["design"]["network"] == "resnet20"
    assert detail["design"]["layers"]["conv1"]["weight_bits"] == 8  # frozen, by name

    pareto = client.get(f"/studies/{study['id']}/pareto").json()
    assert [o["metric"] for o in pareto["objectives"]] == ["crossbar_area_m2", "latency_s"]
    assert pareto["trials"] and pareto["hypervolume"] == done["hypervolume"]
    for t in pareto["trials"]:
        assert t["values"]["crossbar_area_reduction"] >= 3
    projected = client.get(f"/studies/{study['id']}/pareto",
                           params={"x": "latency_s", "y": "crossbar_area_m2"}).json()
    assert [o["metric"] for o in projected["objectives"]] == ["latency_s", "crossbar_area_m2"]
    alone = client.get(f"/studies/{study['id']}/pareto", params={"y": "latency_s"}).json()
    assert [o["metric"] for o in alone["objectives"]] == ["crossbar_area_m2", "latency_s"]
    one = client.get(f"/studies/{study['id']}/pareto", params={"x": "latency_s",
                                                              "y": "latency_s"}).json()
    assert len(one["trials"]) == 1  # one objective: the single best trial
    assert one["hypervolume"] != pareto["hypervolume"]  # the projection's own

    svg = client.get(f"/studies/{study['id']}/pareto.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert 'class="front"' in svg.text
    csv_text = client.get(f"/studies/{study['id']}/export", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("number,state,feasible,on_front")
    assert len(csv_text.strip().splitlines()) == 31
    exported = client.get(f"/studies/{study['id']}/export", params={"format": "json"}).json()
    assert len(exported["trials"]) == 30

    page = client.get(f"/ui/studies/{study['id']}")
    assert page.status_code == 200 and "api-study" in page.text
    redirect = client.get(f"/studies/{study['id']}", headers={"accept": "text/html"},
                          follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/ui/")

    assert client.delete(f"/studies/{study['id']}").status_code == 204
    assert client.get(f"/studies/{study['id']}").status_code == 404


def test_cancel_queued_and_conflicting_delete(client: TestClient, settings: Settings) -> None:
    study = client.post("/studies", json=SPEC).json()
    cancelled = client.post(f"/studies/{study['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    running = results.create_study(settings.database_url, name="r", spec=SPEC, n_trials=30)
    claimed = results.claim_study(settings.database_url, "someone", running.id)
    assert claimed is not None
    assert client.delete(f"/studies/{running.id}").status_code == 409
    assert client.post(f"/studies/{running.id}/cancel").json()["cancel_requested"] is True


def test_catalog_and_evaluate(checks: TestClient) -> None:
    names = [n["name"] for n in checks.get("/networks").json()]
    assert "resnet50" in names
    vgg8 = checks.get("/networks/vgg8").json()
    assert vgg8["layers"][0]["out_hw"] == [32, 32]
    assert {p["name"] for p in checks.get("/hardware").json()} == {"mnsim", "isaac"}
    report = checks.post("/evaluate", json={"network": "vgg8"}).json()
    assert report["crossbars"] == 2544 and report["tiles"] == 322
    from epim.cost_model import cost_report, load_hardware
    from epim.space import Design
    from epim.workloads import get_network

    net = get_network("vgg8")
    expected = cost_report(net, Design.dense(net), load_hardware("mnsim"))
    assert report["energy_j"] == pytest.approx(expected["energy_j"], rel=1e-12)
    designed = checks.post("/evaluate", json={
        "network": "resnet50", "baseline_bits": 16,
        "design": {"default": {"weight_bits": 3, "act_bits": 8, "in_ratio": 4}}}).json()
    assert designed["crossbar_area_reduction"] > 4
    inline = load_hardware("isaac").to_dict()
    inline.pop("derived")
    isaac = checks.post("/evaluate", json={"network": "vgg8", "hardware": inline}).json()
    assert isaac["crossbars"] == checks.post("/evaluate", json={
        "network": "vgg8", "hardware": "isaac"}).json()["crossbars"]


def test_health(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok"


def test_health_without_a_database_is_503_and_names_no_host() -> None:
    settings = Settings(database_url="postgresql+psycopg://epim:secret@db.invalid:5432/epim")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert "unavailable (OperationalError)" in response.json()["database"]
        assert "db.invalid" not in response.text and "secret" not in response.text
        listing = client.get("/studies")
        assert listing.status_code == 503 and "db.invalid" not in listing.text


BAD_BODIES = [
    ({**SPEC, "sampler": {"name": "cmaes"}}, ["body", "sampler", "name"], "nsga2"),
    ({**SPEC, "objectives": [{"metric": "speed"}]}, ["body", "objectives", 0, "metric"],
     "crossbars"),
    ({**SPEC, "budget": {"n_trials": 501}}, ["body", "budget", "n_trials"], "at most 500"),
    ({**SPEC, "network": "resnet99"}, ["body", "network"], "resnet18"),
    ({**SPEC, "extra": 1}, ["body", "extra"], "Extra inputs"),
    ({key: v for key, v in SPEC.items() if key != "objectives"}, ["body", "objectives"],
     "Field required"),
    ({**SPEC, "hardware": "/etc/passwd.yaml"}, ["body", "hardware", "preset"],
     "inline preset document"),
    ({**SPEC, "hardware": {"preset": "mnsim", "set": {"xbar_rows": 2**40}}},
     ["body", "hardware", "set", "xbar_rows"], "integer 1.."),
    ({**SPEC, "network": {"name": "n", "input": [3, 8, 8], "layers": [
        {"name": "c", "type": "conv", "out_channels": 10**30, "kernel_size": 3}]}},
     ["body", "network", "layers", "c", "out_channels"], "at most 65536"),
    ({**SPEC, "space": {"frozen": ["nothing.*"]}}, ["body", "space", "frozen"], "first"),
    ({**SPEC, "space": {"operators": ["wrap"]}}, ["body", "space", "operators", 0],
     "'prune'"),
    ({**SPEC, "space": {"prune": {"crossbar_ratios": [0.5]}}},
     ["body", "space", "prune", "crossbar_ratios", 0], "greater than or equal to 1"),
    ({**SPEC, "sampler": {"seed": 2**40}}, ["body", "sampler", "seed"], "4294967295"),
    ({**SPEC, "sampler": {"seed": -1}}, ["body", "sampler", "seed"], "greater than"),
    ({**SPEC, "objectives": [{"metric": "accuracy"}],
      "accuracy": {"dataset": "cifar10", "data_root": "/home"}},
     ["body", "accuracy", "data_root"], "pattern"),
    ({**SPEC, "objectives": [{"metric": "accuracy"}],
      "accuracy": {"dataset": "cifar10", "data_root": "home"}},
     ["body", "accuracy", "data_root"], "no data root named 'home'"),
    ({**SPEC, "objectives": [{"metric": "accuracy"}], "accuracy": {"dataset": "imagefolder"}},
     ["body", "accuracy", "data_root"], "needs a data_root"),
]


@pytest.mark.parametrize(("body", "loc", "needle"), BAD_BODIES)
def test_bad_bodies_get_422_with_path(checks: TestClient, body: dict[str, Any],
                                      loc: list[Any], needle: str) -> None:
    response = checks.post("/studies", json=body)
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(d["loc"][:len(loc)] == loc and needle in d["msg"] for d in details), details


@pytest.mark.parametrize("text", [
    json.dumps({**SPEC, "constraints": [{"metric": "energy_j", "max": "NaN"}]}).replace(
        '"NaN"', "NaN"),
    json.dumps({**SPEC, "budget": {"n_trials": 3, "timeout_s": "Inf"}}).replace(
        '"Inf"', "Infinity"),
    json.dumps({**SPEC, "hardware": {"preset": "mnsim", "set": {"adc_energy_j": "X"}}}
               ).replace('"X"', "-Infinity"),
])
def test_nan_and_infinity_are_refused(checks: TestClient, text: str) -> None:
    response = checks.post("/studies", content=text,
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and "finite" in response.text


def test_an_inline_network_too_large_for_the_server_is_refused_fast(checks: TestClient
                                                                     ) -> None:
    layers = [{"name": f"c{i}", "type": "conv", "out_channels": 4, "kernel_size": 1}
              for i in range(10_000)]
    body = {**SPEC, "network": {"name": "huge", "input": [4, 8, 8], "layers": layers}}
    start = time.monotonic()
    response = checks.post("/studies", json=body)
    assert response.status_code in (413, 422)
    assert time.monotonic() - start < 5
    small = {**body, "network": {**body["network"], "layers": layers[:1500]}}
    refused = checks.post("/studies", json=small)
    assert refused.status_code == 422 and "at most 1000 layers" in refused.text


@pytest.mark.parametrize(("method", "path", "params", "code"), [
    ("get", "/studies/999999", None, 404),
    ("get", "/studies/0", None, 422),
    ("get", "/studies/abc", None, 422),
    ("get", f"/studies/{2**40}", None, 422),
    ("get", f"/studies/1/trials/{2**37}", None, 422),
    ("get", "/studies", {"offset": 2**63}, 422),
    ("get", "/studies", {"status": "sleeping"}, 422),
    ("get", "/studies", {"limit": 0}, 422),
    ("post", "/studies/999999/cancel", None, 404),
    ("delete", "/studies/999999", None, 404),
    ("get", "/studies/999999/trials", None, 404),
    ("get", "/studies/999999/pareto", None, 404),
    ("get", "/networks/resnet99", None, 404),
    ("get", f"/ui/studies/{2**40}", None, 404),
])
def test_bad_paths_and_queries(checks: TestClient, method: str, path: str,
                               params: dict[str, Any] | None, code: int) -> None:
    assert getattr(checks, method)(path, params=params).status_code == code


def test_bad_queries_on_a_real_study(checks: TestClient) -> None:
    study = checks.post("/studies", json=SPEC).json()
    base = f"/studies/{study['id']}"
    assert checks.get(f"{base}/trials", params={"sort": "speed"}).status_code == 422
    response = checks.get(f"{base}/pareto", params={"x": "energy_j", "y": "latency_s"})
    assert response.status_code == 422 and "crossbar_area_m2" in response.text
    assert response.json()["detail"][0]["loc"] == ["query", "x"]
    assert checks.get(f"{base}/export", params={"format": "xml"}).status_code == 422
    assert checks.get(f"{base}/trials/7").status_code == 404
    assert checks.get(f"{base}/trials", params={"limit": 5000}).status_code == 422


@pytest.mark.parametrize(("body", "needle"), [
    ({"network": "vgg8", "hardware": "fpga"}, "isaac, mnsim"),
    ({"network": "vgg8", "hardware": "/etc/hosts"}, "inline preset document"),
    ({"network": "vgg8", "set": {"xbar_rows": -2}}, "xbar_rows"),
    ({"network": "vgg8", "design": {"layers": {"conv9": {}}}}, "conv9"),
    ({"network": "vgg8", "weight_bits": 0}, "greater than or equal"),
    ({"network": {"name": "x", "input": [3, 8, 8], "layers": [{"name": "c", "type": "conv"}]}},
     "out_channels"),
])
def test_evaluate_bad_input_is_422(checks: TestClient, body: dict[str, Any],
                                   needle: str) -> None:
    response = checks.post("/evaluate", json=body)
    assert response.status_code == 422 and needle in response.text


def test_limits(client: TestClient) -> None:
    big = {**SPEC, "name": "x" * 10, "padding": "y" * 300_000}
    assert client.post("/studies", json=big).status_code == 413
    codes = [client.post("/studies", json=SPEC).status_code for _ in range(7)]
    assert codes[:5] == [202] * 5 and codes[5:] == [429, 429]


def test_auth_with_keys_and_the_ui_login(keyed_client: TestClient) -> None:
    c = keyed_client
    assert c.get("/studies").status_code == 401
    assert c.get("/studies", headers={"X-API-Key": "read-secret"}).status_code == 200
    assert c.post("/studies", json=SPEC, headers={"X-API-Key": "read-secret"}
                  ).status_code == 401
    assert c.post("/studies", json=SPEC, headers={"X-API-Key": "write-secret"}
                  ).status_code == 202
    assert c.get("/studies", headers={"X-API-Key": "write-secret"}).status_code == 200
    assert c.post("/evaluate", json={"network": "vgg8"}).status_code == 401
    assert c.post("/evaluate", json={"network": "vgg8"},
                  headers={"X-API-Key": "write-secret"}).status_code == 200
    page = c.get("/ui/studies/1", follow_redirects=False)  # a browser: to the login page
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
    wrong = c.post("/ui/login", content="key=guess&next=/ui/studies/1",
                   headers={"content-type": "application/x-www-form-urlencoded"},
                   follow_redirects=False)
    assert "failed=true" in wrong.headers["location"] and "epim_session" not in wrong.cookies
    login = c.post("/ui/login", content="key=read-secret&next=/ui/studies/1",
                   headers={"content-type": "application/x-www-form-urlencoded"},
                   follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/ui/studies/1"
    assert "read-secret" not in login.cookies["epim_session"]
    assert c.cookies.get("epim_session")  # the browser keeps it
    assert c.get("/ui/studies/1").status_code == 200
    # the page's own fetches carry the cookie: reads work, writes still need the header
    assert c.get("/studies/1").status_code == 200
    assert c.post("/studies/1/cancel").status_code == 401
    c.cookies.clear()
    assert c.get("/studies/1").status_code == 401
    evil = c.post("/ui/login", content="key=read-secret&next=https://evil.example/",
                  headers={"content-type": "application/x-www-form-urlencoded"},
                  follow_redirects=False)
    assert evil.headers["location"] == "/ui/"  # no open redirect


def test_openapi_documents_every_endpoint(checks: TestClient) -> None:
    paths = checks.get("/openapi.json").json()["paths"]
    for path in ("/studies", "/studies/{study_id}", "/studies/{study_id}/cancel",
                 "/studies/{study_id}/trials", "/studies/{study_id}/trials/{number}",
                 "/studies/{study_id}/pareto", "/studies/{study_id}/pareto.svg",
                 "/studies/{study_id}/export", "/networks", "/networks/{name}", "/hardware",
                 "/evaluate", "/healthz"):
        assert path in paths, path
    assert "examples" in str(paths["/studies"]["post"])
