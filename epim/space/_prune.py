"""Pruning, the operator family beside the epitome: which layers may be pruned, and how.

Two kinds, per conv/linear layer, each an integer field of :class:`LayerDesign` where 0 means
"not pruned" (so a design without pruning keeps its digest and its design file):

- **Channel pruning** (``prune_out``): keep this many output filters (chosen by L1 magnitude
  from the dense start); the one layer that reads them loses the matching input channels. Only
  layers whose outputs feed exactly one conv/linear layer (no residual add, concat or pooling
  in between) may be channel-pruned: in a ResNet, the *inner* convs of each block
  (``layerX.Y.conv1``), never a conv feeding an add, so the residual sums stay consistent.
- **Crossbar-aware pruning** as PIM-Prune does it (Chu et al., DAC 2020): the layer's mapped
  weight matrix (``Cin/groups * kh * kw`` rows by ``Cout`` columns) is cut into the crossbar
  tiling; ``prune_rows`` keeps this many rows in every column block (each block its own rows,
  by L1 magnitude of the row's segment; an input index table routes them), ``prune_cols``
  keeps this many columns in every row block (each its own columns; an output index table
  adds the partial sums into the right outputs). Then the kept rows (columns) are compacted, so
  a column block needs ``ceil(rows_kept / xbar_rows)`` crossbars instead of
  ``ceil(rows / xbar_rows)``. A layer compacts one way: ``prune_rows`` or ``prune_cols``, not
  both (rows and columns kept by different blocks cannot be compacted together).

Pruning applies to dense (non-epitome) layers with one group. Crossbar-aware pruning composes
with channel pruning (it prunes the channel-pruned matrix; counts larger than what is left
keep everything). An epitome layer reading a channel-pruned layer keeps its epitome (the
pruned channels read zeros); a dense or crossbar-pruned one shrinks.
"""

from __future__ import annotations

import math
from functools import lru_cache

from epim.workloads import Layer, Network

#: The pruning fields of a layer choice (0: not pruned), in order.
PRUNE_FIELDS: tuple[str, ...] = ("prune_out", "prune_rows", "prune_cols")
#: A layer choice as the search's tables hold it: ``DESIGN_FIELDS`` then ``PRUNE_FIELDS``.
CHOICE_FIELDS: tuple[str, ...] = (
    "epitome_in", "epitome_out", "epitome_h", "epitome_w", "weight_bits", "act_bits",
    "channel_offsets", *PRUNE_FIELDS,
)
#: The crossbar tiling the proxy's masks follow when it is not told the hardware: MNSIM's
#: 256x256 crossbars with every bit slice in its own crossbar (``epim.cost_model`` presets).
DEFAULT_PRUNE_TILE: tuple[int, int] = (256, 256)


def prunable_consumers(network: Network) -> dict[str, str]:
    """Channel-prunable layers -> the one conv/linear layer that reads their outputs.

    A layer qualifies when it has one group, is not the last conv/linear layer, and its only
    consumer is a conv/linear layer with one group whose only input it is, reading its
    channels as they are (a linear layer after a flattened map does not qualify). In a chain
    of such layers (``a -> b -> c -> d``) the pairs do not overlap, taken in network order
    (``a -> b``, ``c -> d``): a layer reading a prunable layer is not prunable itself, so each
    pair's costs depend on the two layers' choices alone.
    """
    return dict(_consumers(network))


@lru_cache(maxsize=64)
def _consumers(network: Network) -> tuple[tuple[str, str], ...]:
    readers: dict[str, list[Layer]] = {layer.name: [] for layer in network.layers}
    for layer in network.layers:
        for source in layer.inputs:
            if source in readers:
                readers[source].append(layer)
    pairs: list[tuple[str, str]] = []
    readers_taken: set[str] = set()
    for layer in network.compute_layers[:-1]:
        consumers = readers[layer.name]
        if layer.groups != 1 or len(consumers) != 1 or layer.name in readers_taken:
            continue
        consumer = consumers[0]
        if (consumer.is_compute and consumer.groups == 1 and consumer.inputs == (layer.name,)
                and consumer.in_channels == layer.out_channels):
            pairs.append((layer.name, consumer.name))
            readers_taken.add(consumer.name)
    return tuple(pairs)


def prune_producers(network: Network) -> dict[str, str]:
    """The inverse of :func:`prunable_consumers`: consumer -> the prunable layer it reads."""
    return {consumer: producer for producer, consumer in _consumers(network)}


def matrix_rows(layer: Layer) -> int:
    """Rows of the layer's mapped weight matrix, ``Cin/groups * kh * kw``."""
    _, cin_g, kh, kw = layer.weight_shape
    return cin_g * kh * kw


def scaled_count(kept: int, full: int, full2: int) -> int:
    """A kept count carried to a layer of ``full2`` (ratio kept; 0 stays 0; at least 1)."""
    if kept == 0:
        return 0
    return max(1, min(full2, round(kept / full * full2)))


def scaled_tile(layer: Layer, scaled: Layer, tile: tuple[int, int]) -> tuple[int, int]:
    """The tile of ``scaled`` holding as many row and column blocks as ``layer`` has in ``tile``.

    The proxy trains a narrower copy of the network; its masks keep the block structure
    (how many row blocks and column blocks) of the full-size layer.
    """
    rows, cols = matrix_rows(layer), layer.out_channels
    rows2, cols2 = matrix_rows(scaled), scaled.out_channels
    row_blocks, col_blocks = math.ceil(rows / tile[0]), math.ceil(cols / tile[1])
    return max(1, math.ceil(rows2 / row_blocks)), max(1, math.ceil(cols2 / col_blocks))
