"""The pipelined latency of a layer graph: MNSIM 2.0's inter-layer pixel pipeline, in closed form.

MNSIM's pipelined mode (``Model_latency.calculate_model_latency``) streams one image through
the layers pixel by pixel, in raster order. Output pixel ``p`` of layer ``c`` starts when the
layer has finished its previous pixel and every producer ``q`` has finished the pixel
``pos_c(p)`` its window needs last, and takes ``t_c(p)``:

    F_c(p) = max(F_c(p - 1), max_q F_q(pos_c(p))) + t_c(p)

(docs/cost_model.md section 4 gives ``pos``: the window's last input pixel, clamped to the
map; the same pixel for an element-wise add; the whole map for a fully connected layer). The
network's latency, the last layer's last finish, is the longest path through the graph whose
nodes are (layer, pixel). Such a path runs through a chain of layers ``l_0 -> l_1 -> ...``,
entering each at a pixel ``a_k`` and leaving it at ``pos_{l_{k+1}}(a_{k+1}) >= a_k``, so its
length is the sum over the chain of (pixels spanned) x (time per pixel).

The model measures the paths that enter each layer at one of a few *candidate* pixels, found
once per network (:func:`_candidates`): the first pixel (the pipeline fill), the pixels of
the fill cones (what each later layer's first pixel waits for, up to ``CONE_DEPTH`` layers
down), the first pixel that waits for the producer's last one (the drain) and the start of
its row (where ``pos`` jumps by a row of the producer), and the first pixel that waits for
one of the producer's latest candidates (a path that crosses the producer at once). The
longest path over candidates is a dynamic programme over graph levels, vectorized over
designs: no loop over designs or pixels. Every path it measures is a real one, so it is a
lower bound of the recurrence; with a layer's per-pixel time its mean, it is within 1.2% of
MNSIM on every run of ``tests/cost_model/golden/mnsim`` and, on designs whose layers'
per-pixel times spread over two decades, within 0.1% of the recurrence at the median and
5.4% at worst (``tests/cost_model/test_pipeline.py`` restates the recurrence pixel by pixel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from epim.workloads import MERGE_KINDS, Layer, Network

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Layers upstream of each layer through which the pixels its first pixel waits for (its
#: fill cone) become candidate entries.
CONE_DEPTH = 8

#: Candidates per layer at most (the first pixel, drains and nearest others).
MAX_CANDIDATES = 100

#: Bytes of the programme's value array per chunk of designs.
CHUNK_BYTES = 8 << 20

#: The latest entries of a producer whose first waiting pixel becomes a candidate entry.
FORWARD_FROM = 8

#: Layers that wait for their producers' whole map (MNSIM's ``fc``).
WHOLE_MAP_KINDS = ("linear", "globalpool")


def dependency_pixels(layer: Layer, producer_pixels: int) -> IntArray:
    """For each output pixel of ``layer`` (raster order), the producer pixel it waits for last.

    MNSIM's ``calculate_model_latency`` (mode 1): a convolution or pooling window's last input
    pixel ``(min(e + s i, H) - 1, min(e + s j, W) - 1)`` with ``e = max(k - pad, 1)`` (``k``
    the dilated kernel extent), a 1x1 convolution's ``(s i, s j)``, an element-wise add's own
    pixel (a concat's too: it takes every producer's same pixel, at no cost of its own), a
    fully connected or global-pool layer's producer's last pixel.

    Args:
        layer: The consuming layer.
        producer_pixels: Pixels of the producer's output map.

    Returns:
        ``[out_h * out_w]`` producer pixel indices.

    """
    out_h, out_w = layer.out_hw
    if layer.kind in WHOLE_MAP_KINDS:
        return np.full(out_h * out_w, producer_pixels - 1, dtype=np.int64)
    i = np.repeat(np.arange(out_h, dtype=np.int64), out_w)
    j = np.tile(np.arange(out_w, dtype=np.int64), out_h)
    if layer.kind in MERGE_KINDS:  # element-wise: an add's or a concat's pixel is its inputs'
        same: IntArray = np.minimum(i * out_w + j, producer_pixels - 1)
        return same
    in_h, in_w = layer.in_hw
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    if layer.kind == "conv" and kh == 1 and kw == 1:
        row, col = sh * i, sw * j
    else:
        extent_h = layer.dilation[0] * (kh - 1) + 1
        extent_w = layer.dilation[1] * (kw - 1) + 1
        row = np.minimum(max(extent_h - layer.padding[0], 1) + sh * i, in_h) - 1
        col = np.minimum(max(extent_w - layer.padding[1], 1) + sw * j, in_w) - 1
    last: IntArray = np.minimum(row * in_w + col, producer_pixels - 1)
    return last


@dataclass(frozen=True)
class _Options:
    """Options of some nodes: leaving a producer at a pixel, from its best entry before it.

    Each option is worth ``U_q(source) + (b + 1) t_q - a t_c``: the producer's prefix maximum
    at its latest entry ``<= b`` plus the span up to the exit ``b``, less the node's entry term
    (``U = V - a t_c``), the time terms summed over ``layers`` with weights ``coef``.

    Attributes:
        rows: The nodes (rows of the value array).
        sources: Per node, the producer's row (its latest entry at or before the exit).
        producers: Per node, the producer (the layer whose first-pixel extra it adds).
        layers: The layers whose per-pixel times the options read.
        coef: ``[n_options, len(layers)]``, ``b + 1`` at the producer, ``-a`` at the node's layer.

    """

    rows: IntArray
    sources: IntArray
    producers: IntArray
    layers: IntArray
    coef: npt.NDArray[np.float32]
    whole_level: bool
    _terms: list[tuple[npt.NDArray[np.float32], int]] = field(
        init=False, repr=False, compare=False)

    @property
    def terms(self) -> list[tuple[npt.NDArray[np.float32], int]]:
        """``(weights [n_options, 1], layer)`` per time term."""
        return [(self.coef[:, column, None], int(layer))
                for column, layer in enumerate(self.layers)]

    @classmethod
    def pack(cls, options: list[tuple[int, int, int, int, int, int]], first: int, n: int
             ) -> _Options:
        """Pack ``(row, source row, producer, b + 1, layer, a)`` options of a level.

        The level's nodes are the rows ``first .. first + n - 1``.
        """
        layers = sorted({o[2] for o in options} | {o[4] for o in options if o[5]})
        column = {layer: i for i, layer in enumerate(layers)}
        coef = np.zeros((len(options), len(layers)), dtype=np.float32)
        for i, (_, _, producer, pixels, layer, entry) in enumerate(options):
            coef[i, column[producer]] += pixels
            if entry:
                coef[i, column[layer]] -= entry
        rows = [o[0] for o in options]
        return cls(rows=np.asarray(rows, dtype=np.int64),
                   sources=np.asarray([o[1] for o in options], dtype=np.int64),
                   producers=np.asarray([o[2] for o in options], dtype=np.int64),
                   layers=np.asarray(layers, dtype=np.int64), coef=coef,
                   whole_level=rows == list(range(first, first + n)))

    def values(self, value: Float32Array, t: Float32Array, out: Float32Array | None = None,
               first: Float32Array | None = None) -> Float32Array:
        """``[n_options, n]`` option values (into ``out`` if given).

        ``first`` (``[n_layers, n]``) adds each producer's first-pixel extra.
        """
        result: Float32Array = value[self.sources] if out is None else \
            np.take(value, self.sources, axis=0, out=out)
        for weights, layer in self._terms:
            result += weights * t[layer]
        if first is not None:
            result += first[self.producers]
        return result

    def __post_init__(self) -> None:
        """Keep the terms (the programme's inner loop reads them)."""
        object.__setattr__(self, "_terms", self.terms)


@dataclass(frozen=True)
class _Level:
    """One graph level of the programme (its layers read only earlier levels).

    The level's nodes are the rows ``first .. first + n - 1``, ordered by entry rank and,
    within a rank, by layer (layers with more entries first): the rows of rank ``k`` then
    line up with the first rows of rank ``k - 1``, the same layers' previous entries.

    Attributes:
        first: First row of the level.
        n: Rows of the level.
        options: Each node's option through its first producer (``rows`` are the level's).
        extra: Options through further producers (an element-wise add's other input).
        ranks: ``(start, stop)`` rows of each rank.

    """

    first: int
    n: int
    options: _Options
    extra: tuple[_Options, ...]
    ranks: tuple[tuple[int, int], ...]

    @property
    def prefix(self) -> list[tuple[slice, slice]]:
        """``(rows of rank k, the same layers' rows of rank k - 1)`` for k = 1, 2, ..."""
        return [(slice(lo, hi), slice(start, start + hi - lo))
                for (start, _), (lo, hi) in zip(self.ranks, self.ranks[1:], strict=False)]


@dataclass(frozen=True)
class PipelineSchedule:
    """The candidate entry pixels of a network's layers and the programme over them.

    Per node ``(layer c, entry pixel a)`` the programme keeps ``U = V - a t_c``, ``V`` the
    longest path up to the producer pixel that ``a`` waits for, as a prefix maximum over the
    layer's entries ``<= a``: a path that leaves producer ``q`` at pixel ``b`` from its best
    entry ``e <= b`` is then worth ``U_q + (b + 1) t_q``, and the network's latency is
    ``U + N t`` at a sink's last entry (``N`` its pixels).

    Attributes:
        pixels: ``[n_layers]`` output pixels per layer.
        entries: Per layer, its candidate entry pixels (ascending; the first is 0).
        n_rows: Nodes in all.
        n_sources: Nodes of the source layers (the first rows; their ``U`` is 0).
        levels: The programme, one step per graph level after the sources.
        sink_rows: The last (latest-entry) row of each sink (a layer nobody reads).
        sink_layers: The sinks.

    """

    pixels: IntArray
    entries: tuple[tuple[int, ...], ...]
    n_rows: int
    n_sources: int
    levels: tuple[_Level, ...]
    sink_rows: IntArray
    sink_layers: IntArray
    _prefixes: list[list[tuple[slice, slice]]] = field(init=False, repr=False, compare=False)

    @classmethod
    def from_network(cls, network: Network) -> PipelineSchedule:
        """Candidates and programme of ``network`` (network order is topological)."""
        layers = network.layers
        index = {layer.name: i for i, layer in enumerate(layers)}
        producers = [[index[name] for name in layer.inputs if name in index]
                     for layer in layers]
        pixels = [max(layer.out_hw[0] * layer.out_hw[1], 1) for layer in layers]
        depth: list[int] = []
        positions: list[list[IntArray]] = []
        for c, layer in enumerate(layers):
            positions.append([dependency_pixels(layer, pixels[q]) for q in producers[c]])
            depth.append(1 + max((depth[q] for q in producers[c]), default=-1))
        entries = _candidates(layers, producers, positions)
        # rows: level by level; in a level rank by rank; in a rank, layers by entries (desc)
        row: dict[tuple[int, int], int] = {}
        members_of: list[list[int]] = []
        for level in range(max(depth, default=-1) + 1):
            members = sorted((c for c in range(len(layers)) if depth[c] == level),
                             key=lambda c: (-len(entries[c]), c))
            members_of.append(members)
            for rank in range(len(entries[members[0]])):
                for c in members:
                    if rank < len(entries[c]):
                        row[(c, entries[c][rank])] = len(row)
        levels = []
        for members in members_of[1:]:
            nodes = sorted((r, c, a) for (c, a), r in row.items() if c in members)
            slots: list[list[tuple[int, int, int, int, int, int]]] = []
            for r, c, a in nodes:
                for slot, (q, pos) in enumerate(zip(producers[c], positions[c], strict=True)):
                    exit_pixel = int(pos[a])
                    best = max(e for e in entries[q] if e <= exit_pixel)
                    slots.extend([] for _ in range(slot + 1 - len(slots)))
                    slots[slot].append((r, row[(q, best)], q, exit_pixel + 1, c, a))
            ranks, start = [], nodes[0][0]
            for rank in range(len(entries[members[0]])):
                size = sum(1 for c in members if rank < len(entries[c]))
                ranks.append((start, start + size))
                start += size
            first, count = nodes[0][0], len(nodes)
            levels.append(_Level(first=first, n=count,
                                 options=_Options.pack(slots[0], first, count),
                                 extra=tuple(_Options.pack(slot, first, count)
                                             for slot in slots[1:]),
                                 ranks=tuple(ranks)))
        read = {q for c in range(len(layers)) for q in producers[c]}
        sinks = [c for c in range(len(layers)) if c not in read]
        return cls(
            pixels=np.asarray(pixels, dtype=np.int64), entries=tuple(entries),
            n_rows=len(row), n_sources=sum(len(entries[c]) for c in members_of[0]),
            levels=tuple(levels),
            sink_rows=np.asarray([row[(c, entries[c][-1])] for c in sinks], dtype=np.int64),
            sink_layers=np.asarray(sinks, dtype=np.int64))

    def latency(self, per_pixel: FloatArray, first_extra: FloatArray | None = None
                ) -> FloatArray:
        """The pipelined latency per design, ``[n]`` (s).

        Args:
            per_pixel: ``[n, n_layers]`` each layer's time per output pixel in the pipeline
                (s; a fully connected layer's whole time): the pixel rate of the layer.
            first_extra: ``[n, n_layers]`` what a pixel takes beyond that rate from its
                inputs (s), or ``None`` (0): a layer of ``r`` weight copies emits a pixel per
                ``per_pixel`` but each pixel takes one copy's time, ``per_pixel +
                first_extra``, so ``F(p) = max(F(p - 1) + s, max_q F_q(pos(p)) + s + x)``
                and a path through the layer over pixels ``a..b`` is worth
                ``(b - a + 1) s + x``.

        Returns:
            The longest path through the (layer, pixel) graph over the candidates.

        """
        n = per_pixel.shape[0]
        latency: FloatArray = np.empty(n)
        # designs in chunks whose value array (float32) stays under CHUNK_BYTES: a large
        # fresh array costs its page faults on every call
        step = max(1, CHUNK_BYTES // (4 * self.n_rows))
        for start in range(0, n, step):
            latency[start:start + step] = self._latency(
                per_pixel[start:start + step],
                None if first_extra is None else first_extra[start:start + step])
        return latency

    def _latency(self, per_pixel: FloatArray, first_extra: FloatArray | None = None
                 ) -> FloatArray:
        """:meth:`latency` of one chunk of designs.

        float32 halves the memory traffic; its 1e-7 relative rounding is far below the
        model's error, and each design's figure is the same whatever the batch.
        """
        t = np.ascontiguousarray(per_pixel.T, dtype=np.float32)  # layers as rows
        x = None if first_extra is None else np.ascontiguousarray(first_extra.T,
                                                                  dtype=np.float32)
        value = np.empty((self.n_rows, t.shape[1]), dtype=np.float32)
        value[:self.n_sources] = 0.0
        maximum = np.maximum
        for level, prefix in zip(self.levels, self._prefixes, strict=True):
            block = level.options.values(value, t, out=value[level.first:level.first + level.n],
                                         first=x)
            for extra in level.extra:
                if extra.whole_level:  # every node of the level has this producer slot
                    maximum(block, extra.values(value, t, first=x), out=block)
                else:
                    value[extra.rows] = maximum(value[extra.rows],
                                                extra.values(value, t, first=x))
            for rows, previous in prefix:
                maximum(value[rows], value[previous], out=value[rows])
        ends = value[self.sink_rows] + t[self.sink_layers] * \
            self.pixels[self.sink_layers][:, None].astype(np.float32)
        if x is not None:
            ends += x[self.sink_layers]
        latency: FloatArray = ends.max(axis=0).astype(np.float64)
        return latency

    def __post_init__(self) -> None:
        """Keep each level's prefix slices (the programme's inner loop reads them)."""
        object.__setattr__(self, "_prefixes", [level.prefix for level in self.levels])


def _candidates(layers: tuple[Layer, ...], producers: list[list[int]],
                positions: list[list[IntArray]]) -> list[tuple[int, ...]]:
    """Candidate entry pixels of every layer (ascending, 0 first).

    The first pixel; the drain (the first pixel that waits for a producer's last) and the
    start of its row (where ``pos`` jumps by a producer row); then, nearest first, up to
    ``MAX_CANDIDATES`` in all: the fill cones (the pixel of each layer up to ``CONE_DEPTH``
    upstream that a layer's first pixel waits for, through its chain of windows) and the first
    pixel that waits for one of a producer's ``FORWARD_FROM`` latest candidates (a path
    crossing the producer at once; chains of them carry a late slow layer's drain).
    """
    cone: list[dict[int, int]] = [{} for _ in layers]  # pixel -> depth of its nearest cone
    for m in range(len(layers)):
        front = {(m, 0)}
        for depth in range(1, CONE_DEPTH + 1):
            front = {(q, int(pos[x])) for c, x in front
                     for q, pos in zip(producers[c], positions[c], strict=True)}
            for q, x in front:
                cone[q][x] = min(cone[q].get(x, depth), depth)
    entries: list[tuple[int, ...]] = []
    for c, layer in enumerate(layers):
        if layer.kind in WHOLE_MAP_KINDS or not producers[c]:
            entries.append((0,))
            continue
        nearest = dict(cone[c])  # candidate -> rank (lower first)
        drains = set()
        for q, pos in zip(producers[c], positions[c], strict=True):
            # a pixel also waits for what its predecessors waited for (clamped rows repeat)
            waits = np.maximum.accumulate(pos)
            drains.add(int(np.searchsorted(waits, waits[-1])))
            latest = entries[q][-FORWARD_FROM:]
            for rank, entry in enumerate(reversed(latest), start=1):
                if 0 < entry <= waits[-1]:
                    a = int(np.searchsorted(waits, entry))
                    nearest[a] = min(nearest.get(a, rank), rank)
        width = max(layer.out_hw[1], 1)
        kept = (drains | {a - a % width for a in drains}) - {0}
        for a in sorted(set(nearest) - kept - {0}, key=lambda a: (nearest[a], -a)):
            if len(kept) + 1 >= MAX_CANDIDATES:
                break
            kept.add(a)
        entries.append((0, *sorted(kept)))
    return entries
