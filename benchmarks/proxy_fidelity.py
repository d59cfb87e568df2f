"""Proxy fidelity: how steadily the batched ``train`` proxy ranks designs, and what it costs.

Random designs of ``resnet20`` (per-layer channel wrapping 1/2/4/8x and 2..8-bit weights;
first conv and classifier dense at 8 bits) on Fashion-MNIST, all trained together by
``train_proxies`` from the seed's dense start (pretrained once; its cost printed apart), on
the held-out split of each fidelity. Prints, progress first:

- the budget: the cost per design of the per-design loop (``train_proxy``) at
  ``--baseline-steps`` (40) and 2,000 held-out images, measured here on a few designs;
- for each candidate fidelity (``--fidelities steps:eval_samples:distill[:lr]``): seed
  self-agreement, Kendall's tau between two seeds (each seed its own dense start and batch
  order), its cost per design (core-seconds, one thread, evaluation included) as a ratio to
  the budget, and tau per core-second;
- agreement of the first fidelity with a ``--factor`` x longer training (seed 0), and that
  training's cost; the mean binomial standard error of the accuracies, and their spread.

    .venv/bin/python benchmarks/proxy_fidelity.py [--quick] [--designs 30]
        [--fidelities 40:all:0 80:2000:1] [--factor 10]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import kendalltau

from epim.proxy import ProxyConfig, ProxyResult, dense_start, train_proxies, train_proxy
from epim.space import Design, LayerDesign
from epim.workloads import get_network

NETWORK = "resnet20"


def random_designs(n: int, seed: int = 0, network: str = NETWORK) -> list[Design]:
    """Designs spread over the space's damage range: each design draws how hard it compresses
    (a precision and a largest wrapping ratio), then every layer draws within that."""
    net = get_network(network)
    rng = np.random.default_rng(seed)
    compute = net.compute_layers
    designs = []
    for _ in range(n):
        layers = {}
        bits = int(rng.choice([2, 3, 4, 6, 8]))
        ratios = [1, 2, 4, 8][: int(rng.integers(1, 5))]
        for i, layer in enumerate(compute):
            cout, cin_g, kh, kw = layer.weight_shape
            if i in (0, len(compute) - 1):
                layers[layer.name] = LayerDesign(cin_g, cout, kh, kw, 8, 8, 0)
                continue
            layers[layer.name] = LayerDesign(
                max(1, cin_g // int(rng.choice(ratios))),
                max(1, cout // int(rng.choice(ratios))), kh, kw,
                int(np.clip(bits + rng.integers(-1, 2), 2, 8)), 8, 0)
        designs.append(Design(net.name, layers))
    return designs


def run(label: str, designs: list[Design], config: ProxyConfig) -> tuple[np.ndarray, float]:
    """Train all designs together; their accuracies and the cost per design (s)."""
    net = get_network(NETWORK)
    began = time.perf_counter()
    results: list[ProxyResult] = train_proxies(net, designs, config)
    seconds = (time.perf_counter() - began) / len(designs)
    accuracy = np.array([r.accuracy for r in results])
    se = np.nanmean([r.accuracy_se for r in results])
    failed = sum(r.error is not None for r in results)
    print(f"  {label:<34} {seconds:6.2f} s/design  accuracy {np.nanmin(accuracy):.3f}.."
          f"{np.nanmax(accuracy):.3f}  mean SE {se:.4f}"
          + (f"  {failed} diverged" if failed else ""), flush=True)
    return accuracy, seconds


def per_design_cost(designs: list[Design], config: ProxyConfig) -> float:
    """Seconds per design of the per-design loop (``train_proxy``) at ``config``."""
    net = get_network(NETWORK)
    began = time.perf_counter()
    for design in designs:
        train_proxy(net, design, config)
    return (time.perf_counter() - began) / len(designs)


def tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau over the designs both runs trained."""
    keep = np.isfinite(a) & np.isfinite(b)
    return float(kendalltau(a[keep], b[keep]).statistic)


