"""The pipelined latency's closed form against MNSIM's pixel-by-pixel recurrence.

``simulate`` restates MNSIM 2.0's pipelined mode (``Model_latency.calculate_model_latency``)
one pixel at a time: output pixel ``p`` of layer ``c`` starts once the layer has finished
pixel ``p - 1`` and every producer has finished the pixel ``p`` waits for, and takes the
layer's time per pixel. The schedule is a longest path over candidate entry pixels, so it is
a lower bound of the recurrence (every path it measures is a real one) and, with the
candidates it keeps, close to it.
"""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from epim.cost_model import CostModel, load_hardware
from epim.cost_model._pipeline import PipelineSchedule, dependency_pixels
from epim.space import DesignBatch
from epim.workloads import Network, get_network, network_from_dict, resolve_network

GOLDEN = Path(__file__).parent / "golden" / "mnsim"


def simulate(network: Network, per_pixel: npt.NDArray[np.float64]) -> float:
    """The last finish of MNSIM's pixel pipeline, one pixel at a time (per layer a scan)."""
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    finish: list[npt.NDArray[np.float64]] = []
    for c, layer in enumerate(network.layers):
        pixels = max(layer.out_hw[0] * layer.out_hw[1], 1)
        producers = [index[name] for name in layer.inputs if name in index]
        ready = np.zeros(pixels)
        for q in producers:
            ready = np.maximum(ready, finish[q][dependency_pixels(layer, len(finish[q]))])
        # F(p) = max(F(p - 1), ready(p)) + t: a running maximum of ready(k) - k t
        steps = np.arange(pixels) * per_pixel[c]
        finish.append(np.maximum.accumulate(ready - steps) + steps + per_pixel[c])
    read = {index[name] for layer in network.layers for name in layer.inputs if name in index}
    return max(float(f[-1]) for c, f in enumerate(finish) if c not in read)


def test_dependency_pixels_follow_mnsim() -> None:
    net = network_from_dict({"name": "deps", "input": [4, 4, 4], "layers": [
        {"name": "conv", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "pool", "type": "pool", "kernel_size": 2, "stride": 2},
        {"name": "down", "type": "conv", "from": "conv", "out_channels": 4, "kernel_size": 1,
         "stride": 2},
        {"name": "add", "type": "add", "from": ["pool", "down"]},
        {"name": "fc", "type": "linear", "out_features": 2}]})
    conv, pool, down, add, fc = net.layers
    # 3x3, pad 1 on 4x4: the window's last pixel (min(2 + i, 4) - 1, min(2 + j, 4) - 1)
    assert dependency_pixels(conv, 16).tolist() == [5, 6, 7, 7, 9, 10, 11, 11,
                                                     13, 14, 15, 15, 13, 14, 15, 15]
    assert dependency_pixels(pool, 16).tolist() == [5, 7, 13, 15]  # 2x2 stride 2
    assert dependency_pixels(down, 16).tolist() == [0, 2, 8, 10]  # 1x1 stride 2: (2i, 2j)
    assert dependency_pixels(add, 4).tolist() == [0, 1, 2, 3]
    assert dependency_pixels(fc, 4).tolist() == [3]


def random_times(network: Network, n: int, seed: int) -> npt.NDArray[np.float64]:
    """Per-pixel times spread over two decades, as unbalanced designs have them (s)."""
    rng = np.random.default_rng(seed)
    return 10 ** rng.uniform(-7, -5, (n, len(network.layers)))


NETWORKS = ["vgg8", "resnet20", str(GOLDEN / "alexnet_cifar.yaml"),
            str(GOLDEN / "resnet18_mnsim.yaml")]


@pytest.mark.parametrize("name", NETWORKS, ids=lambda name: Path(name).stem)
def test_schedule_is_a_close_lower_bound_of_the_recurrence(name: str) -> None:
    network = resolve_network(name)
    schedule = PipelineSchedule.from_network(network)
    times = random_times(network, 12, seed=1)
    ours = schedule.latency(times)
    exact = np.array([simulate(network, row) for row in times])
    assert np.all(ours <= exact * (1 + 1e-6))  # float32 rounding
    assert np.all(ours >= exact * 0.94)  # measured: worst -5.4% (resnet20), 200 designs
    assert np.median(ours / exact) > 0.995


def test_mnsim_dense_designs_match_the_recurrence() -> None:
    # the cost model's pipelined figure is the recurrence on its pipelined busy times
    for name in ["alexnet_cifar", "resnet18_mnsim"]:
        network = resolve_network(str(GOLDEN / f"{name}.yaml"))
        model = CostModel(network=network, hardware=load_hardware("mnsim"))
        costs = model.evaluate(DesignBatch.dense(network, 1, weight_bits=9, act_bits=9))
        ours = costs.latency_s("pipelined")[0]
        assert costs.latency_s("throughput")[0] <= ours <= costs.latency_s("layer_by_layer")[0]
        pixels = model.schedule.pixels
        busy = costs.latency_s("throughput")[0]  # the busiest layer's pipelined time
        assert ours > busy
        per_pixel = costs.layer_pipelined_latency_s[0] / pixels
        assert ours == pytest.approx(simulate(network, per_pixel), rel=0.01)


def test_chain_of_whole_map_layers_is_a_sum() -> None:
    net = network_from_dict({"name": "mlp", "input": [32, 1, 1], "layers": [
        {"name": f"fc{i}", "type": "linear", "out_features": 16} for i in range(4)]})
    times = random_times(net, 3, seed=2)
    np.testing.assert_allclose(PipelineSchedule.from_network(net).latency(times),
                               times.sum(axis=1), rtol=1e-6)


def test_one_layer_takes_its_whole_map() -> None:
    net = get_network("vgg8")
    single = network_from_dict({"name": "one", "input": [3, 8, 8], "layers": [
        {"name": "conv", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}]})
    schedule = PipelineSchedule.from_network(single)
    assert schedule.latency(np.array([[2e-6]]))[0] == pytest.approx(64 * 2e-6, rel=1e-6)
    assert len(PipelineSchedule.from_network(net).entries) == len(net.layers)


def test_a_slow_layer_late_in_the_network_sets_the_latency() -> None:
    # one layer 100x slower than the rest: the pipeline is its map plus fill and drain
    network = resolve_network(str(GOLDEN / "resnet18_mnsim.yaml"))
    schedule = PipelineSchedule.from_network(network)
    times = np.full((1, len(network.layers)), 1e-7)
    slow = [layer.name for layer in network.layers].index("b5_conv2")
    times[0, slow] = 1e-5
    ours = schedule.latency(times)[0]
    assert ours >= schedule.pixels[slow] * 1e-5
    assert ours == pytest.approx(simulate(network, times[0]), rel=0.01)
