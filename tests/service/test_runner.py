"""The runner: a shared queue, cancellation, crashes, signals and database outages."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from epim import results
from epim.search import StudySpec
from epim.service import Runner, is_dead_here, new_owner, run_study_here

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
    "budget": {"n_trials": 8}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 20, "width": 0.25,
                 "batch_size": 32, "eval_samples": 200},
}


def submit(url: str, name: str, spec: dict[str, Any]) -> int:
    parsed = StudySpec.model_validate({**spec, "name": name})
    return results.create_study(url, name=name, spec=parsed.model_dump(mode="json"),
                                n_trials=parsed.budget.n_trials, network="resnet20").id


def wait_for(condition: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, what
        time.sleep(0.1)
    return time.monotonic() - start


def status(url: str, study_id: int) -> results.StudyRow:
    row = results.get_study(url, study_id)
    assert row is not None
    return row


def finished(url: str, ids: list[int]) -> Any:
    return lambda: all(status(url, i).status in results.FINISHED for i in ids)


def assert_exact(url: str, study_id: int, n: int) -> None:
    """Exactly the budget: numbers 0..n-1, none lost, none twice, counters agree."""
    row = status(url, study_id)
    assert row.status == "completed" and row.completed == n, (row.status, row.error)
    assert [t.number for t in results.load_trials(url, study_id)] == list(range(n))
    assert row.front_size == len(results.front_trials(url, study_id)) > 0


def test_two_runners_share_postgresql_without_running_a_study_twice(postgres_url: str) -> None:
    results.upgrade(postgres_url)
    ids = [submit(postgres_url, f"shared-{i}", COST_SPEC) for i in range(4)]
    runners = [Runner(database_url=postgres_url, owner=f"runner-{i}", poll_s=0.1,
                      heartbeat_s=0.5) for i in range(2)]
    for runner in runners:
        runner.start()
    try:
        wait_for(finished(postgres_url, ids), 120, "studies did not finish")
    finally:
        for runner in runners:
            runner.stop()
    for study_id in ids:
        assert_exact(postgres_url, study_id, 20)
        assert status(postgres_url, study_id).runs == 1
    assert {status(postgres_url, i).owner for i in ids} <= {"runner-0", "runner-1"}


def test_cancelling_stops_within_one_proxy_evaluation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    results.upgrade(url)
    study_id = submit(url, "to-cancel", {**ACCURACY_SPEC, "budget": {"n_trials": 40},
                                         "batch_size": 40, "sampler": {
                                             "name": "random", "seed": 0}})
    runner = Runner(database_url=url, poll_s=0.1, heartbeat_s=0.2)
    runner.start()
    try:
        wait_for(lambda: status(url, study_id).baseline is not None, 120, "no baseline")
        results.request_cancel(url, study_id)
        waited = wait_for(finished(url, [study_id]), 60, "cancel was not honoured")
    finally:
        runner.stop()
    row = status(url, study_id)
    assert row.status == "cancelled" and row.completed < 40
    assert waited < 15  # one 20-step proxy evaluation, not a batch of 40


def cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """An ``epim`` process (its own session, so the test can signal the whole group)."""
    import tempfile

    log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process; a pipe could block it
    process = subprocess.Popen([sys.executable, "-m", "epim.cli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    LOGS[process.pid] = log
    return process


LOGS: dict[int, Any] = {}


def log_of(process: subprocess.Popen[bytes]) -> str:
    """What the process wrote to stderr so far."""
    log = LOGS[process.pid]
    log.seek(0)
    return str(log.read().decode(errors="replace"))


def test_a_killed_runner_restarted_at_once_resumes_with_exact_counts(database_url: str) -> None:
    results.upgrade(database_url)
    study_id = submit(database_url, "killed", ACCURACY_SPEC)
    env = {**os.environ, "EPIM_DATABASE_URL": database_url, "EPIM_HEARTBEAT_S": "0.5",
           "EPIM_STALE_AFTER_S": "600"}  # only the dead-process check can requeue it
    first = cli(["runner"], env)
    wait_for(lambda: status(database_url, study_id).completed >= 4
             or first.poll() is not None, 240, "the runner made no progress")
    assert first.poll() is None, log_of(first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    row = status(database_url, study_id)
    assert row.status == "running" and row.owner is not None and is_dead_here(row.owner)
    told_before = row.completed
    second = cli(["runner"], env)  # restarted at once: no waiting for a stale heartbeat
    try:
        resumed = wait_for(lambda: status(database_url, study_id).runs == 2, 60,
                           "the killed runner's study was not taken back")
        wait_for(finished(database_url, [study_id]), 300, "the study did not finish")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    assert resumed < 30
    assert_exact(database_url, study_id, 8)
    assert status(database_url, study_id).completed >= told_before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_creates_sqlite_runs_studies_and_releases_them_on_sigterm(tmp_path: Path
                                                                         ) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'serve.db'}"  # no database, no directory yet
    port = free_port()
    env = {**os.environ, "EPIM_HEARTBEAT_S": "0.5", "EPIM_DATABASE_URL": url}
    base = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen[bytes]:
        server = cli(["serve", "--port", str(port)], env)
        wait_for(lambda: _healthy(base) or server.poll() is not None, 60, "no server")
        assert server.poll() is None, log_of(server)
        return server

    server = start()
    try:
        created = httpx.post(f"{base}/studies", json={**COST_SPEC, "name": "served"},
                             timeout=10)
        assert created.status_code == 202
        served = created.json()["id"]
        wait_for(lambda: httpx.get(f"{base}/studies/{served}").json()["status"]
                 == "completed", 120, "the served study did not complete")
        assert httpx.get(f"{base}/studies/{served}/pareto").json()["trials"]
        # the terminal says what the runner child does: a line per batch, one at the end
        wait_for(lambda: f"study {served} (served) completed: 20/20 trials" in log_of(server),
                 10, "no 'completed' line on the terminal")
        assert re.search(rf"study {served} \(served\): \d+/20 trials", log_of(server))
        slow = httpx.post(f"{base}/studies", json={  # a timeout: still released, not done
            **ACCURACY_SPEC, "name": "slow",
            "budget": {"n_trials": 400, "timeout_s": 3600}}).json()["id"]
        wait_for(lambda: status(url, slow).completed >= 4, 120, "no progress")
        stopped_at = time.monotonic()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        released = time.monotonic() - stopped_at
        row = status(url, slow)
        assert row.status == "queued" and row.owner is None, (row.status, row.owner)
        assert released < 20
        told = row.completed
        server = start()  # resumes the released study
        wait_for(lambda: status(url, slow).completed > told, 120, "no resume")
        assert status(url, slow).runs == 2
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def _healthy(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/healthz", timeout=2).json()["status"] == "ok")
    except httpx.HTTPError:
        return False


def test_serve_refuses_an_unmigrated_postgresql_database(postgres_url: str) -> None:
    result = subprocess.run([sys.executable, "-m", "epim.cli", "serve", "--database-url",
                             postgres_url], capture_output=True, text=True, check=False,
                            timeout=60)
    assert result.returncode == 2 and "epim db upgrade" in result.stderr
    assert "127.0.0.1" in result.stderr or "postgresql" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _admin() -> Any:
    from tests.conftest import POSTGRES_URL

    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _cut(database: str, allow: bool) -> None:
    """Refuse (or allow again) connections to ``database`` and drop the existing ones."""
    with _admin().connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS '
                                f'{"true" if allow else "false"}'))
        if not allow:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :name AND pid <> pg_backend_pid()"),
                               {"name": database})


@pytest.mark.parametrize("outage_s", [0.0, 5.0])
def test_a_database_outage_never_fails_a_study(postgres_url: str, outage_s: float,
                                               caplog: pytest.LogCaptureFixture) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    results.upgrade(postgres_url)
    study_id = submit(postgres_url, "outage", {**ACCURACY_SPEC, "budget": {"n_trials": 12}})
    runner = Runner(database_url=postgres_url, poll_s=0.2, heartbeat_s=0.5, stale_after_s=30)
    runner.start()
    try:
        wait_for(lambda: status(postgres_url, study_id).completed >= 4, 120,
                 "no progress")
        _cut(database, allow=False)
        if outage_s:
            time.sleep(outage_s)
            assert not runner.database_ok or runner.alive  # waiting it out, not failing
        _cut(database, allow=True)
        wait_for(finished(postgres_url, [study_id]), 180, "the study did not finish")
    finally:
        _cut(database, allow=True)
        runner.stop()
    assert_exact(postgres_url, study_id, 12)
    if outage_s:
        lines = [r.getMessage() for r in caplog.records if r.name == "epim.runner"]
        retries = [line for line in lines if line.startswith("database unavailable")]
        assert retries and all("127.0.0.1" not in line for line in retries)
        assert any("reachable again" in line for line in lines)


def test_the_cli_takes_over_a_study_whose_process_died(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    spec = StudySpec.model_validate({**COST_SPEC, "name": "cli-study"})
    row = run_study_here(spec, url)
    assert row.status == "completed" and row.completed == 20
    again = run_study_here(spec, url)  # finished: nothing more runs
    assert again.id == row.id and again.completed == 20 and again.runs == 1
    bigger = StudySpec.model_validate({**COST_SPEC, "name": "taken-over",
                                       "budget": {"n_trials": 30}})
    stuck = results.create_study(url, name="taken-over", spec=bigger.model_dump(mode="json"),
                                 n_trials=30, network="resnet20", status="running",
                                 owner=_dead_owner())
    done = run_study_here(bigger, url)
    assert done.id == stuck.id and done.status == "completed" and done.completed == 30
    with pytest.raises(Exception, match="another spec"):
        run_study_here(StudySpec.model_validate({**COST_SPEC, "name": "cli-study",
                                                 "baseline_bits": 8}), url)


def _dead_owner() -> str:
    """An owner on this host whose process has exited."""
    child = subprocess.run([sys.executable, "-c",
                            "from epim.service import new_owner; print(new_owner())"],
                           capture_output=True, text=True, check=True)
    owner = child.stdout.strip()
    assert is_dead_here(owner) and not is_dead_here(new_owner())
    return owner


def test_a_cli_layerwise_study_is_browsable_over_http_with_its_profile(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from epim.api import create_app
    from epim.settings import Settings

    url = f"sqlite:///{tmp_path / 'lw.db'}"
    spec = StudySpec.model_validate({**ACCURACY_SPEC, "name": "cli-layerwise",
                                     "sampler": {"seed": 0}, "batch_size": 2,
                                     "space": {"weight_bits": [2, 8], "epitome": {
                                         "pim_aligned": False, "channel_ratios": [1, 4]}},
                                     "budget": {"n_trials": 6},
                                     "accuracy": {**ACCURACY_SPEC["accuracy"],
                                                  "pretrain_steps": 40}})
    assert spec.sampler.name == "layerwise"
    row = run_study_here(spec, url)
    assert row.status == "completed" and row.completed == 6
    assert row.phase == "finished"  # the run's phases were stored as it went
    with TestClient(create_app(Settings(database_url=url))) as client:
        listed = client.get("/studies").json()["items"]
        assert [s["name"] for s in listed] == ["cli-layerwise"]
        profile = client.get(f"/studies/{row.id}/profile").json()
        assert profile["entries"] and profile["samples"] == 256
        layers = {e["layer"] for e in profile["entries"]}
        assert "conv1" not in layers and "layer1.0.conv1" in layers  # frozen layers: none
        assert all(e["damage"] >= 0 for e in profile["entries"])
        trials = client.get(f"/studies/{row.id}/trials", params={"limit": 100}).json()
        states = {t["state"] for t in trials["items"]}
        assert states == {"complete", "screened"}
        assert client.get(f"/studies/{row.id}/pareto").json()["trials"]
