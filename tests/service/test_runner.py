"""The runner: a shared queue, cancellation, and a killed runner's study resumed exactly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import optuna
from optuna.trial import TrialState

from epim import results
from epim.service import Runner, prepare_database

COST_SPEC: dict[str, Any] = {
    "network": "resnet20", "space": {"epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "energy_j"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 10},
    "budget": {"n_trials": 20}, "batch_size": 10,
}
ACCURACY_SPEC: dict[str, Any] = {
    "network": "resnet20", "space": {"weight_bits": [2, 4, 8],
                                     "epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 12}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 60, "width": 0.25,
                 "batch_size": 32},
}


def submit(url: str, name: str, spec: dict[str, Any]) -> int:
    from epim.search import StudySpec

    parsed = StudySpec.model_validate({**spec, "name": name})
    return results.create_study(url, name=name, spec=parsed.model_dump(mode="json"),
                                n_trials=parsed.budget.n_trials).id


def wait_finished(url: str, ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [results.get_study(url, i) for i in ids]
        if all(r is not None and r.status in results.FINISHED for r in rows):
            return
        time.sleep(0.3)
    raise AssertionError([(r.id, r.status) for r in rows if r is not None])


def test_two_runners_share_postgresql_without_running_a_study_twice(postgres_url: str) -> None:
    prepare_database(postgres_url)
    ids = [submit(postgres_url, f"shared-{i}", COST_SPEC) for i in range(4)]
    runners = [Runner(database_url=postgres_url, owner=f"runner-{i}", poll_s=0.1,
                      heartbeat_s=0.5) for i in range(2)]
    for runner in runners:
        runner.start()
    try:
        wait_finished(postgres_url, ids, timeout=240)
    finally:
        for runner in runners:
            runner.stop()
    for study_id in ids:
        row = results.get_study(postgres_url, study_id)
        assert row is not None and row.status == "completed" and row.runs == 1
        assert row.completed_trials == 20
        assert len(results.stored_trial_numbers(postgres_url, study_id)) == 20
        study = optuna.load_study(study_name=row.optuna_name, storage=postgres_url)
        assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 20
    owners = {results.get_study(postgres_url, i).owner for i in ids}  # type: ignore[union-attr]
    assert owners <= {"runner-0", "runner-1"}


def test_cancelling_a_running_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    prepare_database(url)
    study_id = submit(url, "to-cancel", {**ACCURACY_SPEC, "budget": {"n_trials": 40}})
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.3)
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while results.get_study(url, study_id).completed_trials < 4:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        results.request_cancel(url, study_id)
        wait_finished(url, [study_id], timeout=120)
    finally:
        runner.stop()
    row = results.get_study(url, study_id)
    assert row is not None and row.status == "cancelled" and row.completed_trials < 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "epim.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_killed_runner_is_resumed_with_exact_counts(database_url: str, tmp_path: Path) -> None:
    prepare_database(database_url)
    study_id = submit(database_url, "killed", ACCURACY_SPEC)
    env = {**os.environ, "EPIM_DATABASE_URL": database_url, "EPIM_HEARTBEAT_S": "0.5",
           "EPIM_STALE_AFTER_S": "3"}
    first = start(["runner"], env)
    deadline = time.monotonic() + 240
    while True:
        row = results.get_study(database_url, study_id)
        assert row is not None
        name = row.optuna_name
        try:
            trials = optuna.load_study(study_name=name, storage=database_url).trials
        except KeyError:
            trials = []
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if row.completed_trials >= 4 and running:
            break
        assert time.monotonic() < deadline, "the runner made no progress"
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert results.get_study(database_url, study_id).status == "running"  # type: ignore
    time.sleep(3.5)  # the dead runner's heartbeat goes stale
    second = start(["runner"], env)
    try:
        wait_finished(database_url, [study_id], timeout=300)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    row = results.get_study(database_url, study_id)
    assert row is not None and row.status == "completed" and row.runs == 2
    assert row.completed_trials == 12
    assert results.stored_trial_numbers(database_url, study_id) == {
        t.number for t in optuna.load_study(study_name=row.optuna_name,
                                            storage=database_url).trials
        if t.state == TrialState.COMPLETE}
    assert len(results.stored_trial_numbers(database_url, study_id)) == 12


def test_server_process_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    prepare_database(url)
    port = free_port()
    server = start(["serve", "--port", str(port), "--database-url", url],
                   {**os.environ, "EPIM_HEARTBEAT_S": "0.5"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.3)
        created = httpx.post(f"{base}/studies", json={**COST_SPEC, "name": "served"},
                             timeout=10)
        assert created.status_code == 202
        study_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/studies/{study_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        front = httpx.get(f"{base}/studies/{study_id}/pareto").json()
        assert front["trials"]
        chart = httpx.get(f"{base}/studies/{study_id}/pareto.svg")
        assert chart.status_code == 200 and "<svg" in chart.text
        assert httpx.get(f"{base}/ui/studies/{study_id}").status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "epim.cli", "serve", "--database-url",
                             f"sqlite:///{tmp_path / 'new.db'}"], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 2 and "epim db upgrade" in result.stderr
