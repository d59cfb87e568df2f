"""One design's costs as plain data: what ``epim cost --json`` prints and the API serves."""

from __future__ import annotations

from typing import Any

from epim.cost_model._hardware import Hardware
from epim.cost_model._model import CostBatch, CostModel, LatencyMode, check_latency_mode
from epim.space import Design, DesignBatch
from epim.workloads import Network


def report_from_batch(costs: CostBatch, index: int, latency_mode: LatencyMode) -> dict[str, Any]:
    """The cost report of design ``index`` of ``costs`` (SI units, unprefixed).

    Keys: ``network``, ``hardware``, ``crossbars`` (physical, both arrays of a +/- pair),
    ``tiles`` (pooling tiles included where the preset counts them), ``area_m2``,
    ``crossbar_area_m2``, ``latency_mode``, ``latency_s`` (in that mode), ``latency_s_by_mode``,
    ``energy_j``, ``energy_breakdown_j``, ``params``, ``macs`` and ``layers``.
    """
    check_latency_mode(latency_mode)
    layers = []
    for j, layer in enumerate(costs.network.layers):
        layers.append({
            "name": layer.name,
            "type": layer.kind,
            "crossbars": int(costs.layer_crossbars[index, j]),
            "tiles": int(costs.layer_tiles[index, j]),
            "latency_s": float(costs.layer_latency_s[index, j]),
            "merge_hops": int(costs.layer_merge_hops[index, j]),
            "transfer_hops": int(costs.layer_transfer_hops[index, j]),
            "energy_j": float(costs.layer_energy_j[index, j]),
            "energy_breakdown_j": {
                name: float(values[index, j])
                for name, values in costs.layer_energy_breakdown_j.items()
            },
        })
    by_mode = {mode: float(values[index]) for mode, values in costs.latency_s_by_mode.items()}
    return {
        "network": costs.network.name,
        "hardware": costs.hardware_of(index).name,
        "crossbars": int(costs.crossbars[index]),
        "tiles": int(costs.tiles[index]),
        "area_m2": float(costs.area_m2[index]),
        "crossbar_area_m2": float(costs.crossbar_area_m2[index]),
        "latency_mode": latency_mode,
        "latency_s": by_mode[latency_mode],
        "latency_s_by_mode": by_mode,
        "energy_j": float(costs.energy_j[index]),
        "energy_breakdown_j": {k: float(v[index]) for k, v in costs.energy_breakdown_j.items()},
        "params": int(costs.params[index]),
        "macs": int(costs.macs),
        "layers": layers,
    }


def cost_report(network: Network, design: Design, hardware: Hardware, *,
                latency_mode: LatencyMode = "layer_by_layer",
                baseline_bits: int | None = None) -> dict[str, Any]:
    """Cost one design; with ``baseline_bits``, add the dense baseline and reductions.

    Args:
        network: The network.
        design: A design of ``network``.
        hardware: The hardware preset (overrides applied).
        latency_mode: ``layer_by_layer``, ``pipelined`` or ``throughput``.
        baseline_bits: Weight and activation bits of the dense baseline, or ``None``.

    Returns:
        The report of :func:`report_from_batch`; with a baseline also ``baseline`` (the same
        keys for the dense network) and ``crossbar_area_reduction``, ``energy_reduction`` and
        ``latency_reduction`` (baseline / design).

    """
    model = CostModel(network=network, hardware=hardware)
    designs = [design]
    if baseline_bits is not None:
        designs.append(Design.dense(network, baseline_bits, baseline_bits))
    costs = model.evaluate(DesignBatch.from_designs(network, designs))
    report = report_from_batch(costs, 0, latency_mode)
    if baseline_bits is not None:
        baseline = report_from_batch(costs, 1, latency_mode)
        report["baseline"] = {"weight_bits": baseline_bits, "act_bits": baseline_bits, **baseline}
        report["crossbar_area_reduction"] = (
            baseline["crossbar_area_m2"] / report["crossbar_area_m2"]
        )
        report["energy_reduction"] = baseline["energy_j"] / report["energy_j"]
        report["latency_reduction"] = baseline["latency_s"] / report["latency_s"]
    return report
