"""Recovery times of the service: a killed runner, a stopped server, a database outage.

On SQLite and PostgreSQL (a throwaway database on 127.0.0.1:5432), with a small accuracy study
(resnet20, digits, 20-step proxy) running on real ``epim`` processes:

1. ``kill -9`` of an ``epim runner``, then a new runner started at once: seconds until the
   study runs again (and, at the end, that it completed with exactly its budget).
2. SIGTERM to ``epim serve``: seconds until the study is back in the queue, and until the
   process has exited.
3. PostgreSQL only: connections to the study's database refused for 5 s (and the existing ones
   dropped) under an in-process runner: seconds from the database's return until the next
   batch is stored; the study must not fail.

    .venv/bin/python benchmarks/recovery.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from epim import results
from epim.search import StudySpec
from epim.service import Runner

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
SPEC: dict[str, Any] = {
    "network": "resnet20", "space": {"weight_bits": [2, 4, 8],
                                     "epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 16}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 20, "width": 0.25,
                 "batch_size": 32, "eval_samples": 200},
}


def submit(url: str, name: str, **budget: Any) -> int:
    spec = StudySpec.model_validate({**SPEC, "name": name,
                                     "budget": {**SPEC["budget"], **budget}})
    return results.create_study(url, name=name, spec=spec.model_dump(mode="json"),
                                n_trials=spec.budget.n_trials, network="resnet20").id


def row(url: str, study_id: int) -> results.StudyRow:
    found = results.get_study(url, study_id)
    assert found is not None
    return found


def wait(condition: Callable[[], bool], timeout: float = 300) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
    return time.monotonic() - start


def epim(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "epim.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def killed_runner(url: str) -> str:
    study_id = submit(url, "killed")
    env = {**os.environ, "EPIM_DATABASE_URL": url, "EPIM_HEARTBEAT_S": "1",
           "EPIM_STALE_AFTER_S": "60"}
    first = epim(["runner"], env)
    wait(lambda: row(url, study_id).completed_trials >= 4)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    second = epim(["runner"], env)
    try:
        wait(lambda: row(url, study_id).runs == 2)
        running_again = time.monotonic() - killed_at
        wait(lambda: row(url, study_id).status in results.FINISHED)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait()
    final = row(url, study_id)
    numbers = [t.number for t in results.load_trials(url, study_id)]
    exact = final.status == "completed" and numbers == list(range(16))
    return (f"kill -9 + immediate restart: running again after {running_again:.1f} s "
            f"(runner start-up included), finished {final.status} with exactly 16 "
            f"trials: {exact}")


def stopped_server(url: str) -> str:
    study_id = submit(url, "stopped", n_trials=400, timeout_s=3600)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = epim(["serve", "--port", str(port)], {**os.environ, "EPIM_DATABASE_URL": url,
                                                  "EPIM_HEARTBEAT_S": "1"})
    wait(lambda: row(url, study_id).completed_trials >= 4)
    signalled = time.monotonic()
    os.killpg(server.pid, signal.SIGTERM)
    released = wait(lambda: row(url, study_id).status == "queued", timeout=60)
    server.wait(timeout=60)
    exited = time.monotonic() - signalled
    released_ok = row(url, study_id).status == "queued"
    results.request_cancel(url, study_id)  # out of the queue for what follows
    return (f"SIGTERM on epim serve: study back in the queue after {released:.1f} s, "
            f"process exited after {exited:.1f} s (a study with a timeout is released, "
            f"not completed: {released_ok})")


def outage(url: str, seconds: float = 5.0) -> str:
    database = url.rsplit("/", 1)[1]
    admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")

    def cut(allow: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS '
                                    f'{"true" if allow else "false"}'))
            if not allow:
                connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    ":name AND pid <> pg_backend_pid()"), {"name": database})

    study_id = submit(url, "outage", n_trials=24)
    runner = Runner(database_url=url, poll_s=0.2, heartbeat_s=1.0)
    runner.start()
    try:
        wait(lambda: row(url, study_id).completed_trials >= 4)
        cut(allow=False)
        time.sleep(seconds)
        cut(allow=True)
        before = len(results.progress_history(url, study_id))
        resumed = wait(lambda: len(results.progress_history(url, study_id)) > before
                       or row(url, study_id).status in results.FINISHED)
        wait(lambda: row(url, study_id).status in results.FINISHED)
    finally:
        cut(allow=True)
        runner.stop()
        admin.dispose()
    final = row(url, study_id)
    return (f"{seconds:.0f} s database outage: next batch stored {resumed:.1f} s after the "
            f"database returned (backoff at most 10 s), study {final.status} with "
            f"{final.completed_trials}/24 trials, error: {final.error}")


@contextmanager
def postgres() -> Iterator[str]:
    name = f"epim_recovery_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{SERVER}/{name}"
        results.upgrade(url)
        yield url
    finally:
        results.make_engine(f"{SERVER}/{name}").dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    sqlite = f"sqlite:///{tempfile.mkdtemp()}/recovery.db"
    results.upgrade(sqlite)
    print("sqlite     " + killed_runner(sqlite))
    print("sqlite     " + stopped_server(sqlite))
    with postgres() as url:
        print("postgresql " + killed_runner(url))
        print("postgresql " + stopped_server(url))
        print("postgresql " + outage(url))


if __name__ == "__main__":
    main()
