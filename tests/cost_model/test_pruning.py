"""Pruned layers in the cost model: crossbars of the compacted layer, counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from epim.cost_model import CostModel, load_hardware
from epim.space import Design, DesignBatch
from epim.workloads import Network, get_network, network_from_dict

#: a -> b -> c: ``a`` feeds ``b`` alone, so ``a`` may be channel-pruned (``b`` then loses
#: inputs); ``b`` feeds ``c`` alone too.
SMALL = {"name": "small", "input": [3, 8, 8], "layers": [
    {"name": "a", "type": "conv", "out_channels": 40, "kernel_size": 3, "padding": 1},
    {"name": "b", "type": "conv", "out_channels": 24, "kernel_size": 3, "padding": 1},
    {"name": "c", "type": "conv", "out_channels": 10, "kernel_size": 1},
]}


@pytest.fixture(scope="module")
def small() -> Network:
    return network_from_dict(SMALL)


def crossbars_of(model: CostModel, network: Network, design: Design) -> dict[str, int]:
    costs = model.evaluate(DesignBatch.from_designs(network, [design]))
    return {layer.name: int(costs.layer_crossbars[0, i])
            for i, layer in enumerate(network.layers)}


def test_isaac_crossbars_of_pruned_layers_match_a_hand_count(small: Network) -> None:
    # ISAAC's mapping with 32x32 crossbars: rows unrolled (Cin*k*k), the 8-bit weight's four
    # 2-bit slices side by side in the columns, one array per weight (no +/- pair)
    hardware = load_hardware("isaac").with_overrides({"xbar_size": 32}, source="test")
    assert (hardware.xbar_rows, hardware.xbar_cols, hardware.cell_bits, hardware.polarity,
            hardware.row_packing, hardware.slice_placement) == (32, 32, 2, 1, "unrolled",
                                                                 "columns")
    model = CostModel(network=small, hardware=hardware)
    dense = Design.dense(small, 8, 8)
    # b dense: 40*9 = 360 rows -> 12 row blocks; 24 outputs * 4 slices = 96 columns -> 3
    assert crossbars_of(model, small, dense)["b"] == 12 * 3
    # 100 rows kept in each column block, compacted: ceil(100/32) = 4 crossbars per block
    assert crossbars_of(model, small, dense.with_layer("b", prune_rows=100))["b"] == 4 * 3
    # 8 columns kept in each row block: 8 * 4 = 32 columns, one crossbar per row block
    assert crossbars_of(model, small, dense.with_layer("b", prune_cols=8))["b"] == 12 * 1
    # 20 of a's 40 filters: a has 27 rows (1 block) x 20*4 = 80 columns (3 blocks); b reads
    # 20 channels: 180 rows (6 blocks) x 3 column blocks
    counts = crossbars_of(model, small, dense.with_layer("a", prune_out=20))
    assert (counts["a"], counts["b"]) == (1 * 3, 6 * 3)
    # both: b's 180 rows left, 100 kept per column block -> 4 x 3; 500 asked keeps all 180
    both = dense.with_layer("a", prune_out=20)
    assert crossbars_of(model, small, both.with_layer("b", prune_rows=100))["b"] == 4 * 3
    assert crossbars_of(model, small, both.with_layer("b", prune_rows=360))["b"] == 6 * 3


def test_mnsim_compaction_ignores_kernel_packing(small: Network) -> None:
    # MNSIM: 256x256 pairs (+/-), whole 3x3 kernels per crossbar (28 channels = 252 rows),
    # each of the 8 magnitude bits of a 9-bit weight in its own crossbar
    hardware = load_hardware("mnsim").with_overrides({"xbar_size": 64}, source="test")
    model = CostModel(network=small, hardware=hardware)
    dense = Design.dense(small, 9, 9)
    # b: 7 channels (63 rows) per crossbar -> ceil(40/7) = 6 row blocks; 1 column block
    assert crossbars_of(model, small, dense)["b"] == 2 * 8 * 6
    # 128 compacted rows fill two 64-row crossbars, kernels split or not
    assert crossbars_of(model, small, dense.with_layer("b", prune_rows=128))["b"] == 2 * 8 * 2


def test_pruning_lowers_costs_and_keeps_counts(small: Network) -> None:
    model = CostModel(network=small, hardware=load_hardware("isaac"))
    dense = Design.dense(small, 8, 8)
    designs = [dense, dense.with_layer("a", prune_out=10), dense.with_layer("b", prune_rows=90),
               dense.with_layer("b", prune_cols=6)]
    costs = model.evaluate(DesignBatch.from_designs(small, designs))
    a, b, c = 27 * 40, 360 * 24, 24 * 10  # dense weights of each layer
    assert costs.params.tolist() == [
        a + b + c,
        27 * 10 + 90 * 24 + c,  # a keeps 10 filters, b reads 10 channels (90 rows)
        a + 90 * 24 + c,  # b keeps 90 rows for its (one) column block
        a + 360 * 6 + c,  # b keeps 6 columns in each row block
    ]
    assert (costs.energy_j[1:] < costs.energy_j[0]).all()
    assert (costs.latency_s()[1:] <= costs.latency_s()[0]).all()
    # one by one equals the batch
    for i, design in enumerate(designs):
        alone = model.evaluate(DesignBatch.from_designs(small, [design]))
        np.testing.assert_allclose(alone.energy_j[0], costs.energy_j[i], rtol=1e-12)
        assert alone.crossbars[0] == costs.crossbars[i]


def test_an_unpruned_batch_costs_as_before() -> None:
    net = get_network("resnet20")
    model = CostModel(network=net, hardware=load_hardware("mnsim"))
    dense = Design.dense(net)
    plain = model.evaluate(DesignBatch.from_designs(net, [dense]))
    explicit = DesignBatch(net, {**DesignBatch.from_designs(net, [dense]).arrays,
                                 "prune_out": np.zeros((1, 22), np.int64)})
    assert not explicit.pruned
    again = model.evaluate(explicit)
    assert again.crossbars[0] == plain.crossbars[0]
    np.testing.assert_allclose(again.energy_j, plain.energy_j, rtol=1e-12)
