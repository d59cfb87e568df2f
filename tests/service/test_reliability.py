"""No study can take the service down: lost commits, runaway trainings, memory, poison studies.

Each test makes one fault happen for real: a COMMIT whose answer is lost (a TCP proxy in front
of PostgreSQL drops the connection right after the server committed), a dense pretraining of
100,000 steps, a proxy too large for the worker's memory limit, runners that keep dying.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from epim import results
from epim.search import StudySpec, sampler_limits_error
from epim.service import Runner, public_error
from tests.faults import PgFaultProxy
from tests.service.test_runner import (
    ACCURACY_SPEC,
    COST_SPEC,
    _dead_owner,
    _healthy,
    assert_exact,
    cli,
    finished,
    free_port,
    log_of,
    status,
    submit,
    wait_for,
)

#: A study that would train its dense start for minutes: only a stop inside training ends it.
RUNAWAY_SPEC: dict[str, Any] = {**ACCURACY_SPEC, "accuracy": {
    **ACCURACY_SPEC["accuracy"], "pretrain_steps": 100_000}}


def _through(proxy: PgFaultProxy, postgres_url: str) -> str:
    return proxy.url(postgres_url.rsplit("/", 1)[1])


def test_a_batch_whose_commit_answer_was_lost_is_stored_once(postgres_url: str) -> None:
    results.upgrade(postgres_url)
    study_id = submit(postgres_url, "lost-commit", {**COST_SPEC, "budget": {"n_trials": 40}})
    with PgFaultProxy() as proxy:
        proxy.lose_commit_answer(b"INSERT INTO epim_trials")
        runner = Runner(database_url=_through(proxy, postgres_url), poll_s=0.1,
                        heartbeat_s=0.5)
        runner.start()
        try:
            wait_for(finished(postgres_url, [study_id]), 120, "the study did not finish")
        finally:
            runner.stop()
        assert proxy.lost_commits == 1
    assert_exact(postgres_url, study_id, 40)  # not failed, no trial twice, none lost
    history = [p.completed for p in results.progress_history(postgres_url, study_id)]
    assert history == sorted(set(history)) and history[-1] == 40  # each batch counted once
    assert all(b - a <= 10 for a, b in zip([0, *history], history, strict=False))


def test_a_claim_whose_answer_was_lost_runs_at_once(postgres_url: str) -> None:
    results.upgrade(postgres_url)
    study_id = submit(postgres_url, "lost-claim", COST_SPEC)
    with PgFaultProxy() as proxy:
        proxy.lose_commit_answer(b"epim_studies.runs +")
        runner = Runner(database_url=_through(proxy, postgres_url), poll_s=0.1,
                        heartbeat_s=0.5, stale_after_s=600)
        runner.start()
        try:
            waited = wait_for(finished(postgres_url, [study_id]), 60,
                              "the study waited for its claim to go stale")
        finally:
            runner.stop()
        assert proxy.lost_commits == 1
    assert waited < 30  # not the stale-claim timeout
    assert_exact(postgres_url, study_id, 20)
    assert status(postgres_url, study_id).runs == 1


def test_health_answers_within_a_second_during_a_partition(postgres_url: str) -> None:
    from fastapi.testclient import TestClient

    from epim.api import create_app
    from epim.settings import Settings

    results.upgrade(postgres_url)
    with PgFaultProxy() as proxy, TestClient(create_app(Settings(
            database_url=_through(proxy, postgres_url)))) as client:
        assert client.get("/healthz").status_code == 200
        proxy.partition(True)
        answers = []
        for _ in range(3):  # later calls wait for the first probe, still hanging, not stack
            start = time.monotonic()
            response = client.get("/healthz")
            took = time.monotonic() - start
            assert response.status_code == 503 and took < 1.5, (response.text, took)
            answers.append(response.json()["database"])
            assert str(proxy.port) not in response.text
        assert answers[0] == "unavailable (no answer within 1 s)"
        assert all(a.startswith("unavailable (") for a in answers)


def test_cancel_and_timeout_stop_a_long_training_within_seconds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runaway.db'}"
    results.upgrade(url)
    timed = submit(url, "runaway-timeout", {**RUNAWAY_SPEC, "budget": {
        "n_trials": 8, "timeout_s": 4}})
    cancelled = submit(url, "runaway-cancel", RUNAWAY_SPEC)
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.5, cancel_poll_s=0.2)
    runner.start()
    try:
        wait_for(lambda: status(url, timed).status != "queued", 30, "not claimed")
        claimed_at = time.monotonic()
        wait_for(finished(url, [timed]), 60, "the timeout was not honoured")
        timed_out = time.monotonic() - claimed_at
        wait_for(lambda: status(url, cancelled).status == "running", 30, "not claimed")
        time.sleep(3)  # the worker is up and pretraining
        results.request_cancel(url, cancelled)
        stopped = wait_for(finished(url, [cancelled]), 30, "the cancel was not honoured")
    finally:
        runner.stop()
    row = status(url, timed)
    assert row.status == "completed" and row.completed == 0 and 4 <= row.elapsed_s < 8
    assert timed_out < 20, timed_out  # 4 s of timeout, not 100,000 pretraining steps
    assert status(url, cancelled).status == "cancelled"
    assert stopped < 5, stopped
    assert results.claim_study(url, "anyone") is None  # never claimed again


def test_sigterm_stops_a_runner_inside_a_long_training(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sigterm.db'}"
    results.upgrade(url)
    study_id = submit(url, "runaway-sigterm", RUNAWAY_SPEC)
    runner = cli(["runner"], {**os.environ, "EPIM_DATABASE_URL": url,
                              "EPIM_HEARTBEAT_S": "0.5"})
    try:
        wait_for(lambda: status(url, study_id).status == "running"
                 or runner.poll() is not None, 60, "not claimed")
        assert runner.poll() is None, log_of(runner)
        time.sleep(3)  # pretraining in the worker
        signalled = time.monotonic()
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=30)
        exited = time.monotonic() - signalled
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    row = status(url, study_id)
    assert row.status == "queued" and row.owner is None, (row.status, log_of(runner))
    assert exited < 10, exited


def test_a_proxy_over_the_memory_limit_fails_its_study_not_the_runner(tmp_path: Path
                                                                      ) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    results.upgrade(url)
    hungry = submit(url, "hungry", {**ACCURACY_SPEC, "accuracy": {  # about 2 GiB to train
        **ACCURACY_SPEC["accuracy"], "width": 2, "image_size": 64, "batch_size": 64,
        "pretrain_steps": 5}})
    after = submit(url, "after-the-hungry-one", COST_SPEC)
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.5,
                    worker_max_bytes=int(0.75 * 2**30))
    runner.start()
    try:
        wait_for(finished(url, [hungry, after]), 120, "the studies did not finish")
        assert runner.alive
    finally:
        runner.stop()
    row = status(url, hungry)
    assert row.status == "failed" and row.error is not None, row.status
    assert "OutOfMemory" in row.error and "memory limit of 0.75 GiB" in row.error, row.error
    assert_exact(url, after, 20)


def test_a_study_whose_runners_keep_dying_ends_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'poison.db'}"
    results.upgrade(url)
    study_id = submit(url, "poison", COST_SPEC)
    owner = _dead_owner()
    for _ in range(results.MAX_CLAIMS):  # each claim by a runner that then died
        assert results.claim_study(url, owner, study_id) is not None
        if status(url, study_id).claims < results.MAX_CLAIMS:
            assert results.requeue_owned(url, study_id, owner)
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.5)
    runner.start()
    try:
        wait_for(finished(url, [study_id]), 30, "the poison study was not ended")
    finally:
        runner.stop()
    row = status(url, study_id)
    assert row.status == "failed" and row.runs == results.MAX_CLAIMS
    assert row.error is not None and "3 times in a row" in row.error


def test_a_gp_study_over_the_samplers_parameter_limit_fails_at_once(tmp_path: Path) -> None:
    spec = StudySpec.model_validate({**COST_SPEC, "name": "big-gp", "network": "resnet50",
                                     "sampler": {"name": "gp", "seed": 0}})
    message = sampler_limits_error(spec, 1000)
    assert message is not None and "sampler.name 'gp'" in message and "at most 64" in message
    assert sampler_limits_error(spec, 64) is None
    assert sampler_limits_error(StudySpec.model_validate({**COST_SPEC, "name": "n"}),
                                1000) is None
    url = f"sqlite:///{tmp_path / 'gp.db'}"
    results.upgrade(url)
    study_id = results.create_study(url, name="big-gp", spec=spec.model_dump(mode="json"),
                                    n_trials=20, network="resnet50").id
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.5)
    runner.start()
    try:
        wait_for(finished(url, [study_id]), 60, "the gp study was not ended")
    finally:
        runner.stop()
    row = status(url, study_id)
    assert row.status == "failed" and row.error is not None
    assert "sampler.name 'gp'" in row.error and row.completed == 0


def test_a_database_error_is_stored_without_sql(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    results.upgrade(database_url)
    row = results.create_study(database_url, name="x", spec={}, n_trials=1)
    results.claim_study(database_url, "me", row.id)
    trial = {"number": 0, "state": "complete", "feasible": True, "metrics": {},
             "constraints": [], "design": {}, "design_hash": "secret-hash", "layers": {}}
    results.record_batch(database_url, row.id, "me", [trial], [], {
        "completed": 1, "feasible": 1, "failed": 0, "front_size": 0, "hypervolume": 0.0,
        "elapsed_s": 0.0})
    with pytest.raises(IntegrityError) as raised, results.session_scope(database_url) as s:
        s.add(results.TrialRow(study_id=row.id, **trial, on_front=False))
    text = public_error(raised.value)
    assert text.startswith("database error (") and "\n" not in text
    assert "INSERT" not in text and "secret-hash" not in text and "epim_trials" not in text
    assert public_error(ValueError("bad\n  value")) == "ValueError: bad value"


def test_serve_runs_studies_in_a_child_process_and_restarts_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = cli(["serve", "--port", str(port)], {**os.environ, "EPIM_DATABASE_URL": url,
                                                  "EPIM_HEARTBEAT_S": "0.5"})
    try:
        wait_for(lambda: _healthy(base) or server.poll() is not None, 90, "no server")
        assert server.poll() is None, log_of(server)
        study_id = httpx.post(f"{base}/studies", timeout=30, json={  # runs for minutes
            **COST_SPEC, "name": "served", "budget": {"n_trials": 100_000}}).json()["id"]
        wait_for(lambda: status(url, study_id).completed >= 20, 120, "no progress")
        owner = status(url, study_id).owner
        assert owner is not None
        child = int(owner.split(":")[2])
        assert child != server.pid  # the study runs outside the API's process ...
        mine = os.getpriority(os.PRIO_PROCESS, 0)  # ... and yields the CPU to it
        assert os.getpriority(os.PRIO_PROCESS, child) == min(19, mine + 10)
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=10).json()["runners"][0][
            "active_studies"] == [study_id], 10, "/healthz does not report the study")
        os.kill(child, signal.SIGKILL)  # the runner dies; the API does not
        assert httpx.get(f"{base}/studies", timeout=10).status_code == 200
        wait_for(lambda: status(url, study_id).runs == 2, 60, "the runner was not restarted")
        httpx.post(f"{base}/studies/{study_id}/cancel", timeout=10)
        wait_for(finished(url, [study_id]), 30, "the cancel was not honoured")
        assert httpx.delete(f"{base}/studies/{study_id}", timeout=30).status_code == 204
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
