"""Search quality: hypervolume of NSGA-II, TPE and random search vs hand-made uniform designs.

resnet18 on MNSIM, cost-only objectives (crossbar area, latency, energy), constraint: at least
10x less crossbar area than dense 16-bit. ``nsga2+warm`` is NSGA-II whose first trials are the
uniform designs (``sampler.warm_start``). Hypervolume (normalized objectives, reference point
1 = the dense 16-bit baseline) after 250/500/1000 trials, 5 seeds per sampler, against the
best uniform designs (every layer the same wrapping ratio and bits). Storage: in-memory (the
storage is not what this measures). Prints the ratios measured in this run.

    .venv/bin/python benchmarks/search_quality.py [--trials 1000] [--seeds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna

from epim.search import StudyDriver, StudySpec, pareto_front
from epim.search._driver import TrialRecord
from epim.search._metrics import cost_metrics
from epim.search.executors import LocalExecutor

BASE = {
    "network": "resnet18",
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                   {"metric": "energy_j"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
    "batch_size": 50,
}
CHECKPOINTS = (250, 500, 1000)


def run(sampler: str, seed: int, trials: int) -> dict[int, float]:
    name, warm = sampler.removesuffix("+warm"), sampler.endswith("+warm")
    spec = StudySpec.model_validate({**BASE, "name": f"{name}-{seed}",
                                     "sampler": {"name": name, "seed": seed,
                                                 "warm_start": warm},
                                     "budget": {"n_trials": trials}})
    driver = StudyDriver(spec, storage=optuna.storages.InMemoryStorage(),
                         executor=LocalExecutor())
    volumes: dict[int, float] = {}
    driver.run(on_progress=lambda p: volumes.__setitem__(p.completed, p.hypervolume))
    return {c: volumes[c] for c in CHECKPOINTS if c in volumes}


def uniform_grid_volume() -> tuple[float, int]:
    spec = StudySpec.model_validate({**BASE, "name": "uniform", "sampler": {"name": "random"},
                                     "budget": {"n_trials": 1}})
    driver = StudyDriver(spec, storage=optuna.storages.InMemoryStorage(),
                         executor=LocalExecutor())
    candidates = driver.space.uniform_choices()
    designs = driver.space.decode_batch(candidates)
    metrics = cost_metrics(driver.model.evaluate(designs), driver.baseline,
                           spec.latency_mode)
    records = []
    for i in range(len(candidates)):
        row = {k: float(v[i]) for k, v in metrics.items()}
        records.append(TrialRecord(i, row, {}, "", [], row["crossbar_area_reduction"] >= 10,
                                   False))
    feasible = [r for r in records if r.feasible]
    _, volume = pareto_front(feasible, driver.metrics, driver.directions, driver.baseline)
    return volume, len(feasible)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    uniform, n_uniform = uniform_grid_volume()
    print(f"uniform designs: {n_uniform} feasible, hypervolume {uniform:.4f}")
    results: dict[str, dict[int, list[float]]] = {}
    for sampler in ("nsga2", "tpe", "random", "nsga2+warm"):
        start = time.perf_counter()
        per_checkpoint: dict[int, list[float]] = {c: [] for c in CHECKPOINTS}
        for seed in range(args.seeds):
            for checkpoint, volume in run(sampler, seed, args.trials).items():
                per_checkpoint[checkpoint].append(volume)
        results[sampler] = per_checkpoint
        cells = "  ".join(f"{c}: {np.mean(v):.4f}+-{np.std(v):.4f}"
                          for c, v in per_checkpoint.items() if v)
        print(f"{sampler:<11} {cells}  ({time.perf_counter() - start:.0f} s)")
    last = max(c for c in CHECKPOINTS if results["nsga2"][c])
    nsga2, random = np.mean(results["nsga2"][last]), np.mean(results["random"][last])
    tpe = np.mean(results["tpe"][last])
    warm = np.mean(results["nsga2+warm"][last])
    print(f"at {last} trials: nsga2/random {nsga2 / random:.3f}x, tpe/random "
          f"{tpe / random:.3f}x, nsga2/uniform {nsga2 / uniform:.3f}x, nsga2+warm/uniform "
          f"{warm / uniform:.3f}x, nsga2+warm/random {warm / random:.3f}x")


if __name__ == "__main__":
    main()
