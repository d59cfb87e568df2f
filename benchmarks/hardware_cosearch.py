"""Hardware co-search against the best fixed hardware, at equal wall time (issue 21).

One space of a network (weight bits and epitome shapes per layer) is searched

- with the hardware: ``space.hardware`` lists ADCs (MNSIM's table: ``adc_choice`` 7, 4, 2 are
  4-, 6- and 8-bit converters) and crossbar sizes, one co-searched study;
- on each fixed hardware tuple of the same lists (one value per gene), one study each;

every study with the same engine (NSGA-II), the same proxy with hardware effects
(``accuracy.hardware_effects``: every design scored on its own crossbars, ADC rounding and
conductance variation, ``robust_accuracy`` the mean top-1 over device samples), the same
objectives (chip area, energy, robust accuracy; all on the design's own hardware) and the
same wall time, without the uniform reference designs a study evaluates first (in the
co-search they would all sit on the first hardware tuple). Every study shares the preset,
hence the dense 8-bit baseline the hypervolume is normalized by (``normalized_hypervolume``:
costs over the baseline's, ``1 - robust_accuracy``). Printed: each run as it ends (trials,
front, hypervolume, best robust top-1), then the co-search's hypervolume against the best
fixed tuple's: the ratio (issue 21's goal: >= 1.2).
The dense start is trained once and shared; the per-process caches of trained proxies and
robust results are emptied before each run, so no run inherits another's work.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/hardware_cosearch.py [--quick]
        [--network resnet20] [--seconds 240] [--adc 7 4 2] [--xbar 64 128 256]
        [--variation 0.05] [--samples 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from typing import Any

import torch

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search._pareto import normalized_hypervolume
from epim.search.executors import LocalExecutor
from epim.service import ProxyAccuracy
from epim.service._evaluators import forget_results
from epim.workloads import network_to_dict

METRICS = ["area_m2", "energy_j", "robust_accuracy"]
DIRECTIONS = ["minimize", "minimize", "maximize"]


def study_spec(name: str, hardware: dict[str, list[int]], args: argparse.Namespace
               ) -> StudySpec:
    """A study of the space with ``hardware`` genes (one value each: fixed hardware)."""
    return StudySpec.model_validate({
        "name": name, "network": args.network, "hardware": "mnsim",
        "space": {"weight_bits": [2, 3, 4, 6, 8],
                  "epitome": {"channel_ratios": [1, 2, 4], "pim_aligned": False},
                  "hardware": hardware},
        "objectives": [{"metric": m, "direction": d} for m, d in zip(METRICS, DIRECTIONS,
                                                                     strict=True)],
        "sampler": {"name": "nsga2", "seed": args.seed, "population_size": args.population},
        "budget": {"n_trials": 100_000, "timeout_s": args.seconds},
        "batch_size": args.population, "baseline_bits": 8,
        "accuracy": {"proxy": "train", "dataset": args.dataset, "steps": args.steps,
                     "width": args.width, "image_size": args.image_size, "seed": 0,
                     "batch_size": 64, "pretrain_steps": args.pretrain,
                     "train_samples": args.train_samples, "eval_samples": args.eval_samples,
                     "hardware_effects": {"samples": args.samples,
                                          "variation": args.variation,
                                          "calibration_images": 128}},
    })


def run(spec: StudySpec, began: float) -> dict[str, Any]:
    """Run one study to its wall time; its trials, front and hypervolume."""
    assert spec.accuracy is not None
    forget_results()
    store = MemoryStore()
    start = time.perf_counter()
    StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                accuracy=ProxyAccuracy(spec.accuracy), references=False).run()
    baseline = store.study.baseline
    assert baseline is not None
    front = [r for r in store.study.records if r.number in set(store.front)]
    trained = [r for r in store.study.records if "robust_accuracy" in r.metrics]
    return {"name": spec.name, "records": store.study.records, "front": front,
            "trained": len(trained), "baseline": baseline.metrics,
            "best": max((r.metrics["robust_accuracy"] for r in trained), default=0.0),
            "seconds": time.perf_counter() - start, "at": time.perf_counter() - began}


def volume(front: list[Any], baseline: dict[str, float]) -> float:
    """Hypervolume of a front's (chip area, energy, robust accuracy) in the shared frame."""
    return normalized_hypervolume([[r.metrics[m] for m in METRICS] for r in front], METRICS,
                                  DIRECTIONS, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default="resnet20")
    parser.add_argument("--seconds", type=float, default=None,
                        help="wall time of each run (default 240; 45 with --quick)")
    parser.add_argument("--adc", type=int, nargs="+", default=[7, 4, 2],
                        help="MNSIM ADC choices (7: 4-bit, 4: 6-bit, 2: 8-bit, 1: 10-bit)")
    parser.add_argument("--xbar", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--variation", type=float, default=0.05,
                        help="relative conductance sigma of the cells")
    parser.add_argument("--samples", type=int, default=2, help="device samples K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--pretrain", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--train-samples", type=int, default=20_000)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="a few minutes: digits, a short proxy, 2 x 2 hardware tuples, "
                        "45 s per run (unless --seconds)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = args.seconds or 45.0
        args.dataset, args.adc, args.xbar = "digits", [7, 2], [64, 256]
        args.steps, args.pretrain, args.train_samples, args.eval_samples = 20, 100, None, 300
        args.image_size = None
    args.seconds = args.seconds or 240.0
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    genes = {"adc_choice": args.adc, "xbar_size": args.xbar}
    tuples = [dict(zip(genes, values, strict=True))
              for values in itertools.product(*genes.values())]
    print(f"hardware co-search: {args.network} on {args.dataset} ({args.steps} proxy steps "
          f"from a {args.pretrain}-step dense start), ADC choices {args.adc}, crossbars "
          f"{args.xbar}, sigma {args.variation:g}, K = {args.samples}; {args.seconds:.0f} s "
          f"per run, 1 co-search + {len(tuples)} fixed; load {os.getloadavg()[0]:.1f}",
          flush=True)
    cosearch = study_spec("cosearch", genes, args)
    assert cosearch.accuracy is not None
    ProxyAccuracy(cosearch.accuracy).pretrain(network_to_dict(prepare_study(cosearch).network))
    print(f"[{time.perf_counter() - began:6.0f} s] dense start trained", flush=True)
    specs = [cosearch] + [
        study_spec(f"fixed-adc{values['adc_choice']}-xbar{values['xbar_size']}",
                   {k: [v] for k, v in values.items()}, args) for values in tuples]
    runs: list[dict[str, Any]] = []
    for spec in specs:
        entry = run(spec, began)
        entry["hv"] = volume(entry["front"], (runs or [entry])[0]["baseline"])
        runs.append(entry)
        print(f"[{entry['at']:6.0f} s] {entry['name']:34s} {entry['trained']:4d} trained "
              f"trials in {entry['seconds']:.0f} s, front {len(entry['front']):3d}, "
              f"HV {entry['hv']:.4f}, best robust top-1 {entry['best']:.3f}", flush=True)
    best = max(runs[1:], key=lambda e: e["hv"])
    used: dict[str, int] = {}
    for record in runs[0]["front"]:
        hw = record.design.get("hardware") or {}
        key = ",".join(f"{k}={v}" for k, v in sorted(hw.items()))
        used[key] = used.get(key, 0) + 1
    ratio = runs[0]["hv"] / best["hv"] if best["hv"] > 0 else float("inf")
    print(f"\nco-search front by hardware: {used}")
    print("| study | trained trials | front | hypervolume (chip area, energy, robust top-1) "
          "| best robust top-1 |")
    print("| --- | --- | --- | --- | --- |")
    for entry in runs:
        print(f"| {entry['name']} | {entry['trained']} | {len(entry['front'])} | "
              f"{entry['hv']:.4f} | {entry['best']:.3f} |")
    print(f"\nco-search / best fixed hardware ({best['name']}): {ratio:.2f}x hypervolume "
          f"(goal >= 1.2x); load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
