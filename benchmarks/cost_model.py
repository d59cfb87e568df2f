"""Cost-model throughput: batched designs per second on one core (ResNet-50 by default).

Prints the batched rate and, measured in the same run, the ratio to a straightforward loop
that scores one design per call. The last line reads ``designs_per_second: N`` so the figure
can be tracked. With ``--hardware-genes`` it also scores, side by side in the same run, the
same designs each carrying one of 12 hardware tuples (crossbar size 128/256, ADC choice
4/6/7, 1- or 2-bit cells) and per-layer weight replication (1, 2 or 4), and prints designs
per second with and without (one pass per distinct hardware tuple). Run on one thread:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/cost_model.py \
        [--network resnet18] [--preset mnsim] [--hardware-genes]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from epim.cost_model import CostModel, load_hardware  # noqa: E402
from epim.space import DesignBatch  # noqa: E402
from epim.workloads import get_network  # noqa: E402


def random_designs(n: int, seed: int = 0, network: str = "resnet50") -> DesignBatch:
    net = get_network(network)
    rng = np.random.default_rng(seed)
    compute = net.compute_layers
    cin = np.array([layer.in_channels // layer.groups for layer in compute])
    cout = np.array([layer.out_channels for layer in compute])
    ratios = np.array([1, 2, 4, 8])
    shape = (n, len(compute))
    arrays = {
        "epitome_in": np.maximum(1, cin // rng.choice(ratios, shape)),
        "epitome_out": np.maximum(1, cout // rng.choice(ratios, shape)),
        "epitome_h": np.broadcast_to([layer.kernel[0] for layer in compute], shape),
        "epitome_w": np.broadcast_to([layer.kernel[1] for layer in compute], shape),
        "weight_bits": rng.choice([2, 3, 4, 5, 6, 8], shape),
        "act_bits": np.full(shape, 8),
        "channel_offsets": np.zeros(shape),
    }
    return DesignBatch(net, {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in arrays.items()})


#: Hardware genes of the ``--hardware-genes`` case: 2 x 3 x 2 = 12 tuples.
GENES = {"xbar_size": [128, 256], "adc_choice": [4, 6, 7], "cell_bits": [1, 2]}


def with_genes(batch: DesignBatch, *, hardware: bool, replication: bool,
               seed: int = 1) -> DesignBatch:
    """``batch`` with random hardware tuples and/or per-layer replication 1, 2 or 4."""
    rng = np.random.default_rng(seed)
    arrays = dict(batch.arrays)
    if replication:
        arrays["replication"] = rng.choice([1, 2, 4], arrays["weight_bits"].shape)
    genes = {gene: rng.choice(values, len(batch)) for gene, values in GENES.items()} \
        if hardware else {}
    return DesignBatch(batch.network, arrays, genes)


def best_rate(fn, n_designs: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_designs / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet50", help="a network of the zoo")
    parser.add_argument("--preset", default="mnsim", help="a hardware preset")
    parser.add_argument("--hardware-genes", action="store_true",
                        help="also time designs with hardware genes and replication")
    args = parser.parse_args()
    net = get_network(args.network)
    model = CostModel(network=net, hardware=load_hardware(args.preset))
    batch_size = 20_000
    batch = random_designs(batch_size, network=args.network)
    model.evaluate(batch)  # warm up
    batched = best_rate(lambda: model.evaluate(batch), batch_size, repeats=5)

    n_loop = 300
    singles = [DesignBatch(net, {k: v[i:i + 1] for k, v in batch.arrays.items()})
               for i in range(n_loop)]

    def loop() -> None:
        for single in singles:
            model.evaluate(single)

    looped = best_rate(loop, n_loop, repeats=3)
    print(f"network: {args.network} ({len(net.compute_layers)} conv/fc layers), "
          f"preset {args.preset}")
    print(f"batched ({batch_size} designs per call): {batched:,.0f} designs/s")
    print(f"per-design loop: {looped:,.0f} designs/s")
    print(f"speedup_vs_loop: {batched / looped:.1f}x")
    if args.hardware_genes:
        cases = {"hardware genes (12 tuples)": (True, False),
                 "replication (1, 2, 4 per layer)": (False, True),
                 "both": (True, True)}
        rates = {}
        for name, (hardware, replication) in cases.items():
            genes = with_genes(batch, hardware=hardware, replication=replication)
            model.evaluate(genes)  # warm up (builds the hardware variants once)
            rates[name] = best_rate(lambda g=genes: model.evaluate(g), batch_size, repeats=5)
        again = best_rate(lambda: model.evaluate(batch), batch_size, repeats=5)
        plain = max(batched, again)  # the plain rate, measured before and after
        print(f"without genes: {plain:,.0f} designs/s")
        for name, rate in rates.items():
            print(f"with {name}: {rate:,.0f} designs/s ({plain / rate:.2f}x slower)")
    print(f"designs_per_second: {batched:.0f}")


if __name__ == "__main__":
    main()
