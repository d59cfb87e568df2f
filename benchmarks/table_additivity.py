"""How far the layer-wise search's per-layer tables are from the cost model, per metric.

The tables (``epim.search._tables``) cost every choice of every layer once and sum them per
design. Crossbars, area and stored weights are exact sums; energy and layer-by-layer latency
are sums only up to the tile placement and overlapping branches. For random designs of each
network this prints the largest and the mean relative error of the table sums against the model.

    .venv/bin/python benchmarks/table_additivity.py [--designs 256] [--networks resnet18 ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from epim.metrics import ADDITIVE_METRICS
from epim.search import StudySpec, prepare_study
from epim.search._metrics import cost_metrics
from epim.search._tables import layer_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=256, help="random designs per network")
    parser.add_argument("--networks", nargs="+",
                        default=["resnet18", "resnet20", "resnet50", "mobilenet_v2"])
    args = parser.parse_args()
    print("network       metric            max |error|  mean error")
    for network in args.networks:
        spec = StudySpec.model_validate({
            "name": "additivity", "network": network, "objectives": [{"metric": "crossbars"}],
            "space": {"epitome": {"pim_aligned": False, "spatial": network == "resnet20"},
                      "activation_bits": [4, 8]}})
        prepared = prepare_study(spec)
        tables = layer_tables(prepared.space, prepared.model)
        rng = np.random.default_rng(0)
        index = np.stack([rng.integers(0, len(layer), args.designs) for layer in tables.layers],
                         axis=1)
        designs = tables.designs(prepared.space, index)
        metrics = cost_metrics(prepared.model.evaluate(designs),
                               {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0},
                               "layer_by_layer")
        for metric in ADDITIVE_METRICS:
            error = tables.totals(metric, index) / metrics[metric] - 1
            print(f"{network:13s} {metric:17s} {np.abs(error).max():10.2%}  {error.mean():+9.2%}")


if __name__ == "__main__":
    main()
