"""Proxy fidelity: how steadily the batched ``train`` proxy ranks designs, and what it costs.

Random designs of ``resnet20`` (per-layer channel wrapping 1/2/4/8x and 2..8-bit weights;
first conv and classifier dense at 8 bits) on Fashion-MNIST, all trained together by
``train_proxies`` from the seed's dense start (pretrained once; its cost printed apart), on
the whole held-out split (10,000 images). Prints, progress first:

- seed self-agreement: Kendall's tau between two seeds (each seed its own dense start and
  batch order) at the chosen fidelity, and its cost per design (core-seconds, one thread);
- agreement with a ``--factor`` x longer training (seed 0), and that training's cost;
- the mean binomial standard error of the accuracies, and their spread.

    .venv/bin/python benchmarks/proxy_fidelity.py [--quick] [--designs 30] [--steps 40]
        [--factor 10]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import kendalltau

from epim.proxy import ProxyConfig, ProxyResult, dense_start, train_proxies
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
    print(f"  {label:<22} {config.steps:>5} steps  {seconds:6.2f} s/design  accuracy "
          f"{np.nanmin(accuracy):.3f}..{np.nanmax(accuracy):.3f}  mean SE {se:.4f}"
          + (f"  {failed} diverged" if failed else ""), flush=True)
    return accuracy, seconds


def tau(a: np.ndarray, b: np.ndarray) -> float:
    keep = np.isfinite(a) & np.isfinite(b)
    return float(kendalltau(a[keep], b[keep]).statistic)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--designs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="12 designs, 20 steps, 5x reference, 200 pretraining steps")
    args = parser.parse_args()
    if args.quick:
        args.designs, args.steps, args.factor, args.pretrain_steps = 12, 20, 5, 200
    torch.set_num_threads(1)
    config = ProxyConfig(dataset="fashion-mnist", width=0.25, batch_size=64, threads=1,
                         eval_samples=args.eval_samples, lr=0.02, steps=args.steps,
                         pretrain_steps=args.pretrain_steps)
    net = get_network(NETWORK)
    designs = random_designs(args.designs)
    print(f"{args.designs} random {NETWORK} designs, Fashion-MNIST, held-out images: "
          f"{args.eval_samples or 'all'}; one thread", flush=True)
    began = time.perf_counter()
    dense_start(net, config)
    print(f"  dense start ({args.pretrain_steps} steps, once): "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    seed0, cost = run("seed 0", designs, config)
    seed1, _ = run("seed 1", designs, replace(config, seed=1))
    print(f"seed self-agreement: kendall tau {tau(seed0, seed1):+.3f} at {args.steps} steps, "
          f"{cost:.2f} core-s/design", flush=True)
    longer, long_cost = run(f"reference ({args.factor}x)", designs,
                            replace(config, steps=args.factor * args.steps))
    mean = (seed0 + seed1) / 2
    print(f"vs {args.factor}x longer training: kendall tau seed 0 {tau(seed0, longer):+.3f}, "
          f"mean of two seeds {tau(mean, longer):+.3f}; reference {long_cost:.2f} "
          f"core-s/design", flush=True)


if __name__ == "__main__":
    main()
