"""A study's life over HTTP: resume after a failure, delete after a cancel, ids and times."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from epim import results
from epim.api import create_app
from epim.service import Runner
from epim.settings import Settings
from tests.api.conftest import make_settings
from tests.api.test_api import SPEC, run_queue


def test_a_failed_study_resumes_from_its_trials_to_exact_counts(client: TestClient,
                                                                settings: Settings) -> None:
    url = settings.database_url
    study_id = client.post("/studies", json=SPEC).json()["id"]
    runner = Runner(database_url=url, owner="first", poll_s=0.1, heartbeat_s=0.5)
    runner.run_one(study_id, on_progress=lambda _: runner.request_stop())  # one batch
    assert results.claim_study(url, "first", study_id) is not None
    results.finish_study(url, study_id, "first", "failed", "a failure")
    before = client.get(f"/studies/{study_id}").json()
    assert before["status"] == "failed" and 0 < before["progress"]["completed"] < 30

    resumed = client.post(f"/studies/{study_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "queued" and resumed.json()["error"] is None
    assert client.post(f"/studies/{study_id}/resume").json()["status"] == "queued"
    run_queue(settings)
    row = results.get_study(url, study_id)
    assert row is not None and row.status == "completed" and row.completed == 30
    assert [t.number for t in results.load_trials(url, study_id)] == list(range(30))
    again = client.post(f"/studies/{study_id}/resume")
    assert again.status_code == 409 and "completed" in again.text
    assert client.post("/studies/2147483647/resume").status_code == 404


def test_deleting_a_running_study_after_its_cancel(settings: Settings) -> None:
    url = settings.database_url
    alive = results.create_study(url, name="stopping", spec=SPEC, n_trials=30)
    gone = results.create_study(url, name="orphan", spec=SPEC, n_trials=30)
    for row in (alive, gone):
        assert results.claim_study(url, "a-runner", row.id) is not None
    with TestClient(create_app(make_settings(url, stale_after_s=1.0))) as client:
        assert client.delete(f"/studies/{alive.id}").status_code == 409  # cancel first
        client.post(f"/studies/{alive.id}/cancel")
        client.post(f"/studies/{gone.id}/cancel")
        time.sleep(1.2)  # no heartbeat since: the runner of both is gone ...
        beating = threading.Event()

        def heartbeats() -> None:  # ... but this one's runner is alive (and slow to stop)
            while not beating.wait(0.2):
                results.heartbeat(url, alive.id, "a-runner")

        results.heartbeat(url, alive.id, "a-runner")
        runner = threading.Thread(target=heartbeats)
        runner.start()
        try:
            start = time.monotonic()
            waited = client.delete(f"/studies/{alive.id}")
            took = time.monotonic() - start
        finally:
            beating.set()
            runner.join()
        assert waited.status_code == 409 and waited.headers["retry-after"] == "2"
        assert 4 < took < 10  # it waited for the runner to stop it
        assert client.delete(f"/studies/{gone.id}").status_code == 204
        assert client.get(f"/studies/{gone.id}").status_code == 404
        results.finish_study(url, alive.id, "a-runner", "cancelled")  # the runner stops it
        assert client.delete(f"/studies/{alive.id}").status_code == 204


def test_times_are_utc_and_ids_of_deleted_studies_are_not_reused(client: TestClient) -> None:
    first = client.post("/studies", json=SPEC).json()
    created = datetime.fromisoformat(first["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert client.delete(f"/studies/{first['id']}").status_code == 204
    second = client.post("/studies", json=SPEC).json()
    assert second["id"] > first["id"]
