"""Proxy throughput: designs trained per core-second, batched (``train_proxies``) vs one by one.

For the resnet20 and resnet18 proxies (width 0.25, Fashion-MNIST, batch 64, one torch thread)
and N designs (random, as ``proxy_fidelity.random_designs``), trains the N designs as one
stacked model and, at equal steps, the per-design loop (``train_proxy``, timed on
``--loop-designs`` of them: its cost is linear in N), in the same process. Prints designs per
core-second of each and their ratio, and the batched run's FLOP rate (dense-equivalent
generated-kernel convolutions: 2 FLOPs per multiply-add, a training step 3x the forward pass,
plus the evaluation's forward passes; the whole call timed, model building and evaluation
included) as a fraction of a 512 x 512 sgemm on the same core, measured just before and after
that run (the mean; GFLOP/s of the sgemm printed). The fused kernels are compiled in a
warm-up first (its time printed; once per process).

    .venv/bin/python benchmarks/proxy_throughput.py [--quick] [--sizes 1 8 32] [--steps 20]
    .venv/bin/python benchmarks/proxy_throughput.py --networks resnet20 --profile 32
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from proxy_fidelity import random_designs

from epim.datasets import load_cached_dataset
from epim.nn import EpimNet
from epim.proxy import ProxyConfig, train_proxies, train_proxy
from epim.workloads import get_network, scale_network


def sgemm_rate(size: int = 512, repeats: int = 20) -> float:
    """FLOP/s of a ``size`` x ``size`` float32 matmul on one thread (best of 3 rounds)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    a @ b
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - began) / repeats)
    return 2 * size**3 / best


def forward_flops(network: str, config: ProxyConfig) -> float:
    """FLOPs of one image's forward pass through the proxy (2 per MAC, generated kernels)."""
    data = load_cached_dataset(config.dataset, config.data_root)
    channels, height, _ = data.input_shape
    scaled = scale_network(get_network(network), width=config.width, image_size=height,
                           in_channels=channels, num_classes=data.num_classes)
    return 2.0 * scaled.macs


def profile_step(network: str, n: int, config: ProxyConfig) -> None:
    """Print where one stacked training of ``n`` designs spends its time (torch.profiler).

    Three training steps (after two untimed ones) and an evaluation of 64 images, by
    operator, self time, the largest first.
    """
    from torch.profiler import profile

    from epim.proxy._batched import train_stacked
    from epim.proxy._train import start_model

    data = load_cached_dataset(config.dataset, config.data_root)
    net = get_network(network)
    config = replace(config, eval_samples=64)

    def models() -> list[EpimNet]:
        return [start_model(net, design, config, data, None)
                for design in random_designs(n, seed=n, network=network)]

    train_stacked(models(), config, data, steps=2)
    with profile() as prof:
        train_stacked(models(), config, data, steps=3)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--networks", nargs="+", default=["resnet20", "resnet18"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--loop-designs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="resnet20, N = 1 and 8, 5 steps")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="instead: profile a stacked training of N designs (first network)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.networks, args.steps, args.eval_samples = [1, 8], ["resnet20"], 5, 200
    torch.set_num_threads(1)
    config = ProxyConfig(dataset="fashion-mnist", steps=args.steps, batch_size=64, width=0.25,
                         lr=0.02, eval_samples=args.eval_samples, pretrain_steps=0, threads=1)
    if args.profile:
        profile_step(args.networks[0], args.profile, config)
        return
    load_cached_dataset(config.dataset, config.data_root)  # not timed: both paths share it
    warm = get_network(args.networks[0])
    warm_designs = random_designs(2, network=args.networks[0])
    train_proxy(warm, warm_designs[0], replace(config, steps=1))
    began = time.perf_counter()  # compiles the fused kernels, once per process
    train_proxies(warm, warm_designs, replace(config, steps=1, eval_samples=64))
    print(f"warm-up (kernel compilation, once per process, not timed below): "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    print(f"{'network':<9} {'N':>3} {'loop s/design':>13} {'batched s/design':>16} "
          f"{'speed-up':>8} {'GFLOP/s':>8} {'sgemm':>6} {'of sgemm':>8}", flush=True)
    for network in args.networks:
        net = get_network(network)
        flops_per_design = forward_flops(network, config) * (
            3 * config.batch_size * config.steps + config.eval_samples)
        for n in args.sizes:
            designs = random_designs(n, seed=n, network=network)
            loop = designs[:min(n, args.loop_designs)]
            began = time.perf_counter()
            for design in loop:
                train_proxy(net, design, config)
            loop_s = (time.perf_counter() - began) / len(loop)
            sgemm = sgemm_rate()  # the core's rate now, next to the run it scales
            began = time.perf_counter()
            results = train_proxies(net, designs, replace(config), chunk=n)
            batched_s = (time.perf_counter() - began) / n
            sgemm = (sgemm + sgemm_rate()) / 2
            failed = sum(r.error is not None for r in results)
            rate = flops_per_design / batched_s
            print(f"{network:<9} {n:>3} {loop_s:>13.2f} {batched_s:>16.3f} "
                  f"{loop_s / batched_s:>7.1f}x {rate / 1e9:>8.1f} {sgemm / 1e9:>6.1f} "
                  f"{rate / sgemm:>8.1%}"
                  + (f"  ({failed} diverged)" if failed else ""), flush=True)
    print(f"designs per core-second = 1 / (s/design); {config.steps} steps, batch "
          f"{config.batch_size}, {config.eval_samples} held-out images, one thread")


if __name__ == "__main__":
    main()
