"""Exact Pareto fronts of additive per-layer objectives (multiple-choice knapsack by DP).

Every layer picks one of its choices; a design's value in each objective is the sum of its
layers' values (crossbars, area, energy and layer-by-layer latency are sums of per-layer
terms; the surrogate's accuracy damage is additive by construction). The front of the sums
is built layer by layer: the front after layer ``l`` is the non-dominated set of the front
after ``l - 1`` plus each of layer ``l``'s choices. A point dominated after some layer stays
dominated whatever the later layers add, so the result is the exact front (Kellerer, Pferschy
and Pisinger, *Knapsack Problems*, 2004, ch. 11; the Pareto DP of HAWQ-V3-style bit
allocation). Upper bounds on any summed objective prune partial sums as soon as they pass the
bound (every term is non-negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from epim.search._pareto import non_dominated

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class KnapsackFront:
    """The exact front of summed per-layer values.

    Attributes:
        values: ``[n_points, n_objectives]`` sums (all minimized).
        choices: ``[n_points, n_layers]`` the choice index of every layer, per point.
        thinned: True if the front was thinned to ``max_points`` (then not exact).

    """

    values: FloatArray
    choices: IntArray
    thinned: bool = False

    def __len__(self) -> int:
        return int(self.values.shape[0])


def knapsack_front(layer_values: Sequence[npt.ArrayLike], *,
                   upper_bounds: Sequence[float | None] | None = None,
                   max_points: int = 20_000,
                   slack: Sequence[float] | None = None) -> KnapsackFront:
    """The Pareto front of per-layer additive objectives, one choice per layer.

    Args:
        layer_values: Per layer, an array ``[n_choices, n_objectives]`` of non-negative
            values to minimize (costs; accuracy damage).
        upper_bounds: Per objective, a bound on the sum (``None``: unbounded); designs over
            it are excluded.
        max_points: Largest front kept between layers; beyond it the front is thinned to the
            best points of a grid (``thinned`` then says so). 2-objective fronts of study-sized
            spaces stay far below it. Near points (``slack``) are thinned first, and never
            make the front inexact.
        slack: Per objective, a margin ``d >= 0``: a point is dropped only when a front point
            ``q`` has ``q + d <= p`` (and is below it somewhere). The result is then the front
            plus every point within ``d`` of it, exactly: ``q + d <= p`` is kept under adding
            the same later choices to both, so a point dropped after some layer is dropped
            at the end too. For objectives whose per-layer sums only estimate the real cost.

    Returns:
        The front, sorted by the first objective.

    Raises:
        ValueError: On an empty layer, negative values or mismatched shapes.

    """
    tables = [np.asarray(v, dtype=np.float64) for v in layer_values]
    if not tables:
        raise ValueError("no layers")
    width = tables[0].shape[1] if tables[0].ndim == 2 else 1
    tables = [t.reshape(t.shape[0], width) for t in tables]
    for table in tables:
        if table.shape[0] == 0:
            raise ValueError("a layer without choices")
        if np.any(table < 0) or not np.all(np.isfinite(table)):
            raise ValueError("values must be finite and non-negative")
    bounds = np.array([np.inf if b is None else float(b)
                       for b in (upper_bounds or [None] * width)])
    if bounds.size != width:
        raise ValueError("one bound per objective")
    margin = np.zeros(width) if slack is None else np.asarray(slack, dtype=np.float64)
    if margin.shape != (width,) or np.any(margin < 0) or not np.all(np.isfinite(margin)):
        raise ValueError("one finite, non-negative slack per objective")
    values = np.zeros((1, width))
    back: list[tuple[IntArray, IntArray]] = []  # per layer: (parent index, choice index)
    thinned = False
    for table in tables:
        useful = non_dominated(table)  # a choice dominated within its layer never helps
        if margin.any():  # ... unless by less than the slack
            useful = _near(table, useful, margin)
        parents = np.repeat(np.arange(values.shape[0]), useful.size)
        picks = np.tile(useful, values.shape[0])
        merged = values[parents] + table[picks]
        inside = np.all(merged <= bounds, axis=1)
        merged, parents, picks = merged[inside], parents[inside], picks[inside]
        if merged.shape[0] == 0:
            return KnapsackFront(np.zeros((0, width)), np.zeros((0, len(tables)), np.int64))
        keep = non_dominated(merged)
        if keep.size > max_points:
            keep, thinned = _thin(merged, keep, max_points), True
        elif margin.any():  # the front, and as many near points as fit beside it
            near = np.setdiff1d(_near(merged, keep, margin), keep)
            if keep.size + near.size > max_points:
                near = _thin(merged, near, max_points - keep.size)
            keep = np.union1d(keep, near)
        values = merged[keep]
        back.append((parents[keep], picks[keep]))
    choices = np.zeros((values.shape[0], len(tables)), dtype=np.int64)
    index = np.arange(values.shape[0])
    for layer in range(len(tables) - 1, -1, -1):
        parents, picks = back[layer]
        choices[:, layer] = picks[index]
        index = parents[index]
    order = np.lexsort(values.T[::-1])
    return KnapsackFront(values[order], choices[order], thinned)


def _near(points: FloatArray, front: IntArray, margin: FloatArray) -> IntArray:
    """Indices of ``points`` that no front point beats by ``margin`` (the front included).

    A point beaten by any point by the margin is beaten by a front point too (that point is
    itself dominated by one of the front), so checking the front alone is exact.
    """
    shifted = points[front] + margin
    alive = np.ones(points.shape[0], dtype=bool)
    block = max(1, 4_000_000 // max(1, shifted.shape[0] * points.shape[1]))
    for start in range(0, points.shape[0], block):
        part = points[start:start + block]
        less_equal = (shifted[:, None, :] <= part[None, :, :]).all(axis=2)
        less = (shifted[:, None, :] < part[None, :, :]).any(axis=2)
        alive[start:start + block] = ~(less_equal & less).any(axis=0)
    alive[front] = True
    kept: IntArray = np.flatnonzero(alive).astype(np.int64)
    return kept


def _thin(points: FloatArray, keep: IntArray, count: int) -> IntArray:
    """At most ``count`` of the front ``keep``: the best point of each cell of a grid."""
    front = points[keep]
    low, high = front.min(axis=0), front.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    cells = max(2, round(count ** (1.0 / max(1, front.shape[1] - 1))))
    grid = np.floor((front[:, :-1] - low[:-1]) / span[:-1] * (cells - 1e-9)).astype(np.int64)
    key = np.ravel_multi_index(grid.T, (cells,) * grid.shape[1]) if grid.shape[1] else \
        np.zeros(front.shape[0], np.int64)
    order = np.lexsort((front[:, -1], key))
    first = np.concatenate([[True], key[order][1:] != key[order][:-1]])
    return np.sort(keep[order[first]])[:count]
