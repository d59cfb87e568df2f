"""Each stage of the cost model alone: mapping, activations, latency, energy."""

import numpy as np
import pytest

from epim.cost_model import CostModel, load_hardware
from epim.cost_model._placement import ChipGrid, layer_distances
from epim.cost_model._stages import (
    DesignArrays,
    activation_latency,
    count_actions,
    count_activations,
    energy_by_component,
    epitome_overheads,
    map_layers,
)
from epim.cost_model._static import NetworkArrays
from epim.space import DesignBatch, design_from_dict
from epim.workloads import get_network, network_from_dict

# One 3x3 conv 64 -> 128 on a 16x16 map, then a classifier: small enough to count by hand.
NETWORK = network_from_dict({
    "name": "two-layers", "input": [64, 16, 16],
    "layers": [
        {"name": "conv", "type": "conv", "out_channels": 128, "kernel_size": 3, "padding": 1},
        {"name": "pool", "type": "globalpool"},
        {"name": "fc", "type": "linear", "out_features": 10},
    ]})


def stages(design: dict, preset: str = "mnsim") -> tuple:
    batch = DesignBatch.from_designs(NETWORK, [design_from_dict(design, NETWORK)])
    c = load_hardware(preset)
    g = NetworkArrays.from_network(NETWORK)
    d = DesignArrays.from_batch(batch)
    m = map_layers(c, g, d)
    return c, g, d, m, batch


def test_mapping_counts_by_hand() -> None:
    # dense at 9 bits on 256x256 with a +/- pair: 8 magnitude slices, floor(256/9) = 28
    # channels per crossbar -> ceil(64/28) = 3 row blocks, 8 * ceil(128/256) = 8 column blocks
    _, _, _, m, _ = stages({"network": "two-layers", "default": {"weight_bits": 9}})
    assert m.slices[0, 0] == 8
    assert m.row_blocks[0, 0] == 3
    assert m.units[0, 0] == 24 and m.crossbars[0, 0] == 48 and m.tiles[0, 0] == 6
    assert m.rows_used[0, 0] == 28 * 9 and m.cols_used[0, 0] == 128
    # an epitome of 28 in, 64 out at 3 bits: one row block, 2 slices
    _, _, _, m, _ = stages({"network": "two-layers", "layers": {
        "conv": {"epitome_in": 28, "epitome_out": 64, "weight_bits": 3}}})
    assert m.units[0, 0] == 2 and m.crossbars[0, 0] == 4 and m.tiles[0, 0] == 1


