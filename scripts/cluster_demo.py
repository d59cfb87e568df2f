"""The docker-compose topology, for real, as processes on one machine (no Docker).

Starts a Ray head and a Ray worker (each with its own temp dir), two ``epim runner``
processes and the API (``epim serve --runners 0``) on one PostgreSQL database; submits two
studies over HTTP; checks that their proxy evaluations ran on both Ray nodes, that each study
ran exactly once and that the fronts are served; then stops everything it started, by PID.

    .venv/bin/python scripts/cluster_demo.py [--database-url URL]

Without ``--database-url`` it creates a throwaway database on the machine's PostgreSQL
(127.0.0.1:5432, trust auth) and drops it at the end. ``make cluster-demo`` runs this.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
STUDY: dict[str, Any] = {
    "network": "resnet20",
    "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 8}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 20, "width": 0.25,
                 "batch_size": 32, "eval_samples": 200},
    "executor": {"kind": "ray", "cpus_per_trial": 1},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Processes started here, stopped by PID (their whole process group) at the end."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], log: Path
              ) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new database on the machine's PostgreSQL, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"epim_demo_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_for(check: Any, timeout: float, what: str, processes: Processes) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.started:
            if process.poll() is not None and not name.startswith("ray-"):
                raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, ConnectionError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def run(database_url: str, workdir: Path) -> dict[str, Any]:
    """Bring the topology up, run two studies, check them, tear down; returns the findings."""
    env = {**os.environ, "EPIM_DATABASE_URL": database_url, "RAY_AUTH_MODE": "disabled",
           "EPIM_HEARTBEAT_S": "1", "PYTHONUNBUFFERED": "1"}
    processes = Processes()
    ray_port, api_port = free_port(), free_port()
    # Ray's Unix sockets need short paths: its temp dirs live directly under /tmp.
    ray_tmp = Path(tempfile.mkdtemp(prefix="epim-ray-", dir="/tmp"))
    base = f"http://127.0.0.1:{api_port}"
    try:
        subprocess.run([str(BIN / "epim"), "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
                  "--block"]
        processes.start("ray-head", [str(BIN / "ray"), "start", "--head", f"--port={ray_port}",
                                     "--include-dashboard=false",
                                     f"--ray-client-server-port={free_port()}",
                                     f"--temp-dir={ray_tmp / 'head'}", *common],
                        env, workdir / "ray-head.log")
        env["RAY_ADDRESS"] = f"127.0.0.1:{ray_port}"
        time.sleep(3)
        processes.start("ray-worker", [str(BIN / "ray"), "start",
                                       f"--address=127.0.0.1:{ray_port}",
                                       f"--temp-dir={ray_tmp / 'worker'}", *common],
                        env, workdir / "ray-worker.log")

        def two_nodes() -> bool:
            result = subprocess.run(
                [sys.executable, "-c", "import ray; ray.init(log_to_driver=False); "
                 "print(sum(n['Alive'] for n in ray.nodes()))"],
                env=env, capture_output=True, text=True, timeout=60)
            return result.stdout.strip().endswith("2")

        wait_for(two_nodes, 90, "both Ray nodes", processes)
        for i in range(2):
            processes.start(f"runner-{i}", [str(BIN / "epim"), "runner"], env,
                            workdir / f"runner-{i}.log")
        processes.start("api", [str(BIN / "epim"), "serve", "--runners", "0", "--port",
                                str(api_port)], env, workdir / "api.log")
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60,
                 "the API", processes)
        ids = []
        for name in ("demo-a", "demo-b"):
            response = httpx.post(f"{base}/studies", json={**STUDY, "name": name}, timeout=30)
            response.raise_for_status()
            ids.append(response.json()["id"])

        def finished() -> bool:
            statuses = [httpx.get(f"{base}/studies/{i}", timeout=5).json()["status"]
                        for i in ids]
            return all(s in ("completed", "failed", "cancelled") for s in statuses)

        wait_for(finished, 600, "both studies", processes)
        findings: dict[str, Any] = {"studies": {}}
        nodes: set[str] = set()
        for study_id in ids:
            study = httpx.get(f"{base}/studies/{study_id}", timeout=5).json()
            front = httpx.get(f"{base}/studies/{study_id}/pareto", timeout=5).json()
            chart = httpx.get(f"{base}/studies/{study_id}/pareto.svg", timeout=5)
            from epim import results

            row = results.get_study(database_url, study_id)
            assert row is not None
            study_nodes = {t.node for t in results.load_trials(database_url, study_id)
                           if t.node}
            nodes |= study_nodes
            findings["studies"][study_id] = {
                "status": study["status"], "runs": row.runs, "owner": row.owner,
                "completed": study["progress"]["completed"],
                "front": len(front["trials"]), "chart": chart.status_code == 200
                and "<svg" in chart.text, "nodes": len(study_nodes)}
        findings["ray_nodes_used"] = len(nodes)
        return findings
    finally:
        processes.stop()
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="epim-cluster-"))
    if args.database_url:
        findings = run(args.database_url, workdir)
    else:
        with throwaway_database() as url:
            findings = run(url, workdir)
    for study_id, info in findings["studies"].items():
        print(f"study {study_id}: {info}")
    print(f"Ray nodes that ran proxy evaluations: {findings['ray_nodes_used']}")
    print(f"logs: {workdir}")
    ok = findings["ray_nodes_used"] == 2 and all(
        s["status"] == "completed" and s["runs"] == 1 and s["front"] > 0 and s["chart"]
        for s in findings["studies"].values())
    print("cluster demo: OK" if ok else "cluster demo: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
