"""Surrogate fidelity: Kendall tau of the layerwise surrogate against the trained proxy.

For a network on Fashion-MNIST: the dense start is pretrained, the layerwise sampler's
sensitivity profile is measured, and N random feasible designs (at least 3x less crossbar area
than dense 16-bit) are trained with the study's proxy, and again with the proxy of seed 1 (its
own dense start and batch order). Printed, all from this run:

- ``profile only``: tau between the additive prediction from the profile alone (no trained
  design seen) and the trained accuracy;
- ``refit ridge R``: the surrogate refitted on the other designs (folds of 5 held out),
  predicting the held-out ones: what the engine has after a few batches, for the default
  ridge strength and ``--ridges``;
- ``proxy vs itself``: tau between the two seeds of the same proxy, the noise ceiling no
  predictor of a single run can pass.

    .venv/bin/python benchmarks/surrogate_fidelity.py [--network resnet20] [--designs 30]
        [--steps 40] [--width 0.25] [--pretrain 300]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from epim.search import StudySpec, prepare_study
from epim.search._layerwise import measure_damage
from epim.search._metrics import cost_metrics
from epim.search._records import Baseline
from epim.search._surrogate import AdditiveSurrogate
from epim.search._tables import layer_tables
from epim.service import ProxyAccuracy
from epim.space import DesignBatch
from epim.workloads import network_to_dict


class _Run:
    """Just enough of a run context for the strategy's profiling step."""

    def __init__(self, prepared: Any, evaluator: ProxyAccuracy, baseline: Baseline) -> None:
        self.study, self.evaluator, self.baseline = prepared, evaluator, baseline
        self.records: list[Any] = []
        self.network_dict = network_to_dict(prepared.network)

    def should_stop(self) -> bool:
        return False

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]], samples: int,
                steps: int) -> list[tuple[float, float]]:
        return self.evaluator.profile((self.network_dict, reference, probes, samples, steps))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", default="resnet20")
    parser.add_argument("--designs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--pretrain", type=int, default=300)
    parser.add_argument("--ridges", type=float, nargs="*", default=[10.0, 100.0, 1000.0],
                        help="ridge strengths of the held-out refit, besides the default")
    args = parser.parse_args()
    spec = StudySpec.model_validate({
        "name": "fidelity", "network": args.network,
        "space": {"epitome": {"pim_aligned": False}},
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
        "constraints": [{"metric": "crossbar_area_reduction", "min": 3}],
        "accuracy": {"proxy": "train", "dataset": "fashion-mnist", "steps": args.steps,
                     "width": args.width, "pretrain_steps": args.pretrain, "lr": 0.05,
                     "eval_samples": 2000}})
    assert spec.accuracy is not None
    prepared = prepare_study(spec)
    network = network_to_dict(prepared.network)
    began = time.perf_counter()
    evaluator = ProxyAccuracy(spec.accuracy)
    evaluator = evaluator.with_start(evaluator.pretrain(network))
    pretrain_s = time.perf_counter() - began
    dense = DesignBatch.dense(prepared.network, 1, weight_bits=16, act_bits=16)
    unit = {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0}
    base = {k: float(v[0]) for k, v in cost_metrics(prepared.model.evaluate(dense), unit,
                                                    "layer_by_layer").items()}
    top = evaluator((network, DesignBatch.dense(prepared.network, 1, weight_bits=8,
                                                act_bits=8).to_dicts()[0]))
    run = _Run(prepared, evaluator, Baseline({**base, "accuracy": top}, []))
    tables = layer_tables(prepared.space, prepared.model)
    began = time.perf_counter()
    settings = spec.sampler.layerwise
    damage = measure_damage(run, tables,  # type: ignore[arg-type]
                            settings.profile_samples, settings.profile_steps)
    profile_s = time.perf_counter() - began
    assert damage is not None
    rng = np.random.default_rng(0)
    chosen: list[np.ndarray] = []
    while len(chosen) < args.designs:
        index = np.stack([rng.integers(0, len(layer), 256) for layer in tables.layers], axis=1)
        reduction = base["crossbar_area_m2"] / tables.totals("crossbar_area_m2", index)
        chosen += list(index[reduction >= 3])
    index = np.stack(chosen[: args.designs])
    designs = tables.designs(prepared.space, index).to_dicts()
    began = time.perf_counter()
    second = ProxyAccuracy(spec.accuracy.model_copy(update={"seed": 1}))
    second = second.with_start(second.pretrain(network))  # the whole proxy, run again
    accuracy = {seed: np.array([proxy((network, d)) for d in designs])
                for seed, proxy in ((0, evaluator), (1, second))}
    train_s = (time.perf_counter() - began) / (2 * args.designs)
    surrogate = AdditiveSurrogate(damage, top=top, floor=0.1)
    prior = surrogate.predict(index)
    folds = np.array_split(np.arange(args.designs), max(2, args.designs // 5))

    def held_out(ridge: float) -> np.ndarray:
        predicted = np.empty(args.designs)
        for fold in folds:
            rest = np.setdiff1d(np.arange(args.designs), fold)
            refit = AdditiveSurrogate(damage, top=top, floor=0.1, ridge=ridge)
            refit.fit(index[rest], accuracy[0][rest])
            predicted[fold] = refit.predict(index[fold])
        return predicted
    mean = (accuracy[0] + accuracy[1]) / 2
    print(f"{args.network} (width {args.width}), Fashion-MNIST, {args.steps}-step proxy from a "
          f"{args.pretrain}-step dense start; {args.designs} random designs >= 3x less "
          f"crossbar area; pretraining {pretrain_s:.0f} s, profile {profile_s:.0f} s, "
          f"{train_s:.1f} s per training")
    print(f"trained accuracy: min {accuracy[0].min():.3f} median {np.median(accuracy[0]):.3f} "
          f"max {accuracy[0].max():.3f} (dense 8-bit {top:.3f})")
    ridges = sorted({settings.ridge, *args.ridges})
    rows = [("profile only", prior)] + [(f"refit ridge {r:g}", held_out(r)) for r in ridges]
    for label, prediction in rows:
        print(f"{label:<17} tau vs seed 0 {kendalltau(prediction, accuracy[0]).statistic:+.3f}"
              f" | vs seed 1 {kendalltau(prediction, accuracy[1]).statistic:+.3f}"
              f" | vs their mean {kendalltau(prediction, mean).statistic:+.3f}")
    print(f"proxy vs itself  tau seed 0 vs seed 1 "
          f"{kendalltau(accuracy[0], accuracy[1]).statistic:+.3f} (the noise ceiling)")


if __name__ == "__main__":
    main()
