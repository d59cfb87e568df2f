"""Study metrics from a cost batch, and their normalization for the hypervolume.

Which metrics there are, their directions and what a reduction reduces come from the metric
registry (:mod:`epim.metrics`); this module computes the cost model's ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from epim.cost_model import CostBatch, LatencyMode
from epim.metrics import COST_METRICS, PRODUCTS, REDUCTIONS, metric_info

FloatArray = npt.NDArray[np.float64]

#: The cost metrics read off a cost batch (``[n]`` arrays, SI units), given its latency in
#: the study's latency mode; the products and reductions follow from them (and the dense
#: baseline) as the registry says.
_FROM_COSTS: dict[str, Callable[[CostBatch, FloatArray], FloatArray]] = {
    "crossbars": lambda costs, _: costs.crossbars.astype(np.float64),
    "crossbar_area_m2": lambda costs, _: costs.crossbar_area_m2,
    "area_m2": lambda costs, _: costs.area_m2,
    "latency_s": lambda _, latency: latency,
    "energy_j": lambda costs, _: costs.energy_j,
    "params": lambda costs, _: costs.params.astype(np.float64),
}
_COMPUTED = set(_FROM_COSTS) | set(PRODUCTS) | set(REDUCTIONS)
if set(COST_METRICS) != _COMPUTED:
    raise RuntimeError(f"epim.search._metrics computes {sorted(_COMPUTED)}, but the "
                       f"registry's cost metrics are {sorted(COST_METRICS)}")


def cost_metrics(costs: CostBatch, baseline: Mapping[str, float],
                 latency_mode: LatencyMode) -> dict[str, FloatArray]:
    """Every cost metric of every design of ``costs`` (``[n]`` arrays, SI units).

    ``baseline`` holds the dense baseline's metrics (at least the reduced costs:
    ``crossbar_area_m2``, ``energy_j`` and ``latency_s``); a reduction is baseline / design.
    Returned in the registry's order.
    """
    latency = costs.latency_s(latency_mode)
    values = {name: compute(costs, latency) for name, compute in _FROM_COSTS.items()}
    for name, factors in PRODUCTS.items():
        product = values[factors[0]]
        for factor in factors[1:]:
            product = product * values[factor]
        values[name] = product
    values.update({name: baseline[of] / values[of] for name, of in REDUCTIONS.items()})
    return {name: values[name] for name in COST_METRICS}


def normalized(metric: str, value: float, baseline: Mapping[str, float]) -> float:
    """Map a metric to a minimization quantity where 1.0 is the reference point.

    Costs are divided by the dense baseline's (so the baseline sits at the reference);
    reductions are inverted the same way; an accuracy (higher is better, a fraction) becomes
    ``1 - accuracy`` (a train proxy's top-1, 0..1) or, for a zero-cost score
    (``baseline["score_reference"]``, the dense network's score), ``1 - score / dense_score``
    clipped to 0..1; ``accuracy_drop`` (lower is better, a fraction) is used as is (clipped to
    0..1).
    """
    info = metric_info(metric)
    if info.quantity == "fraction":
        if not info.higher_is_better:
            return float(np.clip(value, 0.0, 1.0))
        dense = baseline.get("score_reference")
        share = value / dense if dense else value
        return float(1.0 - np.clip(share, 0.0, 1.0))
    if info.reduction_of is not None:  # baseline / design
        return float(1.0 / value) if value > 0 else float("inf")
    base = baseline.get(metric)
    return float(value / base) if base else float(value)
