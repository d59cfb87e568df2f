"""Cost-only fronts: the exact engine vs NSGA-II vs random at equal wall time.

Each network runs two cost-only studies: ``corner`` (crossbar area, layer-by-layer latency and
energy at >= 10x less crossbar area than dense 16-bit: the cost-only example) and
``tradeoff`` (chip area against pipelined latency with 1, 2 or 4 copies of each layer's weights,
>= 4x less crossbar area: copies buy speed with area). Every method gets the same wall time
``T`` (``--seconds``, or the exact engine's own time if longer): the exact engine stops when
its front is stored, the samplers when ``T`` has passed. The strategies run alone
(``StudyDriver(references=False)``): a study's own run evaluates the uniform hand designs first
whatever its sampler, which would hide what each strategy finds. Reported per method: trials,
front size, the study's normalized hypervolume (dense baseline = 1, reference point 1), and how
many feasible uniform hand designs (``SearchSpace.uniform_choices``, scored by the cost model)
dominate some point of the front, or are not weakly dominated by it. Ratios are of runs in this
one process, one after another.

    PYTHONPATH=. .venv/bin/python benchmarks/exact_fronts.py [--networks resnet18 resnet50 vgg8]
        [--seconds 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from epim.search import (
    MemoryStore,
    StudyDriver,
    StudySpec,
    cost_metrics,
    prepare_study,
)
from epim.search._pareto import minimization_signs
from epim.search.executors import LocalExecutor

METHODS = ("exact", "nsga2", "random")


def study(network: str, shape: str, method: str, seconds: float, seed: int) -> StudySpec:
    """The study a method runs."""
    data: dict[str, Any] = {
        "name": f"{network}-{shape}-{method}", "network": network,
        "sampler": {"name": method} if method == "exact" else {"name": method, "seed": seed},
        "budget": {"n_trials": 100_000, "timeout_s": seconds}, "batch_size": 32,
    }
    if shape == "corner":
        data.update(objectives=[{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                                {"metric": "energy_j"}],
                    constraints=[{"metric": "crossbar_area_reduction", "min": 10}])
    else:
        data.update(objectives=[{"metric": "area_m2"}, {"metric": "latency_s"}],
                    constraints=[{"metric": "crossbar_area_reduction", "min": 4}],
                    space={"replication": [1, 2, 4], "weight_bits": [2, 4, 8]},
                    latency_mode="pipelined")
    return StudySpec.model_validate(data)


def uniform_against(spec: StudySpec, store: MemoryStore) -> tuple[int, int, int]:
    """Feasible uniform designs; how many dominate a front point; how many the front misses."""
    prepared = prepare_study(spec)
    assert store.study.baseline is not None
    designs = prepared.space.decode_batch(prepared.space.uniform_choices())
    costs = prepared.model.evaluate(designs)
    metrics = cost_metrics(costs, store.study.baseline.metrics, spec.latency_mode)
    ok = np.ones(len(designs), dtype=bool)
    for c in spec.constraints:
        ok &= (metrics[c.metric] >= (c.min if c.min is not None else -np.inf)) & (
            metrics[c.metric] <= (c.max if c.max is not None else np.inf))
    signs = minimization_signs([o.direction for o in spec.objectives])
    uniform = np.column_stack([metrics[o.metric] for o in spec.objectives])[ok] * signs
    by_number = {r.number: r for r in store.study.records}
    front = np.array([[by_number[n].metrics[o.metric] for o in spec.objectives]
                      for n in store.front]).reshape(-1, len(spec.objectives)) * signs
    dominating = sum(1 for u in uniform if np.any(np.all(u <= front, axis=1)
                                                  & np.any(u < front, axis=1)))
    missed = sum(1 for u in uniform if not np.any(np.all(front <= u, axis=1)))
    return int(ok.sum()), dominating, missed


def run(spec: StudySpec) -> dict[str, Any]:
    """Run one study alone (no references); its summary."""
    store = MemoryStore()
    started = time.perf_counter()
    result = StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                         references=False).run()
    elapsed = time.perf_counter() - started
    feasible, dominating, missed = uniform_against(spec, store)
    detail = next((d for p, d in reversed(store.phases) if p == "solving"), "")
    return {"trials": result.progress.completed, "front": result.progress.front_size,
            "hypervolume": result.progress.hypervolume, "seconds": elapsed,
            "uniform": feasible, "dominating": dominating, "missed": missed,
            "detail": detail}


def main() -> None:
    """Run every network and shape; print each method as it ends, then the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["resnet18", "resnet50", "vgg8"])
    parser.add_argument("--shapes", nargs="+", default=["corner", "tradeoff"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for network in args.networks:
        for shape in args.shapes:
            exact = run(study(network, shape, "exact", 3600.0, args.seed))
            budget = max(args.seconds, exact["seconds"])
            print(f"{network:9s} {shape:8s} exact  {exact['trials']:6d} trials, front "
                  f"{exact['front']:3d}, hv {exact['hypervolume']:.4f}, {exact['seconds']:6.1f} s,"
                  f" uniform dominating {exact['dominating']}/{exact['uniform']}, missed "
                  f"{exact['missed']}  [{exact['detail']}]", flush=True)
            results = {"exact": exact}
            for method in METHODS[1:]:
                found = run(study(network, shape, method, budget, args.seed))
                results[method] = found
                print(f"{network:9s} {shape:8s} {method:6s} {found['trials']:6d} trials, front "
                      f"{found['front']:3d}, hv {found['hypervolume']:.4f}, "
                      f"{found['seconds']:6.1f} s, uniform dominating "
                      f"{found['dominating']}/{found['uniform']}, missed {found['missed']}",
                      flush=True)
            rows.append((network, shape, budget, results))
    print("\nnetwork   shape    T (s)  hv exact  /nsga2  /random  uniform dominating "
          "(exact/nsga2/random)")
    for network, shape, budget, results in rows:
        hv = {m: results[m]["hypervolume"] for m in METHODS}
        ratio = {m: hv["exact"] / hv[m] if hv[m] > 0 else float("inf") for m in METHODS[1:]}
        counts = "/".join(str(results[m]["dominating"]) for m in METHODS)
        print(f"{network:9s} {shape:8s} {budget:6.1f}  {hv['exact']:.4f}  {ratio['nsga2']:.3f}x"
              f"  {ratio['random']:.3f}x  {counts}")


if __name__ == "__main__":
    main()
