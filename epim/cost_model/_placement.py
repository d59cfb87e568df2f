"""Tile placement: where each layer's tiles sit on the chip, and how far its data travels.

MNSIM 2.0 (Zhu et al., IEEE TCAD 2023; docs/cost_model.md section 3) numbers the tiles of a
``rows x cols`` chip in one of four orders (``Tile_Connection`` 0..3: row-major, snake,
spiral from a corner, zigzag over anti-diagonals) and gives every layer that owns tiles a
contiguous range of that numbering, in network order. Distances are Manhattan hops on the
grid. Each layer then picks one of its tiles as the aggregation point ``A``; it gathers its
partial sums from the farthest of its own tiles (the *merge* distance) and sends its outputs
to the farthest tile of the layers it feeds (the *transfer* distance), choosing the ``A``
with the smallest sum of the two (first such tile in row-major order). Special cases, as in
MNSIM:

- a layer whose every consumer is an element-wise add sends to the chip's port, the point
  ``(rows / 2, 0)``;
- an add layer (no tiles) sends from the port to the first tile, in row-major order, of
  each consumer; its merge distance is 0;
- the last layer only merges: ``A`` minimises the farthest own tile; transfer 0;
- a layer without tiles that is not an add (pooling where the preset gives it none, and every
  concat: a re-indexing of its producers' channels, no tiles of its own) moves nothing; its
  producers send to its consumers instead.

Vectorized: a layer's own and target tile sets enter only through the extremes of
``r + c`` and ``r - c`` over them (the farthest L1 point from ``A`` is one of those four
extremes), read from sparse tables over the numbering in O(1) per range; the choice of ``A``
evaluates every tile of every design once (``np.minimum.reduceat`` over each layer's tiles).
No Python loop runs over designs, layers or tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from epim.workloads import MERGE_KINDS, Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Per-tile integer arrays (int16 or int32: the narrowest that holds the chip's coordinates).
TileArray = npt.NDArray[np.signedinteger[Any]]

PlacementOrder = Literal["row_major", "snake", "spiral", "zigzag"]
#: The placement orders, indexed by MNSIM's ``Tile_Connection`` value.
PLACEMENT_ORDERS: tuple[str, ...] = get_args(PlacementOrder)

#: Role of a layer in the distance computation (``PlacementGraph.role``).
ROLE_SENDS, ROLE_TO_PORT, ROLE_ADD, ROLE_LAST, ROLE_NONE = range(5)


def placement_positions(order: str, rows: int, cols: int) -> tuple[IntArray, IntArray]:
    """Grid row and column of every tile number, in placement ``order``.

    Args:
        order: One of ``PLACEMENT_ORDERS``.
        rows: Tile rows of the chip.
        cols: Tile columns of the chip.

    Returns:
        ``(row, col)``, each ``[rows * cols]``: the position of tile number ``k``.

    """
    r, c = np.divmod(np.arange(rows * cols, dtype=np.int64), cols)
    if order == "row_major":
        key = r * cols + c
    elif order == "snake":  # boustrophedon: every odd row runs right to left
        key = r * cols + np.where(r % 2 == 1, cols - 1 - c, c)
    elif order == "spiral":
        # square shells k = max(r, c) grow from the corner (0, 0); an odd shell runs down
        # its column k then left along row k, an even one right along row k then up column k
        k = np.maximum(r, c)
        odd = k % 2 == 1
        along = np.where(odd, np.where(c == k, r, 2 * k - c), np.where(r == k, c, 2 * k - r))
        key = k * (2 * (rows + cols) + 1) + along  # shell first, then position in the shell
    elif order == "zigzag":
        # anti-diagonals s = r + c in turn; odd ones run down (row increasing), even ones up
        s = r + c
        key = s * (rows + 1) + np.where(s % 2 == 1, r, rows - r)
    else:
        raise ValueError(f"unknown placement order {order!r}")
    numbering = np.argsort(key, kind="stable")  # tile number -> grid cell
    return r[numbering], c[numbering]


@dataclass(frozen=True)
class ChipGrid:
    """A chip's tile numbering with range-extreme tables (built once per order and size).

    Attributes:
        rows: Tile rows of the chip (``capacity`` may extend it by whole rows).
        cols: Tile columns.
        capacity: Tile numbers covered (rows placed x ``cols``).
        u: ``2 (r + c)`` of each tile number (doubled: MNSIM's port can sit half-way
            between two rows, and doubled coordinates keep its distances integers).
        v: ``2 (r - c)`` of each tile number.
        cell: Row-major index ``r * cols + c`` of each tile number.
        tables: Five sparse tables, of ``-u``, ``u``, ``-v``, ``v`` (whose range minima give
            a tile set's extremes) and ``cell``, each ``[levels * capacity]``: entry
            ``level * capacity + k`` is the minimum of that key over tile numbers
            ``[k, k + 2**level)``.
        floor_log2: ``floor(log2(count))`` for counts ``0..capacity`` (0 for 0).

    """

    rows: int
    cols: int
    capacity: int
    u: TileArray
    v: TileArray
    cell: TileArray
    tables: tuple[TileArray, ...]
    floor_log2: IntArray

    @property
    def far(self) -> int:
        """A coordinate beyond any tile's (doubled) ``u`` and ``v``: marks "no tiles"."""
        return 2 * (self.capacity // self.cols + self.cols) + 2

    @property
    def empty(self) -> tuple[int, ...]:
        """The value of each key for an empty tile set: ``far``, or no cell (``capacity``)."""
        return (self.far,) * 4 + (self.capacity,)

    @property
    def key_dtype(self) -> type[np.signedinteger[Any]]:
        """Integer type for ``distance * capacity + cell`` (doubled distances < 8 (rows + cols))."""
        bound = 16 * (self.capacity // self.cols + self.cols + 1) * self.capacity
        return np.int32 if bound < 2**31 else np.int64

    @classmethod
    def build(cls, order: str, rows: int, cols: int, tiles_needed: int) -> ChipGrid:
        """The numbering of a ``rows x cols`` chip, extended if needed.

        Rows are added (doubling) until it holds ``tiles_needed`` tiles: a design larger than
        the chip is placed as if the chip were taller.
        """
        placed_rows = rows
        while placed_rows * cols < tiles_needed:
            placed_rows *= 2
        return _grid(order, rows, cols, placed_rows)

    def range_minima(self, start: IntArray, count: IntArray) -> list[IntArray]:
        """Minima of the five tabled keys over tile numbers ``[start, start + count)``.

        Args:
            start: First tile number of each range (any shape).
            count: Tiles in each range (any shape; an empty range gives ``empty``).

        Returns:
            Five arrays shaped like ``start``.

        """
        has = count > 0
        count = np.maximum(count, 1)
        start = np.minimum(start, self.capacity - count)  # empty ranges: any valid index
        level = self.floor_log2[count]
        first = level * self.capacity + start
        second = first + count - (1 << level)
        return [np.where(has, np.minimum(np.take(table, first), np.take(table, second)),
                         empty).astype(table.dtype)
                for table, empty in zip(self.tables, self.empty, strict=True)]


@cache
def _grid(order: str, rows: int, cols: int, placed_rows: int) -> ChipGrid:
    r, c = placement_positions(order, placed_rows, cols)
    capacity = placed_rows * cols
    # small integer types cut the memory traffic of the per-tile work: doubled coordinates
    # and their differences (< 4 (rows + cols) + 4) fit int16 on any chip up to 8000 x 8000
    small = np.int16 if 4 * (placed_rows + cols) + 4 < 2**15 else np.int32
    u: TileArray = (2 * (r + c)).astype(small)
    v: TileArray = (2 * (r - c)).astype(small)
    cell: TileArray = (r * cols + c).astype(np.int32)
    levels = math.floor(math.log2(capacity)) + 1
    tables: list[TileArray] = []
    keys: tuple[TileArray, ...] = (np.negative(u), u, np.negative(v), v, cell)
    for key in keys:
        table = np.zeros((levels, capacity), dtype=key.dtype)
        table[0] = key
        for level in range(1, levels):  # doubling ranges, over table levels (not designs)
            half = 1 << (level - 1)
            table[level, :capacity - half] = np.minimum(table[level - 1, :capacity - half],
                                                        table[level - 1, half:])
        tables.append(table.ravel())
    floor_log2 = np.zeros(capacity + 1, dtype=np.int64)
    floor_log2[1:] = np.floor(np.log2(np.arange(1, capacity + 1)))
    return ChipGrid(rows=rows, cols=cols, capacity=capacity, u=u, v=v, cell=cell,
                    tables=tuple(tables), floor_log2=floor_log2)


@dataclass(frozen=True)
class PlacementGraph:
    """Which layers send where, per network and tile convention (built once per model).

    Attributes:
        role: ``[L]`` role of each layer, network order (``ROLE_*``).
        targets: ``[L, K]`` layers each layer sends to (tiled layers, or add layers for
            ``ROLE_ADD``'s consumers), padded with ``L`` (a column with no tiles).

    """

    role: IntArray
    targets: IntArray

    @classmethod
    def from_network(cls, network: Network, *, pooling_tiles: bool) -> PlacementGraph:
        """Roles and targets from the layer graph (``Layer.inputs``)."""
        layers = network.layers
        index = {layer.name: i for i, layer in enumerate(layers)}
        consumers: list[list[int]] = [[] for _ in layers]
        for i, layer in enumerate(layers):
            for name in layer.inputs:
                if name in index:
                    consumers[index[name]].append(i)

        def tiled(i: int) -> bool:
            return layers[i].is_compute or (pooling_tiles and layers[i].kind not in MERGE_KINDS)

        def resolved(i: int) -> list[int]:
            """Consumers of ``i``, looking through tile-less non-add layers."""
            out: list[int] = []
            for j in consumers[i]:
                if tiled(j) or layers[j].kind == "add":
                    out.append(j)
                else:
                    out.extend(resolved(j))
            return sorted(set(out))

        roles: list[int] = []
        targets: list[list[int]] = []
        for i, layer in enumerate(layers):
            if layer.kind == "add":
                roles.append(ROLE_ADD)
                targets.append([j for j in resolved(i) if tiled(j)])
            elif not tiled(i):
                roles.append(ROLE_NONE)
                targets.append([])
            elif i == len(layers) - 1:
                roles.append(ROLE_LAST)
                targets.append([])
            else:
                sends = resolved(i)
                if sends and all(layers[j].kind == "add" for j in sends):
                    roles.append(ROLE_TO_PORT)
                    targets.append([])
                else:
                    roles.append(ROLE_SENDS)
                    targets.append([j for j in sends if tiled(j)])
        width = max([1, *(len(t) for t in targets)])
        padded = np.full((len(layers), width), len(layers), dtype=np.int64)
        for i, t in enumerate(targets):
            padded[i, :len(t)] = t
        return cls(role=np.asarray(roles, dtype=np.int64), targets=padded)


@dataclass(frozen=True)
class LayerDistances:
    """Hops of every layer, network order, ``[n_designs, n_layers]``.

    Attributes:
        merge_hops: From the farthest own tile to the aggregation tile.
        transfer_hops: From the aggregation tile to the farthest tile fed.

    """

    merge_hops: FloatArray
    transfer_hops: FloatArray


def layer_distances(grid: ChipGrid, graph: PlacementGraph,
                    layer_tiles: FloatArray) -> LayerDistances:
    """Merge and transfer hops of every layer for per-layer tile counts ``[n, L]``."""
    n, n_layers = layer_tiles.shape
    counts = layer_tiles.astype(np.int64)
    starts = np.cumsum(counts, axis=1) - counts
    # extremes of each layer's tiles: min of -u, u, -v, v and the first cell ("far" if none);
    # coordinates are doubled (ChipGrid.u), so the port (rows / 2, 0) is (rows, rows)
    own = [np.concatenate([key, np.full((n, 1), empty, dtype=key.dtype)], axis=1)  # + "none"
           for key, empty in zip(grid.range_minima(starts, counts), grid.empty, strict=True)]
    # the tiles each layer sends to: the union over its targets, or the port
    to_port = graph.role == ROLE_TO_PORT
    port = grid.rows
    target = [np.where(to_port, p, key[:, graph.targets].min(axis=2)).astype(key.dtype).ravel()
              for key, p in zip(own[:4], (-port, port, -port, port), strict=True)]
    first = own[4]
    own = _centred([key[:, :-1].ravel() for key in own[:4]], grid.far)
    target = _centred(target, grid.far)
    # the aggregation tile of each layer: its only tile, or the candidate with the smallest
    # (own + target distance, row-major cell), over every tile of the layer
    flat_counts, flat_starts = counts.ravel(), starts.ravel()
    best = np.take(grid.cell, np.minimum(flat_starts, grid.capacity - 1)).astype(np.int32)
    multi = np.flatnonzero(flat_counts > 1)
    if multi.size:
        sizes = np.where(flat_counts > 1, flat_counts, 0)
        ends = np.cumsum(sizes)
        # candidate -> its layer (np.take gathers about twice as fast as fancy indexing)
        owner = np.repeat(np.arange(sizes.size, dtype=np.int32), sizes)
        tile = np.arange(int(ends[-1]), dtype=np.int32)
        tile += np.take((flat_starts - (ends - sizes)).astype(np.int32), owner)
        u, v = np.take(grid.u, tile), np.take(grid.v, tile)
        key = _farthest(u, v, [np.take(k, owner) for k in own]).astype(grid.key_dtype)
        key += _farthest(u, v, [np.take(k, owner) for k in target])
        key *= grid.capacity
        key += np.take(grid.cell, tile)
        best[multi] = np.minimum.reduceat(key, (ends - sizes)[multi]) % grid.capacity
    br, bc = np.divmod(best, grid.cols)
    bu, bv = 2 * (br + bc), 2 * (br - bc)
    tiled = flat_counts > 0
    merge = np.where(tiled, _farthest(bu, bv, own), 0).reshape(n, n_layers)
    transfer = np.where(tiled, _farthest(bu, bv, target), 0).reshape(n, n_layers)
    # add layers: from the port to the first (row-major) tile of each consumer
    fr, fc = np.divmod(first.astype(np.int64), grid.cols)
    from_port = np.where(first < grid.capacity, np.abs(2 * fr - port) + 2 * fc, 0)
    add_transfer = from_port[:, graph.targets].max(axis=2)
    is_add = graph.role == ROLE_ADD
    transfer = np.where(is_add, add_transfer, transfer) / 2  # undo the doubling
    merge = np.where(is_add | (graph.role == ROLE_NONE), 0, merge) / 2
    return LayerDistances(merge_hops=merge, transfer_hops=transfer)


def _centred(box: list[IntArray], far: int) -> list[IntArray]:
    """Extremes (min of ``-u``, ``u``, ``-v``, ``v``) as centre and half-width per axis.

    Returns ``[cu, hu, cv, hv]``; an empty set gets half-width ``-2 far`` (every distance
    clips to 0).
    """
    empty = box[1] >= far
    dtype = box[0].dtype
    cu = np.where(empty, 0, (box[1] - box[0]) // 2).astype(dtype)  # (u_min + u_max) / 2
    hu = np.where(empty, -2 * far, (-box[0] - box[1]) // 2).astype(dtype)
    cv = np.where(empty, 0, (box[3] - box[2]) // 2).astype(dtype)
    hv = np.where(empty, -2 * far, (-box[2] - box[3]) // 2).astype(dtype)
    return [cu, hu, cv, hv]


def _farthest(u: IntArray, v: IntArray, box: list[IntArray]) -> IntArray:
    """Farthest L1 distance from ``(u, v)`` to a tile set given as ``_centred`` extremes.

    0 for an empty set. The farthest point in L1 is extreme in ``u = r + c`` or ``v = r - c``:
    ``max(u_max - u, u - u_min, v_max - v, v - v_min) = max(|u - cu| + hu, |v - cv| + hv)``.
    """
    du = np.subtract(u, box[0])
    np.abs(du, out=du)
    du += box[1]
    dv = np.subtract(v, box[2])
    np.abs(dv, out=dv)
    dv += box[3]
    result: IntArray = np.maximum(du, dv, out=du)
    np.maximum(result, 0, out=result)
    return result
