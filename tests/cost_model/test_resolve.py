"""One resolution of network + hardware + overrides (studies, ``POST /evaluate``, ``epim cost``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from epim.cost_model import hardware_from, load_hardware, network_from
from epim.errors import InputError
from epim.workloads import get_network, network_to_dict


def test_names_and_documents_resolve_to_the_same_objects() -> None:
    assert network_from("vgg8") == get_network("vgg8")
    assert network_from(network_to_dict(get_network("vgg8"))).layers == get_network(
        "vgg8").layers
    tuned = hardware_from("mnsim", {"xbar_size": 256})
    assert tuned.xbar_rows == tuned.xbar_cols == 256
    isaac = load_hardware("isaac").to_dict()
    inline = {k: v for k, v in isaac.items() if k != "derived"}
    assert hardware_from(inline).parameters == load_hardware("isaac").parameters


def test_errors_are_located_where_the_caller_reports_them() -> None:
    with pytest.raises(InputError, match="isaac, mnsim") as unknown:
        hardware_from("fpga", preset_location=("hardware",))
    assert unknown.value.location == ("hardware",)
    with pytest.raises(InputError) as bad_set:
        hardware_from("mnsim", {"xbar_rows": -2})
    assert bad_set.value.location[:1] == ("set",)
    with pytest.raises(InputError, match="unknown network 'nope'"):
        network_from("nope")


def test_only_the_cli_resolves_files(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    path.write_text("x: 1\n")
    with pytest.raises(InputError, match="inline preset document"):
        hardware_from(str(path))  # a server never opens a client's path
    with pytest.raises(InputError):
        hardware_from(str(path), files=True)  # the CLI reads it (and says what is wrong)
    with pytest.raises(InputError, match="inline network document"):
        network_from("/etc/hosts")
