"""A study's constraints: which designs meet them, and by how much each bound is missed.

Constraint values follow Optuna's convention: one value per bound, ``<= 0`` feasible, scaled
by the bound's magnitude so that bounds of different units weigh alike in constrained
domination (Deb et al., IEEE TEC 6(2), 2002, sect. IV-B).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from epim.search._spec import ConstraintSpec


def cost_feasible(constraints: Sequence[ConstraintSpec],
                  metrics: Mapping[str, npt.NDArray[np.float64]], n: int) -> list[bool]:
    """Whether each of ``n`` designs meets every bound on the metrics given.

    Bounds on metrics ``metrics`` lacks (the proxy's: accuracy, ...) are checked after the
    proxy has run, by :func:`constraint_values`.
    """
    ok = np.ones(n, dtype=bool)
    for constraint in constraints:
        value = metrics.get(constraint.metric)
        if value is not None:
            ok &= constraint.holds(value)
    return [bool(v) for v in ok]


def constraint_values(constraints: Sequence[ConstraintSpec],
                      row: Mapping[str, float]) -> list[float]:
    """One value per bound of ``row`` (a trial's metrics), ``<= 0`` feasible.

    See :meth:`ConstraintSpec.violations`.
    """
    return [v for c in constraints for v in c.violations(row[c.metric])]
