"""The paper's headline, answered by search: ResNet-50 at >= 30.65x less crossbar area.

EPIM reports a 3-bit EPIM-ResNet-50 with 30.65x less crossbar area than its dense baseline
(precision not named). This benchmark runs, in one process and with one proxy (a width-scaled
ResNet-50 fine-tuned on Fashion-MNIST from one seeded dense start):

1. a ``layerwise`` study (PIM-aligned epitomes, weight bits 2..8, the classifier searchable,
   only ``conv1`` frozen at 8 bits) under ``crossbar_area_reduction >= 30.65`` against dense
   16-bit (or 8-bit: ``--baseline-bits 8``), for ``--budget`` seconds, pretraining and
   profiling included;
2. every uniform hand design of the same space (every layer the same wrapping rank and bits,
   the EPIM paper's style) that meets the same bound, trained with the same proxy;
3. the EPIM-style design of ``examples/designs/resnet50_epim_3bit.yaml`` (17.7x: its dense
   8-bit classifier caps it), for reference.

Printed: each design's crossbars, its reduction against dense 16-bit and dense 8-bit, and its
proxy accuracy; the searched front's best design is written as a design file with ``--out``.

    .venv/bin/python benchmarks/resnet50_headline.py [--budget 900] [--width 0.125]
        [--out examples/designs/resnet50_searched_30x.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from epim.search import MemoryStore, StudyDriver, StudySpec, prepare_study
from epim.search.executors import LocalExecutor
from epim.service import make_accuracy
from epim.space import DesignBatch, load_design_file
from epim.workloads import network_to_dict

BOUND = 30.65
EXAMPLE = Path(__file__).resolve().parents[1] / "examples/designs/resnet50_epim_3bit.yaml"


def study(method: str, budget: float, width: float, steps: int, pretrain: int,
          baseline_bits: int = 16, batch_designs: int = 1) -> StudySpec:
    """The headline study; ``uniform`` runs exactly the space's uniform hand designs."""
    sampler: dict[str, Any] = {"name": "layerwise", "seed": 0}
    if method == "uniform":
        sampler = {"name": "nsga2", "seed": 0, "warm_start": True, "population_size": 10}
    spec = StudySpec.model_validate({
        "name": f"resnet50-headline-{method}", "network": "resnet50",
        "space": {"epitome": {"channel_ratios": [1, 2, 4, 8, 16], "pim_aligned": True},
                  "weight_bits": [2, 3, 4, 5, 6, 8], "activation_bits": 8,
                  "frozen": ["first"]},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": BOUND}],
        "baseline_bits": baseline_bits, "sampler": sampler, "batch_size": 4,
        "budget": {"n_trials": 100_000, "timeout_s": budget},
        "accuracy": {"proxy": "train", "dataset": "fashion-mnist", "steps": steps,
                     "width": width, "lr": 0.05, "pretrain_steps": pretrain,
                     "eval_samples": 2000, "batch_designs": batch_designs},
        "executor": {"kind": "local", "cpus_per_trial": 1}})
    if method == "uniform":
        count = len(prepare_study(spec).space.uniform_choices())
        spec = spec.model_copy(update={"budget": spec.budget.model_copy(
            update={"n_trials": count, "timeout_s": None})})
    return spec


