"""Pruning masks in epim.nn: chosen by magnitude, counted as the cost model counts them."""

from __future__ import annotations

import torch

from epim.cost_model import CostModel, load_hardware
from epim.nn import EpitomeLayer, build, module_key
from epim.space import Design, DesignBatch
from epim.workloads import get_network


def op_of(model: torch.nn.Module, name: str) -> EpitomeLayer:
    op = model.blocks[module_key(name)].op  # type: ignore[index]
    assert isinstance(op, EpitomeLayer)
    return op


def test_masks_keep_what_the_cost_model_counts() -> None:
    net = get_network("resnet20")
    design = (Design.dense(net, 8, 8)
              .with_layer("layer3.0.conv1", prune_out=24)   # its reader loses 40 channels
              .with_layer("layer3.0.conv2", prune_rows=100)  # of the 24*9 = 216 rows left
              .with_layer("layer2.1.conv2", prune_cols=9)
              .with_layer("layer1.0.conv2", prune_rows=50))
    torch.manual_seed(0)
    model = build(net, design)  # MNSIM's 256x256 tiling: one column block per layer here
    costs = CostModel(network=net, hardware=load_hardware("mnsim")).evaluate(
        DesignBatch.from_designs(net, [design]))
    for i, layer in enumerate(net.layers):
        if not layer.is_compute:
            continue
        mask = op_of(model, layer.name).weight_mask
        kept = layer.params if mask is None else int(mask.sum())
        assert kept == costs.layer_params[0, i], layer.name
    pruned = op_of(model, "layer3.0.conv1")
    weight = pruned.weight.detach()
    alive = weight.flatten(1).abs().sum(dim=1) > 0
    assert int(alive.sum()) <= 24 and (weight[~alive] == 0).all()
    reader = op_of(model, "layer3.0.conv2").weight.detach()
    assert (reader[:, ~alive] == 0).all()  # the reader's inputs pruned to match


def test_masks_follow_magnitude_and_blocks() -> None:
    net = get_network("resnet20")
    design = Design.dense(net, 8, 8).with_layer("layer1.0.conv1", prune_out=4)
    torch.manual_seed(1)
    model = build(net, design, quantize=False)
    op = op_of(model, "layer1.0.conv1")
    with torch.no_grad():  # four filters made much larger: they must be the ones kept
        op.epitome.mul_(0.01)
        op.epitome[[3, 7, 11, 15]] = 1.0
    model.select_pruning()
    assert op.weight_mask is not None
    assert op.weight_mask.flatten(1).amax(dim=1).nonzero().flatten().tolist() == [3, 7, 11, 15]
    # row pruning with a tile of 8 columns: each column block keeps its own 40 rows
    rows = Design.dense(net, 8, 8).with_layer("layer1.0.conv2", prune_rows=40)
    torch.manual_seed(2)
    tiled = build(net, rows, quantize=False, prune_tiles={"layer1.0.conv2": (256, 8)})
    mask = op_of(tiled, "layer1.0.conv2").weight_mask
    assert mask is not None
    matrix = mask.flatten(1).t()  # [144 rows, 16 columns]
    for block in (matrix[:, :8], matrix[:, 8:]):
        assert (block.sum(dim=1) % 8 == 0).all() and int(block.amax(dim=1).sum()) == 40
    assert not torch.equal(matrix[:, 0], matrix[:, 8])  # blocks choose their own rows


def test_a_pruned_model_runs_trains_and_exports_its_masks() -> None:
    net = get_network("resnet20")
    design = Design.dense(net, 4, 8).with_layer("layer2.0.conv1", prune_out=8)
    model = build(net, design)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()  # type: ignore[no-untyped-call]
    op = op_of(model, "layer2.0.conv1")
    assert op.epitome.grad is not None
    dropped = op.weight_mask.flatten(1).amax(dim=1) == 0  # type: ignore[union-attr]
    assert int((~dropped).sum()) == 8
    assert (op.epitome.grad[dropped] == 0).all()  # pruned weights get no gradient
    state = model.state_dict()
    assert "blocks.layer2__0__conv1.op.weight_mask" in state
    again = build(net, design)
    again.load_state_dict(state)
    assert torch.equal(op_of(again, "layer2.0.conv1").weight_mask, op.weight_mask)
