"""Epitomes against pruning on PIM, on our own model: fronts of four spaces at equal wall time.

EPIM (Wang et al., 2023) claims epitomes "surpass the state-of-the-art pruning methods on
PIM" (PIM-Prune, Chu et al., DAC 2020, reports 24.85x crossbar reduction on CIFAR). Here
each space is searched by the same engine (``layerwise``), with the same proxy (one dense
start, shared), for the same wall time per run, over several sampler seeds:

- ``bits``: weight bits only (``space.operators: []``);
- ``epitome``: epitome shapes and bits (the default space);
- ``prune``: channel and crossbar-aware (PIM-Prune) pruning and bits;
- ``epitome+prune``: both families and bits.

Objectives: crossbar area (MNSIM preset; ``--xbar-size`` for smaller crossbars: on 256 x 256
ones ResNet-20's layers fit in one to three crossbars per bit slice, so no family can take it
past 16.8x) and proxy accuracy, designs at least
``--min-reduction`` x smaller than dense 16-bit. Printed per run as it ends, then per space
(mean and spread over seeds): trials, the hypervolume of the front in (log10 crossbar-area
reduction above the minimum, up to 100x; accuracy), and the best proxy accuracy at >= 10x,
20x and 30x less crossbar area than dense 16-bit ("-": no trained design reached it).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/operator_comparison.py [--quick]
        [--networks resnet20 resnet18] [--seeds 3] [--seconds 120] [--xbar-size 64]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._pareto import hypervolume
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy
from epim.workloads import network_to_dict

SPACES: dict[str, list[str]] = {
    "bits": [], "epitome": ["epitome"], "prune": ["prune"],
    "epitome+prune": ["epitome", "prune"],
}
LEVELS = (10.0, 20.0, 30.0)
TOP_REDUCTION = 100.0


def study_spec(network: str, operators: list[str], seed: int, args: argparse.Namespace
               ) -> StudySpec:
    """The study of one space and sampler seed (same proxy and budget for every space)."""
    return StudySpec.model_validate({
        "name": f"cmp-{network}-{'-'.join(operators) or 'bits'}-{seed}", "network": network,
        "hardware": {"preset": "mnsim", "set": ({"xbar_size": args.xbar_size}
                                                if args.xbar_size else {})},
        "space": {"operators": operators, "weight_bits": [2, 3, 4, 6, 8],
                  "epitome": {"channel_ratios": [1, 2, 4, 8]},
                  "prune": {"channel_ratios": [1, 2, 4, 8], "crossbar_ratios": [1, 2, 4, 8]}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": args.min_reduction}],
        "sampler": {"name": "layerwise", "seed": seed,
                    "layerwise": {"profile_samples": 256, "screen_steps": 0}},
        "budget": {"n_trials": 100_000, "timeout_s": args.seconds}, "batch_size": 4,
        "accuracy": {"proxy": "train", "dataset": args.dataset, "steps": args.steps,
                     "width": args.width, "image_size": args.image_size, "seed": 0,
                     "batch_size": 64, "pretrain_steps": args.pretrain,
                     "train_samples": args.train_samples, "eval_samples": args.eval_samples},
    })


def summarize(records: list[Any], min_reduction: float) -> dict[str, Any]:
    """Trials, hypervolume and the best accuracy at each reduction level of one run."""
    trained = [r for r in records if r.state == "complete" and "accuracy" in r.metrics]
    reduction = np.array([r.metrics["crossbar_area_reduction"] for r in trained])
    accuracy = np.array([r.metrics["accuracy"] for r in trained])
    feasible = reduction >= min_reduction
    # maximize log-reduction above the minimum (capped at 100x) and accuracy: minimize negated
    span = math.log10(TOP_REDUCTION / min_reduction)
    x = np.minimum(np.log10(np.maximum(reduction[feasible], 1e-9) / min_reduction), span) / span
    points = np.column_stack([-x, -accuracy[feasible]])
    volume = hypervolume(points, [0.0, 0.0]) if points.size else 0.0
    best = {level: (float(accuracy[reduction >= level].max())
                    if (reduction >= level).any() else None) for level in LEVELS}
    return {"trials": len(trained), "hypervolume": volume, "best": best,
            "max_reduction": float(reduction.max()) if reduction.size else 0.0}


def run_one(network: str, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = study_spec(network, SPACES[name], seed, args)
    assert spec.accuracy is not None
    prepared = prepare_study(spec)
    store = MemoryStore()
    began = time.perf_counter()
    result = StudyDriver(prepared, store=store, executor=LocalExecutor(),
                         accuracy=ProxyAccuracy(spec.accuracy)).run()
    summary = summarize(store.study.records, args.min_reduction)
    summary["seconds"] = time.perf_counter() - began
    summary["reason"] = result.reason
    return summary


def _cell(values: list[float | None]) -> str:
    """Mean (min-max) of the values that exist, with how many seeds reached the level."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    text = f"{np.mean(present):.3f}"
    if len(present) > 1:
        text += f" ({min(present):.3f}-{max(present):.3f})"
    if len(present) < len(values):
        text += f" [{len(present)}/{len(values)}]"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", default=["resnet20"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="wall time of each run (every space and seed)")
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--pretrain", type=int, default=400)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--train-samples", type=int, default=20_000)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--min-reduction", type=float, default=8.0)
    parser.add_argument("--xbar-size", type=int, default=None,
                        help="N x N crossbars instead of the MNSIM preset's 256 x 256")
    parser.add_argument("--quick", action="store_true",
                        help="development: 1 seed, 30 s per run, digits, a short proxy")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.seconds, args.dataset = 1, 30.0, "digits"
        args.steps, args.pretrain, args.train_samples, args.eval_samples = 20, 100, None, 300
        args.image_size = None
    print(f"operator comparison: {args.networks}, spaces {args.spaces}, {args.seeds} seeds, "
          f"{args.seconds:.0f} s per run, proxy {args.dataset} {args.steps} steps from a "
          f"{args.pretrain}-step dense start, >= {args.min_reduction:g}x, MNSIM preset with "
          f"{args.xbar_size or 256}x{args.xbar_size or 256} crossbars", flush=True)
    table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for network in args.networks:
        began = time.perf_counter()  # one dense start per network, shared by every run
        warm = study_spec(network, [], 0, args)
        assert warm.accuracy is not None
        ProxyAccuracy(warm.accuracy).pretrain(network_to_dict(prepare_study(warm).network))
        print(f"{network}: dense start trained in {time.perf_counter() - began:.0f} s",
              flush=True)
        for seed in range(args.seeds):
            for name in args.spaces:  # interleaved, so load on the machine hits all alike
                summary = run_one(network, name, seed, args)
                table.setdefault((network, name), []).append(summary)
                best = " ".join(f"{level:g}x:{'-' if v is None else f'{v:.3f}'}"
                                for level, v in summary["best"].items())
                print(f"  {network} {name:14s} seed {seed}: {summary['trials']:3d} trials in "
                      f"{summary['seconds']:.0f} s, HV {summary['hypervolume']:.4f}, max "
                      f"{summary['max_reduction']:.1f}x, best acc {best}", flush=True)
    print("\n| network | space | trials | hypervolume | best acc >= 10x | >= 20x | >= 30x | "
          "max reduction |")
    print("|---|---|---|---|---|---|---|---|")
    for (network, name), runs in table.items():
        hv = [r["hypervolume"] for r in runs]
        cells = [_cell([r["best"][level] for r in runs]) for level in LEVELS]
        print(f"| {network} | {name} | {np.mean([r['trials'] for r in runs]):.0f} | "
              f"{np.mean(hv):.4f} ({min(hv):.4f}-{max(hv):.4f}) | {' | '.join(cells)} | "
              f"{np.mean([r['max_reduction'] for r in runs]):.1f}x |")


if __name__ == "__main__":
    main()
