"""A study's constraints: which designs meet them, and by how much each bound is missed.

Constraint values follow Optuna's convention: one value per bound, ``<= 0`` feasible, scaled
by the bound's magnitude so that bounds of different units weigh alike in constrained
domination (Deb et al., IEEE TEC 6(2), 2002, sect. IV-B).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from epim.search._spec import ConstraintSpec

#: A violation that is not a finite number (a metric that overflowed) counts as this much.
UNBOUNDED_VIOLATION = 1e300


def cost_feasible(constraints: Sequence[ConstraintSpec],
                  metrics: Mapping[str, npt.NDArray[np.float64]], n: int) -> list[bool]:
    """Whether each of ``n`` designs meets every bound on the metrics given.

    Bounds on metrics ``metrics`` lacks (the proxy's: accuracy, ...) are checked after the
    proxy has run, by :func:`constraint_values`.
    """
    ok = np.ones(n, dtype=bool)
    for constraint in constraints:
        value = metrics.get(constraint.metric)
        if value is None:
            continue
        if constraint.max is not None:
            ok &= value <= constraint.max
        if constraint.min is not None:
            ok &= value >= constraint.min
    return [bool(v) for v in ok]


def constraint_values(constraints: Sequence[ConstraintSpec],
                      row: Mapping[str, float]) -> list[float]:
    """One value per bound of ``row`` (a trial's metrics), ``<= 0`` feasible."""
    values = []
    for constraint in constraints:
        value = row[constraint.metric]
        if constraint.max is not None:
            values.append((value - constraint.max) / (abs(constraint.max) or 1.0))
        if constraint.min is not None:
            values.append((constraint.min - value) / (abs(constraint.min) or 1.0))
    return [v if math.isfinite(v) else UNBOUNDED_VIOLATION for v in values]
