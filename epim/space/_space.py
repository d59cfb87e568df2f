"""The search space: per-layer epitome and bit-width choices over a network.

Each conv/linear layer gets candidate stored input channels, stored output channels, optional
spatial growth (``P - kh = Q - kw``), weight bits and activation bits. With ``pim_aligned`` the
channel candidates are crossbar-aligned (docs/epitome.md section 6): input channels are rounded up
to a multiple of the channels one crossbar holds (``R // (kh*kw)``), output channels to a
multiple of the crossbar's columns, so no candidate pays for crossbar rows or columns it leaves
empty. Frozen layers stay dense at ``frozen_bits``. The space is encoded as categorical
parameters (``name -> choices``) that any sampler can use, and decoded back to designs.

Beside the network, a space may search hardware: per layer a weight ``replication`` (the
``<layer>/rep`` parameters; frozen layers too, their weights are fixed but not their copies)
and hardware genes (``hw/<gene>``, e.g. ``hw/xbar_size``), each a list of values; a design's
hardware is one tuple of gene values (:meth:`SearchSpace.hardware_variants` lists them). With
several crossbar sizes, channel candidates are aligned to each of them (their union). A chip
budget (:class:`ChipBudget`, tiles or area) is a constraint on the costed design.

Beside the epitome, a space may search pruning (``epim.space._prune``): per layer the
output filters kept (``<layer>/pout``, channel-prunable layers only), the rows kept in every
crossbar column block (``<layer>/prows``) or the columns kept in every row block
(``<layer>/pcols``), 0 meaning unpruned. Pruning applies to a layer left dense: where a design
also takes an epitome, or both rows and columns, decoding drops the pruning (the columns).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.errors import InputError
from epim.space._design import (
    DESIGN_FIELDS,
    HARDWARE_GENES,
    MAX_BITS,
    MAX_GENE_VALUE,
    MAX_REPLICATION,
    MIN_BITS,
    Design,
    DesignBatch,
    IntArray,
)
from epim.space._prune import matrix_rows, prunable_consumers
from epim.workloads import Layer, Network

FloatArray = npt.NDArray[np.float64]

#: Parameter suffix -> the :class:`LayerSpace` field holding its candidates, in parameter
#: order. ``spatial`` candidates are growths ``s`` (``P = kh + s``, ``Q = kw + s``).
PARAM_FIELDS: tuple[tuple[str, str], ...] = (
    ("in", "epitome_in"), ("out", "epitome_out"), ("spatial", "spatial"),
    ("wbits", "weight_bits"), ("abits", "act_bits"), ("rep", "replication"),
    ("pout", "prune_out"), ("prows", "prune_rows"), ("pcols", "prune_cols"),
)
#: The pruning parameters' suffixes (0: not pruned; ``epim.space._prune``).
PRUNE_SUFFIXES: tuple[str, ...] = ("pout", "prows", "pcols")
PARAM_SUFFIXES: tuple[str, ...] = tuple(suffix for suffix, _ in PARAM_FIELDS)
#: Prefix of the hardware genes' parameters (``hw/xbar_size``, ...).
HARDWARE_PREFIX = "hw/"


@dataclass(frozen=True)
class LayerOptions:
    """Choices for one layer (or, in overrides, the fields to change).

    Attributes:
        channel_ratios: Epitome wrapping ratios (``Cin_E = ceil(Cin/ratio)``, same for out).
        channels: Absolute stored channel counts, added to the ratio candidates.
        spatial: Also search spatial epitomes (``P = kh + s``, ``s`` in ``spatial_growth``).
        spatial_growth: Extra rows/columns of a spatial epitome.
        pim_aligned: Round channel candidates up to crossbar-aligned values.
        weight_bits: Weight bit-width choices (sign included).
        activation_bits: Activation bit-width choices.
        replication: Copies of the layer's weights to choose from (1: one copy).
        epitome: Search epitome shapes (else every layer keeps its dense shape).
        prune_channels: Channel-pruning ratios (``kept = ceil(Cout / ratio)``; 1: unpruned).
        prune_crossbar: Crossbar-aware pruning ratios of the rows (columns) kept per block
            (``ceil(rows / ratio)``; 1: unpruned); rows rounded up to whole crossbars when
            ``pim_aligned``.

    """

    channel_ratios: tuple[float, ...] = (1, 2, 4, 8)
    channels: tuple[int, ...] = ()
    spatial: bool = False
    spatial_growth: tuple[int, ...] = (1, 2)
    pim_aligned: bool = True
    weight_bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    activation_bits: tuple[int, ...] = (8,)
    replication: tuple[int, ...] = (1,)
    epitome: bool = True
    prune_channels: tuple[float, ...] = ()
    prune_crossbar: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.channel_ratios and not self.channels:
            raise InputError("no channel candidates", field="channel_ratios",
                             expected="at least one ratio >= 1 or one channel count")
        if any(not r >= 1 for r in self.channel_ratios):
            raise InputError(f"bad ratios {self.channel_ratios}", field="channel_ratios",
                             expected="numbers >= 1")
        if any(c < 1 for c in self.channels):
            raise InputError(f"bad channel counts {self.channels}", field="channels",
                             expected="integers >= 1")
        for name in ("weight_bits", "activation_bits"):
            values = getattr(self, name)
            if not values or any(not MIN_BITS <= b <= MAX_BITS for b in values):
                raise InputError(f"bad bits {values}", field=name,
                                 expected=f"a non-empty list of integers {MIN_BITS}..{MAX_BITS}")
        if any(g < 1 for g in self.spatial_growth):
            raise InputError(f"bad growth {self.spatial_growth}", field="spatial_growth",
                             expected="integers >= 1")
        for name in ("prune_channels", "prune_crossbar"):
            if any(not (r >= 1 and math.isfinite(r)) for r in getattr(self, name)):
                raise InputError(f"bad ratios {getattr(self, name)}", field=name,
                                 expected="finite numbers >= 1")
        if not self.replication or any(not 1 <= r <= MAX_REPLICATION
                                       for r in self.replication):
            raise InputError(f"bad replication {self.replication}", field="replication",
                             expected=f"a non-empty list of integers 1..{MAX_REPLICATION}")


@dataclass(frozen=True)
class LayerSpace:
    """The candidate values of one layer (all tuples sorted, no duplicates)."""

    name: str
    epitome_in: tuple[int, ...]
    epitome_out: tuple[int, ...]
    spatial: tuple[int, ...]
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]
    frozen: bool = False
    replication: tuple[int, ...] = (1,)
    prune_out: tuple[int, ...] = (0,)
    prune_rows: tuple[int, ...] = (0,)
    prune_cols: tuple[int, ...] = (0,)

    @property
    def size(self) -> int:
        """Number of distinct choices of this layer."""
        return math.prod(len(self.choices(suffix)) for suffix in PARAM_SUFFIXES)

    def choices(self, suffix: str) -> tuple[int, ...]:
        """The candidates of one parameter suffix (``in``, ``out``, ``spatial``, ...)."""
        values: tuple[int, ...] = getattr(self, dict(PARAM_FIELDS)[suffix])
        return values


@dataclass(frozen=True)
class SearchSpace:
    """Per-layer choices over a network's conv/linear layers.

    Attributes:
        network: The network.
        layers: One :class:`LayerSpace` per compute layer, in order.
        hardware: Hardware gene (``HARDWARE_GENES``) -> its values (sorted, no duplicates);
            empty: the preset's hardware for every design.
        chip: The chip budget every design must fit, or ``None``.

    """

    network: Network
    layers: tuple[LayerSpace, ...]
    hardware: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    chip: ChipBudget | None = None

    @classmethod
    def build(cls, network: Network, *, options: LayerOptions | None = None,
              frozen: Sequence[str] = ("first", "last"), frozen_bits: int = 8,
              overrides: Mapping[str, Mapping[str, Any]] | None = None,
              xbar_rows: int = 256, xbar_cols: int = 256,
              hardware: Mapping[str, Sequence[int]] | None = None,
              chip: ChipBudget | None = None) -> SearchSpace:
        """Build the space.

        Args:
            network: The network.
            options: Default choices of every layer.
            frozen: Layers kept dense at ``frozen_bits``: names, glob patterns, ``first`` (the
                first conv/linear layer) and ``last`` (the last one).
            frozen_bits: Weight and activation bits of frozen layers.
            overrides: Pattern -> fields of :class:`LayerOptions` to change for matching
                layers (later patterns win).
            xbar_rows: Crossbar rows (for alignment).
            xbar_cols: Crossbar columns (for alignment).
            hardware: Hardware gene -> values to search (``xbar_size`` values are crossbar
                sizes the channel candidates are also aligned to).
            chip: The chip budget.

        Raises:
            InputError: On a pattern that matches no layer, bad options, or an unknown
                hardware gene or value.

        """
        genes = _hardware_choices(hardware or {})
        sizes = [(xbar_rows, xbar_cols)] if "xbar_size" not in genes else [
            (size, size) for size in genes["xbar_size"]]
        options = options or LayerOptions()
        compute = network.compute_layers
        names = [layer.name for layer in compute]
        frozen_names = set()
        for entry in frozen:
            if entry == "first":
                frozen_names.add(names[0])
            elif entry == "last":
                frozen_names.add(names[-1])
            else:
                matched = fnmatch.filter(names, entry)
                if not matched:
                    raise InputError(f"'{entry}' matches no conv/linear layer", field="frozen",
                                     expected="first, last, or layer names/patterns of "
                                     + network.name)
                frozen_names.update(matched)
        per_layer = {name: options for name in names}
        for pattern, changes in (overrides or {}).items():
            matched = fnmatch.filter(names, pattern)
            if not matched:
                raise InputError(f"'{pattern}' matches no conv/linear layer",
                                 field="overrides", expected="layer names or patterns of "
                                 + network.name)
            for name in matched:
                try:
                    per_layer[name] = replace(per_layer[name], **_as_option_fields(changes))
                except TypeError:
                    raise InputError(f"unknown field(s) in {dict(changes)}", field="overrides",
                                     location=(pattern,),
                                     expected="fields of space.epitome and bits") from None
        prunable = prunable_consumers(network)
        layers = tuple(
            _layer_space(layer, per_layer[layer.name], layer.name in frozen_names, frozen_bits,
                         sizes, channel_prunable=layer.name in prunable)
            for layer in compute
        )
        return cls(network, layers, genes, chip)

    @property
    def size(self) -> int:
        """Number of distinct designs in the space (hardware variants included)."""
        return math.prod(layer.size for layer in self.layers) * len(self.hardware_variants())

    def parameters(self) -> dict[str, tuple[int, ...]]:
        """Categorical parameters ``"<layer>/<field>" -> choices`` for the non-fixed fields.

        Hardware genes with more than one value are ``"hw/<gene>"``, after the layers'.
        """
        return dict(self._parameters)

    @cached_property
    def _parameters(self) -> dict[str, tuple[int, ...]]:
        layers = {f"{layer.name}/{suffix}": layer.choices(suffix)
                  for layer in self.layers for suffix in PARAM_SUFFIXES
                  if len(layer.choices(suffix)) > 1}
        genes = {HARDWARE_PREFIX + gene: values for gene, values in self.hardware.items()
                 if len(values) > 1}
        return {**layers, **genes}

    def hardware_variants(self) -> list[dict[str, int]]:
        """Every hardware tuple of the space (gene -> value), in ``itertools.product`` order.

        One empty tuple (the preset) when the space searches no hardware.
        """
        genes = list(self.hardware)
        return [dict(zip(genes, values, strict=True))
                for values in itertools.product(*self.hardware.values())]

    @property
    def replicated(self) -> bool:
        """Whether some layer may have more than one copy of its weights."""
        return any(layer.replication != (1,) for layer in self.layers)

    @property
    def prunes(self) -> bool:
        """Whether some layer may be pruned."""
        return any(len(getattr(layer, name)) > 1 for layer in self.layers
                   for name in ("prune_out", "prune_rows", "prune_cols"))

    @cached_property
    def _channels(self) -> tuple[IntArray, IntArray]:
        compute = [self.network.layer(layer.name) for layer in self.layers]
        return (np.array([layer.in_channels // layer.groups for layer in compute],
                         dtype=np.int64),
                np.array([layer.out_channels for layer in compute], dtype=np.int64))

    @cached_property
    def _kernels(self) -> tuple[IntArray, IntArray, IntArray]:
        compute = [self.network.layer(layer.name) for layer in self.layers]
        return (np.array([layer.kernel[0] for layer in compute], dtype=np.int64),
                np.array([layer.kernel[1] for layer in compute], dtype=np.int64),
                np.array([layer.params for layer in compute], dtype=np.int64))

    def decode(self, params: Mapping[str, Any]) -> Design:
        """The design that a set of parameter values stands for.

        A spatial growth that would make an epitome larger than its dense kernel (with the
        chosen channels) is dropped: the layer keeps ``P = kh, Q = kw``.

        Raises:
            InputError: If a value is not among its parameter's choices.

        """
        return self.decode_batch([params]).design(0)

    def decode_batch(self, batch: Sequence[Mapping[str, Any]]) -> DesignBatch:
        """Decode many parameter sets into one :class:`DesignBatch` (missing: first choice)."""
        keys = list(self._parameters)
        if not keys:
            return self.decode_columns({}, len(batch))
        if all(len(params) == len(keys) for params in batch):  # complete sets: one gather
            pick = operator.itemgetter(*keys)
            try:
                table = np.array([pick(params) for params in batch], dtype=np.int64)
            except KeyError:
                table = None
            if table is not None:
                table = table.reshape(len(batch), len(keys))
                return self.decode_columns({k: table[:, j] for j, k in enumerate(keys)},
                                           len(batch))
        columns = {
            key: np.fromiter((params.get(key, choices[0]) for params in batch),
                             dtype=np.int64, count=len(batch))
            for key, choices in self._parameters.items()}
        return self.decode_columns(columns, len(batch))

    def decode_indices(self, index: IntArray) -> DesignBatch:
        """Decode choice *ranks* ``[n, n_parameters]`` (columns in ``parameters()`` order).

        Raises:
            InputError: If a rank is outside its parameter's choices.

        """
        index = np.asarray(index, dtype=np.int64)
        columns = {}
        for j, (key, choices) in enumerate(self._parameters.items()):
            ranks = index[:, j]
            bad = (ranks < 0) | (ranks >= len(choices))
            if bad.any():
                raise InputError(f"rank {ranks[bad][0]} is not a choice", field=key,
                                 expected=f"0..{len(choices) - 1}")
            columns[key] = np.asarray(choices, dtype=np.int64)[ranks]
        return self.decode_columns(columns, index.shape[0])

    def decode_columns(self, values: Mapping[str, IntArray], n: int) -> DesignBatch:
        """Decode one value array per parameter (``[n]`` each) into a :class:`DesignBatch`.

        Raises:
            InputError: If a value is not among its parameter's choices.

        """
        width = len(self.layers)
        columns = {name: np.zeros((n, width), dtype=np.int64) for name in DESIGN_FIELDS}
        growth = np.zeros((n, width), dtype=np.int64)
        replication = np.ones((n, width), dtype=np.int64)
        pruning = {suffix: np.zeros((n, width), dtype=np.int64) for suffix in PRUNE_SUFFIXES}
        targets = {"in": columns["epitome_in"], "out": columns["epitome_out"],
                   "spatial": growth, "wbits": columns["weight_bits"],
                   "abits": columns["act_bits"], "rep": replication, **pruning}
        for j, layer in enumerate(self.layers):
            for suffix in PARAM_SUFFIXES:
                choices = layer.choices(suffix)
                if len(choices) == 1:
                    targets[suffix][:, j] = choices[0]
                    continue
                key = f"{layer.name}/{suffix}"
                targets[suffix][:, j] = _chosen(values[key], choices, key)
        hardware = {gene: (_chosen(values[HARDWARE_PREFIX + gene], choices,
                                   HARDWARE_PREFIX + gene) if len(choices) > 1
                           else np.full(n, choices[0], dtype=np.int64))
                    for gene, choices in self.hardware.items()}
        if self.replicated:
            columns["replication"] = replication
        kh, kw, dense = self._kernels
        stored = (columns["epitome_in"] * columns["epitome_out"] * (kh + growth)
                  * (kw + growth))
        growth = np.where(stored > dense, 0, growth)  # never exceed the kernel
        columns["epitome_h"][:] = kh + growth
        columns["epitome_w"][:] = kw + growth
        if self.prunes:
            cin_full, cout_full = self._channels
            whole = ((columns["epitome_in"] == cin_full) & (columns["epitome_out"] == cout_full)
                     & (growth == 0))  # pruning applies to dense layers only
            rows = np.where(whole, pruning["prows"], 0)
            columns["prune_out"] = np.where(whole, pruning["pout"], 0)
            columns["prune_rows"] = rows
            columns["prune_cols"] = np.where(whole & (rows == 0), pruning["pcols"], 0)
        designs = DesignBatch(self.network, columns, hardware)
        designs.validate()
        return designs

    def encode(self, design: Design) -> dict[str, int]:
        """The parameter values of ``design`` (the inverse of :meth:`decode`).

        Raises:
            InputError: If the design has a value the space does not offer.

        """
        values: dict[str, int] = {}
        params = self._parameters
        for layer in self.layers:
            choice = design.layers[layer.name]
            kh = self.network.layer(layer.name).kernel[0]
            for suffix, value in (("in", choice.epitome_in), ("out", choice.epitome_out),
                                  ("spatial", choice.epitome_h - kh),
                                  ("wbits", choice.weight_bits), ("abits", choice.act_bits),
                                  ("rep", choice.replication), ("pout", choice.prune_out),
                                  ("prows", choice.prune_rows), ("pcols", choice.prune_cols)):
                key = f"{layer.name}/{suffix}"
                allowed = layer.choices(suffix)
                if value not in allowed:
                    raise InputError(f"{value} is not in the space", field=key,
                                     expected="one of " + ", ".join(map(str, allowed)))
                if key in params:
                    values[key] = value
        unknown = set(design.hardware) - set(self.hardware)
        if unknown:
            raise InputError(f"hardware gene(s) {sorted(unknown)} are not searched",
                             field="hardware", expected="genes of space.hardware: "
                             + (", ".join(self.hardware) or "none"))
        for gene, choices in self.hardware.items():
            value = design.hardware.get(gene, 0)
            if value not in choices:
                raise InputError(f"{value} is not in the space", field=HARDWARE_PREFIX + gene,
                                 expected="one of " + ", ".join(map(str, choices)))
            if HARDWARE_PREFIX + gene in params:
                values[HARDWARE_PREFIX + gene] = value
        return values

    def uniform_choices(self) -> list[dict[str, int]]:
        """The hand-design baseline, as parameter sets.

        Every layer at the same rank of its channel candidates (smallest, second smallest, ...,
        largest) and the same weight bits (the nearest a layer offers), activation bits at
        their largest, no spatial growth: one parameter set per (rank, bits) pair.
        """
        params = self.parameters()
        ranks = max((len(c) for k, c in params.items() if k.endswith(("/in", "/out"))),
                    default=1)
        bits = sorted({b for layer in self.layers if not layer.frozen
                       for b in layer.weight_bits})
        designs: list[dict[str, int]] = []
        for rank in range(ranks):
            for bit in bits:
                choice: dict[str, int] = {}
                for name, choices in params.items():
                    ordered = sorted(choices)
                    if name.endswith(("/in", "/out")):
                        choice[name] = ordered[min(rank, len(ordered) - 1)]
                    elif name.endswith("/wbits"):
                        choice[name] = _nearest(ordered, bit)
                    elif name.endswith("/abits"):
                        choice[name] = ordered[-1]
                    else:
                        choice[name] = ordered[0]
                if choice not in designs:
                    designs.append(choice)
        return designs

    def dense_choice(self) -> dict[str, int]:
        """Parameter values of the least compressed design (largest epitome, most bits).

        One copy of each layer (the fewest), nothing pruned, and the first value of each
        hardware gene.
        """
        return {key: (choices[0] if key.startswith(HARDWARE_PREFIX)
                      or key.endswith(("/rep", *(f"/{p}" for p in PRUNE_SUFFIXES)))
                      else max(choices))
                for key, choices in self.parameters().items()}


@dataclass(frozen=True)
class ChipBudget:
    """What a design may occupy on the chip: tiles and/or area (static feasibility).

    A constraint, not a filter: :meth:`violation` is how far a costed design exceeds it
    (a study tells samplers the violation, so they learn where the budget lies).

    Attributes:
        max_tiles: Tiles at most (the design's tiles, pooling tiles included), or ``None``.
        max_area_m2: Chip area at most (tiles x tile area of the design's hardware, m^2), or
            ``None``.

    """

    max_tiles: int | None = None
    max_area_m2: float | None = None

    def __post_init__(self) -> None:
        if self.max_tiles is not None and self.max_tiles < 1:
            raise InputError(f"{self.max_tiles}", field="max_tiles", expected="an integer >= 1")
        if self.max_area_m2 is not None and not (self.max_area_m2 > 0
                                                 and math.isfinite(self.max_area_m2)):
            raise InputError(f"{self.max_area_m2}", field="max_area_m2",
                             expected="a finite number > 0 (m^2)")

    def violation(self, tiles: npt.ArrayLike, area_m2: npt.ArrayLike) -> FloatArray:
        """Relative excess over the budget per design, ``[n]``: <= 0 fits, > 0 does not.

        ``max(tiles / max_tiles, area_m2 / max_area_m2) - 1`` over the limits given (0 - 1
        when there are none).
        """
        shares = [np.zeros(np.shape(tiles))]
        if self.max_tiles is not None:
            shares.append(np.asarray(tiles, dtype=np.float64) / self.max_tiles)
        if self.max_area_m2 is not None:
            shares.append(np.asarray(area_m2, dtype=np.float64) / self.max_area_m2)
        excess: FloatArray = np.maximum.reduce(shares) - 1.0
        return excess


def _chosen(values: npt.ArrayLike, choices: Sequence[int], key: str) -> IntArray:
    """``values`` as an int64 column, each checked to be one of ``choices`` (sorted)."""
    column = np.asarray(values, dtype=np.int64)
    allowed = np.asarray(choices, dtype=np.int64)
    position = np.minimum(np.searchsorted(allowed, column), len(allowed) - 1)
    bad = allowed[position] != column
    if bad.any():
        raise InputError(f"{column[bad][0]!r} is not a choice", field=key,
                         expected="one of " + ", ".join(map(str, choices)))
    return column


def _hardware_choices(hardware: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    """Gene -> its values, sorted and distinct, in ``HARDWARE_GENES`` order."""
    unknown = set(hardware) - set(HARDWARE_GENES)
    if unknown:
        raise InputError(f"unknown hardware gene(s) {sorted(unknown)}", field="hardware",
                         expected="genes " + ", ".join(HARDWARE_GENES))
    genes: dict[str, tuple[int, ...]] = {}
    for gene in HARDWARE_GENES:
        if gene not in hardware:
            continue
        values = tuple(sorted(set(hardware[gene])))
        if not values or any(isinstance(v, bool) or not isinstance(v, int | np.integer)
                             or not 1 <= v <= MAX_GENE_VALUE for v in values):
            raise InputError(f"bad values {list(hardware[gene])}", location=("hardware",),
                             field=gene, expected=f"a non-empty list of integers "
                             f"1..{MAX_GENE_VALUE}")
        genes[gene] = tuple(int(v) for v in values)
    return genes


def _nearest(values: Sequence[int], target: int) -> int:
    """The value closest to ``target`` (the smaller one on a tie)."""
    return min(values, key=lambda value: (abs(value - target), value))


def _as_option_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    fields = {}
    for key, value in changes.items():
        fields[key] = tuple(value) if isinstance(value, list) else value
    return fields


def _layer_space(layer: Layer, options: LayerOptions, frozen: bool, frozen_bits: int,
                 sizes: Sequence[tuple[int, int]], *, channel_prunable: bool = False
                 ) -> LayerSpace:
    """The candidates of one layer, channels aligned to each crossbar size of ``sizes``."""
    cout, cin_g, kh, kw = layer.weight_shape
    replication = tuple(sorted(set(options.replication)))
    if frozen:
        return LayerSpace(layer.name, (cin_g,), (cout,), (0,), (frozen_bits,), (frozen_bits,),
                          frozen=True, replication=replication)

    def candidates(full: int, units: set[int]) -> tuple[int, ...]:
        values = {math.ceil(full / r) for r in options.channel_ratios}
        values.update(c for c in options.channels if c <= full)
        aligned = {min(full, math.ceil(v / unit) * unit) for v in values for unit in units}
        return tuple(sorted(max(1, v) for v in aligned))

    aligned = options.pim_aligned
    in_choices = candidates(cin_g, {max(1, rows // (kh * kw)) if aligned else 1
                                    for rows, _ in sizes})
    out_choices = candidates(cout, {cols if aligned else 1 for _, cols in sizes})
    if not options.epitome:
        in_choices, out_choices = (cin_g,), (cout,)
    pruning = _prune_choices(layer, options, sizes, channel_prunable)
    spatial: tuple[int, ...] = (0,)
    if options.spatial and options.epitome and (kh > 1 or kw > 1):
        smallest = min(in_choices) * min(out_choices)
        growth = [g for g in options.spatial_growth
                  if smallest * (kh + g) * (kw + g) <= layer.params]
        spatial = (0, *sorted(set(growth)))
    return LayerSpace(layer.name, in_choices, out_choices, spatial,
                      tuple(sorted(set(options.weight_bits))),
                      tuple(sorted(set(options.activation_bits))), replication=replication,
                      prune_out=pruning.get("prune_out", (0,)),
                      prune_rows=pruning.get("prune_rows", (0,)),
                      prune_cols=pruning.get("prune_cols", (0,)))


def _prune_choices(layer: Layer, options: LayerOptions, sizes: Sequence[tuple[int, int]],
                   channel_prunable: bool) -> dict[str, tuple[int, ...]]:
    """Kept counts of each pruning field (0 first: unpruned; a count that keeps all is 0)."""
    cout = layer.out_channels
    rows = matrix_rows(layer)
    choices: dict[str, tuple[int, ...]] = {}
    if layer.groups != 1:
        return choices

    def kept(full: int, ratios: Sequence[float], units: set[int]) -> tuple[int, ...]:
        values = {min(full, math.ceil(math.ceil(full / r) / unit) * unit)
                  for r in ratios for unit in units}
        return (0, *sorted(v for v in values if v < full))

    if options.prune_channels and channel_prunable:
        choices["prune_out"] = kept(cout, options.prune_channels, {1})
    if options.prune_crossbar:
        units = {r for r, _ in sizes} if options.pim_aligned else {1}
        choices["prune_rows"] = kept(rows, options.prune_crossbar, units)
        choices["prune_cols"] = kept(cout, options.prune_crossbar, {1})
    return choices
