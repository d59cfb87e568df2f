"""Design documents built to break the server: refused as DesignError with layer and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from epim.errors import DesignError
from epim.space import design_from_dict, load_design_file
from epim.space._design import MAX_PATTERN_LENGTH
from epim.workloads import get_network

HOSTILE = [
    # (design document, layer named, field named)
    ({"default": {"in_ratio": float("nan")}}, "conv1", "in_ratio"),
    ({"layers": {"conv1": {"out_ratio": float("nan")}}}, "conv1", "out_ratio"),
    ({"layers": {"conv1": {"in_ratio": float("inf")}}}, "conv1", "in_ratio"),
    ({"layers": {"conv1": {"in_ratio": "4"}}}, "conv1", "in_ratio"),
    ({"layers": {"conv1": {"channel_offsets": "yes"}}}, "conv1", "channel_offsets"),
    ({"layers": {"conv1": {"channel_offsets": float("nan")}}}, "conv1", "channel_offsets"),
    ({"layers": {"conv1": {"channel_offsets": 2}}}, "conv1", "channel_offsets"),
    ({"layers": {"conv1": {"epitome_h": 10**400}}}, "conv1", "epitome_h"),
    ({"layers": {"conv1": {"weight_bits": 3.5}}}, "conv1", "weight_bits"),
    ({"layers": {"x" * (MAX_PATTERN_LENGTH + 1): {"weight_bits": 4}}}, None, None),
]


@pytest.mark.parametrize(("data", "layer", "field"), HOSTILE)
def test_hostile_designs_are_design_errors(data: dict[str, Any], layer: str | None,
                                           field: str | None) -> None:
    with pytest.raises(DesignError) as info:  # never a bare ValueError or OverflowError
        design_from_dict(data, get_network("resnet18"))
    if layer is not None:
        assert info.value.location == ("layers", layer), info.value.location
    assert info.value.field == field, str(info.value)
    assert len(str(info.value)) < 400


def test_booleans_still_set_channel_offsets() -> None:
    design = design_from_dict({"layers": {"conv1": {"channel_offsets": True}}},
                              get_network("resnet18"))
    assert design.layers["conv1"].channel_offsets == 1


def test_a_design_file_with_aliases_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "design.yaml"
    path.write_text("default: &d {weight_bits: 4}\nlayers: {conv1: *d}\n")
    with pytest.raises(DesignError, match="anchors and aliases") as info:
        load_design_file(path, get_network("resnet18"))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
