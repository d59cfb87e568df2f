"""The composition root: a spec checked at the door, then wired to its evaluators."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from epim.datasets import check_named_dataset
from epim.errors import InputError
from epim.search import PreparedStudy, StudyLimits, StudySpec, prepare_study
from epim.service._evaluators import ProxyAccuracy


def prepare_submission(spec: StudySpec, *, limits: StudyLimits | None = None,
                       data_roots: Mapping[str, Path] | None = None) -> PreparedStudy:
    """Resolve everything a runner would: network, hardware, space and the proxy's dataset.

    A spec that passes runs; one that would fail later fails here, with the field path.

    Raises:
        InputError: With ``location`` the path of the offending field in the spec.

    """
    prepared = prepare_study(spec, limits)
    accuracy = spec.accuracy
    if spec.needs_accuracy and accuracy is not None:
        try:
            check_named_dataset(accuracy.dataset, accuracy.data_root, data_roots or {})
        except InputError as exc:
            raise InputError(exc.message, location=("accuracy",), field=exc.field,
                             expected=exc.expected) from None
    return prepared


def make_accuracy(spec: StudySpec, data_roots: Mapping[str, Path] | None = None
                  ) -> ProxyAccuracy | None:
    """The accuracy evaluator a spec needs (``None`` for cost-only studies)."""
    if not spec.needs_accuracy or spec.accuracy is None:
        return None
    root = spec.accuracy.data_root
    return ProxyAccuracy(spec.accuracy,
                         threads=max(1, math.floor(spec.executor.cpus_per_trial)),
                         data_root=None if root is None else (data_roots or {})[root])
