"""Search throughput: a stored cost-only study vs bare Optuna ask/tell in memory, in one run.

ResNet-50 (52 searched layers x {stored in, stored out, weight bits} = 156 parameters),
NSGA-II, cost-only objectives and a constraint. Measured side by side:

- ``bare``: Optuna in memory, the same sampler, the same distributions, asking and telling
  batches of the same size with a stand-in objective and one constraint value (no decoding,
  no cost model, no storage): the ceiling.
- ``stored``: ``epim study run``'s path (``run_study_here``): the study row, its claim and
  heartbeat, the cost model, and every batch written to the ``epim_`` tables in one
  transaction, on SQLite and on PostgreSQL. Goal: >= 0.8x the bare rate.
- decode + evaluate vs evaluate: one batch of designs decoded from parameter sets and scored,
  against scoring the already-decoded batch. Goal: decoding costs no more than evaluating.

    .venv/bin/python benchmarks/search_throughput.py [--trials 2000] [--encoding categorical]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import optuna
from sqlalchemy import create_engine, text

from epim.search import ParameterCodec, StudySpec, make_sampler, prepare_study
from epim.search._sampler import batch_size
from epim.service import run_study_here

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def spec(trials: int, encoding: str, seed: int = 0) -> StudySpec:
    return StudySpec.model_validate({
        "name": f"throughput-{uuid.uuid4().hex[:8]}", "network": "resnet50",
        "space": {"epitome": {"pim_aligned": False}, "weight_bits": [2, 3, 4, 5, 6, 8]},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
        "sampler": {"name": "nsga2", "seed": seed, "population_size": 50,
                    "encoding": encoding},
        "budget": {"n_trials": trials}, "batch_size": 50})


def bare_rate(study_spec: StudySpec) -> float:
    codec = ParameterCodec(prepare_study(study_spec).space,
                           study_spec.sampler.parameter_encoding)
    start = time.perf_counter()
    study = optuna.create_study(sampler=make_sampler(study_spec),
                                directions=["minimize", "minimize"])
    done, size = 0, batch_size(study_spec)
    while done < study_spec.budget.n_trials:
        batch = [study.ask(codec.distributions)
                 for _ in range(min(size, study_spec.budget.n_trials - done))]
        for trial in batch:
            values = [float(sum(trial.params.values())), float(len(trial.params))]
            trial.set_constraint("c0", -1.0)
            study.tell(trial, values)
        done += len(batch)
    return study_spec.budget.n_trials / (time.perf_counter() - start)


def stored_rate(study_spec: StudySpec, url: str) -> float:
    from epim.results import upgrade

    upgrade(url)  # once per deployment (SQLite would do it by itself)
    start = time.perf_counter()
    row = run_study_here(study_spec, url)
    assert row.status == "completed" and row.completed == study_spec.budget.n_trials
    return study_spec.budget.n_trials / (time.perf_counter() - start)


def decode_vs_evaluate(study_spec: StudySpec, n: int = 2000) -> tuple[float, float, float]:
    prepared = prepare_study(study_spec)
    codec = ParameterCodec(prepared.space, study_spec.sampler.parameter_encoding)
    rng = np.random.default_rng(0)
    params = [{k: (int(rng.integers(len(c))) if codec.encoding == "ordered"
                   else int(rng.choice(c))) for k, c in codec.choices.items()}
              for _ in range(n)]
    designs = codec.decode(params)
    best_decode, best_records, best_evaluate = np.inf, np.inf, np.inf
    for _ in range(3):
        start = time.perf_counter()
        decoded = codec.decode(params)
        decoded_at = time.perf_counter()
        decoded.digests(), decoded.to_dicts()  # what storing a batch needs besides costs
        recorded_at = time.perf_counter()
        prepared.model.evaluate(designs)
        end = time.perf_counter()
        best_decode = min(best_decode, decoded_at - start)
        best_records = min(best_records, recorded_at - decoded_at)
        best_evaluate = min(best_evaluate, end - recorded_at)
    return best_decode / n, best_records / n, best_evaluate / n


@contextmanager
def postgres() -> Iterator[str | None]:
    name = f"epim_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: SQLite only
        print(f"postgresql not reachable ({type(exc).__name__}); SQLite only")
        yield None
        return
    try:
        yield f"{SERVER}/{name}"
    finally:
        from epim.results import make_engine

        make_engine(f"{SERVER}/{name}").dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--encoding", choices=["categorical", "ordered"],
                        default="categorical")
    args = parser.parse_args()
    probe = spec(args.trials, args.encoding)
    print(f"resnet50, nsga2, {len(prepare_study(probe).space.parameters())} parameters, "
          f"{args.encoding}, {args.trials} trials, batches of {batch_size(probe)}")
    decode_s, records_s, evaluate_s = decode_vs_evaluate(probe)
    print(f"per design: decode {decode_s * 1e6:.1f} us, evaluate {evaluate_s * 1e6:.1f} us, "
          f"decode/evaluate {decode_s / evaluate_s:.2f}x (goal <= 1); hashes and design "
          f"documents for storage {records_s * 1e6:.1f} us")
    with postgres() as pg_url:
        urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/throughput.db"}
        if pg_url is not None:
            urls["postgresql"] = pg_url
        for label, url in urls.items():
            bare = bare_rate(spec(args.trials, args.encoding))
            stored = stored_rate(spec(args.trials, args.encoding), url)
            print(f"{label:<10} bare in-memory {bare:7.1f} trials/s | stored {stored:7.1f} "
                  f"trials/s | stored/bare {stored / bare:.2f}x (goal >= 0.8)")


if __name__ == "__main__":
    main()
