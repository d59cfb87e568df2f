"""Study metrics from a cost batch, and their normalization for the hypervolume."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from epim.cost_model import CostBatch, LatencyMode
from epim.search._spec import HIGHER_IS_BETTER, ROBUST_METRICS

FloatArray = npt.NDArray[np.float64]


def cost_metrics(costs: CostBatch, baseline: Mapping[str, float],
                 latency_mode: LatencyMode) -> dict[str, FloatArray]:
    """Every cost metric of every design of ``costs`` (``[n]`` arrays, SI units).

    ``baseline`` holds the dense baseline's ``crossbar_area_m2``, ``energy_j`` and
    ``latency_s``; the ``*_reduction`` metrics are baseline / design.
    """
    latency = costs.latency_s(latency_mode)
    energy = costs.energy_j
    crossbar_area = costs.crossbar_area_m2
    return {
        "crossbars": costs.crossbars.astype(np.float64),
        "crossbar_area_m2": crossbar_area,
        "area_m2": costs.area_m2,
        "latency_s": latency,
        "energy_j": energy,
        "edp": energy * latency,
        "params": costs.params.astype(np.float64),
        "crossbar_area_reduction": baseline["crossbar_area_m2"] / crossbar_area,
        "energy_reduction": baseline["energy_j"] / energy,
        "latency_reduction": baseline["latency_s"] / latency,
    }


def normalized(metric: str, value: float, baseline: Mapping[str, float]) -> float:
    """Map a metric to a minimization quantity where 1.0 is the reference point.

    Costs are divided by the dense baseline's (so the baseline sits at the reference);
    reductions are inverted the same way; ``accuracy`` becomes ``1 - accuracy`` (a train proxy's
    top-1, 0..1) or, for a zero-cost score (``baseline["score_reference"]``, the dense
    network's score), ``1 - score / dense_score`` clipped to 0..1, and so do ``robust_accuracy``
    and ``robust_accuracy_p5``; ``accuracy_drop`` is used as is (clipped to 0..1).
    """
    if metric == "accuracy" or metric in ROBUST_METRICS:
        dense = baseline.get("score_reference")
        share = value / dense if dense else value
        return float(1.0 - np.clip(share, 0.0, 1.0))
    if metric == "accuracy_drop":
        return float(np.clip(value, 0.0, 1.0))
    if metric in HIGHER_IS_BETTER:  # reductions: baseline / design
        return float(1.0 / value) if value > 0 else float("inf")
    base = baseline.get(metric)
    return float(value / base) if base else float(value)
