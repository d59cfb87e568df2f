"""The explorer's per-layer view names each layer's operator family and what it stores."""

from __future__ import annotations

from epim.service._designs import _operator
from epim.space import Design
from epim.workloads import get_network


def test_operator_and_stored_weights_of_each_family() -> None:
    net = get_network("resnet20")
    design = (Design.dense(net).with_layer("layer3.0.conv1", prune_out=16)
              .with_layer("layer3.0.conv2", prune_rows=100)
              .with_layer("layer3.1.conv2", prune_cols=8)
              .with_layer("layer3.2.conv1", epitome_in=32)).to_dict()["layers"]
    conv1, conv2 = net.layer("layer3.0.conv1"), net.layer("layer3.0.conv2")
    assert _operator(conv1, design["layer3.0.conv1"], None) == ("prune_channels", 32 * 9 * 16)
    # the reader of 16 kept channels has 144 rows: 100 kept per column block, 64 columns
    assert _operator(conv2, design["layer3.0.conv2"], design["layer3.0.conv1"]) == (
        "prune_rows", 100 * 64)
    assert _operator(net.layer("layer3.1.conv2"), design["layer3.1.conv2"], None) == (
        "prune_cols", 64 * 9 * 8)
    assert _operator(net.layer("layer3.2.conv1"), design["layer3.2.conv1"], None) == (
        "epitome", 32 * 64 * 9)
    assert _operator(net.layer("layer1.0.conv1"), design["layer1.0.conv1"], None) == (
        "dense", 16 * 16 * 9)
