"""Front quality at equal wall clock: layerwise vs NSGA-II vs random vs the uniform hand grid.

Each method runs the same study (a network on Fashion-MNIST, objectives crossbar area and
proxy accuracy, at least 3x less crossbar area than dense 16-bit) under the same
``budget.timeout_s``, in its own process, so everything a study does counts: pretraining the
dense start, profiling, screening, training. The uniform grid trains the hand designs (every
layer the same wrapping rank and bits, ``SearchSpace.uniform_choices``) in order until the
time is up. Reported: the hypervolume of (crossbar area / dense, 1 - accuracy) with reference
point (1, 1), as the study computes it, and the ratios of layerwise to each baseline, measured
in this run.

    .venv/bin/python benchmarks/search_quality.py [--network resnet20] [--budget 150]
        [--seeds 1] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

METHODS = ("layerwise", "nsga2", "random", "uniform")


def spec(network: str, method: str, seed: int, budget: float, width: float = 0.25,
         pretrain: int = 300) -> dict[str, Any]:
    """The study each method runs."""
    sampler: dict[str, Any] = {"name": method, "seed": seed}
    batch = 10
    if method == "uniform":
        sampler = {"name": "nsga2", "seed": seed, "warm_start": True, "population_size": 10}
    elif method == "nsga2":
        sampler["population_size"] = 10
    elif method == "layerwise":
        batch = 4
    return {
        "name": f"{network}-{method}-{seed}", "network": network,
        "space": {"epitome": {"pim_aligned": False}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "sampler": sampler, "batch_size": batch,
        "budget": {"n_trials": 100_000, "timeout_s": budget},
        "accuracy": {"proxy": "train", "dataset": "fashion-mnist", "steps": 40, "width": width,
                     "lr": 0.05, "pretrain_steps": pretrain, "eval_samples": 2000},
        "executor": {"kind": "local", "cpus_per_trial": 1},
    }


def run_one(study: dict[str, Any], uniform_only: bool) -> dict[str, Any]:
    """Run a study in this process; the summary as a dict (what ``--child`` prints)."""
    from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
    from epim.search.executors import LocalExecutor
    from epim.service import make_accuracy

    parsed = StudySpec.model_validate(study)
    prepared = prepare_study(parsed)
    if uniform_only:  # exactly the hand designs, in order, then stop
        count = len(prepared.space.uniform_choices())
        parsed = parsed.model_copy(update={"budget": parsed.budget.model_copy(
            update={"n_trials": count})})
        prepared = prepare_study(parsed)
    store = MemoryStore()
    start = time.perf_counter()
    result = StudyDriver(prepared, store=store, executor=LocalExecutor(),
                         accuracy=make_accuracy(parsed)).run()
    trials = [r for r in store.study.records if r.state != "screened"]
    return {"hypervolume": result.progress.hypervolume, "trials": len(trials),
            "trained": sum(1 for r in store.study.records if r.fidelity is not None),
            "front": len(store.front), "wall_s": time.perf_counter() - start,
            "reason": result.reason}


def child(network: str, method: str, seed: int, budget: float, width: float,
          pretrain: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child",
               json.dumps([network, method, seed, budget, width, pretrain])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", default="resnet20")
    parser.add_argument("--budget", type=float, default=150.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--pretrain", type=int, default=300)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        network, method, seed, budget, width, pretrain = json.loads(args.child)
        print(json.dumps(run_one(spec(network, method, seed, budget, width, pretrain),
                                 method == "uniform")))
        return
    methods = args.methods.split(",")
    jobs = [(m, s) for s in range(args.seeds) for m in methods]
    with ThreadPoolExecutor(args.parallel) as pool:
        outcomes = list(pool.map(lambda job: child(args.network, job[0], job[1], args.budget,
                                                   args.width, args.pretrain), jobs))
    table: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for (method, _), outcome in zip(jobs, outcomes, strict=True):
        table[method].append(outcome)
    print(f"{args.network} (width {args.width}, {args.pretrain}-step dense start), "
          f"Fashion-MNIST, 40-step proxy, crossbar area >= 3x below dense "
          f"16-bit, {args.budget:.0f} s per study (pretraining and profiling included), "
          f"{args.seeds} seed(s), {args.parallel} studies at a time")
    for method in methods:
        rows = table[method]
        volume = [r["hypervolume"] for r in rows]

        def mean(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return float(np.mean([r[key] for r in rows]))

        seeds = ", ".join(f"{v:.4f}" for v in volume)
        print(f"{method:<10} hypervolume {np.mean(volume):.4f} (seeds: {seeds}) trials "
              f"{mean('trials'):.0f} trainings {mean('trained'):.0f} front {mean('front'):.1f} "
              f"wall {mean('wall_s'):.0f} s")
    if "layerwise" in table:
        ours = np.mean([r["hypervolume"] for r in table["layerwise"]])
        ratios = [f"layerwise/{m} {ours / np.mean([r['hypervolume'] for r in table[m]]):.3f}x"
                  for m in methods if m != "layerwise"]
        print("ratios (goal >= 1.10x each): " + ", ".join(ratios))


if __name__ == "__main__":
    main()
