"""Every choice of every searched layer, with its additive costs.

A design's crossbars, tiles (area) and stored weights are exact sums of per-layer terms: a
compute layer's own, plus those of the pooling and add layers that read its activations (their
cost depends on its activation bits). Energy and layer-by-layer latency are sums of per-layer
terms up to the tile placement: a layer's merge and transfer hops depend on where the other
layers' tiles sit (docs/cost_model.md section 3), and the layer-by-layer latency of a network
with branches runs them side by side (section 4). One cost-model call on a batch whose row
``r`` gives every layer its ``r``-th choice fills the tables for all layers at once, so each
choice is costed amid choices of the same rank. Measured on 256 random designs each of
ResNet-18/20/50 and MobileNet-V2 (``benchmarks/table_additivity.py``), the
table sums stay within 1% of the model's energy and within 12% of its latency (mean error under
4%). The search verifies every proposal with the model itself, so the tables only steer it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.cost_model import CostModel
from epim.space import DESIGN_FIELDS, DesignBatch, SearchSpace

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Metrics the knapsack sums per layer (latency: layer by layer). Exact for all but energy
#: and latency, which the tile placement couples across layers (see the module docstring).
ADDITIVE_METRICS: tuple[str, ...] = ("crossbars", "crossbar_area_m2", "area_m2", "energy_j",
                                     "latency_s", "params")
#: The metrics the per-layer sums give exactly.
EXACT_ADDITIVE_METRICS: tuple[str, ...] = ("crossbars", "crossbar_area_m2", "area_m2", "params")


@dataclass(frozen=True)
class LayerChoices:
    """The distinct choices of one searched layer.

    Attributes:
        name: The layer.
        fields: ``[k, len(DESIGN_FIELDS)]`` design fields of each choice.
        values: Per choice, the space's parameter values (``"<layer>/<suffix>" -> value``).
        replication: ``[k]`` copies of the layer's weights per choice (``None``: one copy,
            the space searches no replication).

    """

    name: str
    fields: IntArray
    values: tuple[dict[str, int], ...]
    replication: IntArray | None = None

    def __len__(self) -> int:
        return int(self.fields.shape[0])


@dataclass(frozen=True)
class LayerTables:
    """Choices and per-choice costs of every compute layer of a space, in network order.

    Attributes:
        layers: One :class:`LayerChoices` per compute layer (frozen layers: one choice).
        costs: Metric -> per layer, ``[k]`` the layer's share of that metric per choice;
            ``busy_s`` is the longest pipelined busy time among the layer and the pooling and
            add layers it feeds (a bottleneck term: the max, not the sum, over layers).
        hardware: The hardware genes the tables were costed with (empty: the preset).

    """

    layers: tuple[LayerChoices, ...]
    costs: Mapping[str, tuple[FloatArray, ...]]
    hardware: Mapping[str, int] = field(default_factory=dict)

    def index(self, designs: DesignBatch) -> IntArray:
        """The choice index of every layer of every design, ``[n_designs, n_layers]``.

        Raises:
            KeyError: If a design holds a choice the tables do not (another space).

        """
        table = designs.table()
        out = np.empty(table.shape[:2], dtype=np.int64)
        for j in range(len(self.layers)):
            lookup = self._lookup[j]
            out[:, j] = [lookup[tuple(row)] for row in table[:, j].tolist()]
        return out

    def index_of_design(self, design: Mapping[str, Any]) -> IntArray:
        """The choice index of every layer of one design in the design file format.

        Raises:
            KeyError: If a layer's choice is not in the tables.

        """
        layers = design["layers"]
        return np.array([self._lookup[j][tuple(int(layers[layer.name][f])
                                              for f in DESIGN_FIELDS)]
                         for j, layer in enumerate(self.layers)], dtype=np.int64)

    def index_of_values(self, values: Mapping[str, int]) -> IntArray:
        """The choice index of every layer of a design given by parameter values.

        Raises:
            KeyError: If a value set is not one of a layer's choices.

        """
        out = np.empty(len(self.layers), dtype=np.int64)
        for j in range(len(self.layers)):
            names = self._value_names[j]
            out[j] = self._value_lookup[j][tuple(values[name] for name in names)]
        return out

    def layer_fields(self, index: IntArray) -> list[IntArray]:
        """One design's fields row per layer, from its choice indices."""
        return [layer.fields[int(c)] for layer, c in zip(self.layers, index, strict=True)]

    @cached_property
    def _lookup(self) -> list[dict[tuple[int, ...], int]]:
        """Per layer, design fields -> choice.

        The first choice of those fields: replicated choices share them
        (:meth:`index_of_values` tells them apart).
        """
        lookups = []
        for layer in self.layers:
            lookup: dict[tuple[int, ...], int] = {}
            for i, row in enumerate(layer.fields.tolist()):
                lookup.setdefault(tuple(row), i)
            lookups.append(lookup)
        return lookups

    @cached_property
    def _value_names(self) -> list[tuple[str, ...]]:
        return [tuple(sorted(layer.values[0])) for layer in self.layers]

    @cached_property
    def _value_lookup(self) -> list[dict[tuple[int, ...], int]]:
        return [{tuple(v[name] for name in names): i for i, v in enumerate(layer.values)}
                for layer, names in zip(self.layers, self._value_names, strict=True)]

    def designs(self, space: SearchSpace, index: IntArray) -> DesignBatch:
        """The designs whose layers take the choices ``index`` ``[n, n_layers]``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(self.layers))
        stacked = np.stack([layer.fields[index[:, j]]
                            for j, layer in enumerate(self.layers)], axis=1)
        arrays = {name: stacked[:, :, f].copy() for f, name in enumerate(DESIGN_FIELDS)}
        if any(layer.replication is not None for layer in self.layers):
            arrays["replication"] = np.stack([_copies(layer)[index[:, j]]
                                              for j, layer in enumerate(self.layers)], axis=1)
        n = index.shape[0]
        return DesignBatch(space.network, arrays, {gene: np.full(n, value, dtype=np.int64)
                                                   for gene, value in self.hardware.items()})

    def values(self, index: IntArray) -> list[dict[str, int]]:
        """The space's parameter values of designs given by choice indices."""
        rows = np.asarray(index, dtype=np.int64).reshape(-1, len(self.layers)).tolist()
        out = []
        for row in rows:
            merged: dict[str, int] = {}
            for layer, choice in zip(self.layers, row, strict=True):
                merged.update(layer.values[choice])
            out.append(merged)
        return out

    def totals(self, metric: str, index: IntArray) -> FloatArray:
        """The metric's sum over layers for designs given by choice indices."""
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(self.layers))
        columns = self.costs[metric]
        total: FloatArray = np.sum([columns[j][index[:, j]] for j in range(len(self.layers))],
                                   axis=0)
        return total


