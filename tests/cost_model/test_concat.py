"""Concat layers in the cost model: free re-indexing, joined paths, the batch contract."""

from pathlib import Path

import numpy as np
import pytest

from epim.cost_model import CostModel, load_hardware
from epim.cost_model._paths import CriticalPaths
from epim.cost_model._pipeline import PipelineSchedule, dependency_pixels
from epim.cost_model._placement import ROLE_NONE, PlacementGraph
from epim.space import DesignBatch
from epim.workloads import load_network_file, network_from_dict

from .conftest import random_batch
from .test_pipeline import random_times, simulate
from .test_placement import longest_path

ROOT = Path(__file__).resolve().parents[2]
NET = load_network_file(ROOT / "examples/networks/mini-inception.yaml")
CONCATS = [i for i, layer in enumerate(NET.layers) if layer.kind == "concat"]


@pytest.mark.parametrize("preset", ["mnsim", "isaac"])
def test_batch_equals_per_design_loop(preset: str) -> None:
    model = CostModel(network=NET, hardware=load_hardware(preset))
    batch = random_batch(NET, 8, seed=5)
    together = model.evaluate(batch)
    for i in range(len(batch)):
        alone = model.evaluate(DesignBatch.from_designs(NET, [batch.design(i)]))
        np.testing.assert_array_equal(together.layer_crossbars[i], alone.layer_crossbars[0])
        np.testing.assert_array_equal(together.layer_tiles[i], alone.layer_tiles[0])
        np.testing.assert_allclose(together.layer_latency_s[i], alone.layer_latency_s[0],
                                   rtol=1e-12)
        np.testing.assert_allclose(together.layer_energy_j[i], alone.layer_energy_j[0],
                                   rtol=1e-12)
        for mode, values in together.latency_s_by_mode.items():
            assert values[i] == pytest.approx(alone.latency_s_by_mode[mode][0], rel=1e-12)


@pytest.mark.parametrize("preset", ["mnsim", "isaac"])
def test_a_concat_is_free_and_the_totals_positive(preset: str) -> None:
    costs = CostModel(network=NET, hardware=load_hardware(preset)).evaluate(
        random_batch(NET, 20, seed=2))
    for values in (costs.layer_crossbars, costs.layer_tiles, costs.layer_latency_s,
                   costs.layer_pipelined_latency_s, costs.layer_energy_j,
                   costs.layer_merge_hops, costs.layer_transfer_hops):
        assert (values[:, CONCATS] == 0).all()
    others = [i for i in range(len(NET)) if i not in CONCATS]
    assert (costs.layer_latency_s[:, others] > 0).all()
    for values in (costs.energy_j, costs.area_m2, *costs.latency_s_by_mode.values()):
        assert np.isfinite(values).all() and (values > 0).all()
    assert (costs.latency_s("throughput") <= costs.latency_s("pipelined") * (1 + 1e-12)).all()
    assert (costs.latency_s("pipelined")
            <= costs.latency_s("layer_by_layer") * (1 + 1e-12)).all()


def test_layer_by_layer_is_the_longest_branch() -> None:
    paths = CriticalPaths.from_network(NET)
    rng = np.random.default_rng(4)
    latency = rng.uniform(1e-6, 1e-3, (6, len(NET)))
    latency[:, CONCATS] = 0.0
    pixels = np.asarray([max(layer.output_pixels, 1) for layer in NET.layers])
    got = paths.shares(latency, pixels).sum(axis=1)
    for row in range(latency.shape[0]):
        assert got[row] == pytest.approx(longest_path(list(NET.layers), latency[row], pixels),
                                         rel=1e-12)
    # the Inception block's four branches run side by side: less than their sum
    assert (got < latency.sum(axis=1)).all()


def test_an_add_right_after_a_concat_streams_after_the_concat_producers() -> None:
    net = network_from_dict({"name": "n", "input": [4, 4, 4], "layers": [
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1,
         "from": "input"},
        {"name": "c", "type": "conv", "out_channels": 8, "kernel_size": 1, "from": "input"},
        {"name": "cat", "type": "concat", "from": ["a", "b"]},
        {"name": "sum", "type": "add", "from": ["cat", "c"]}]})
    paths = CriticalPaths.from_network(net)
    assert paths.stream_source.tolist()[-1] == 1  # b, the concat's last producer
    pixels = np.full(5, 16)
    total = paths.shares(np.array([[1.0, 2.0, 0.5, 0.0, 0.16]]), pixels).sum()
    assert total == pytest.approx(2.0 + 0.01)  # the add keeps up with b: one pixel after it
    # a, b and c all read the network input: they run side by side
    assert paths.shares(np.array([[3.0, 2.0, 0.5, 0.0, 0.16]]), pixels).sum() == \
        pytest.approx(3.0 + 0.01)


def test_pipelined_schedule_waits_for_every_producer() -> None:
    cat = NET.layer("inc.cat")
    assert dependency_pixels(cat, 256).tolist() == list(range(256))
    schedule = PipelineSchedule.from_network(NET)
    times = random_times(NET, 6, seed=3)
    times[:, CONCATS] = 0.0
    ours = schedule.latency(times)
    exact = np.array([simulate(NET, row) for row in times])
    assert (ours <= exact * (1 + 1e-6)).all()  # a lower bound (float32 rounding)
    assert (ours >= exact * 0.94).all()  # as close as on the built-in networks


def test_placement_looks_through_a_concat() -> None:
    index = {layer.name: i for i, layer in enumerate(NET.layers)}
    for pooling_tiles in (True, False):
        graph = PlacementGraph.from_network(NET, pooling_tiles=pooling_tiles)
        assert all(graph.role[i] == ROLE_NONE for i in CONCATS)
        # each branch of the Inception block sends to the convs that read the concat
        for branch in ("inc.b1", "inc.b2.conv", "inc.b3.conv", "inc.b4.proj"):
            targets = [t for t in graph.targets[index[branch]] if t < len(NET)]
            assert targets == [index["dense.conv1"], index["dense.conv2"]]  # dense block
        # dense.conv1's output reaches dense.conv2 through dense.cat1
        assert [t for t in graph.targets[index["dense.conv1"]] if t < len(NET)] == [
            index["dense.conv2"]]
