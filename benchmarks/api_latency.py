"""Service figures: read latency of the API on a large study, idle and while a study trains.

1. (default) A study with 10,000 stored trials (a real cost-only random study on resnet18) on
   SQLite and PostgreSQL; p50/p99 of ``/pareto``, ``/pareto?x=&y=`` and ``/trials?sort=``
   (in-process ASGI client, so the numbers are the service's, not the network's). Then 16
   small cost-only studies submitted from 8 threads at once to a real ``epim serve`` with 2
   runners: wall time until all completed, and a check that each ran exactly once.
2. ``--training``: a real ``epim serve`` on a database holding a 3,000-trial study; 8 client
   processes read ``/studies``, ``/studies/{id}/pareto`` and ``/studies/{id}/trials`` over HTTP
   for ``--seconds`` each, (a) idle, (b) while a proxy-training study runs in the same
   ``epim serve`` (its runner is a child process), and (c) for comparison, while the same
   study runs in a runner inside the API's own process (how ``epim serve`` ran studies
   before). Prints p50/p99 of the three side by side, and the ratios to idle. ``--quick``
   (SQLite, 10 s per load, no in-process row): under 3 minutes.
3. ``--compare [REV]``: the read paths of this tree against those of git revision ``REV``
   (default: the commit before the read paths were reworked), side by side in one run, on
   studies of 3,000 and 10,000 trials (``--sizes``): the server's CPU time per request of
   each endpoint (process CPU over 100 requests through the ASGI app in one process, the
   thread pool included, so it hardly depends on the machine's load), then p50/p99 of 8
   client processes reading ``/studies``, ``/pareto`` and ``/trials`` over HTTP from a real
   ``epim serve`` of each tree (idle). Rounds alternate between the trees.

    .venv/bin/python benchmarks/api_latency.py
    .venv/bin/python benchmarks/api_latency.py --training [--database sqlite|postgresql]
    .venv/bin/python benchmarks/api_latency.py --training --quick
    .venv/bin/python benchmarks/api_latency.py --compare [REV] [--database sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from epim import results
from epim.api import create_app
from epim.search import StudySpec
from epim.service import run_study_here
from epim.settings import Settings

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
#: The commit before the API's read paths were reworked (fragments, kept fronts, projections).
BEFORE = "6ded299bf863ed87812347bed0cbfed79bef57d8"
#: A long training study (digits, 60-step proxy, a dense start): it trains for minutes.
TRAINING: dict[str, Any] = {
    "name": "training", "network": "resnet20",
    "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 8},
    "budget": {"n_trials": 5000}, "batch_size": 8,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 60, "width": 0.5,
                 "batch_size": 64, "eval_samples": 300, "pretrain_steps": 100},
}


def fill(url: str, n: int) -> int:
    """A completed cost-only study of ``n`` trials (real designs, metrics and front)."""
    spec = StudySpec.model_validate({
        "name": f"big-{n}", "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                       {"metric": "energy_j"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
        "sampler": {"name": "random", "seed": 0}, "budget": {"n_trials": n},
        "batch_size": 1000})
    row = run_study_here(spec, url)
    assert row.status == "completed" and row.completed == n, (row.status, row.error)
    return row.id


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
    results.ensure_schema(url)
    study_id = fill(url, 10_000)
    with TestClient(create_app(Settings(database_url=url))) as client:
        front = client.get(f"/studies/{study_id}/pareto").json()
        print(f"{label}: 10,000 trials, front of {len(front['trials'])}")
        print(f"  GET /studies/id/pareto            "
              f"{percentiles(client, f'/studies/{study_id}/pareto')}")
        print(f"  GET /studies/id/pareto?x=&y=      "
              f"{percentiles(client, f'/studies/{study_id}/pareto?x=latency_s&y=energy_j', 50)}")
        print(f"  GET /studies/id/trials?sort=      "
              f"{percentiles(client, f'/studies/{study_id}/trials?sort=energy_j&limit=50', 100)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the server did not become healthy")


#: The process of each running server (by base URL): the API's own process.
PIDS: dict[str, int] = {}


@contextmanager
def server(url: str, *, in_process_runner: bool = False, runners: int = 1,
           tree: str | None = None) -> Iterator[str]:
    """A real ``epim serve`` (or an API whose runner lives in its own process), its base URL.

    ``tree``: the directory whose ``epim`` package it runs (default: the installed one).
    """
    port = free_port()
    env = {**os.environ, "EPIM_HEARTBEAT_S": "0.5", "EPIM_DATABASE_URL": url}
    if tree is not None:
        env["PYTHONPATH"] = tree
    if in_process_runner:  # how `epim serve` ran studies before: a thread of the API
        code = ("import uvicorn; from epim.api import create_app; from epim.service import "
                "Runner; from epim.settings import Settings; "
                f"uvicorn.run(create_app(Settings(database_url={url!r}), runners=[Runner("
                f"database_url={url!r}, heartbeat_s=0.5, isolated=False)]), "
                f"host='127.0.0.1', port={port}, log_level='warning')")
        command = [sys.executable, "-c", code]
    else:
        command = [sys.executable, "-m", "epim.cli", "serve", "--port", str(port),
                   "--runners", str(runners)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               cwd=tree)  # `python -m` puts the working directory first
    base = f"http://127.0.0.1:{port}"
    PIDS[base] = process.pid
    try:
        wait_healthy(base, process)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)


def _client(base: str, study_id: int, index: int, seconds: float) -> tuple[list[float], int]:
    """One client (its own process): latencies (s) of its reads and its non-2xx answers."""
    paths = ["/studies", f"/studies/{study_id}/pareto",
             f"/studies/{study_id}/trials?limit=50&sort=energy_j"]
    times: list[float] = []
    bad = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        http.get("/healthz")  # connected before the clock starts
        stop_at = time.monotonic() + seconds
        i = index
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            response = http.get(paths[i % len(paths)])
            times.append(time.perf_counter() - start)
            bad += response.status_code >= 300
            i += 1
    return times, bad


def read_load(base: str, study_id: int, clients: int, seconds: float
              ) -> tuple[float, float, int, int]:
    """p50, p99 (ms), requests and non-2xx answers of ``clients`` processes reading a while.

    Each client is a process of its own, so the clients do not queue for one interpreter.
    """
    with ProcessPoolExecutor(clients) as pool:
        done = list(pool.map(_client, [base] * clients, [study_id] * clients,
                             range(clients), [seconds] * clients))
    times = [t for mine, _ in done for t in mine]
    p50, p99 = np.percentile(times, [50, 99]) * 1e3
    return float(p50), float(p99), len(times), sum(bad for _, bad in done)


def training_load(url: str, label: str, clients: int, seconds: float,
                  quick: bool = False) -> None:
    """Reads of a 3,000-trial study: idle, beside a training study (child runner, in-process).

    ``quick``: without the in-process runner (the comparison with how it ran before).
    """
    results.ensure_schema(url)
    big = fill(url, 3000)
    print(f"{label}: stored a 3,000-trial study", flush=True)
    rows: list[tuple[str, tuple[float, float, int, int]]] = []
    with server(url, runners=1) as base:
        rows.append(("idle (no study running)", read_load(base, big, clients, seconds)))
        print(f"  {rows[-1][0]} measured", flush=True)
        rows.append(("training, runner in a child process (epim serve)",
                     _while_training(base, url, "child", big, clients, seconds)))
        print(f"  {rows[-1][0]} measured", flush=True)
    if not quick:
        with server(url, in_process_runner=True) as base:
            rows.append(("training, runner in the API's process (before)",
                         _while_training(base, url, "in-process", big, clients, seconds)))
    idle = rows[0][1]
    print(f"{label}: {clients} clients reading /studies, /pareto and /trials of a 3,000-trial "
          f"study for {seconds:.0f} s each")
    for name, (p50, p99, n, bad) in rows:
        print(f"  {name:50s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({p50 / idle[0]:4.1f}x, "
              f"{p99 / idle[1]:4.1f}x idle)  {n} requests, {bad} not 2xx")


def _while_training(base: str, url: str, tag: str, big: int, clients: int, seconds: float
                    ) -> tuple[float, float, int, int]:
    spec = {**TRAINING, "name": f"training-{tag}"}
    study_id = httpx.post(f"{base}/studies", json=spec, timeout=30).json()["id"]
    deadline = time.monotonic() + 300
    while True:  # the dense start is trained and designs are being trained
        row = results.get_study(url, study_id)
        if row is not None and row.baseline is not None:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the training study did not start")
        time.sleep(0.5)
    measured = read_load(base, big, clients, seconds)
    row = results.get_study(url, study_id)
    assert row is not None and row.status == "running", "the study stopped during the reads"
    httpx.post(f"{base}/studies/{study_id}/cancel", timeout=30)
    return measured


def concurrent_submissions(url: str) -> None:
    results.ensure_schema(url)
    with server(url, runners=2) as base:
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
            if all(s in results.FINISHED for s in statuses):
                break
            time.sleep(0.5)
        wall = time.perf_counter() - start
        rows = [results.get_study(url, i) for i in ids]
        once = all(r is not None and r.runs == 1 and r.completed == 30 for r in rows)
        print(f"16 concurrent submissions, 2 runners: {statuses.count('completed')}/16 "
              f"completed in {wall:.1f} s, each ran exactly once: {once}")


#: What ``--compare`` times, per request (``{id}``: the study).
ENDPOINTS = ["/studies", "/studies/{id}/pareto", "/studies/{id}/pareto?x=latency_s&y=energy_j",
             "/studies/{id}/trials?limit=50", "/studies/{id}/trials?limit=50&sort=energy_j",
             "/studies/{id}/trials?limit=1000"]


async def _asgi_get(app: Any, path: str) -> tuple[int, bytes]:
    """``GET path`` straight through the ASGI app (no client, no socket)."""
    route, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": route, "raw_path": route.encode(),
             "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1),
             "server": ("bench", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


def server_cpu(url: str, study_id: int, requests: int) -> dict[str, list[float]]:
    """Per endpoint: CPU time of its first request and per request after (ms), and its bytes.

    Process CPU time (every thread: the app's thread pool included) through the ASGI app of
    the ``epim`` importable here (``--compare`` runs this in a child process per tree).
    """
    from epim.api import create_app as app_of  # the tree's, whatever this file imported

    app = app_of(Settings(database_url=url))

    async def measure() -> dict[str, list[float]]:
        await _asgi_get(app, "/healthz")
        found: dict[str, list[float]] = {}
        for template in ENDPOINTS:
            path = template.format(id=study_id)
            start = time.process_time()
            code, body = await _asgi_get(app, path)
            first = time.process_time() - start
            assert code == 200, body[:300]
            start = time.process_time()
            for _ in range(requests):
                await _asgi_get(app, path)
            found[template] = [first * 1e3, (time.process_time() - start) / requests * 1e3,
                               float(len(body))]
        return found

    return asyncio.run(measure())


def checkout(revision: str) -> str:
    """The ``epim`` package of git ``revision``, extracted to a temporary directory."""
    root = Path(__file__).resolve().parent.parent
    target = tempfile.mkdtemp(prefix="epim-before-")
    archive = subprocess.run(["git", "-C", str(root), "archive", revision, "epim"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


def _server_cpu_of(tree: str, url: str, study_id: int, requests: int
                   ) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, __file__, "--server-cpu", url, str(study_id),
                          str(requests)], env=env, check=True, capture_output=True, text=True)
    found: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (s), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(url: str, label: str, revision: str, sizes: list[int], clients: int,
            seconds: float, rounds: int) -> None:
    """This tree's read paths against ``revision``'s, side by side (see the module's text)."""
    results.ensure_schema(url)
    trees = {"before": checkout(revision), "after": str(Path(__file__).resolve().parent.parent)}
    studies = {}
    for size in sizes:
        studies[size] = fill(url, size)
        print(f"{label}: stored a {size:,}-trial study", flush=True)
    for size, study_id in studies.items():
        best: dict[str, dict[str, list[float]]] = {}
        for round_ in range(rounds):  # alternate, keep each endpoint's least CPU
            for name, tree in trees.items():
                found = _server_cpu_of(tree, url, study_id, 100 if round_ else 30)
                kept = best.setdefault(name, found)
                for path, values in found.items():
                    kept[path] = [min(a, b) for a, b in zip(kept[path], values, strict=True)]
            print(f"  round {round_ + 1}/{rounds} done", flush=True)
        print(f"{label}, {size:,} trials: server CPU per request (ms; least of {rounds} "
              "rounds; first = the first request in a fresh process)")
        print(f"  {'endpoint':48s} {'before':>8s} {'after':>8s} {'ratio':>7s}   "
              f"{'first before':>12s} {'first after':>11s}   {'bytes':>9s}")
        for path in ENDPOINTS:
            first_b, before, size_b = best["before"][path]
            first_a, after, size_a = best["after"][path]
            same = "" if size_a == size_b else f" (before {size_b:,.0f})"
            print(f"  {path:48s} {before:8.2f} {after:8.2f} {before / after:6.1f}x   "
                  f"{first_b:12.1f} {first_a:11.1f}   {size_a:9,.0f}{same}")
    study_id = studies[min(sizes)]
    print(f"{label}: {clients} client processes reading /studies, /pareto and /trials of the "
          f"{min(sizes):,}-trial study for {seconds:.0f} s, a real epim serve of each tree "
          "(idle)", flush=True)
    for name, tree in trees.items():
        with server(url, runners=0, tree=tree) as base:
            cpu = _cpu_seconds(PIDS[base])
            p50, p99, n, bad = read_load(base, study_id, clients, seconds)
            used = _cpu_seconds(PIDS[base]) - cpu
            print(f"  {name:7s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {n / seconds:6.1f} "
                  f"requests/s  server CPU {used / n * 1e3:5.2f} ms/request  {bad} not 2xx",
                  flush=True)


@contextmanager
def postgres() -> Iterator[str]:
    name = f"epim_bench_{uuid.uuid4().hex[:8]}"
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--training", action="store_true",
                        help="Read latency under 8 clients while a study trains.")
    parser.add_argument("--quick", action="store_true",
                        help="With --training: SQLite only, 10 s per load, no in-process "
                             "runner row (under 3 minutes).")
    parser.add_argument("--compare", nargs="?", const=BEFORE, default=None, metavar="REV",
                        help="This tree's read paths against git revision REV's (default: "
                             "the commit before they were reworked).")
    parser.add_argument("--sizes", default="3000,10000",
                        help="With --compare: the studies' trial counts.")
    parser.add_argument("--rounds", type=int, default=3, help="With --compare: rounds.")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--server-cpu", nargs=3, metavar=("URL", "STUDY", "REQUESTS"),
                        help=argparse.SUPPRESS)  # one tree's side of --compare
    args = parser.parse_args()
    if args.server_cpu:
        url, study, requests = args.server_cpu
        print(json.dumps(server_cpu(url, int(study), int(requests))))
        return
    sqlite = f"sqlite:///{tempfile.mkdtemp()}/latency.db"
    if args.quick:
        args.database, args.seconds = "sqlite", min(args.seconds, 10.0)
    if args.compare:
        sizes = [int(n) for n in args.sizes.split(",")]
        if args.database in ("sqlite", "both"):
            compare(sqlite, "sqlite", args.compare, sizes, args.clients, args.seconds,
                    args.rounds)
        if args.database in ("postgresql", "both"):
            with postgres() as url:
                compare(url, "postgresql", args.compare, sizes, args.clients, args.seconds,
                        args.rounds)
        return
    if args.training:
        if args.database in ("sqlite", "both"):
            training_load(sqlite, "sqlite", args.clients, args.seconds, args.quick)
        if args.database in ("postgresql", "both"):
            with postgres() as url:
                training_load(url, "postgresql", args.clients, args.seconds, args.quick)
        return
    if args.database in ("sqlite", "both"):
        latency(sqlite, "sqlite")
    if args.database in ("postgresql", "both"):
        with postgres() as url:
            latency(url, "postgresql")
            concurrent_submissions(url)


if __name__ == "__main__":
    main()