def layer_tables(space: SearchSpace, model: CostModel,
                 hardware: Mapping[str, int] | None = None) -> LayerTables:
    """Enumerate every layer's choices and cost each one (one cost-model call).

    Args:
        space: The search space (with replication: a choice per number of copies too).
        model: The study's cost model.
        hardware: Hardware genes to cost every choice with (one tuple of
            ``space.hardware_variants()``; ``None``: the preset).

    """
    genes = dict(hardware or {})
    layers = tuple(_choices(space, j) for j in range(len(space.layers)))
    depth = max(len(layer) for layer in layers)
    pad = [np.minimum(np.arange(depth), len(layer) - 1) for layer in layers]
    rows = np.stack([layer.fields[p] for layer, p in zip(layers, pad, strict=True)],
                    axis=1)  # [depth, n_layers, fields]
    arrays = {name: rows[:, :, f].copy() for f, name in enumerate(DESIGN_FIELDS)}
    if space.replicated:
        arrays["replication"] = np.stack([_copies(layer)[p]
                                          for layer, p in zip(layers, pad, strict=True)], axis=1)
    batch = DesignBatch(space.network, arrays, {gene: np.full(depth, value, dtype=np.int64)
                                                for gene, value in genes.items()})
    costs = model.evaluate(batch)
    chip = costs.hardware_of(0)
    geometry = model.geometry
    owner = np.empty(len(geometry.order), dtype=np.int64)  # network column -> compute layer
    owner[geometry.compute_positions] = np.arange(len(layers))
    owner[geometry.other_positions] = geometry.other_act_source
    per_layer = {
        "crossbars": costs.layer_crossbars.astype(np.float64),
        "area_m2": costs.layer_tiles * chip.tile_area_m2,
        "energy_j": costs.layer_energy_j,
        "latency_s": costs.layer_latency_share_s,
    }
    grouped: dict[str, list[FloatArray]] = {}
    for metric, columns in per_layer.items():
        summed = np.zeros((depth, len(layers)))
        np.add.at(summed.T, owner, columns.T)  # attribute each network column to its owner
        grouped[metric] = [summed[: len(layer), j] for j, layer in enumerate(layers)]
    busiest = np.zeros((depth, len(layers)))
    np.maximum.at(busiest.T, owner, costs.layer_pipelined_latency_s.T)
    grouped["busy_s"] = [busiest[: len(layer), j] for j, layer in enumerate(layers)]
    grouped["crossbar_area_m2"] = [c * chip.xbar_area_m2 for c in grouped["crossbars"]]
    stored = rows[:, :, 0] * rows[:, :, 1] * rows[:, :, 2] * rows[:, :, 3]
    grouped["params"] = [stored[: len(layer), j].astype(np.float64)
                         for j, layer in enumerate(layers)]
    return LayerTables(layers, {k: tuple(v) for k, v in grouped.items()}, genes)


def _copies(layer: LayerChoices) -> IntArray:
    """Copies of the layer's weights per choice (ones without replication)."""
    if layer.replication is None:
        ones: IntArray = np.ones(len(layer), dtype=np.int64)
        return ones
    return layer.replication


def _choices(space: SearchSpace, j: int) -> LayerChoices:
    """The distinct effective choices of layer ``j``.

    Spatial growths that would outgrow the kernel collapse onto ``P = kh``, as
    ``SearchSpace.decode`` does.
    """
    layer = space.layers[j]
    source = space.network.layer(layer.name)
    kh, kw = source.kernel
    searched = {suffix: layer.choices(suffix) for suffix in ("in", "out", "spatial", "wbits",
                                                             "abits", "rep")}
    seen: set[tuple[int, ...]] = set()
    fields: list[tuple[int, ...]] = []
    copies: list[int] = []
    values: list[dict[str, int]] = []
    for cin, cout, growth, wbits, abits, rep in itertools.product(*searched.values()):
        grown = growth if cin * cout * (kh + growth) * (kw + growth) <= source.params else 0
        row = (cin, cout, kh + grown, kw + grown, wbits, abits, 0)
        if (*row, rep) in seen:
            continue
        seen.add((*row, rep))
        fields.append(row)
        copies.append(rep)
        chosen = dict(zip(("in", "out", "spatial", "wbits", "abits", "rep"),
                          (cin, cout, grown, wbits, abits, rep), strict=True))
        values.append({f"{layer.name}/{suffix}": value for suffix, value in chosen.items()
                       if len(searched[suffix]) > 1})
    return LayerChoices(layer.name, np.asarray(fields, dtype=np.int64), tuple(values),
                        np.asarray(copies, dtype=np.int64) if space.replicated else None)