def run(spec: StudySpec, store: MemoryStore) -> tuple[Any, float]:
    """Run a study into ``store``; its result and wall time (s)."""
    began = time.perf_counter()
    result = StudyDriver(prepare_study(spec), store=store, executor=LocalExecutor(),
                         accuracy=make_accuracy(spec)).run()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=900.0)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--pretrain", type=int, default=300)
    parser.add_argument("--baseline-bits", type=int, choices=(8, 16), default=16)
    parser.add_argument("--batch-designs", type=int, default=4,
                        help="designs trained together (accuracy.batch_designs)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    searched = study("layerwise", args.budget, args.width, args.steps, args.pretrain,
                     args.baseline_bits, args.batch_designs)
    prepared = prepare_study(searched)
    model, network = prepared.model, prepared.network

    def crossbars(batch: DesignBatch) -> float:
        return float(model.evaluate(batch).crossbars[0])

    dense = {bits: crossbars(DesignBatch.dense(network, 1, weight_bits=bits, act_bits=bits))
             for bits in (16, 8)}
    layerwise_store = MemoryStore()
    result, layerwise_s = run(searched, layerwise_store)
    uniform_store = MemoryStore()
    uniform_store.artifacts = dict(layerwise_store.artifacts)  # the same dense start
    _, uniform_s = run(study("uniform", args.budget, args.width, args.steps, args.pretrain,
                             args.baseline_bits, args.batch_designs), uniform_store)
    start = next(data for kind, data in layerwise_store.artifacts.values()
                 if kind == "dense_start")
    proxy = make_accuracy(searched).with_start(start)  # type: ignore[union-attr]
    example = load_design_file(EXAMPLE, network)
    example_accuracy = proxy((network_to_dict(network), example.to_dict()))
    example_crossbars = crossbars(DesignBatch.from_designs(network, [example]))

    def trained(store: MemoryStore) -> list[Any]:
        return [r for r in store.study.records
                if r.state == "complete" and r.feasible and "accuracy" in r.metrics]

    rows = [("searched (layerwise, best)", max(trained(layerwise_store),
                                               key=lambda r: r.metrics["accuracy"]))]
    if trained(uniform_store):
        rows.append(("uniform hand design (best)", max(trained(uniform_store),
                                                       key=lambda r: r.metrics["accuracy"])))
    print(f"resnet50 (width {args.width}), Fashion-MNIST, {args.steps}-step proxy from a "
          f"{args.pretrain}-step dense start; dense 16-bit {dense[16]:.0f} crossbars, "
          f"dense 8-bit {dense[8]:.0f}; bound >= {BOUND}x vs dense {args.baseline_bits}-bit; "
          f"dense {args.baseline_bits}-bit proxy accuracy "
          f"{layerwise_store.study.baseline.metrics['accuracy']:.4f}")  # type: ignore[union-attr]
    print(f"layerwise: {args.budget:.0f} s budget, {layerwise_s:.0f} s wall, "
          f"{len(trained(layerwise_store))} trained designs, {result.progress.front_size} on "
          f"the front ({result.reason}); uniform: {len(trained(uniform_store))} feasible of "
          f"{len(prepared.space.uniform_choices())} hand designs trained in {uniform_s:.0f} s")
    print(f"{'design':<28} {'crossbars':>9} {'vs 16-bit':>9} {'vs 8-bit':>8} {'accuracy':>8}")
    for label, record in rows:
        count = sum(record.layers["crossbars"])
        print(f"{label:<28} {count:>9.0f} {dense[16] / count:>8.2f}x {dense[8] / count:>7.2f}x "
              f"{record.metrics['accuracy']:>8.4f}")
    print(f"{'EPIM-style example (17.7x)':<28} {example_crossbars:>9.0f} "
          f"{dense[16] / example_crossbars:>8.2f}x {dense[8] / example_crossbars:>7.2f}x "
          f"{example_accuracy:>8.4f}")
    if args.out is not None:
        label, best = rows[0]
        header = (f"# ResNet-50 found by `benchmarks/resnet50_headline.py` (layerwise, "
                  f"{args.budget:.0f} s, bound >= {BOUND}x vs dense {args.baseline_bits}-bit): "
                  f"{sum(best.layers['crossbars']):.0f} crossbars on `mnsim`, "
                  f"{dense[16] / sum(best.layers['crossbars']):.2f}x less than dense 16-bit, "
                  f"{dense[8] / sum(best.layers['crossbars']):.2f}x less than dense 8-bit; "
                  f"proxy accuracy {best.metrics['accuracy']:.4f} (resnet50 width {args.width}, "
                  f"Fashion-MNIST, {args.steps} steps)\n")
        args.out.write_text(header + yaml.safe_dump(best.design, sort_keys=False))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
