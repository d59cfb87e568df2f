"""Front quality at equal wall clock: layerwise vs NSGA-II vs random vs the uniform hand grid.

Each method runs the same study (a network on Fashion-MNIST, objectives crossbar area and
proxy accuracy, at least 3x less crossbar area than dense 16-bit) under the same
``budget.timeout_s``, in its own process, so everything a study does counts: pretraining the
dense start, profiling, screening, training. The uniform grid trains the hand designs (every
layer the same wrapping rank and bits, ``SearchSpace.uniform_choices``) in order until the
time is up. Every study also trains the uniform designs as references before its strategy
starts (what the service does), so each method's front is held to them. Reported per method,
mean and spread (sample standard deviation) over the seeds: the hypervolume of (crossbar area /
dense, 1 - accuracy) with reference point (1, 1), as the study computes it; the best proxy
accuracy among the complete trials with at least ``--bounds`` (10 and 20) times less crossbar
area than dense 16-bit (resnet20's space, first and last layers frozen at 8 bits, reaches
16.8x at most); and the ratios of layerwise to each baseline, measured in this run. A line is
printed as each study ends.

    .venv/bin/python benchmarks/search_quality.py [--network resnet20] [--budget 150]
        [--seeds 3] [--parallel 2] [--bounds 10,20]
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
         pretrain: int = 300, steps: int = 40, batch_designs: int = 8) -> dict[str, Any]:
    """The study each method runs."""
    sampler: dict[str, Any] = {"name": method, "seed": seed}
    batch = 10
    if method == "uniform":  # the references alone (``run_one`` stops after them)
        sampler = {"name": "random", "seed": seed}
    elif method == "nsga2":
        sampler["population_size"] = 10
    elif method == "layerwise":
        batch = 8  # one chunk of the batched proxy (``--batch-designs``)
    return {
        "name": f"{network}-{method}-{seed}", "network": network,
        "space": {"epitome": {"pim_aligned": False}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "sampler": sampler, "batch_size": batch,
        "budget": {"n_trials": 100_000, "timeout_s": budget},
        "accuracy": {"proxy": "train", "dataset": "fashion-mnist", "steps": steps, "width": width,
                     "lr": 0.02, "pretrain_steps": pretrain, "eval_samples": 2000,
                     "batch_designs": batch_designs},
        "executor": {"kind": "local", "cpus_per_trial": 1},
    }


def run_one(study: dict[str, Any], uniform_only: bool, bounds: list[float]) -> dict[str, Any]:
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
    scored = [(r.metrics["crossbar_area_reduction"], r.metrics["accuracy"]) for r in trials
              if r.state == "complete" and "accuracy" in r.metrics]
    best = {str(b): max([a for x, a in scored if x >= b], default=float("nan")) for b in bounds}
    return {"hypervolume": result.progress.hypervolume, "trials": len(trials),
            "best_at_bound": best,
            "trained": sum(1 for r in store.study.records if r.fidelity is not None),
            "front": len(store.front), "wall_s": time.perf_counter() - start,
            "reason": result.reason}


def child(network: str, method: str, seed: int, budget: float, width: float,
          pretrain: int, bounds: list[float], steps: int, batch_designs: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child",
               json.dumps([network, method, seed, budget, width, pretrain, bounds, steps,
                          batch_designs])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    outcome = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    best = ", ".join(f">= {b}x {a:.4f}" for b, a in outcome["best_at_bound"].items())
    print(f"  {method} seed {seed}: hypervolume {outcome['hypervolume']:.4f}, best accuracy "
          f"{best}, {outcome['trials']} trials, {outcome['wall_s']:.0f} s", flush=True)
    return outcome


def spread(values: list[float]) -> str:
    """``mean +- sample standard deviation`` of the finite values (``n/a`` if none)."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return "n/a"
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return f"{np.mean(finite):.4f} +- {sd:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", default="resnet20")
    parser.add_argument("--budget", type=float, default=150.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--pretrain", type=int, default=300)
    parser.add_argument("--steps", type=int, default=40, help="proxy training steps")
    parser.add_argument("--batch-designs", type=int, default=8,
                        help="designs trained together (accuracy.batch_designs)")
    parser.add_argument("--bounds", default="10,20",
                        help="crossbar-area reductions the best-accuracy columns are taken at")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        (network, method, seed, budget, width, pretrain, bounds, steps,
         batch_designs) = json.loads(args.child)
        print(json.dumps(run_one(spec(network, method, seed, budget, width, pretrain, steps,
                                      batch_designs), method == "uniform", bounds)))
        return
    methods = args.methods.split(",")
    bounds = [float(b) for b in args.bounds.split(",")]
    jobs = [(m, s) for s in range(args.seeds) for m in methods]
    print(f"{len(jobs)} studies of {args.budget:.0f} s, {args.parallel} at a time", flush=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        outcomes = list(pool.map(
            lambda job: child(args.network, job[0], job[1], args.budget, args.width,
                              args.pretrain, bounds, args.steps, args.batch_designs),
            jobs))
    table: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for (method, _), outcome in zip(jobs, outcomes, strict=True):
        table[method].append(outcome)
    print(f"{args.network} (width {args.width}, {args.pretrain}-step dense start), "
          f"Fashion-MNIST, {args.steps}-step proxy ({args.batch_designs} designs at a time), "
          f"crossbar area >= 3x below dense "
          f"16-bit, {args.budget:.0f} s per study (pretraining and profiling included), "
          f"{args.seeds} seed(s), {args.parallel} studies at a time")
    for method in methods:
        rows = table[method]
        volume = [r["hypervolume"] for r in rows]

        def mean(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return float(np.mean([r[key] for r in rows]))

        seeds = ", ".join(f"{v:.4f}" for v in volume)
        best = "; ".join(f">= {b:g}x {spread([r['best_at_bound'][str(b)] for r in rows])}"
                         for b in bounds)
        print(f"{method:<10} hypervolume {spread(volume)} (seeds: {seeds}); best accuracy "
              f"{best}; trials "
              f"{mean('trials'):.0f} trainings {mean('trained'):.0f} front {mean('front'):.1f} "
              f"wall {mean('wall_s'):.0f} s")
    if "layerwise" in table:
        ours = np.mean([r["hypervolume"] for r in table["layerwise"]])
        ratios = [f"layerwise/{m} {ours / np.mean([r['hypervolume'] for r in table[m]]):.3f}x"
                  for m in methods if m != "layerwise"]
        print("ratios (goal >= 1.10x each): " + ", ".join(ratios))
        for m in methods:
            if m == "layerwise" or len(table[m]) < 2:
                continue
            gap = ours - np.mean([r["hypervolume"] for r in table[m]])
            sd = max(float(np.std([r["hypervolume"] for r in table[k]], ddof=1))
                     for k in ("layerwise", m))
            print(f"layerwise - {m}: {gap:+.4f} hypervolume against a seed spread of "
                  f"{sd:.4f} ({'above' if gap > sd else 'within'} the spread)")


if __name__ == "__main__":
    main()
