"""The cost model's contract: batch == loop, monotone crossbars, positive finite costs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epim.cost_model import ENERGY_COMPONENTS, CostModel, load_hardware
from epim.space import Design, DesignBatch
from epim.workloads import get_network

from .conftest import random_batch

CASES = [("resnet18", "mnsim"), ("mobilenet_v2", "mnsim"), ("resnet20", "isaac"),
         ("vgg8", "isaac")]


@pytest.mark.parametrize(("name", "preset"), CASES)
def test_batch_equals_per_design_loop(name: str, preset: str) -> None:
    net = get_network(name)
    model = CostModel(network=net, hardware=load_hardware(preset))
    batch = random_batch(net, 12, seed=3)
    together = model.evaluate(batch)
    for i in range(len(batch)):
        alone = model.evaluate(DesignBatch.from_designs(net, [batch.design(i)]))
        np.testing.assert_array_equal(together.layer_crossbars[i], alone.layer_crossbars[0])
        np.testing.assert_array_equal(together.layer_tiles[i], alone.layer_tiles[0])
        np.testing.assert_allclose(together.layer_latency_s[i], alone.layer_latency_s[0],
                                   rtol=1e-12)
        np.testing.assert_allclose(together.layer_energy_j[i], alone.layer_energy_j[0],
                                   rtol=1e-12)
        for mode, values in together.latency_s_by_mode.items():
            assert values[i] == pytest.approx(alone.latency_s_by_mode[mode][0], rel=1e-12)


@pytest.mark.parametrize(("name", "preset"), CASES)
def test_costs_positive_and_finite(name: str, preset: str) -> None:
    net = get_network(name)
    costs = CostModel(network=net, hardware=load_hardware(preset)).evaluate(
        random_batch(net, 50, seed=1))
    for values in (costs.energy_j, costs.area_m2, costs.crossbar_area_m2,
                   *costs.latency_s_by_mode.values()):
        assert np.all(np.isfinite(values)) and np.all(values > 0)
    assert np.all(costs.layer_energy_j >= 0) and np.all(costs.layer_latency_s > 0)
    total = sum(costs.energy_breakdown_j[c] for c in ENERGY_COMPONENTS)
    np.testing.assert_allclose(total, costs.energy_j, rtol=1e-12)
    assert np.all(costs.latency_s("throughput") <= costs.latency_s("pipelined") * (1 + 1e-12))
    assert np.all(costs.latency_s("pipelined") <= costs.latency_s("layer_by_layer") * (1 + 1e-12))


def test_epitome_reduces_crossbars_and_charges_overheads() -> None:
    net = get_network("resnet18")
    model = CostModel(network=net, hardware=load_hardware("mnsim"))
    dense = Design.dense(net, 3, 8)
    name = "layer4.1.conv2"
    wrapped = dense.with_layer(name, epitome_in=128, epitome_out=128)
    costs = model.evaluate(DesignBatch.from_designs(net, [dense, wrapped]))
    j = [layer.name for layer in net.layers].index(name)
    assert costs.layer_crossbars[1, j] < costs.layer_crossbars[0, j]
    epitome = costs.layer_energy_breakdown_j["epitome"]
    assert epitome[0, j] == 0 and epitome[1, j] > 0
    assert costs.params[1] < costs.params[0]


def test_offsets_cost_activations() -> None:
    net = get_network("resnet18")
    model = CostModel(network=net, hardware=load_hardware("mnsim"))
    name = "layer3.0.conv2"
    base = Design.dense(net, 3, 8).with_layer(name, epitome_in=64, epitome_out=64)
    offsets = base.with_layer(name, channel_offsets=1)
    spatial = base.with_layer(name, epitome_h=4, epitome_w=4)
    costs = model.evaluate(DesignBatch.from_designs(net, [base, offsets, spatial]))
    j = [layer.name for layer in net.layers].index(name)
    assert costs.layer_latency_s[1, j] > costs.layer_latency_s[0, j]
    assert costs.layer_latency_s[2, j] > costs.layer_latency_s[0, j]
    assert costs.layer_crossbars[1, j] == costs.layer_crossbars[0, j]


def test_depthwise_mapped_per_group_beats_dense_mapping() -> None:
    """MNSIM maps a depthwise conv as a dense Cin x Cout matrix; we pack groups block-diagonally."""
    net = get_network("mobilenet_v2")
    costs = CostModel(network=net, hardware=load_hardware("mnsim")).evaluate(
        DesignBatch.dense(net, 1, 9, 9))
    j = [layer.name for layer in net.layers].index("features.17.conv.1.0")  # 960 ch depthwise
    layer = net.layers[j]
    channels_per_xbar = 256 // 9
    groups_per_block = channels_per_xbar
    per_group = 2 * 8 * -(-layer.groups // groups_per_block)
    mnsim_dense = 2 * 8 * -(-layer.in_channels // channels_per_xbar) * -(-layer.out_channels // 256)
    assert costs.layer_crossbars[0, j] == per_group < mnsim_dense


LAYER = st.sampled_from([layer.name for layer in get_network("resnet18").compute_layers])


@settings(max_examples=60, deadline=None)
@given(layer=LAYER, cin=st.floats(0.01, 1), cout=st.floats(0.01, 1), bits=st.integers(2, 15),
       grow=st.sampled_from(["epitome_in", "epitome_out", "weight_bits"]),
       preset=st.sampled_from(["mnsim", "isaac"]))
def test_larger_epitome_or_more_bits_never_fewer_crossbars(
        layer: str, cin: float, cout: float, bits: int, grow: str, preset: str) -> None:
    net = get_network("resnet18")
    model = CostModel(network=net, hardware=load_hardware(preset))
    target = net.layer(layer)
    cin_g = target.in_channels // target.groups
    small = Design.dense(net, bits, 8).with_layer(
        layer, epitome_in=max(1, int(cin * cin_g)),
        epitome_out=max(1, int(cout * target.out_channels)))
    choice = small.layers[layer]
    limit = {"epitome_in": cin_g, "epitome_out": target.out_channels, "weight_bits": 16}[grow]
    bigger = small.with_layer(layer, **{grow: min(limit, getattr(choice, grow) + 1 +
                                                 getattr(choice, grow) // 3)})
    costs = model.evaluate(DesignBatch.from_designs(net, [small, bigger]))
    assert costs.crossbars[1] >= costs.crossbars[0]
    assert costs.area_m2[1] >= costs.area_m2[0]
