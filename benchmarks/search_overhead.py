"""Driver overhead: trials per second of a cost-only study through the driver vs a bare
Optuna ask/tell loop with the same sampler, distributions and storage, measured in one run.

The bare loop asks with the study's distributions, computes a stand-in objective from the
parameters and tells it (with the same number of constraint values); the driver also decodes,
scores the batch with the cost model and stores each trial's record. SQLite, and PostgreSQL
when reachable.

    .venv/bin/python benchmarks/search_overhead.py [--trials 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

import optuna

from epim.search import StudyDriver, StudySpec, make_sampler
from epim.search.executors import LocalExecutor

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def spec(name: str, trials: int) -> StudySpec:
    return StudySpec.model_validate({
        "name": name, "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
        "sampler": {"name": "nsga2", "seed": 0}, "budget": {"n_trials": trials},
        "batch_size": 25})


def driver_rate(url: str, trials: int) -> float:
    s = spec(f"drv-{uuid.uuid4().hex[:8]}", trials)
    start = time.perf_counter()
    driver = StudyDriver(s, storage=url, executor=LocalExecutor())
    driver.run()
    rate = trials / (time.perf_counter() - start)
    optuna.delete_study(study_name=s.name, storage=url)
    return rate


def bare_rate(url: str, trials: int) -> float:
    s = spec(f"bare-{uuid.uuid4().hex[:8]}", trials)
    reference = StudyDriver(s, storage=optuna.storages.InMemoryStorage(),
                            executor=LocalExecutor())  # only for the distributions
    distributions = reference.distributions
    start = time.perf_counter()
    study = optuna.create_study(storage=url, study_name=s.name, sampler=make_sampler(s),
                                directions=["minimize", "minimize"])
    done = 0
    while done < trials:
        batch = [study.ask(distributions) for _ in range(min(25, trials - done))]
        for trial in batch:
            values = [float(sum(trial.params.values())), float(len(trial.params))]
            trial.set_user_attr("epim", {"values": values})
            trial.set_constraint("c0", -1.0)
            study.tell(trial, values)
        done += len(batch)
    rate = trials / (time.perf_counter() - start)
    optuna.delete_study(study_name=s.name, storage=url)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/overhead.db"}
    try:
        optuna.storages.RDBStorage(POSTGRES)
        urls["postgresql"] = POSTGRES
    except Exception as exc:  # not reachable: report and measure SQLite only
        print(f"postgresql not reachable ({type(exc).__name__}); SQLite only")
    for label, url in urls.items():
        bare = bare_rate(url, args.trials)
        driven = driver_rate(url, args.trials)
        print(f"{label:<10} bare ask/tell {bare:7.2f} trials/s | driver {driven:7.2f} trials/s"
              f" | overhead {bare / driven:.2f}x")


if __name__ == "__main__":
    main()
