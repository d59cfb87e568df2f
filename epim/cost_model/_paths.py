"""The layer-by-layer latency of a network with branches: its critical path, in closed form.

MNSIM 2.0's layer-by-layer mode (``calculate_model_latency_nopipe``) starts each layer when
the layer it reads has finished, so the branches of a residual block run side by side, and an
element-wise add streams: it sums each pixel as soon as both inputs have it, finishing one add
after its inputs unless it is slower than them (docs/cost_model.md section 4). The network's
latency is then the longest path through the layer graph. A concat has no entry in MNSIM's
latency model (its ``interface.py`` makes it a graph node; ``Model_latency`` times none): here it
costs nothing and waits for all its producers, so it only joins their paths.

To keep that a fixed sequence of array operations (no loop over layers at evaluation time),
the graph is cut into *segments* once per network: a layer that no edge jumps over is a
segment of its own, and the layers between two such cuts form one segment whose source-to-sink
paths are listed (two per residual block). The latency (the sum of :meth:`CriticalPaths.shares`)
is then
``sum over segments of max over the segment's paths of the path's summed latency``, one matrix
product and one segment-wise maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from epim.workloads import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Paths listed per segment at most; a segment with more (not a series-parallel block) is
#: taken as running its layers in turn (the sum: an upper bound of its critical path).
MAX_PATHS_PER_SEGMENT = 1024


@dataclass(frozen=True)
class CriticalPaths:
    """Paths of the layer graph, grouped by segment.

    Attributes:
        membership: ``[n_layers, n_paths]``, 1 where the layer lies on the path.
        segment_starts: First path of each segment (paths are grouped by segment).
        streamed: ``[n_layers]`` whether the layer is an element-wise add that streams.
        stream_source: ``[n_layers]`` the layer whose pixels a streaming add follows (the one
            before it in network order, looking through concats to their last producer).

    """

    membership: FloatArray
    segment_starts: IntArray
    streamed: npt.NDArray[np.bool_]
    stream_source: IntArray

    @classmethod
    def from_network(cls, network: Network) -> CriticalPaths:
        """Segments and their paths, from ``Layer.inputs`` (network order is topological)."""
        layers = network.layers
        n = len(layers)
        index = {layer.name: i for i, layer in enumerate(layers)}
        edges = [(index[name], i) for i, layer in enumerate(layers) for name in layer.inputs
                 if name in index]
        jumped = np.zeros(n + 1, dtype=np.int64)  # difference array: layers strictly inside
        for j, k in edges:
            if k - j > 1:
                jumped[j + 1] += 1
                jumped[k] -= 1
        for k, layer in enumerate(layers):  # the network input feeds branches side by side
            if k > 0 and "input" in layer.inputs:
                jumped[0] += 1
                jumped[k] -= 1
        cut = np.cumsum(jumped[:n]) == 0
        consumers: list[list[int]] = [[] for _ in layers]
        for j, k in edges:
            consumers[j].append(k)
        paths: list[list[int]] = []
        starts: list[int] = []
        i = 0
        while i < n:
            if cut[i]:
                starts.append(len(paths))
                paths.append([i])
                i += 1
                continue
            end = i
            while end < n and not cut[end]:
                end += 1
            starts.append(len(paths))
            paths.extend(_segment_paths(i, end, edges, consumers))
            i = end
        membership = np.zeros((n, len(paths)))
        for p, path in enumerate(paths):
            membership[path, p] = 1.0
        streamed = np.asarray([layer.kind == "add" for layer in layers], dtype=bool)
        return cls(membership=membership, segment_starts=np.asarray(starts, dtype=np.int64),
                   streamed=streamed, stream_source=_stream_sources(network, index))

    def shares(self, layer_latency: FloatArray, pixels: IntArray) -> FloatArray:
        """Each layer's share of the layer-by-layer latency, ``[n, L]`` (s).

        Its effective time where it lies on its segment's longest path (the first on a tie),
        else 0. Their sum over layers is the network's layer-by-layer latency: over
        segments, the longest path of each.
        """
        effective = self._effective(layer_latency, pixels)
        path_latency = effective @ self.membership
        longest = np.maximum.reduceat(path_latency, self.segment_starts, axis=1)
        sizes = np.diff(np.append(self.segment_starts, path_latency.shape[1]))
        is_longest = path_latency >= np.repeat(longest, sizes, axis=1)
        # the first longest path of each segment: the first longest one counted in it
        counted = np.cumsum(is_longest, axis=1)
        before_segment: IntArray = (counted[:, self.segment_starts]
                                    - is_longest[:, self.segment_starts])
        chosen = is_longest & (counted - np.repeat(before_segment, sizes, axis=1) == 1)
        on_path = (chosen.astype(np.float64) @ self.membership.T) > 0
        shares: FloatArray = np.where(on_path, effective, 0.0)
        return shares

    def _effective(self, layer_latency: FloatArray, pixels: IntArray) -> FloatArray:
        """Busy times with every streaming add's cost after its source.

        A streaming add costs ``a + max(0, (N - 1) (a - p))`` for ``N`` pixels of ``a`` each
        after a source of ``p`` per pixel: one pixel if it keeps up, else what it lags.
        """
        per_pixel = layer_latency / pixels
        add = per_pixel + np.maximum(0.0, (pixels - 1) * (
            per_pixel - per_pixel[:, self.stream_source]))
        effective: FloatArray = np.where(self.streamed, add, layer_latency)
        return effective


def _stream_sources(network: Network, index: dict[str, int]) -> IntArray:
    """The layer whose pixels each layer would stream after: the one before it in network order.

    A concat costs nothing and finishes a pixel when its producers do, so an add right after a
    concat follows the concat's last producer (in network order) instead.
    """
    layers = network.layers
    sources = []
    for i in range(len(layers)):
        source = max(i - 1, 0)
        while layers[source].kind == "concat":
            producers = [index[name] for name in layers[source].inputs if name in index]
            if not producers:  # a concat of the network input alone
                break
            source = max(producers)
        sources.append(source)
    return np.asarray(sources, dtype=np.int64)


def _segment_paths(first: int, end: int, edges: list[tuple[int, int]],
                   consumers: list[list[int]]) -> list[list[int]]:
    """Source-to-sink paths of the layers ``first..end-1`` (or one path of all of them)."""
    inside = range(first, end)
    has_inner_input = {k for j, k in edges if first <= j < end and first <= k < end}
    sources = [i for i in inside if i not in has_inner_input]
    paths: list[list[int]] = []
    stack = [[s] for s in reversed(sources)]
    while stack:
        path = stack.pop()
        nexts = [k for k in consumers[path[-1]] if first <= k < end]
        if not nexts:
            paths.append(path)
            if len(paths) > MAX_PATHS_PER_SEGMENT:
                return [list(inside)]
            continue
        stack.extend([*path, k] for k in reversed(nexts))
    return paths
