"""Does an ordered encoding help the samplers? Categorical values vs ordered ranks, one run.

resnet18 on MNSIM, cost-only (crossbar area, latency, energy; at least 10x less crossbar area
than dense 16-bit), every layer's stored channels and bits as parameters: ``categorical``
(the candidate values, unordered) or ``ordered`` (the rank among sorted candidates, an integer
range). Mean hypervolume over seeds after N trials, in memory, for NSGA-II and TPE.

    .venv/bin/python benchmarks/encoding.py [--trials 300] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search.executors import LocalExecutor


def volume(sampler: str, encoding: str, seed: int, trials: int) -> float:
    spec = StudySpec.model_validate({
        "name": f"{sampler}-{encoding}-{seed}", "network": "resnet18",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                       {"metric": "energy_j"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
        "sampler": {"name": sampler, "seed": seed, "encoding": encoding},
        "budget": {"n_trials": trials}, "batch_size": 25})
    return StudyDriver(prepare_study(spec), store=MemoryStore(),
                       executor=LocalExecutor()).run().progress.hypervolume


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for sampler in ("nsga2", "tpe"):
        means = {}
        for encoding in ("categorical", "ordered"):
            start = time.perf_counter()
            values = [volume(sampler, encoding, s, args.trials) for s in range(args.seeds)]
            means[encoding] = float(np.mean(values))
            print(f"{sampler:<6} {encoding:<12} hypervolume {means[encoding]:.4f} "
                  f"+- {np.std(values):.4f} ({time.perf_counter() - start:.0f} s)")
        print(f"{sampler:<6} ordered/categorical {means['ordered'] / means['categorical']:.3f}x")


if __name__ == "__main__":
    main()