def test_line_buffer_writes_by_hand() -> None:
    # the 3x3, pad 1 conv on 16x16 with 28 channels per PE at 9 bits: 252 bits per input
    # column; 64-bit accesses. Layer by layer (MNSIM's nopipe): the first pixel writes a whole
    # input row and two columns, the 15 other row starts 2 columns, the rest 1 column each.
    # Pipelined (MNSIM's mode 1): the first pixel a 2x2 corner, the row starts 2 columns, the
    # rest of the first row 3 columns (a column of the kernel height), the others 1 column.
    c, g, d, m, _ = stages({"network": "two-layers", "default": {"weight_bits": 9,
                                                                 "act_bits": 9}})
    t = activation_latency(c, g, d, m, np.zeros((1, 2)), np.zeros((1, 2)))
    column = -(-252 // 64)  # 4 accesses per input column
    nopipe = (-(-(16 + 2) * 252 // 64) + 15 * -(-2 * 252 // 64) + 16 * 15 * column) / 256
    pipe = (-(-4 * 252 // 64) + 15 * -(-2 * 252 // 64) + 15 * -(-3 * 252 // 64)
            + 15 * 15 * column) / 256
    assert t.line_writes[0, 0] == pytest.approx(nopipe, rel=1e-12)
    assert t.pipelined_line_writes[0, 0] == pytest.approx(pipe, rel=1e-12)
    extra = t.pipelined_extra_s(c.buffer_access_s)
    assert extra[0, 0] == pytest.approx((pipe - nopipe) * c.buffer_access_s, rel=1e-12)
    assert extra[0, 1] == 0.0  # a fully connected layer reads its input once either way


@pytest.mark.parametrize(("conv", "per_pixel"), [
    ({"epitome_in": 16, "epitome_out": 32}, 1),                         # plain wrapping
    ({"epitome_in": 16, "epitome_out": 32, "channel_offsets": 1}, 4),   # 4 output blocks
    ({"epitome_out": 64, "epitome_h": 4, "epitome_w": 4}, 2),           # 4 windows, 2 blocks
    ({"epitome_out": 16, "epitome_h": 4, "epitome_w": 4}, 4),           # 4 windows, 8 blocks
])
def test_activations_per_pixel(conv: dict, per_pixel: int) -> None:
    _, g, d, m, _ = stages({"network": "two-layers", "layers": {"conv": conv}})
    activations = count_activations(g, d, m)
    assert activations.per_pixel[0, 0] == per_pixel
    assert activations.total[0, 0] == per_pixel * 16 * 16


def test_energy_is_counts_times_action_energies() -> None:
    c, g, d, m, _ = stages({"network": "two-layers", "layers": {
        "conv": {"epitome_in": 16, "epitome_out": 32, "weight_bits": 4}}})
    a = count_activations(g, d, m)
    no_hops = np.zeros_like(m.tiles)
    t = activation_latency(c, g, d, m, no_hops, no_hops)
    e = epitome_overheads(c, g, d, m, a)
    counts = count_actions(c, g, d, m, a, t, e)
    energy = energy_by_component(c, counts)
    assert energy["dac"][0, 0] == pytest.approx(counts.dac_conversions[0, 0] * c.dac_energy_j)
    assert energy["adc"][0, 0] == pytest.approx(counts.adc_conversions[0, 0] * c.adc_energy_j)
    # wrapping 64 inputs onto 16 pre-sums 48 channels of every input pixel
    assert counts.presum_adds[0, 0] == 48 * 16 * 16
    assert t.total_s[0, 0] > t.buffer_s[0, 0] > 0


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_stages_compose_to_the_model(name: str) -> None:
    network = get_network(name)
    hardware = load_hardware("mnsim")
    rng = np.random.default_rng(0)
    batch = DesignBatch.dense(network, 3, weight_bits=8, act_bits=8)
    arrays = {k: v.copy() for k, v in batch.arrays.items()}
    arrays["weight_bits"] = rng.integers(2, 9, arrays["weight_bits"].shape)
    batch = DesignBatch(network, arrays)
    model = CostModel(network=network, hardware=hardware)
    costs = model.evaluate(batch)
    c, g, d = hardware, NetworkArrays.from_network(network), DesignArrays.from_batch(
        batch)
    m = map_layers(c, g, d)
    a = count_activations(g, d, m)
    grid = ChipGrid.build(c.tile_placement, c.chip_tile_rows, c.chip_tile_cols,
                          int(costs.tiles.max()))
    hops = layer_distances(grid, model.placement, costs.layer_tiles.astype(np.float64))
    compute = g.compute_positions
    t = activation_latency(c, g, d, m, hops.merge_hops[:, compute],
                           hops.transfer_hops[:, compute])
    e = epitome_overheads(c, g, d, m, a)
    energy = energy_by_component(c, count_actions(c, g, d, m, a, t, e))
    compute = g.compute_positions
    np.testing.assert_array_equal(costs.layer_crossbars[:, compute], m.crossbars)
    for component, values in energy.items():
        np.testing.assert_allclose(costs.layer_energy_breakdown_j[component][:, compute],
                                   values, rtol=1e-12, err_msg=component)
    np.testing.assert_allclose(costs.layer_latency_s[:, compute],
                               a.total * t.total_s + g.pixels * e.latency_per_pixel_s,
                               rtol=1e-12)
