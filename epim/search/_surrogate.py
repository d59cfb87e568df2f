"""The additive accuracy surrogate: per-layer damage from a profile, corrected online.

Each layer's choice does damage ``d_l(c)``: the calibration-loss increase (nats) of that
layer's epitome (its wrapping and spatial shape), its weight bits and its activation bits,
each measured alone on the pretrained dense proxy and added within the layer. A design's
predicted accuracy saturates in the log-odds of the dense proxy's (Wang et al., HAQ, and Yao
et al., HAWQ-V3, add per-layer sensitivities):

    logit((acc - floor) / (top - floor)) = b - sum_l w_l d_l(c_l)

``floor`` is chance level and ``top`` the dense proxy's accuracy. Before any design is trained
``w_l = 1`` and ``b`` is the dense point; once designs are trained at the study's fidelity,
``b`` and the weights are refitted by ridge regression that pulls every ``w_l`` toward a common
scale (so a few observations fit one scale, many refine per-layer corrections from the
residuals). Since every term is additive and non-negative, the surrogate's whole front against
any additive cost is exact (``knapsack_front``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Accuracy shares kept off 0 and 1 before taking log-odds.
_EPS = 1e-3


@dataclass
class AdditiveSurrogate:
    """Predicted accuracy of designs given as per-layer choice indices.

    Args:
        damage: Per layer, ``[k]`` the damage (nats, >= 0) of each choice.
        top: Accuracy of the dense design (the reference of the damage).
        floor: Chance accuracy.
        ridge: Pull of the per-layer weights toward their common scale.

    """

    damage: list[FloatArray]
    top: float
    floor: float
    ridge: float = 1.0

    def __post_init__(self) -> None:
        self.damage = [np.maximum(np.asarray(d, dtype=np.float64), 0.0) for d in self.damage]
        self.weights: FloatArray = np.ones(len(self.damage))
        self.bias: float = float(_logit(1.0 - _EPS))
        self.observations = 0

    def layer_damage(self, index: IntArray) -> FloatArray:
        """``[n, n_layers]`` the damage of each design's choice in each layer."""
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(self.damage))
        return np.stack([d[index[:, j]] for j, d in enumerate(self.damage)], axis=1)

    def score(self, index: IntArray) -> FloatArray:
        """The weighted damage of each design (lower predicts more accurate)."""
        weighted: FloatArray = self.layer_damage(index) @ self.weights
        return weighted

    def predict(self, index: IntArray) -> FloatArray:
        """Predicted accuracy of each design."""
        share = 1.0 / (1.0 + np.exp(-(self.bias - self.score(index))))
        return self.floor + (self.top - self.floor) * share

    def weighted_tables(self) -> list[FloatArray]:
        """Per layer, each choice's weighted damage (the knapsack's accuracy column)."""
        return [w * d for w, d in zip(self.weights, self.damage, strict=True)]

    def fit(self, index: IntArray, accuracy: Sequence[float],
            known: FloatArray | None = None) -> None:
        """Refit ``b`` and the weights to trained designs (choice indices and accuracies).

        Args:
            index: ``[n, n_layers]`` the designs' choices.
            accuracy: Their observed accuracies.
            known: ``[n]`` damage (log-odds) each design has beyond its layers' (e.g. its
                hardware's), fitted elsewhere: added back before fitting the layers.

        """
        x = self.layer_damage(index)
        y = self._target(accuracy)
        if known is not None:
            y = y + np.asarray(known, dtype=np.float64)
        n = len(y)
        self.observations = n
        if n < 2:
            return
        total = x.sum(axis=1)
        if np.ptp(total) <= 0:
            return
        # one common scale first (an ordinary least-squares line), then per-layer corrections
        slope, intercept = np.polyfit(total, y, 1)
        scale = max(-float(slope), 0.0)
        if n < 4 or scale == 0.0:
            self.weights = np.full(len(self.damage), scale if scale > 0 else 1.0)
            self.bias = float(intercept) if scale > 0 else self.bias
            return
        # y = b - x (scale + delta); ridge on delta (scaled to the damage magnitude)
        residual = y + scale * total
        design = np.column_stack([np.ones(n), -x])
        strength = self.ridge * float(np.mean(x * x)) * n
        penalty = np.diag([0.0, *([strength] * x.shape[1])])
        solution = np.linalg.solve(design.T @ design + penalty, design.T @ residual)
        self.bias = float(solution[0])
        self.weights = np.maximum(scale + solution[1:], 0.0)


    def excess_damage(self, index: IntArray, accuracy: Sequence[float]) -> FloatArray:
        """Per design, the damage its observed accuracy implies beyond the predicted one.

        In the surrogate's log-odds units (what :meth:`score` sums): ``b - score - y``;
        positive where the design did worse than predicted.
        """
        excess: FloatArray = self.bias - self.score(index) - self._target(accuracy)
        return excess

    def _target(self, accuracy: Sequence[float]) -> FloatArray:
        """The log-odds of accuracies between ``floor`` and ``top`` (the fitted quantity)."""
        return _logit(np.clip((np.asarray(accuracy, dtype=np.float64) - self.floor)
                              / max(self.top - self.floor, 1e-9), _EPS, 1 - _EPS))


def _logit(p: float | FloatArray) -> FloatArray:
    p = np.asarray(p, dtype=np.float64)
    result: FloatArray = np.log(p / (1.0 - p))
    return result
