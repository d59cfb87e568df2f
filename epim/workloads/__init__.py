"""Network layer tables: the built-in zoo and user network files."""

from epim.workloads._layer import COMPUTE_KINDS, LAYER_KINDS, Layer, Network
from epim.workloads._parse import (
    NetworkLimits,
    load_network_file,
    network_from_dict,
    network_to_dict,
)
from epim.workloads._registry import (
    get_network,
    list_networks,
    register_network,
    resolve_network,
)
from epim.workloads._scale import scale_network

__all__ = [
    "COMPUTE_KINDS",
    "LAYER_KINDS",
    "Layer",
    "Network",
    "NetworkLimits",
    "get_network",
    "list_networks",
    "load_network_file",
    "network_from_dict",
    "network_to_dict",
    "register_network",
    "resolve_network",
    "scale_network",
]
