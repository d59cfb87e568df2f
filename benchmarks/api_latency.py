"""Service figures: latency of ``GET /studies/{id}/pareto`` on a 10,000-trial study, and
studies completed under concurrent submissions.

1. A study with 10,000 stored trials (real cost-model metrics of random resnet18 designs, the
   front computed by the driver's own code) on SQLite and PostgreSQL; p50/p99 of
   ``/pareto``, ``/pareto?x=&y=`` and ``/trials?sort=`` over 200 requests each (in-process
   ASGI client, so the numbers are the service's, not the network's).
2. 16 small cost-only studies submitted from 8 threads at once to a real ``epim serve`` with 2
   runners; wall time until all completed, and a check that each ran exactly once.

    .venv/bin/python benchmarks/api_latency.py
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
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from epim import results
from epim.api import Settings, create_app
from epim.cost_model import CostModel, load_hardware
from epim.search import StudySpec, build_space, pareto_front
from epim.search._driver import TrialRecord
from epim.search._metrics import cost_metrics
from epim.service import prepare_database
from epim.workloads import get_network

SPEC = {"name": "big", "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                       {"metric": "energy_j"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
        "budget": {"n_trials": 10_000}}


def fill(url: str, n: int = 10_000) -> int:
    spec = StudySpec.model_validate(SPEC)
    network = get_network("resnet18")
    space = build_space(spec, network)
    rng = np.random.default_rng(0)
    params = [{k: int(rng.choice(v)) for k, v in space.parameters().items()} for _ in range(n)]
    designs = space.decode_batch(params)
    model = CostModel(network=network, hardware=load_hardware("mnsim"))
    dense = cost_metrics(model.evaluate(type(designs).dense(network, 1, 16, 16)),
                         {"crossbar_area_m2": 1, "energy_j": 1, "latency_s": 1},
                         "layer_by_layer")
    baseline = {k: float(v[0]) for k, v in dense.items()}
    metrics = cost_metrics(model.evaluate(designs), baseline, "layer_by_layer")
    records = []
    for i in range(n):
        row = {k: float(v[i]) for k, v in metrics.items()}
        records.append(TrialRecord(i, row, {}, "", [], row["crossbar_area_reduction"] >= 10,
                                   False))
    front, volume = pareto_front([r for r in records if r.feasible],
                                 ["crossbar_area_m2", "latency_s", "energy_j"],
                                 ["minimize"] * 3, baseline)
    study = results.create_study(url, name="big", spec=spec.model_dump(mode="json"),
                                 n_trials=n)
    payload = [{"number": r.number, "state": "complete", "feasible": r.feasible,
                "metrics": r.metrics, "constraints": [], "design": {}, "layers": {},
                "error": None} for r in records]
    for start in range(0, n, 1000):
        results.record_trials(url, study.id, payload[start:start + 1000],
                              [r.number for r in front],
                              {"completed": start + 1000, "feasible": 0, "failed": 0,
                               "hypervolume": volume})
    return study.id


def percentiles(client: TestClient, path: str, n: int = 200) -> str:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    p50, p99 = np.percentile(times, [50, 99]) * 1e3
    return f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"


def latency(url: str, label: str) -> None:
    prepare_database(url)
    study_id = fill(url)
    with TestClient(create_app(Settings(database_url=url))) as client:
        front = client.get(f"/studies/{study_id}/pareto").json()
        print(f"{label}: 10,000 trials, front of {len(front['trials'])}")
        print(f"  GET /studies/id/pareto            "
              f"{percentiles(client, f'/studies/{study_id}/pareto')}")
        print(f"  GET /studies/id/pareto?x=&y=      "
              f"{percentiles(client, f'/studies/{study_id}/pareto?x=latency_s&y=energy_j', 50)}")
        print(f"  GET /studies/id/trials?sort=      "
              f"{percentiles(client, f'/studies/{study_id}/trials?sort=energy_j&limit=50', 100)}")


def concurrent_submissions(url: str) -> None:
    prepare_database(url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "epim.cli", "serve", "--port", str(port),
                               "--database-url", url, "--runners", "2"],
                              env={**os.environ, "EPIM_HEARTBEAT_S": "0.5"},
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        spec = {"network": "resnet20", "objectives": [{"metric": "crossbar_area_m2"},
                                                      {"metric": "energy_j"}],
                "sampler": {"name": "nsga2", "seed": 0, "population_size": 10},
                "budget": {"n_trials": 30}, "batch_size": 10}
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda i: httpx.post(f"{base}/studies", timeout=30, json={
                **spec, "name": f"c{i}"}).json()["id"], range(16)))
        while True:
            statuses = [httpx.get(f"{base}/studies/{i}").json()["status"] for i in ids]
            if all(s in ("completed", "failed", "cancelled") for s in statuses):
                break
            time.sleep(0.5)
        wall = time.perf_counter() - start
        rows = [results.get_study(url, i) for i in ids]
        once = all(r is not None and r.runs == 1 and r.completed_trials == 30 for r in rows)
        print(f"16 concurrent submissions, 2 runners: {statuses.count('completed')}/16 "
              f"completed in {wall:.1f} s, each ran exactly once: {once}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    latency(f"sqlite:///{tempfile.mkdtemp()}/latency.db", "sqlite")
    name = f"epim_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test",
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        latency(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "postgresql")
        concurrent_submissions(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    finally:
        results.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}").dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
