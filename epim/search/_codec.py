"""How a search space is presented to Optuna: one parameter per searched layer field.

``categorical`` parameters take the candidate values themselves (channel counts, bits);
``ordered`` parameters take the candidate's rank (``IntDistribution(0, k - 1)`` over the sorted
candidates), so samplers that model order (TPE, GP) see that 4 bits lie between 3 and 5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from epim.space import DesignBatch, SearchSpace

Encoding = Literal["categorical", "ordered"]


class ParameterCodec:
    """Optuna distributions of a space, and parameter sets <-> designs.

    Args:
        space: The search space.
        encoding: ``categorical`` (values) or ``ordered`` (ranks).

    """

    def __init__(self, space: SearchSpace, encoding: Encoding = "categorical") -> None:
        self.space = space
        self.encoding = encoding
        self.choices = space.parameters()
        self.distributions: dict[str, BaseDistribution] = {
            name: (CategoricalDistribution(list(choices)) if encoding == "categorical"
                   else IntDistribution(0, len(choices) - 1))
            for name, choices in self.choices.items()}

    def decode(self, batch: Sequence[Mapping[str, Any]]) -> DesignBatch:
        """The designs that parameter sets in this encoding stand for (one decode)."""
        if self.encoding == "categorical":
            return self.space.decode_batch(batch)
        ranks = np.array([[params[name] for name in self.choices] for params in batch],
                         dtype=np.int64).reshape(len(batch), len(self.choices))
        return self.space.decode_indices(ranks)

    def to_values(self, params: Mapping[str, Any]) -> dict[str, int]:
        """Candidate values from parameters in this encoding."""
        if self.encoding == "categorical":
            return {name: int(value) for name, value in params.items()}
        return {name: self.choices[name][int(rank)] for name, rank in params.items()}

    def from_values(self, values: Mapping[str, int]) -> dict[str, int]:
        """Parameters in this encoding from candidate *values* (e.g. ``space.encode``)."""
        if self.encoding == "categorical":
            return dict(values)
        return {name: self.choices[name].index(value) for name, value in values.items()}
