"""Pareto fronts and hypervolume (all objectives as minimization)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def non_dominated(points: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Indices of the non-dominated rows of ``points`` (minimization; duplicates kept once).

    A row is dominated if another row is <= in every objective and < in one.
    """
    values = np.asarray(points, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(values.T[::-1])
    keep: list[int] = []
    kept = np.empty((0, values.shape[1]))
    for index in order:
        row = values[index]
        if kept.shape[0] and np.any(np.all(kept <= row, axis=1)):
            continue  # dominated or duplicate of a kept row (lexicographic order)
        keep.append(int(index))
        kept = np.vstack([kept, row])
    return np.asarray(sorted(keep), dtype=np.int64)


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (minimization).

    Exact, by recursive slicing along the last objective (HSO; While et al., IEEE TEC 2006),
    fast enough for the fronts of a study (hundreds of points, 2-4 objectives).
    """
    ref = np.asarray(reference, dtype=np.float64)
    values = np.asarray(points, dtype=np.float64).reshape(-1, ref.size)
    values = values[np.all(values < ref, axis=1)]
    if values.shape[0] == 0:
        return 0.0
    values = values[non_dominated(values)]
    return _hso(values, ref)


def _hso(points: FloatArray, ref: FloatArray) -> float:
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    if points.shape[1] == 2:
        ordered = points[np.argsort(points[:, 0])]
        volume, best_y = 0.0, ref[1]
        for x, y in ordered:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    ordered = points[np.argsort(points[:, -1])]
    volume = 0.0
    for i in range(ordered.shape[0]):
        upper = ordered[i + 1, -1] if i + 1 < ordered.shape[0] else ref[-1]
        depth = upper - ordered[i, -1]
        if depth <= 0:
            continue
        slice_points = ordered[: i + 1, :-1]
        slice_points = slice_points[non_dominated(slice_points)]
        volume += depth * _hso(slice_points, ref[:-1])
    return float(volume)