def parse_fidelity(text: str, base: ProxyConfig) -> ProxyConfig:
    """``steps:eval_samples:distill[:lr]`` (eval ``all``: the whole held-out split)."""
    parts = text.split(":")
    steps, samples, distill = int(parts[0]), parts[1], float(parts[2])
    config = replace(base, steps=steps, distill=distill,
                     eval_samples=None if samples == "all" else int(samples))
    return replace(config, lr=float(parts[3])) if len(parts) > 3 else config


def label_of(config: ProxyConfig) -> str:
    return (f"{config.steps} steps, eval {config.eval_samples or 'all'}, distill "
            f"{config.distill:g}, lr {config.lr:g}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--designs", type=int, default=30)
    parser.add_argument("--fidelities", nargs="+", default=["40:all:0"],
                        help="candidates, each steps:eval_samples:distill[:lr] (eval all: "
                        "the whole held-out split)")
    parser.add_argument("--factor", type=int, default=10,
                        help="reference: this many times the steps of the first fidelity "
                        "(0: no reference)")
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--baseline-steps", type=int, default=40,
                        help="the per-design proxy whose cost is the budget (eval 2,000)")
    parser.add_argument("--baseline-designs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="12 designs, 20 steps, 5x reference, 100 pretraining steps")
    args = parser.parse_args()
    if args.quick:
        args.designs, args.fidelities, args.factor, args.pretrain_steps = 12, ["20:2000:0"], 5, 100
        args.baseline_designs = 1
    torch.set_num_threads(1)
    base = ProxyConfig(dataset="fashion-mnist", width=0.25, batch_size=64, threads=1,
                       lr=args.lr, pretrain_steps=args.pretrain_steps)
    fidelities = [parse_fidelity(text, base) for text in args.fidelities]
    net = get_network(NETWORK)
    designs = random_designs(args.designs)
    print(f"{args.designs} random {NETWORK} designs, Fashion-MNIST, one thread", flush=True)
    for seed in (0, 1):
        began = time.perf_counter()
        dense_start(net, replace(fidelities[0], seed=seed))
        print(f"  dense start, seed {seed} ({args.pretrain_steps} steps, once per seed, shared "
              f"by every fidelity of its lr): {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()  # compiles the fused kernels (once per process)
    train_proxies(net, designs[:2], replace(fidelities[0], steps=1, eval_samples=64))
    print(f"  warm-up (kernel compilation, once per process): "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    baseline = replace(base, steps=args.baseline_steps, eval_samples=2000)
    budget = per_design_cost(designs[:args.baseline_designs], baseline)
    print(f"  budget: per-design loop, {label_of(baseline)}: {budget:.2f} s/design",
          flush=True)
    rows = []
    for config in fidelities:
        seed0, cost = run(f"{label_of(config)}, seed 0", designs, config)
        seed1, _ = run("  seed 1", designs, replace(config, seed=1))
        agreement = tau(seed0, seed1)
        rows.append((config, agreement, cost, seed0, seed1))
        print(f"seed self-agreement {agreement:+.3f}  {cost:.2f} core-s/design "
              f"({cost / budget:.2f}x the budget)  tau per core-s {agreement / cost:.3f}",
              flush=True)
    print("fidelity                                   tau   core-s/design  of budget  "
          "tau per core-s", flush=True)
    for config, agreement, cost, _, _ in rows:
        print(f"{label_of(config):<40} {agreement:+.3f} {cost:10.2f} {cost / budget:10.2f}x "
              f"{agreement / cost:10.3f}", flush=True)
    if args.factor > 0:
        config, _, _, seed0, seed1 = rows[0]
        reference = replace(config, steps=args.factor * config.steps)
        longer, long_cost = run(f"reference ({args.factor}x: {reference.steps} steps)",
                                designs, reference)
        mean = (seed0 + seed1) / 2
        print(f"{label_of(config)} vs {args.factor}x longer training: kendall tau seed 0 "
              f"{tau(seed0, longer):+.3f}, mean of two seeds {tau(mean, longer):+.3f}; "
              f"reference {long_cost:.2f} core-s/design", flush=True)


if __name__ == "__main__":
    main()
