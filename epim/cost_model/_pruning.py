"""Pruned layers in the cost model: the compacted layer each pruning field leaves.

Semantics: ``epim.space._prune``. Channel pruning makes a layer a dense layer of
``prune_out`` outputs and its one consumer (if dense) a layer of as many inputs, so every
stage of the model costs the smaller layer as it costs any dense one. Crossbar-aware pruning
(PIM-Prune, Chu et al., DAC 2020) keeps ``r`` rows in every column block (``c`` columns in
every row block) of the mapped matrix and compacts them: the mapping
(:func:`epim.cost_model._stages.map_layers`) then stacks ``ceil(r / xbar_rows)`` crossbars per
column block (``ceil(c * slices / xbar_cols)`` per row block, or ``slices * ceil(c /
xbar_cols)`` where each bit slice has its own crossbar), and each activation drives only the
kept rows (reads only the kept columns). The input (output) index tables that route the kept
rows (columns) are looked up per crossbar activation, like an epitome's address tables
(docs/epitome.md section 5), at the preset's table latency and energy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from epim.cost_model._stages import DesignArrays
from epim.cost_model._static import NetworkArrays
from epim.space import DesignBatch, prune_producers
from epim.workloads import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PrunedLayers:
    """What crossbar-aware pruning leaves of each layer, ``[n_designs, n_compute]``.

    Attributes:
        rows_kept: Rows kept per column block (0: rows not pruned).
        cols_kept: Columns (outputs) kept per row block (0: columns not pruned).
        stored: Weights kept per layer (after channel and crossbar pruning).

    """

    rows_kept: FloatArray
    cols_kept: FloatArray
    stored: FloatArray

    @property
    def indexed(self) -> npt.NDArray[np.bool_]:
        """Layers whose crossbars route their rows or columns through index tables."""
        mask: npt.NDArray[np.bool_] = (self.rows_kept > 0) | (self.cols_kept > 0)
        return mask


@dataclass(frozen=True)
class PruneGraph:
    """Which compute layer reads each channel-prunable one (built once per network).

    Attributes:
        producers: Positions (among compute layers) of the channel-prunable layers.
        consumers: Positions of the layer each one feeds, in the same order.

    """

    producers: IntArray
    consumers: IntArray

    @classmethod
    def empty(cls) -> PruneGraph:
        """No pairs: every layer costed on its own choice alone."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none)

    @classmethod
    def from_network(cls, network: Network) -> PruneGraph:
        """The pairs of ``network`` (``epim.space.prune_producers``)."""
        position = {layer.name: j for j, layer in enumerate(network.compute_layers)}
        pairs = sorted((position[producer], position[consumer])
                       for consumer, producer in prune_producers(network).items())
        return cls(np.array([p for p, _ in pairs], dtype=np.int64),
                   np.array([c for _, c in pairs], dtype=np.int64))


def compact(g: NetworkArrays, d: DesignArrays, batch: DesignBatch, graph: PruneGraph
            ) -> tuple[NetworkArrays, DesignArrays, PrunedLayers]:
    """The geometry and design arrays of the compacted layers, and what pruning keeps.

    Channel-pruned layers and their dense consumers get per-design ``cout`` / ``cin_g``
    (``[n, n_compute]`` arrays in place of the network's ``[n_compute]``); crossbar-aware
    pruning is returned for the mapping. Counts above what is left keep everything.
    """
    out = batch.pruning("prune_out").astype(np.float64)
    rows = batch.pruning("prune_rows").astype(np.float64)
    cols = batch.pruning("prune_cols").astype(np.float64)
    dense = ((d.cin_e == g.cin_g) & (d.cout_e == g.cout) & (d.epitome_h == g.kh)
             & (d.epitome_w == g.kw))
    cout = np.where(out > 0, out, g.cout)
    cout_per_group = np.where(out > 0, out, g.cout_per_group)
    keep_in = np.broadcast_to(g.cin_g.astype(np.float64), out.shape).copy()
    if graph.producers.size:
        upstream = out[:, graph.producers]
        keep_in[:, graph.consumers] = np.where(upstream > 0, upstream,
                                               keep_in[:, graph.consumers])
    cin_g = np.where(dense, keep_in, g.cin_g)
    g2 = replace(g, cout=cout, cin_g=cin_g, cout_per_group=cout_per_group)
    d2 = replace(d, cin_e=np.where(dense, cin_g, d.cin_e), cout_e=np.where(dense, cout, d.cout_e))
    matrix_rows = d2.cin_e * d2.epitome_h * d2.epitome_w
    rows_kept = np.where(rows > 0, np.minimum(rows, matrix_rows), 0.0)
    cols_kept = np.where(cols > 0, np.minimum(cols, d2.cout_e), 0.0)
    stored = np.where(rows_kept > 0, rows_kept * d2.cout_e,
                      np.where(cols_kept > 0, matrix_rows * cols_kept,
                               matrix_rows * d2.cout_e))
    return g2, d2, PrunedLayers(rows_kept=rows_kept, cols_kept=cols_kept, stored=stored)
