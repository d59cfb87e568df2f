"""Network layer tables: the built-in zoo, user network files and ONNX files.

``onnx`` is imported only when an ONNX file is read (``load_onnx_network``). Networks from a
PyTorch module come from ``epim.nn.from_torch`` (torch stays in ``epim.nn``).
"""

from epim.workloads._layer import COMPUTE_KINDS, LAYER_KINDS, MERGE_KINDS, Layer, Network
from epim.workloads._memory import ProxyMemory, proxy_memory
from epim.workloads._names import (
    MAX_NAME_LENGTH,
    NAME_CHARSET,
    NAME_PATTERN,
    UnsafeText,
    find_unsafe_text,
    formula_safe,
    is_valid_name,
    printable,
    unsafe_text,
)
from epim.workloads._naming import LayerNamer
from epim.workloads._onnx import load_onnx_network, onnx_network_dict
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
from epim.workloads._yaml import load_document_text

__all__ = [
    "COMPUTE_KINDS",
    "LAYER_KINDS",
    "MAX_NAME_LENGTH",
    "MERGE_KINDS",
    "NAME_CHARSET",
    "NAME_PATTERN",
    "Layer",
    "LayerNamer",
    "Network",
    "NetworkLimits",
    "ProxyMemory",
    "UnsafeText",
    "find_unsafe_text",
    "formula_safe",
    "get_network",
    "is_valid_name",
    "list_networks",
    "load_document_text",
    "load_network_file",
    "load_onnx_network",
    "network_from_dict",
    "network_to_dict",
    "onnx_network_dict",
    "printable",
    "proxy_memory",
    "register_network",
    "resolve_network",
    "scale_network",
    "unsafe_text",
]
