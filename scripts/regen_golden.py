"""Regenerate the cost model's golden files (tests/cost_model/golden/*.json).

Golden files pin per-layer numbers so that an unintended change to the model shows up in the
tests. Never edit them by hand: change the model, run this script, review the diff, commit.

    .venv/bin/python scripts/regen_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

from epim.cost_model import cost_report, load_hardware
from epim.space import Design, load_design_file
from epim.workloads import get_network

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests/cost_model/golden"

#: (file stem, network, preset, overrides, design file or None, weight bits, act bits, mode)
CASES = [
    ("vgg8_mnsim_9bit", "vgg8", "mnsim", {}, None, 9, 9, "pipelined"),
    ("resnet18_mnsim_xbar128_8bit", "resnet18", "mnsim", {"xbar_size": 128}, None, 8, 8,
     "layer_by_layer"),
    ("resnet50_epim_3bit_mnsim", "resnet50", "mnsim", {},
     "examples/designs/resnet50_epim_3bit.yaml", 9, 9, "layer_by_layer"),
    ("mobilenet_v2_isaac_16bit", "mobilenet_v2", "isaac", {}, None, 16, 16, "throughput"),
    ("resnet20_isaac_4bit", "resnet20", "isaac", {}, None, 4, 8, "pipelined"),
]


def build(case: tuple) -> dict:  # type: ignore[type-arg]
    _, network, preset, overrides, design_file, wbits, abits, mode = case
    net = get_network(network)
    hw = load_hardware(preset, overrides)
    design = (load_design_file(ROOT / design_file, net, default_weight_bits=wbits,
                               default_act_bits=abits)
              if design_file else Design.dense(net, wbits, abits))
    return cost_report(net, design, hw, latency_mode=mode)


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        path = GOLDEN / f"{case[0]}.json"
        path.write_text(json.dumps(build(case), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
