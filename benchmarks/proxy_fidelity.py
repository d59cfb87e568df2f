"""Proxy fidelity: how well cheap accuracy proxies rank designs, and what they cost.

Twenty random designs of ``resnet20`` (per-layer channel wrapping 1/2/4/8x and 2..8-bit
weights; first conv and classifier dense at 8 bits) on Fashion-MNIST. For each proxy
(train-short, SynFlow, NASWOT) prints Kendall's tau against a reference training of 10x the
steps (mean of two seeds), and the cost per design of each, measured in the same run. Both
trainings start from
the same dense proxy network pretrained once (``pretrain_steps``; its one-off cost is printed
apart), with each design's epitomes initialized by least squares from the dense kernels.

    .venv/bin/python benchmarks/proxy_fidelity.py [--designs 20] [--steps 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
from scipy.stats import kendalltau

from epim.proxy import ProxyConfig, train_proxy, zero_cost_scores
from epim.space import Design, LayerDesign
from epim.workloads import get_network

NETWORK = "resnet20"
REFERENCE_SEEDS = (0, 1)  #: the reference is the mean of two trainings (less noise)


def random_designs(n: int, seed: int = 0) -> list[Design]:
    """Designs spread over the space's damage range: each design draws how hard it compresses
    (a precision and a largest wrapping ratio), then every layer draws within that."""
    net = get_network(NETWORK)
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


def evaluate(job: tuple[Design, ProxyConfig, ProxyConfig]) -> dict[str, float]:
    design, short, reference = job
    net = get_network(NETWORK)
    out: dict[str, float] = {}
    start = time.perf_counter()
    scores = zero_cost_scores(net, design, short)
    zc_seconds = time.perf_counter() - start
    out.update(scores)
    out["zero_cost_s"] = zc_seconds
    result = train_proxy(net, design, short)
    out["short"], out["short_s"] = result.accuracy, result.seconds
    runs = [train_proxy(net, design, replace(reference, seed=seed)) for seed in REFERENCE_SEEDS]
    out["reference"] = float(np.mean([r.accuracy for r in runs]))
    out["reference_s"] = float(sum(r.seconds for r in runs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--designs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    args = parser.parse_args()
    common = {"dataset": "fashion-mnist", "width": 0.25, "batch_size": 64, "threads": 1,
              "eval_samples": None, "lr": 0.02, "pretrain_steps": args.pretrain_steps}
    short = ProxyConfig(steps=args.steps, **common)  # type: ignore[arg-type]
    reference = ProxyConfig(steps=10 * args.steps, **common)  # type: ignore[arg-type]
    designs = random_designs(args.designs)
    net = get_network(NETWORK)
    start = time.perf_counter()
    from epim.proxy import dense_start

    dense_start(net, short)  # deterministic: every worker process trains the same start
    pretrain_s = time.perf_counter() - start
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(evaluate, [(d, short, reference) for d in designs]))
    wall = time.perf_counter() - start
    ref = np.array([r["reference"] for r in rows])
    print(f"{args.designs} random {NETWORK} designs on Fashion-MNIST; reference = "
          f"{reference.steps} steps, train-short = {short.steps} steps; wall {wall:.0f} s")
    print(f"reference accuracy: min {ref.min():.3f} median {np.median(ref):.3f} "
          f"max {ref.max():.3f}")
    ref_cost = float(np.mean([r["reference_s"] for r in rows]))
    for label, key, cost_key in (("train-short", "short", "short_s"),
                                 ("synflow", "synflow", "zero_cost_s"),
                                 ("naswot", "naswot", "zero_cost_s")):
        tau = kendalltau([r[key] for r in rows], ref).statistic
        cost = float(np.mean([r[cost_key] for r in rows]))
        print(f"{label:<12} kendall_tau {tau:+.3f}  cost/design {cost:7.2f} s  "
              f"cost ratio vs reference {cost / ref_cost:.3f}")
    print(f"reference    cost/design {ref_cost:7.2f} s")
    print(f"dense pretraining ({args.pretrain_steps} steps, once per network and worker): "
          f"{pretrain_s:.1f} s")


if __name__ == "__main__":
    main()
