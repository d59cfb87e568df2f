"""The REST API over SQLite and PostgreSQL, with a real in-process runner."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from epim.api import Settings
from epim.service import Runner

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
        from epim import results

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
    assert done["status"] == "completed"
    assert done["progress"]["completed_trials"] == 30
    assert done["best"] and done["finished_at"]
    listed = client.get("/studies", params={"status": "completed"}).json()
    assert study["id"] in [s["id"] for s in listed["items"]]

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

    pareto = client.get(f"/studies/{study['id']}/pareto").json()
    assert [o["metric"] for o in pareto["objectives"]] == ["crossbar_area_m2", "latency_s"]
    assert pareto["trials"]
    for t in pareto["trials"]:
        assert t["values"]["crossbar_area_reduction"] >= 3
        assert {"number", "values", "design"} <= t.keys()
    projected = client.get(f"/studies/{study['id']}/pareto",
                           params={"x": "latency_s", "y": "crossbar_area_m2"}).json()
    assert [o["metric"] for o in projected["objectives"]] == ["latency_s", "crossbar_area_m2"]

    svg = client.get(f"/studies/{study['id']}/pareto.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert 'class="front"' in svg.text and ('class="infeasible"' in svg.text
                                            or 'class="feasible"' in svg.text)
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
    from epim import results

    running = results.create_study(settings.database_url, name="r", spec=SPEC, n_trials=30)
    claimed = results.claim_study(settings.database_url, "someone")
    assert claimed is not None and claimed.id == running.id
    assert client.delete(f"/studies/{running.id}").status_code == 409
    assert client.post(f"/studies/{running.id}/cancel").json()["cancel_requested"] is True


def test_catalog_and_evaluate(client: TestClient) -> None:
    names = [n["name"] for n in client.get("/networks").json()]
    assert "resnet50" in names
    vgg8 = client.get("/networks/vgg8").json()
    assert vgg8["layers"][0]["out_hw"] == [32, 32]
    assert {p["name"] for p in client.get("/hardware").json()} == {"mnsim", "isaac"}
    report = client.post("/evaluate", json={"network": "vgg8"}).json()
    assert report["crossbars"] == 2544 and report["tiles"] == 322
    from epim.cost_model import cost_report, load_hardware
    from epim.space import Design
    from epim.workloads import get_network

    net = get_network("vgg8")
    expected = cost_report(net, Design.dense(net), load_hardware("mnsim"))
    assert report["energy_j"] == pytest.approx(expected["energy_j"])
    designed = client.post("/evaluate", json={
        "network": "resnet50", "baseline_bits": 16,
        "design": {"default": {"weight_bits": 3, "act_bits": 8, "in_ratio": 4}}}).json()
    assert designed["crossbar_area_reduction"] > 4


def test_health(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok"


BAD_BODIES = [
    ({**SPEC, "sampler": {"name": "cmaes"}}, ["body", "sampler", "name"], "nsga2"),
    ({**SPEC, "objectives": [{"metric": "speed"}]}, ["body", "objectives", 0, "metric"],
     "crossbars"),
    ({**SPEC, "budget": {"n_trials": 501}}, ["body", "budget", "n_trials"], "at most 500"),
    ({**SPEC, "network": "resnet99"}, ["body", "network"], "resnet18"),
    ({**SPEC, "extra": 1}, ["body", "extra"], "Extra inputs"),
    ({key: v for key, v in SPEC.items() if key != "objectives"}, ["body", "objectives"],
     "Field required"),
]


@pytest.mark.parametrize(("body", "loc", "needle"), BAD_BODIES)
def test_bad_bodies_get_422_with_path(client: TestClient, body: dict[str, Any], loc: list[Any],
                                      needle: str) -> None:
    response = client.post("/studies", json=body)
    assert response.status_code == 422
    details = response.json()["detail"]
    assert any(d["loc"][:len(loc)] == loc and needle in d["msg"] for d in details), details


@pytest.mark.parametrize(("method", "path", "params", "code"), [
    ("get", "/studies/999999", None, 404),
    ("get", "/studies/0", None, 422),
    ("get", "/studies/abc", None, 422),
    ("get", "/studies", {"status": "sleeping"}, 422),
    ("get", "/studies", {"limit": 0}, 422),
    ("post", "/studies/999999/cancel", None, 404),
    ("delete", "/studies/999999", None, 404),
    ("get", "/studies/999999/trials", None, 404),
    ("get", "/studies/999999/pareto", None, 404),
    ("get", "/networks/resnet99", None, 404),
])
def test_bad_paths_and_queries(client: TestClient, method: str, path: str,
                               params: dict[str, Any] | None, code: int) -> None:
    assert getattr(client, method)(path, params=params).status_code == code


def test_bad_queries_on_a_real_study(client: TestClient) -> None:
    study = client.post("/studies", json=SPEC).json()
    base = f"/studies/{study['id']}"
    assert client.get(f"{base}/trials", params={"sort": "speed"}).status_code == 422
    response = client.get(f"{base}/pareto", params={"x": "energy_j", "y": "latency_s"})
    assert response.status_code == 422 and "crossbar_area_m2" in response.text
    assert client.get(f"{base}/export", params={"format": "xml"}).status_code == 422
    assert client.get(f"{base}/trials/7").status_code == 404


@pytest.mark.parametrize(("body", "needle"), [
    ({"network": "vgg8", "hardware": "fpga"}, "isaac, mnsim"),
    ({"network": "vgg8", "set": {"xbar_rows": -2}}, "xbar_rows"),
    ({"network": "vgg8", "design": {"layers": {"conv9": {}}}}, "conv9"),
    ({"network": "vgg8", "weight_bits": 0}, "greater than or equal"),
    ({"network": {"name": "x", "input": [3, 8, 8], "layers": [{"name": "c", "type": "conv"}]}},
     "out_channels"),
])
def test_evaluate_bad_input_is_422(client: TestClient, body: dict[str, Any],
                                   needle: str) -> None:
    response = client.post("/evaluate", json=body)
    assert response.status_code == 422 and needle in response.text


def test_limits(client: TestClient) -> None:
    big = {**SPEC, "name": "x" * 10, "padding": "y" * 300_000}
    assert client.post("/studies", json=big).status_code == 413
    codes = [client.post("/studies", json=SPEC).status_code for _ in range(7)]
    assert codes[:5] == [202] * 5 and codes[5:] == [429, 429]


def test_auth(keyed_client: TestClient) -> None:
    assert keyed_client.get("/studies").status_code == 401
    assert keyed_client.get("/studies", headers={"X-API-Key": "read-secret"}).status_code == 200
    assert keyed_client.post("/studies", json=SPEC,
                             headers={"X-API-Key": "read-secret"}).status_code == 401
    assert keyed_client.post("/studies", json=SPEC,
                             headers={"X-API-Key": "write-secret"}).status_code == 202
    assert keyed_client.get("/studies", headers={"X-API-Key": "write-secret"}).status_code == 200


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/studies", "/studies/{study_id}", "/studies/{study_id}/cancel",
                 "/studies/{study_id}/trials", "/studies/{study_id}/trials/{number}",
                 "/studies/{study_id}/pareto", "/studies/{study_id}/pareto.svg",
                 "/studies/{study_id}/export", "/networks", "/networks/{name}", "/hardware",
                 "/evaluate", "/healthz"):
        assert path in paths, path
    assert "examples" in str(paths["/studies"]["post"])
