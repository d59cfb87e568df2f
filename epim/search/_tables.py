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

Pruning: a choice's row holds ``CHOICE_FIELDS`` (the design fields, then the pruning fields).
Each layer is costed on its own choice; channel pruning also shrinks the one layer that reads
the pruned layer, so such a pair's costs are not a sum of per-layer terms. The tables keep,
per pair, the reading layer's costs for every input count the pruned layer can leave
(:class:`PairCosts`); :meth:`LayerTables.totals` and :meth:`LayerTables.group_values` (the
pair as one knapsack group over the product of both layers' choices) use them, so the pair's
crossbars, area and weights stay exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.cost_model import CostBatch, CostModel

# The metrics the knapsack sums per layer (latency: layer by layer), and those of them the
# sums give exactly (the rest, energy and latency, the tile placement couples across layers;
# see the module docstring): the metric registry's ``additive`` facts, re-exported here.
from epim.metrics import ADDITIVE_METRICS as ADDITIVE_METRICS
from epim.metrics import EXACT_ADDITIVE_METRICS as EXACT_ADDITIVE_METRICS
from epim.space import (
    CHOICE_FIELDS,
    DESIGN_FIELDS,
    PRUNE_FIELDS,
    DesignBatch,
    SearchSpace,
    prune_producers,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LayerChoices:
    """The distinct choices of one searched layer.

    Attributes:
        name: The layer.
        fields: ``[k, len(CHOICE_FIELDS)]`` design and pruning fields of each choice.
        values: Per choice, the space's parameter values (``"<layer>/<suffix>" -> value``).
        aliases: Other parameter values that decode to a choice (pruning dropped where the
            layer takes an epitome, a spatial growth that outgrew the kernel), with its index.
        replication: ``[k]`` copies of the layer's weights per choice (``None``: one copy,
            the space searches no replication).

    """

    name: str
    fields: IntArray
    values: tuple[dict[str, int], ...]
    aliases: tuple[tuple[dict[str, int], int], ...] = ()
    replication: IntArray | None = None

    def __len__(self) -> int:
        return int(self.fields.shape[0])


@dataclass(frozen=True)
class PairCosts:
    """A channel-pruned layer and the layer reading it: the reader's costs per input count.

    Attributes:
        producer: Position of the channel-prunable layer.
        consumer: Position of the layer reading it.
        keep_index: ``[k_producer]`` for each producer choice, its row in ``costs``.
        costs: Metric -> ``[n_keep, k_consumer]`` the consumer's share per choice, when the
            producer keeps all its outputs (row 0) or one of its pruned counts.

    """

    producer: int
    consumer: int
    keep_index: IntArray
    costs: Mapping[str, FloatArray]


@dataclass(frozen=True)
class LayerTables:
    """Choices and per-choice costs of every compute layer of a space, in network order.

    Attributes:
        layers: One :class:`LayerChoices` per compute layer (frozen layers: one choice).
        costs: Metric -> per layer, ``[k]`` the layer's share of that metric per choice (the
            layer on its own: inputs unpruned); ``busy_s`` is the longest pipelined busy time
            among the layer and the pooling and add layers it feeds (a bottleneck term: the
            max, not the sum, over layers).
        pairs: The channel-pruning pairs among the choices (their reader's costs).
        hardware: The hardware genes the tables were costed with (empty: the preset).

    """

    layers: tuple[LayerChoices, ...]
    costs: Mapping[str, tuple[FloatArray, ...]]
    pairs: tuple[PairCosts, ...] = ()
    hardware: Mapping[str, int] = field(default_factory=dict)

    def group_values(self, parts: Sequence[str | Sequence[FloatArray]]
                     ) -> tuple[list[FloatArray], list[tuple[int, ...]]]:
        """Knapsack groups of objectives ``parts`` (a metric name, or per-layer columns).

        One group per layer, except a channel-pruning pair: one group over the product of
        its two layers' choices, with the reader's exact costs for each producer choice.
        Group choice ``i`` of a pair is ``divmod(i, k_consumer)``.

        Returns:
            Per group ``[k_group, len(parts)]`` values, and the layers of each group.

        """
        paired = {pair.producer: pair for pair in self.pairs}
        consumers = {pair.consumer for pair in self.pairs}
        groups: list[FloatArray] = []
        members: list[tuple[int, ...]] = []
        for j in range(len(self.layers)):
            if j in consumers:
                continue
            pair = paired.get(j)
            if pair is None:
                groups.append(np.column_stack([
                    self.costs[part][j] if isinstance(part, str) else part[j]
                    for part in parts]))
                members.append((j,))
                continue
            c = pair.consumer
            k_p, k_c = len(self.layers[j]), len(self.layers[c])
            cols = []
            for part in parts:
                if isinstance(part, str):
                    reader = pair.costs[part][pair.keep_index]  # [k_p, k_c]
                    cols.append((self.costs[part][j][:, None] + reader).reshape(-1))
                else:
                    cols.append((part[j][:, None] + part[c][None, :]).reshape(-1))
            assert cols[0].size == k_p * k_c
            groups.append(np.column_stack(cols))
            members.append((j, c))
        return groups, members

    def split_choices(self, choices: IntArray, members: Sequence[tuple[int, ...]]
                      ) -> IntArray:
        """Per-layer choice indices ``[n, n_layers]`` from group choices ``[n, n_groups]``."""
        choices = np.asarray(choices, dtype=np.int64)
        out = np.zeros((choices.shape[0], len(self.layers)), dtype=np.int64)
        for g, group in enumerate(members):
            if len(group) == 1:
                out[:, group[0]] = choices[:, g]
            else:
                k_c = len(self.layers[group[1]])
                out[:, group[0]], out[:, group[1]] = np.divmod(choices[:, g], k_c)
        return out

    def index(self, designs: DesignBatch) -> IntArray:
        """The choice index of every layer of every design, ``[n_designs, n_layers]``.

        Raises:
            KeyError: If a design holds a choice the tables do not (another space).

        """
        table = designs.choice_table()
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
        out = np.empty(len(self.layers), dtype=np.int64)
        for j, layer in enumerate(self.layers):
            entry = layers[layer.name]
            key = tuple(int(entry.get(f, 0)) for f in CHOICE_FIELDS)
            if layer.replication is None:
                out[j] = self._lookup[j][key]
            else:  # replicated choices share their fields: the copies tell them apart
                out[j] = self._copies_lookup[j][(*key, int(entry.get("replication", 1)))]
        return out

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
        """Per layer, choice fields -> choice.

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
    def _copies_lookup(self) -> list[dict[tuple[int, ...], int]]:
        """Per layer, choice fields and copies -> choice (layers with replication)."""
        return [{(*row, int(copies)): i for i, (row, copies) in enumerate(
                    zip(layer.fields.tolist(), _copies(layer).tolist(), strict=True))}
                for layer in self.layers]

    @cached_property
    def _value_names(self) -> list[tuple[str, ...]]:
        return [tuple(sorted(layer.values[0])) for layer in self.layers]

    @cached_property
    def _value_lookup(self) -> list[dict[tuple[int, ...], int]]:
        lookups = []
        for layer, names in zip(self.layers, self._value_names, strict=True):
            lookup = {tuple(v[name] for name in names): i for i, v in enumerate(layer.values)}
            for values, i in layer.aliases:
                lookup.setdefault(tuple(values[name] for name in names), i)
            lookups.append(lookup)
        return lookups

    def designs(self, space: SearchSpace, index: IntArray) -> DesignBatch:
        """The designs whose layers take the choices ``index`` ``[n, n_layers]``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(self.layers))
        stacked = np.stack([layer.fields[index[:, j]]
                            for j, layer in enumerate(self.layers)], axis=1)
        copies = (np.stack([_copies(layer)[index[:, j]] for j, layer in enumerate(self.layers)],
                           axis=1)
                  if any(layer.replication is not None for layer in self.layers) else None)
        return _batch(space, stacked, copies, self.hardware)

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
        for pair in self.pairs:  # the reader's cost at the producer's kept outputs
            keep = pair.keep_index[index[:, pair.producer]]
            own = columns[pair.consumer][index[:, pair.consumer]]
            total = total + pair.costs[metric][keep, index[:, pair.consumer]] - own
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
    copies = (np.stack([_copies(layer)[p] for layer, p in zip(layers, pad, strict=True)], axis=1)
              if space.replicated else None)
    costs = model.evaluate(_batch(space, rows, copies, genes), input_pruning=False)
    chip = costs.hardware_of(0)
    geometry = model.geometry
    owner = np.empty(len(geometry.order), dtype=np.int64)  # network column -> compute layer
    owner[geometry.compute_positions] = np.arange(len(layers))
    owner[geometry.other_positions] = geometry.other_act_source
    summed = _per_layer(costs, chip.tile_area_m2, owner)
    summed["crossbar_area_m2"] = summed["crossbars"] * chip.xbar_area_m2
    grouped = {metric: tuple(table[: len(layer), j] for j, layer in enumerate(layers))
               for metric, table in summed.items()}
    pairs = _pair_costs(space, model, layers, rows, copies, genes, owner, grouped)
    return LayerTables(layers, grouped, pairs, genes)


def _copies(layer: LayerChoices) -> IntArray:
    """Copies of the layer's weights per choice (ones without replication)."""
    if layer.replication is None:
        ones: IntArray = np.ones(len(layer), dtype=np.int64)
        return ones
    return layer.replication


def _batch(space: SearchSpace, rows: IntArray, copies: IntArray | None = None,
           genes: Mapping[str, int] | None = None) -> DesignBatch:
    """The designs of choice rows ``[n, n_layers, len(CHOICE_FIELDS)]``.

    Args:
        space: The search space.
        rows: Choice rows.
        copies: ``[n, n_layers]`` weight copies (``None``: one, no replication searched).
        genes: Hardware genes every design carries (``None``: the preset's).

    """
    arrays = {name: rows[:, :, f].copy() for f, name in enumerate(CHOICE_FIELDS)}
    for name in PRUNE_FIELDS:
        if not arrays[name].any():
            del arrays[name]
    if copies is not None:
        arrays["replication"] = copies
    n = rows.shape[0]
    return DesignBatch(space.network, arrays, {gene: np.full(n, value, dtype=np.int64)
                                               for gene, value in (genes or {}).items()})


def _per_layer(costs: CostBatch, tile_area_m2: float, owner: IntArray
               ) -> dict[str, FloatArray]:
    """Each metric per design and compute layer, ``[n, n_layers]``.

    A pooling or add layer's column goes to the compute layer whose activations it reads;
    ``busy_s`` is the longest pipelined busy time among a layer and those it owns (a max).
    """
    per_layer = {
        "crossbars": costs.layer_crossbars.astype(np.float64),
        "area_m2": costs.layer_tiles * tile_area_m2,
        "energy_j": costs.layer_energy_j,
        "latency_s": costs.layer_latency_share_s,
        "params": costs.layer_params.astype(np.float64),
    }
    width = int(owner.max(initial=-1)) + 1
    summed: dict[str, FloatArray] = {}
    for metric, columns in per_layer.items():
        table = np.zeros((columns.shape[0], width))
        np.add.at(table.T, owner, columns.T)  # attribute each network column to its owner
        summed[metric] = table
    busiest = np.zeros((costs.layer_pipelined_latency_s.shape[0], width))
    np.maximum.at(busiest.T, owner, costs.layer_pipelined_latency_s.T)
    summed["busy_s"] = busiest
    return summed


def _pair_costs(space: SearchSpace, model: CostModel, layers: tuple[LayerChoices, ...],
                rows: IntArray, copies: IntArray | None, genes: Mapping[str, int],
                owner: IntArray, own: Mapping[str, tuple[FloatArray, ...]]
                ) -> tuple[PairCosts, ...]:
    """The reader's costs for every output count of each channel-pruned layer.

    One cost-model call per pair and pruned count: every layer at its ``r``-th choice (as in
    the own-cost call), the producer at its reference choice with that count kept.
    """
    out = CHOICE_FIELDS.index("prune_out")
    position = {layer.name: j for j, layer in enumerate(layers)}
    pairs = []
    for consumer_name, producer_name in prune_producers(space.network).items():
        p, c = position[producer_name], position[consumer_name]
        kept = layers[p].fields[:, out]
        values = sorted({int(v) for v in kept} | {0})
        if values == [0]:
            continue
        reference = layers[p].fields[reference_choice(layers[p].fields)]
        costs = {metric: [columns[c]] for metric, columns in own.items()}
        for value in values[1:]:
            probe = rows.copy()
            probe[:, p] = reference
            probe[:, p, out] = value
            probed = model.evaluate(_batch(space, probe, copies, genes))
            chip = probed.hardware_of(0)
            summed = _per_layer(probed, chip.tile_area_m2, owner)
            summed["crossbar_area_m2"] = summed["crossbars"] * chip.xbar_area_m2
            for metric in costs:
                costs[metric].append(summed[metric][: len(layers[c]), c])
        pairs.append(PairCosts(
            producer=p, consumer=c,
            keep_index=np.searchsorted(np.asarray(values), kept).astype(np.int64),
            costs={metric: np.stack(tables) for metric, tables in costs.items()}))
    return tuple(pairs)


def reference_choice(fields: IntArray) -> int:
    """The choice storing the most weights at the most bits, unpruned (the dense reference)."""
    stored = fields[:, 0] * fields[:, 1] * fields[:, 2] * fields[:, 3]
    unpruned = (fields[:, len(DESIGN_FIELDS):] == 0).all(axis=1)
    key = np.lexsort((fields[:, 5], fields[:, 4], stored, unpruned))
    return int(key[-1])


def _choices(space: SearchSpace, j: int) -> LayerChoices:
    """The distinct effective choices of layer ``j``.

    Spatial growths that would outgrow the kernel collapse onto ``P = kh``, as
    ``SearchSpace.decode`` does; pruning is dropped where the layer takes an epitome, and
    columns where rows are pruned (aliases keep the values that decode to a choice). With
    replication searched, each number of copies is a choice of its own.
    """
    layer = space.layers[j]
    source = space.network.layer(layer.name)
    kh, kw = source.kernel
    suffixes = ("in", "out", "spatial", "wbits", "abits", "pout", "prows", "pcols", "rep")
    searched = {suffix: layer.choices(suffix) for suffix in suffixes}
    seen: dict[tuple[int, ...], int] = {}
    fields: list[tuple[int, ...]] = []
    copies: list[int] = []
    values: list[dict[str, int]] = []
    full_in, full_out = source.in_channels // source.groups, source.out_channels
    aliases: list[tuple[dict[str, int], int]] = []

    def named(chosen: tuple[int, ...]) -> dict[str, int]:
        return {f"{layer.name}/{suffix}": value
                for suffix, value in zip(suffixes, chosen, strict=True)
                if len(searched[suffix]) > 1}

    for given in itertools.product(*searched.values()):
        cin, cout, growth, wbits, abits, pout, prows, pcols, rep = given
        grown = growth if cin * cout * (kh + growth) * (kw + growth) <= source.params else 0
        if (cin, cout, grown) != (full_in, full_out, 0):  # as SearchSpace.decode_columns
            pout, prows, pcols = 0, 0, 0
        if prows:
            pcols = 0
        row = (cin, cout, kh + grown, kw + grown, wbits, abits, 0, pout, prows, pcols)
        effective = (cin, cout, grown, wbits, abits, pout, prows, pcols, rep)
        if (*row, rep) not in seen:
            seen[(*row, rep)] = len(fields)
            fields.append(row)
            copies.append(rep)
            values.append(named(effective))
        if given != effective:
            aliases.append((named(given), seen[(*row, rep)]))
    return LayerChoices(layer.name, np.asarray(fields, dtype=np.int64), tuple(values),
                        tuple(aliases),
                        np.asarray(copies, dtype=np.int64) if space.replicated else None)
