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
4. PostgreSQL only, through a fault-injecting TCP proxy (``tests/faults.py``): the answers to
   three batch COMMITs and to the claim's COMMIT are lost (the server committed, the runner
   never heard): trials lost or doubled, and seconds until the study with the lost claim runs.
5. A runaway study (a dense start of 100,000 training steps) under a real ``epim runner``:
   seconds from the cancel request, from the end of its ``budget.timeout_s``, and from
   SIGTERM until it stops (SIGTERM: until the process has exited, the study back in the queue).
6. Poison studies: a proxy far over the worker's memory limit (seconds until the study fails,
   and whether the runner lives on to run the next study), and a study whose runners keep
   dying (``kill -9`` of each ``epim runner`` that claims it: after how many it ends failed).

    .venv/bin/python benchmarks/recovery.py [--cases killed,stopped,outage,lost-commits,...]
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
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from epim import results
from epim.search import StudySpec
from epim.service import Runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.faults import PgFaultProxy

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


def submit(url: str, name: str, base: dict[str, Any] | None = None, **budget: Any) -> int:
    base = base or SPEC
    spec = StudySpec.model_validate({**base, "name": name,
                                     "budget": {**base["budget"], **budget}})
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
    wait(lambda: row(url, study_id).completed >= 4)
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
    wait(lambda: row(url, study_id).completed >= 4)
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
        wait(lambda: row(url, study_id).completed >= 4)
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
            f"{final.completed}/24 trials, error: {final.error}")


COST: dict[str, Any] = {
    "network": "resnet20", "space": {"epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "energy_j"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 10},
    "budget": {"n_trials": 100}, "batch_size": 10}
RUNAWAY: dict[str, Any] = {**SPEC, "accuracy": {**SPEC["accuracy"], "pretrain_steps": 100_000}}
#: A proxy that needs about 2 GiB to train (within the default submission estimate's 4 GiB),
#: against a worker limited to 0.75 GiB.
HUNGRY: dict[str, Any] = {**SPEC, "accuracy": {**SPEC["accuracy"], "width": 2,
                                               "image_size": 64, "batch_size": 64}}


def exactness(url: str, study_id: int) -> str:
    """How many trials of the budget are missing or stored twice (numbers, progress points)."""
    found = row(url, study_id)
    numbers = [t.number for t in results.load_trials(url, study_id)]
    lost = len(set(range(found.n_trials)) - set(numbers))
    doubled = len(numbers) - len(set(numbers))
    points = [p.completed for p in results.progress_history(url, study_id)]
    return (f"{found.status}, {found.completed}/{found.n_trials} trials, {lost} lost, "
            f"{doubled} doubled, {len(points) - len(set(points))} progress points doubled")


def lost_commits(url: str) -> list[str]:
    """Batch and claim COMMITs whose answers are lost in flight (a TCP proxy drops them)."""
    lines = []
    with PgFaultProxy() as proxy:
        through = proxy.url(url.rsplit("/", 1)[1])
        study_id = submit(url, "lost-commits", COST)
        runner = Runner(database_url=through, poll_s=0.2, heartbeat_s=1.0)
        runner.start()
        try:
            for batch in (1, 4, 7):  # lose the answers of three batches' COMMITs
                wait(lambda b=batch: row(url, study_id).completed >= b * 10)
                proxy.lose_commit_answer(b"INSERT INTO epim_trials")
            wait(lambda: row(url, study_id).status in results.FINISHED)
            lines.append(f"3 batch COMMIT answers lost ({proxy.lost_commits} dropped): "
                         f"{exactness(url, study_id)}")
            proxy.lose_commit_answer(b"epim_studies.runs +")
            claimed = submit(url, "lost-claim", COST, n_trials=20)
            first = wait(lambda: row(url, claimed).completed > 0)
            wait(lambda: row(url, claimed).status in results.FINISHED)
            lines.append(f"claim COMMIT answer lost: first batch stored {first:.1f} s after "
                         f"submission (the stale-claim timeout is 60 s), "
                         f"{exactness(url, claimed)}, runs {row(url, claimed).runs}")
        finally:
            runner.stop()
            results.make_engine(through).dispose()
    return lines


def runaway(url: str) -> list[str]:
    """Seconds to stop a study that trains its dense start for 100,000 steps."""
    env = {**os.environ, "EPIM_DATABASE_URL": url, "EPIM_HEARTBEAT_S": "1"}
    lines = []
    cancelled = submit(url, "runaway-cancel", RUNAWAY)
    timed = submit(url, "runaway-timeout", RUNAWAY, timeout_s=20)
    runner = epim(["runner"], env)
    try:
        wait(lambda: row(url, cancelled).status == "running")
        time.sleep(5)  # deep in the dense pretraining
        asked = time.monotonic()
        results.request_cancel(url, cancelled)
        wait(lambda: row(url, cancelled).status in results.FINISHED)
        lines.append(f"runaway study, cancel: {row(url, cancelled).status} "
                     f"{time.monotonic() - asked:.1f} s after the request")
        wait(lambda: row(url, timed).status in results.FINISHED, timeout=120)
        found = row(url, timed)
        assert found.started_at is not None and found.finished_at is not None
        wall = (found.finished_at - found.started_at).total_seconds()
        lines.append(f"runaway study, budget.timeout_s 20: {found.status} {wall:.1f} s after "
                     f"its claim ({wall - 20:.1f} s past its timeout; run time stored "
                     f"{found.elapsed_s:.1f} s)")
        stopped = submit(url, "runaway-sigterm", RUNAWAY)
        wait(lambda: row(url, stopped).status == "running")
        time.sleep(5)
        signalled = time.monotonic()
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=120)
        lines.append(f"runaway study, SIGTERM: runner exited after "
                     f"{time.monotonic() - signalled:.1f} s, study {row(url, stopped).status}")
        results.request_cancel(url, stopped)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    return lines


