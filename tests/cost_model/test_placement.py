"""Tile placement orders, merge and transfer hops, and the layer-by-layer critical path.

The vectorized distances are checked against a plain reference written from the rules in
docs/cost_model.md section 3 (loops over tiles and candidate aggregation points); MNSIM's own
hop counts are pinned per run in test_simconfig.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from epim.cost_model import CostModel, load_hardware
from epim.cost_model._paths import CriticalPaths
from epim.cost_model._placement import (
    PLACEMENT_ORDERS,
    ROLE_ADD,
    ROLE_LAST,
    ROLE_NONE,
    ROLE_TO_PORT,
    ChipGrid,
    PlacementGraph,
    layer_distances,
    placement_positions,
)
from epim.space import DesignBatch
from epim.workloads import get_network, network_from_dict


def grid_of(order: str, rows: int, cols: int) -> np.ndarray:
    r, c = placement_positions(order, rows, cols)
    grid = -np.ones((rows, cols), dtype=int)
    grid[r, c] = np.arange(rows * cols)
    return grid


def test_orders_by_hand() -> None:
    assert grid_of("row_major", 2, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert grid_of("snake", 3, 3).tolist() == [[0, 1, 2], [5, 4, 3], [6, 7, 8]]
    assert grid_of("spiral", 3, 3).tolist() == [[0, 1, 8], [3, 2, 7], [4, 5, 6]]
    assert grid_of("zigzag", 3, 3).tolist() == [[0, 1, 5], [2, 4, 6], [3, 7, 8]]


@pytest.mark.parametrize("order", PLACEMENT_ORDERS)
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (4, 4), (5, 7), (8, 3)])
def test_every_order_numbers_every_tile_once(order: str, rows: int, cols: int) -> None:
    grid = grid_of(order, rows, cols)
    assert sorted(grid.ravel().tolist()) == list(range(rows * cols))
    if order in ("snake", "spiral") and rows == cols:  # consecutive tiles are neighbours
        r, c = placement_positions(order, rows, cols)
        assert (np.abs(np.diff(r)) + np.abs(np.diff(c)) == 1).all()


def reference_distances(order: str, rows: int, cols: int, graph: PlacementGraph,
                        tiles: list[int]) -> tuple[list[float], list[float]]:
    """The rules of docs/cost_model.md section 3, one layer and one candidate at a time."""
    r, c = placement_positions(order, rows * 8, cols)  # room for large designs
    starts = np.cumsum([0, *tiles])
    own = [[(int(r[k]), int(c[k])) for k in range(starts[i], starts[i + 1])]
           for i in range(len(tiles))]
    port = (rows / 2, 0.0)

    def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
        return abs(a[0] - b[0]) + abs(a[1] - b[1])

    merge, transfer = [], []
    for i, role in enumerate(graph.role):
        targets = [t for t in graph.targets[i] if t < len(tiles)]
        if role == ROLE_ADD:
            firsts = [min(own[t], key=lambda p: p[0] * cols + p[1]) for t in targets if own[t]]
            merge.append(0.0)
            transfer.append(max([dist(port, f) for f in firsts], default=0.0))
            continue
        if role == ROLE_NONE or not own[i]:
            merge.append(0.0)
            transfer.append(0.0)
            continue
        sink = [port] if role == ROLE_TO_PORT else [p for t in targets for p in own[t]]
        best = None
        for a in sorted(own[i], key=lambda p: p[0] * cols + p[1]):  # row-major: first wins ties
            m = max(dist(a, p) for p in own[i])
            t = 0.0 if role == ROLE_LAST else max([dist(a, p) for p in sink], default=0.0)
            if best is None or m + t < best[0] + best[1]:
                best = (m, t)
        assert best is not None
        merge.append(float(best[0]))
        transfer.append(float(best[1]))
    return merge, transfer


@pytest.mark.parametrize("order", PLACEMENT_ORDERS)
@pytest.mark.parametrize("network", ["resnet20", "mobilenet_v2"])
def test_vectorized_hops_equal_the_reference(order: str, network: str) -> None:
    net = get_network(network)
    rows, cols = 7, 9  # odd rows: the port sits between two rows
    graph = PlacementGraph.from_network(net, pooling_tiles=True)
    tiled = [layer.is_compute or layer.kind != "add" for layer in net.layers]
    rng = np.random.default_rng(len(order) + len(network))
    counts = np.where(tiled, rng.integers(1, 9, (6, len(net.layers))), 0)
    counts[0, :] = np.where(tiled, 1, 0)  # every layer on one tile
    grid = ChipGrid.build(order, rows, cols, int(counts.sum(axis=1).max()))
    hops = layer_distances(grid, graph, counts.astype(np.float64))
    for row in range(counts.shape[0]):
        merge, transfer = reference_distances(order, rows, cols, graph, counts[row].tolist())
        assert hops.merge_hops[row].tolist() == merge
        assert hops.transfer_hops[row].tolist() == transfer


def test_roles_follow_the_graph() -> None:
    net = get_network("resnet20")
    graph = PlacementGraph.from_network(net, pooling_tiles=True)
    roles = dict(zip([layer.name for layer in net.layers], graph.role.tolist(), strict=True))
    adds = [layer.name for layer in net.layers if layer.kind == "add"]
    assert adds and all(roles[name] == ROLE_ADD for name in adds)
    assert roles[net.layers[-1].name] == ROLE_LAST
    # the second convolution of a block feeds only its add: it sends to the port
    feeds_add = [layer.inputs[0] for layer in net.layers if layer.kind == "add"]
    assert any(roles[name] == ROLE_TO_PORT for name in feeds_add)
    # without pooling tiles a pooling layer is looked through
    no_pool = PlacementGraph.from_network(get_network("vgg8"), pooling_tiles=False)
    kinds = [layer.kind for layer in get_network("vgg8").layers]
    assert all(role == ROLE_NONE for role, kind in zip(no_pool.role, kinds, strict=True)
               if kind == "pool")


def test_a_design_larger_than_the_chip_is_placed_on_a_taller_chip() -> None:
    hardware = load_hardware("mnsim", {"chip_tile_rows": 4, "chip_tile_cols": 4})
    net = get_network("vgg8")
    costs = CostModel(network=net, hardware=hardware).evaluate(
        DesignBatch.dense(net, 1, weight_bits=9, act_bits=9))
    assert int(costs.tiles[0]) > 16
    assert np.isfinite(costs.latency_s("layer_by_layer")).all()
    grid = ChipGrid.build("spiral", 4, 4, int(costs.tiles[0]))
    assert grid.capacity >= int(costs.tiles[0]) and grid.cols == 4 and grid.rows == 4


def test_placement_changes_latency_not_crossbars() -> None:
    net = get_network("vgg8")
    batch = DesignBatch.dense(net, 1, weight_bits=9, act_bits=9)
    results = {order: CostModel(network=net, hardware=load_hardware(
        "mnsim", {"tile_placement": order})).evaluate(batch) for order in PLACEMENT_ORDERS}
    crossbars = {int(r.crossbars[0]) for r in results.values()}
    latencies = {round(float(r.latency_s()[0]), 12) for r in results.values()}
    assert len(crossbars) == 1 and len(latencies) == len(PLACEMENT_ORDERS)


def longest_path(net_layers: list, latency: np.ndarray, pixels: np.ndarray) -> float:
    """Plain longest path, adds streaming after the layer before them (section 4)."""
    index = {layer.name: i for i, layer in enumerate(net_layers)}
    finish = np.zeros(len(net_layers))
    for i, layer in enumerate(net_layers):
        start = max([finish[index[n]] for n in layer.inputs if n in index], default=0.0)
        if layer.kind == "add":
            a, p = latency[i] / pixels[i], latency[i - 1] / pixels[i - 1]
            finish[i] = start + a + max(0.0, (pixels[i] - 1) * (a - p))
        else:
            finish[i] = start + latency[i]
    return float(finish[-1])


@pytest.mark.parametrize("network", ["resnet18", "resnet50", "mobilenet_v2", "vgg8"])
def test_layer_by_layer_is_the_critical_path(network: str) -> None:
    net = get_network(network)
    paths = CriticalPaths.from_network(net)
    rng = np.random.default_rng(1)
    latency = rng.uniform(1e-6, 1e-3, (4, len(net.layers)))
    pixels = np.asarray([max(layer.output_pixels, 1) for layer in net.layers])
    shares = paths.shares(latency, pixels)
    got = shares.sum(axis=1)
    for row in range(4):
        assert got[row] == pytest.approx(longest_path(net.layers, latency[row], pixels),
                                         rel=1e-12)
    assert ((shares == 0) | np.isclose(shares, latency) | np.asarray(
        [layer.kind == "add" for layer in net.layers])).all()
    if network == "vgg8":  # a chain: the sum
        np.testing.assert_allclose(got, latency.sum(axis=1), rtol=1e-12)
    else:
        assert (got < latency.sum(axis=1)).all()


def test_a_slow_add_lags_its_input() -> None:
    net = network_from_dict({"name": "block", "input": [8, 4, 4], "layers": [
        {"name": "a", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "sum", "type": "add", "from": ["a", "b"]}]})
    paths = CriticalPaths.from_network(net)
    pixels = np.array([16, 16, 16])
    fast = paths.shares(np.array([[1.0, 2.0, 0.16]]), pixels).sum()
    slow = paths.shares(np.array([[1.0, 2.0, 48.0]]), pixels).sum()
    assert fast == pytest.approx(1.0 + 2.0 + 0.01)  # one pixel of the add after b
    assert slow == pytest.approx(1.0 + 2.0 + 3.0 + 15 * (3.0 - 2.0 / 16))
