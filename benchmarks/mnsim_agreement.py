"""Agreement of imported MNSIM configurations with MNSIM 2.0's own results (README table).

Reads the goldens (tests/cost_model/golden/mnsim/mnsim_agreement.json: MNSIM's numbers for
our variant SimConfig files), imports each variant with `epim presets import`'s reader, costs
the dense network and prints our error per metric. MNSIM itself is not run here.

    .venv/bin/python benchmarks/mnsim_agreement.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from epim.cost_model import CostModel, load_hardware
from epim.space import DesignBatch
from epim.workloads import resolve_network

GOLDEN = Path(__file__).resolve().parents[1] / "tests/cost_model/golden/mnsim"
NETWORKS = {"vgg8": "vgg8", "alexnet": str(GOLDEN / "alexnet_cifar.yaml"),
            "resnet18": str(GOLDEN / "resnet18_mnsim.yaml")}
METRICS = [("area_m2", "area"), ("energy_j", "energy"),
           ("latency_layer_by_layer_s", "layer-by-layer"), ("latency_pipelined_s", "pipelined")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    runs = json.loads((GOLDEN / "mnsim_agreement.json").read_text())["runs"]
    header = ["variant", "network", "changed keys", "crossbars", "tiles", "hops",
              *[label for _, label in METRICS]]
    rows = []
    worst = dict.fromkeys([label for _, label in METRICS], 0.0)
    for run in runs:
        hardware = load_hardware(str(GOLDEN / "simconfig" / f"{run['variant']}.ini"))
        network = resolve_network(NETWORKS[run["network"]])
        costs = CostModel(network=network, hardware=hardware).evaluate(
            DesignBatch.dense(network, 1, weight_bits=9, act_bits=9))
        same = (costs.layer_merge_hops[0].tolist() == run["merge_hops"]
                and costs.layer_transfer_hops[0].tolist() == run["transfer_hops"])
        hops = "exact" if same else "differ"
        measured = {"area_m2": costs.area_m2[0], "energy_j": costs.energy_j[0],
                    "latency_layer_by_layer_s": costs.latency_s("layer_by_layer")[0],
                    "latency_pipelined_s": costs.latency_s("pipelined")[0]}
        per_pe = hardware.pe_crossbars  # MNSIM counts PEs: groups x polarity each
        crossbars = "exact" if int(costs.crossbars[0]) == run["units"] * per_pe else \
            f"{int(costs.crossbars[0])} vs {run['units'] * per_pe}"
        tiles = "exact" if int(costs.tiles[0]) == run["tiles"] else \
            f"{int(costs.tiles[0])} vs {run['tiles']}"
        errors = []
        for key, label in METRICS:
            error = 100 * (measured[key] / run[key] - 1)
            worst[label] = max(worst[label], abs(error))
            errors.append(f"{error:+.1f}%")
        changes = ", ".join(f"{k}={v}" for k, v in run["changes"].items()) or "(default)"
        rows.append([run["variant"], run["network"], changes, crossbars, tiles, hops, *errors])
    if args.markdown:  # one row per variant, the networks' figures side by side
        networks = [name for name in NETWORKS if any(r[1] == name for r in rows)]
        print("| variant | changed keys | crossbars, tiles, hops | "
              + " | ".join(label for _, label in METRICS) + " |")
        print("|" + " --- |" * (3 + len(METRICS)))
        for variant in dict.fromkeys(r[0] for r in rows):
            mine = {r[1]: r for r in rows if r[0] == variant}
            first = next(iter(mine.values()))
            structure = "exact" if all(v == "exact" for r in mine.values() for v in r[3:6]) \
                else "; ".join(f"{n}: {', '.join(r[3:6])}" for n, r in mine.items())
            cells = [" / ".join(mine[n][6 + i] if n in mine else "-" for n in networks)
                     for i in range(len(METRICS))]
            print(f"| {variant} | {first[2]} | {structure} | " + " | ".join(cells) + " |")
        print(f"\nfigures: {' / '.join(networks)}")
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"runs: {len(rows)}; worst |error|: " + ", ".join(
        f"{label} {value:.1f}%" for label, value in worst.items()))


if __name__ == "__main__":
    main()