def held_by(url: str, study_id: int, pid: int) -> bool:
    """Whether the process ``pid`` runs the study."""
    found = row(url, study_id)
    return found.status == "running" and f":{pid}:" in str(found.owner)


def poison(url: str) -> list[str]:
    """A proxy over the worker's memory limit; a study whose runners keep dying."""
    env = {**os.environ, "EPIM_DATABASE_URL": url, "EPIM_HEARTBEAT_S": "1",
           "EPIM_WORKER_MAX_BYTES": str(3 * 2**28)}
    lines = []
    hungry = submit(url, "hungry", HUNGRY)
    after = submit(url, "after-hungry", COST, n_trials=20)
    runner = epim(["runner"], env)
    try:
        wait(lambda: row(url, hungry).status != "queued")
        claimed = time.monotonic()
        wait(lambda: row(url, hungry).status in results.FINISHED)
        failed_after = time.monotonic() - claimed
        wait(lambda: row(url, after).status in results.FINISHED)
        found = row(url, hungry)
        lines.append(f"proxy over the 0.75 GiB worker limit: {found.status} {failed_after:.1f} s "
                     f"after its claim ({(found.error or '')[:90]}...); runner alive: "
                     f"{runner.poll() is None}; next study {row(url, after).status}")
    finally:
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=120)
    doomed = submit(url, "doomed", RUNAWAY)
    kills = 0
    started = time.monotonic()
    while row(url, doomed).status not in results.FINISHED and kills < 10:
        runner = epim(["runner"], env)
        try:
            wait(lambda pid=runner.pid: held_by(url, doomed, pid)
                 or row(url, doomed).status in results.FINISHED)
            if row(url, doomed).status in results.FINISHED:
                break
            time.sleep(2)
            os.killpg(runner.pid, signal.SIGKILL)  # as the kernel's OOM killer would
            runner.wait()
            kills += 1
        finally:
            if runner.poll() is None:
                os.killpg(runner.pid, signal.SIGTERM)
                runner.wait(timeout=120)
    found = row(url, doomed)
    lines.append(f"runner killed each time it ran the study: {found.status} after {kills} "
                 f"kills and {found.runs} claims ({time.monotonic() - started:.0f} s): "
                 f"{found.error}")
    return lines


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


#: The cases, in the order they run, and whether they need PostgreSQL.
CASES: dict[str, tuple[Callable[[str], str | list[str]], bool]] = {
    "killed": (killed_runner, False), "stopped": (stopped_server, False),
    "outage": (outage, True), "lost-commits": (lost_commits, True),
    "runaway": (runaway, False), "poison": (poison, False)}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Recovery times of the service.")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="Comma-separated, of: " + ", ".join(CASES))
    chosen = [c.strip() for c in parser.parse_args().cases.split(",") if c.strip()]
    unknown = set(chosen) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")

    def run(url: str, label: str, postgresql: bool) -> None:
        for name in chosen:
            case, needs_postgresql = CASES[name]
            if needs_postgresql and not postgresql:
                continue
            found = case(url)
            for line in [found] if isinstance(found, str) else found:
                print(f"{label:11s}{line}", flush=True)

    sqlite = f"sqlite:///{tempfile.mkdtemp()}/recovery.db"
    results.upgrade(sqlite)
    run(sqlite, "sqlite", postgresql=False)
    with postgres() as url:
        run(url, "postgresql", postgresql=True)


if __name__ == "__main__":
    main()
