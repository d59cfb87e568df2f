"""The analytic PIM cost model, vectorized over ``[n_designs, n_layers]``.

Equations: docs/cost_model.md (our restatement of MNSIM 2.0, Zhu et al., IEEE TCAD
2023, with ISAAC, Shafiee et al., ISCA 2016); epitome datapath: docs/epitome.md
section 5. Every quantity is SI and unprefixed (s, J, m^2). No Python loop runs over designs
or layers in :meth:`CostModel.evaluate`: each step is a numpy broadcast. Designs that carry
hardware genes are evaluated in one such pass per distinct hardware (each design's own
preset with its genes applied), and their results put back in the batch's order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from epim.cost_model._hardware import Hardware
from epim.cost_model._paths import CriticalPaths
from epim.cost_model._pipeline import PipelineSchedule
from epim.cost_model._placement import ChipGrid, PlacementGraph, layer_distances
from epim.cost_model._pruning import PruneGraph, compact
from epim.cost_model._replication import replicate
from epim.cost_model._stages import (
    ActionCounts,
    DesignArrays,
    activation_latency,
    ceil_div_f,
    count_actions,
    count_activations,
    energy_by_component,
    epitome_overheads,
    map_layers,
)
from epim.cost_model._static import NetworkArrays
from epim.errors import InputError
from epim.space import DesignBatch
from epim.workloads import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LatencyMode = Literal["layer_by_layer", "pipelined", "throughput"]
LATENCY_MODES: tuple[str, ...] = get_args(LatencyMode)
ENERGY_COMPONENTS: tuple[str, ...] = (
    "adc", "dac", "crossbar", "buffer", "digital", "interconnect", "epitome",
)


def check_latency_mode(mode: str) -> LatencyMode:
    """Return ``mode`` if it is a latency mode, else raise an error naming the choices."""
    if mode not in LATENCY_MODES:
        raise InputError(f"unknown latency mode '{mode}'", field="latency_mode",
                         expected="one of " + ", ".join(LATENCY_MODES))
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class CostBatch:
    """Costs of a batch of designs.

    Per-layer arrays are ``[n_designs, n_layers]`` over *all* layers in network order
    (pooling and add layers included); totals are ``[n_designs]``.

    Attributes:
        network: The network.
        hardware: The preset the model was built on (a design's own: :meth:`hardware_of`).
        layer_crossbars: Physical crossbars per layer (both arrays of a +/- pair counted;
            every copy of a replicated layer).
        layer_tiles: Tiles per layer (pooling tiles where the preset counts them).
        layer_latency_s: Latency of each layer run alone (s).
        layer_latency_share_s: Each layer's share of the layer-by-layer network latency (s):
            its latency on the critical path (element-wise adds: what they add after their
            input), 0 off it; sums to ``latency_s("layer_by_layer")``.
        layer_pipelined_latency_s: Each layer's time over its output map in MNSIM's
            pipelined mode (s), which fills line buffers a window column at a time: the
            pipeline's per-pixel times (``pipelined``) and stages (``throughput``).
        layer_merge_hops: Tile-to-tile hops over which each layer merges its partial sums.
        layer_transfer_hops: Hops from each layer's aggregation tile to the farthest tile it
            feeds (the tile placement, docs/cost_model.md section 3).
        layer_energy_j: Energy of each layer (J).
        layer_energy_breakdown_j: Component -> ``[n_designs, n_layers]`` energy (J).
        latency_s_by_mode: Mode -> network latency ``[n_designs]`` (s).
        params: Stored (epitome) weights per design (one copy; what pruning keeps).
        layer_params: Stored weights per layer ``[n_designs, n_layers]`` (0 for pooling and
            add layers).
        macs: Multiply-accumulates of the virtual network per inference.
        hardware_variants: The distinct hardware the designs were mapped on (the preset
            first; then one per distinct set of hardware genes).
        hardware_index: ``[n_designs]`` each design's entry of ``hardware_variants``.

    """

    network: Network
    hardware: Hardware
    layer_crossbars: IntArray
    layer_tiles: IntArray
    layer_latency_s: FloatArray
    layer_latency_share_s: FloatArray
    layer_pipelined_latency_s: FloatArray
    layer_merge_hops: IntArray
    layer_transfer_hops: IntArray
    layer_energy_j: FloatArray
    layer_energy_breakdown_j: dict[str, FloatArray]
    latency_s_by_mode: dict[str, FloatArray]
    params: IntArray
    layer_params: IntArray
    macs: int
    hardware_variants: tuple[Hardware, ...]
    hardware_index: IntArray

    def __len__(self) -> int:
        return int(self.layer_crossbars.shape[0])

    def hardware_of(self, index: int) -> Hardware:
        """The hardware design ``index`` was mapped on (its genes applied)."""
        return self.hardware_variants[int(self.hardware_index[index])]

    def _per_design(self, quantity: str) -> FloatArray:
        """A hardware constant of each design's hardware, ``[n_designs]``."""
        values = np.array([getattr(h, quantity) for h in self.hardware_variants])
        chosen: FloatArray = values[self.hardware_index]
        return chosen

    @property
    def crossbars(self) -> IntArray:
        """Physical crossbars per design."""
        total: IntArray = self.layer_crossbars.sum(axis=1)
        return total

    @property
    def tiles(self) -> IntArray:
        """Tiles per design."""
        total: IntArray = self.layer_tiles.sum(axis=1)
        return total

    @property
    def crossbar_area_m2(self) -> FloatArray:
        """Crossbar area (cells and row drivers) per design, what EPIM's reduction counts."""
        return (self.crossbars * self._per_design("xbar_area_m2")).astype(np.float64)

    @property
    def area_m2(self) -> FloatArray:
        """Chip area per design: tiles x fully populated tile area (MNSIM convention)."""
        return (self.tiles * self._per_design("tile_area_m2")).astype(np.float64)

    @property
    def energy_j(self) -> FloatArray:
        """Energy per inference per design (J)."""
        total: FloatArray = self.layer_energy_j.sum(axis=1)
        return total

    @property
    def energy_breakdown_j(self) -> dict[str, FloatArray]:
        """Component -> energy per design (J)."""
        return {k: v.sum(axis=1) for k, v in self.layer_energy_breakdown_j.items()}

    def latency_s(self, mode: LatencyMode = "layer_by_layer") -> FloatArray:
        """Network latency per design in ``mode`` (s)."""
        return self.latency_s_by_mode[check_latency_mode(mode)]


class CostModel:
    """Scores designs of one network on one hardware preset.

    Hardware tables and the network's geometry are computed once here; :meth:`evaluate` is a
    fixed sequence of array operations over the batch.

    Invariants (checked by the tests): every cost is finite and non-negative, latency and
    energy are positive, a batch gives the same numbers as evaluating its designs one by one,
    and a larger epitome or more bits never needs fewer crossbars.
    """

    def __init__(self, *, network: Network, hardware: Hardware) -> None:
        self.network = network
        self.hardware = hardware
        self.geometry = NetworkArrays.from_network(network)
        self.placement = PlacementGraph.from_network(
            network, pooling_tiles=hardware.pooling_tiles)
        self.paths = CriticalPaths.from_network(network)
        self.schedule = PipelineSchedule.from_network(network)
        self.prune_graph = PruneGraph.from_network(network)
        g = self.geometry
        self._pixels = np.maximum(np.concatenate([g.pixels, g.other_pixels])[g.order], 1)
        self._other_tiles = self._tiles_of_other_layers()
        # operands an element-wise add reads and writes (MNSIM: all its inputs)
        self._add_inputs = np.asarray([len(layer.inputs) for layer in network.layers
                                       if not layer.is_compute], dtype=np.float64)
        self.macs = network.macs
        self._variants: dict[tuple[tuple[str, int], ...], Hardware] = {(): hardware}

    def evaluate(self, batch: DesignBatch, *, input_pruning: bool = True) -> CostBatch:
        """Score every design of ``batch``.

        Designs with hardware genes (``DesignBatch.hardware``) are scored on the preset with
        their genes applied: one vectorized pass per distinct set of genes.

        Args:
            batch: Designs of this model's network.
            input_pruning: Shrink the layer that reads a channel-pruned layer (the design's
                meaning); ``False`` costs every layer on its own choice alone (the search's
                per-layer tables, ``epim.search._tables``).

        Returns:
            Per-layer and total costs, in the batch's order.

        Raises:
            InputError: If the batch belongs to another network, or a design's hardware
                gene has a value the preset cannot take (naming the gene).

        """
        if batch.network.name != self.network.name or len(batch.network) != len(self.network):
            raise InputError(f"batch is for '{batch.network.name}'", field="network",
                             expected=self.network.name)
        genes = batch.genes
        if not genes:
            return self._evaluate(self.hardware, batch, (self.hardware,), 0, input_pruning)
        table = np.stack([batch.hardware[gene] for gene in genes], axis=1)
        rows, inverse = np.unique(table, axis=0, return_inverse=True)
        variants = [self.variant(dict(zip(genes, map(int, row), strict=True))) for row in rows]
        if len(rows) == 1:
            return self._evaluate(variants[0], batch, (variants[0],), 0, input_pruning)
        inverse = inverse.reshape(-1)
        parts = [(np.flatnonzero(inverse == k), k) for k in range(len(rows))]
        return _scatter(len(batch), tuple(variants), [
            (index, self._evaluate(variants[k], batch.take(index), tuple(variants), k,
                                   input_pruning))
            for index, k in parts])

    def variant(self, genes: dict[str, int]) -> Hardware:
        """The preset with hardware ``genes`` applied (0: the preset's value), built once.

        Raises:
            PresetError: If a gene's value does not fit the preset (naming the gene).

        """
        key = tuple(sorted((gene, value) for gene, value in genes.items() if value))
        if key not in self._variants:
            self._variants[key] = self.hardware.with_genes(genes)
        return self._variants[key]

    def _evaluate(self, c: Hardware, batch: DesignBatch, variants: tuple[Hardware, ...],
                  variant: int, input_pruning: bool = True) -> CostBatch:
        """Score ``batch`` on hardware ``c`` (entry ``variant`` of ``variants``)."""
        g = self.geometry
        d = DesignArrays.from_batch(batch)
        n = len(batch)
        pruned = None
        if batch.pruned:  # the compacted layers (epim.cost_model._pruning)
            g, d, pruned = compact(g, d, batch,
                                   self.prune_graph if input_pruning else PruneGraph.empty())
            mapping = map_layers(c, g, d, pruned.rows_kept, pruned.cols_kept)
        else:
            mapping = map_layers(c, g, d)
        copies = batch.replication.astype(np.float64) if batch.replicated else None
        tiles = mapping.tiles if copies is None else mapping.tiles * copies
        layer_tiles_f = self._assemble(tiles, self._other_tiles)
        grid = ChipGrid.build(c.tile_placement, c.chip_tile_rows, c.chip_tile_cols,
                              int(layer_tiles_f.sum(axis=1).max(initial=0)))
        hops = layer_distances(grid, self.placement, layer_tiles_f)
        activations = count_activations(g, d, mapping)
        per_activation = activation_latency(
            c, g, d, mapping, hops.merge_hops[:, g.compute_positions],
            hops.transfer_hops[:, g.compute_positions])
        overheads = epitome_overheads(c, g, d, mapping, activations,
                                      None if pruned is None else pruned.indexed)
        epitome_s = g.pixels * overheads.latency_per_pixel_s
        layer_latency = activations.total * per_activation.total_s + epitome_s
        layer_pipelined = layer_latency + activations.total * per_activation.pipelined_extra_s(
            c.buffer_access_s)
        counts = count_actions(c, g, d, mapping, activations, per_activation, overheads)
        first_extra = None
        if copies is not None:  # weight replication (epim.cost_model._replication)
            copied = replicate(c, g, copies, mapping, activations, per_activation,
                               layer_latency, layer_pipelined)
            layer_latency, layer_pipelined = copied.latency_s, copied.pipelined_s
            counts = replace(counts,
                             buffer_writes=counts.buffer_writes + copied.extra_buffer_writes)
            first_extra = self._assemble(copied.first_pixel_extra_s, 0.0)
        energy = energy_by_component(c, counts)
        abits = d.act_bits

        # --- Pooling and add layers (digital; one tile per pooling layer in MNSIM) ---
        other_bits = abits[:, g.other_act_source] if g.other_kind else np.zeros((n, 0))
        other_latency, other_pipelined, other_energy = self._other_layers(
            c, other_bits, hops.transfer_hops[:, g.other_positions])

        # --- Assemble in network order ---
        crossbars = mapping.crossbars if copies is None else mapping.crossbars * copies
        layer_crossbars = self._assemble(crossbars, 0.0).astype(np.int64)
        layer_tiles = layer_tiles_f.astype(np.int64)
        layer_latency_s = self._assemble(layer_latency, other_latency)
        breakdown = {name: self._assemble(energy[name], other_energy[name])
                     for name in ENERGY_COMPONENTS}
        layer_energy_j = np.add.reduce(list(breakdown.values()))
        shares = self.paths.shares(layer_latency_s, self._pixels)
        layer_pipelined_s = self._assemble(layer_pipelined, other_pipelined)

        stored = (d.cin_e * d.cout_e * mapping.kernel_area if pruned is None
                  else pruned.stored)
        layer_params = self._assemble(stored, 0.0).astype(np.int64)
        params = layer_params.sum(axis=1)
        return CostBatch(
            network=self.network,
            hardware=self.hardware,
            layer_crossbars=layer_crossbars,
            layer_tiles=layer_tiles,
            layer_latency_s=layer_latency_s,
            layer_latency_share_s=shares,
            layer_pipelined_latency_s=layer_pipelined_s,
            layer_merge_hops=hops.merge_hops.astype(np.int64),
            layer_transfer_hops=hops.transfer_hops.astype(np.int64),
            layer_energy_j=layer_energy_j,
            layer_energy_breakdown_j=breakdown,
            latency_s_by_mode={
                "layer_by_layer": shares.sum(axis=1),
                **self._pipelined_latency(layer_pipelined_s, first_extra),
            },
            params=params,
            layer_params=layer_params,
            macs=self.macs,
            hardware_variants=variants,
            hardware_index=np.full(n, variant, dtype=np.int64),
        )

    def _assemble(self, compute: npt.ArrayLike, other: npt.ArrayLike) -> FloatArray:
        """Place compute-layer and other-layer columns into one ``[n, L]`` array, network order."""
        g = self.geometry
        compute = np.asarray(compute, dtype=np.float64)
        other = np.broadcast_to(np.asarray(other, dtype=np.float64),
                                (compute.shape[0], len(g.other_positions)))
        # one gather of whole rows (``order`` maps network positions into [compute, other])
        assembled: FloatArray = np.take(np.concatenate([compute, other], axis=1), g.order,
                                        axis=1)
        return assembled

    def _tiles_of_other_layers(self) -> FloatArray:
        """Tiles of each pooling and add layer, ``[n_other]``.

        One per pooling layer where the preset gives pooling its own tiles (MNSIM), none for
        adds and concats.
        """
        g, c = self.geometry, self.hardware
        pooling = np.asarray([k not in ("add", "concat") for k in g.other_kind], dtype=bool)
        return (pooling & c.pooling_tiles).astype(np.float64)

    def _other_layers(self, c: Hardware, bits: FloatArray, transfer_hops: FloatArray
                      ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        """Latency (both modes) and energy of pooling and add layers, ``[n, n_other]`` each.

        A pooling layer follows MNSIM's pooling timing (docs/cost_model.md section 3): per
        output pixel it writes the new input columns into its line buffer (``stride`` columns;
        at the start of an output row the ``in_w * (stride - 1)`` skipped values and a window
        column; at the first pixel the first ``k - pad - 1`` rows), reads the new window
        columns (the whole ``k x k`` window at a row start), pools (``pooling_unit_latency_s``
        per ``pooling_units`` channels and ``pooling_window`` values), writes and reads its
        output (a read MNSIM times twice, in its pooling latency and as its merge), and sends
        it ``transfer_hops`` on. In MNSIM's pipelined mode the line buffer
        fills a window column at a time instead (``(k - pad)^2`` values at the first pixel,
        ``stride (k - pad)`` at a row start, ``stride^2`` at the others). An add reads both
        operands and writes the sum, and takes MNSIM's ``element_sum`` time: its buffer reads
        and writes all its operands (``inputs x C x bits`` each way) and ``add_latency_s`` per
        pixel (MNSIM's fixed 10 ns). A global pool reads the whole map once, a clock per
        pixel. Buffer accesses are ``width``-bit; energy counts each access once, as action
        counts x action energies (:func:`energy_by_component`, like every other layer). A concat
        costs nothing: MNSIM has it as a graph node but times and charges none, its producers
        write their channels where the consumer reads them.

        Returns:
            Layer-by-layer latency, pipelined-mode latency (s) and energy by component (J).

        """
        g = self.geometry
        width = c.buffer_width_bits
        kinds = np.asarray(g.other_kind, dtype=object)
        channel_bits = g.other_channels * bits
        is_add = kinds == "add"
        kept = kinds != "concat"  # a concat re-indexes its producers' outputs: free
        pooled = np.flatnonzero(kept & (kinds != "add") & (kinds != "globalpool"))  # windowed
        pixels = g.other_pixels
        out = ceil_div_f(channel_bits, width)
        operands = ceil_div_f(self._add_inputs * channel_bits, width)
        whole_map = ceil_div_f(g.other_window * channel_bits, width)  # a global pool's one read
        # adds: both operands read, the sum written; global pools: the map read, one write
        reads = pixels * np.where(is_add, 2 * out, whole_map)
        writes = pixels * out
        # the time as MNSIM's: an add's buffer reads and writes all its operands
        timed = np.where(is_add, 2 * pixels * operands, reads + writes)
        per_pixel_s = np.broadcast_to(np.where(is_add, c.add_latency_s, c.digital_clock_s),
                                      reads.shape).copy()
        pipelined_extra = np.zeros_like(reads)
        if pooled.size:  # pooling-only work on the pooling columns alone
            bits_p = channel_bits[:, pooled]
            k, pad = g.other_kernel_h[pooled], g.other_pad_h[pooled]
            s_h, s_w = g.other_stride_h[pooled], g.other_stride_w[pooled]
            rows, cols, in_w = g.other_out_h[pooled], g.other_out_w[pooled], g.other_in_w[pooled]
            edge = np.maximum(k - pad, 0)
            # line-buffer writes over the layer: first pixel, row starts, the rest
            line = (ceil_div_f((in_w * np.maximum(k - pad - 1, 0) + edge) * bits_p, width)
                    + (rows - 1) * ceil_div_f((in_w * (s_h - 1) + edge) * bits_p, width)
                    + rows * (cols - 1) * ceil_div_f(s_w * bits_p, width))
            pipelined_line = (ceil_div_f(edge * edge * bits_p, width)
                              + (rows - 1) * ceil_div_f(s_h * edge * bits_p, width)
                              + rows * (cols - 1) * ceil_div_f(s_h * s_w * bits_p, width))
            window = (rows * ceil_div_f(g.other_window[pooled] * bits_p, width)
                      + rows * (cols - 1) * ceil_div_f(s_w * k * bits_p, width))
            sent = pixels[pooled] * out[:, pooled]
            reads[:, pooled] = window + sent  # the window, then the output for sending
            writes[:, pooled] = line + sent
            # MNSIM times the output read twice (its pooling latency and its merge)
            timed[:, pooled] = reads[:, pooled] + writes[:, pooled] + sent
            per_pixel_s[:, pooled] = (
                c.pooling_unit_latency_s * np.ceil(g.other_channels[pooled] / c.pooling_units)
                * np.ceil(g.other_window[pooled] / c.pooling_window))
            pipelined_extra[:, pooled] = (pipelined_line - line) * c.buffer_access_s
        hop_bits = pixels * transfer_hops * channel_bits
        latency = kept * (timed * c.buffer_access_s + pixels * per_pixel_s
                          + hop_bits / c.inter_tile_bandwidth_bps)
        pipelined = latency + pipelined_extra
        reads, writes, hop_bits = reads * kept, writes * kept, hop_bits * kept
        ops = kept * pixels * g.other_channels * np.where(is_add, 1, g.other_window)
        none = np.zeros_like(latency)
        counts = ActionCounts(
            adc_conversions=none, dac_conversions=none, cell_reads=none,
            buffer_reads=reads.astype(np.float64), buffer_writes=writes.astype(np.float64),
            digital_ops=np.broadcast_to(ops, latency.shape).astype(np.float64),
            hop_bits=hop_bits, presum_adds=none, table_lookups=none)
        energy = energy_by_component(c, counts)
        return latency.astype(np.float64), pipelined.astype(np.float64), energy

    def _pipelined_latency(self, busy: FloatArray, first_extra: FloatArray | None = None
                           ) -> dict[str, FloatArray]:
        """The ``pipelined`` and ``throughput`` latencies from pipelined busy times ``[n, L]``.

        ``busy`` is each layer's time over its output map in MNSIM's pipelined mode (its
        line buffer filled a window column at a time). ``pipelined`` is one image through
        MNSIM's inter-layer pixel pipeline on the layer graph: the longest path through the
        (layer, pixel) graph, each layer taking ``busy / pixels`` per output pixel
        (:class:`epim.cost_model._pipeline.PipelineSchedule`), plus ``first_extra`` for a
        pixel's own time where a replicated layer's copies overlap. ``throughput`` is the
        period of a full pipeline, the busiest layer (ISAAC, NeuroSim): never above
        ``pipelined``.
        """
        return {"pipelined": self.schedule.latency(busy / self._pixels, first_extra),
                "throughput": busy.max(axis=1)}


def _scatter(n: int, variants: tuple[Hardware, ...],
             parts: list[tuple[IntArray, CostBatch]]) -> CostBatch:
    """One :class:`CostBatch` of ``n`` designs from the batches of their positions ``parts``."""
    first = parts[0][1]
    values: dict[str, object] = {}
    for spec in fields(CostBatch):
        sample = getattr(first, spec.name)
        if isinstance(sample, np.ndarray):
            out = np.empty((n, *sample.shape[1:]), dtype=sample.dtype)
            for index, part in parts:
                out[index] = getattr(part, spec.name)
            values[spec.name] = out
        elif isinstance(sample, dict):
            merged = {}
            for key, array in sample.items():
                out = np.empty((n, *array.shape[1:]), dtype=array.dtype)
                for index, part in parts:
                    out[index] = getattr(part, spec.name)[key]
                merged[key] = out
            values[spec.name] = merged
        else:
            values[spec.name] = sample
    values["hardware_variants"] = variants
    return CostBatch(**values)  # type: ignore[arg-type]
