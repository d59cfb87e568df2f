"""``/networks``, ``/hardware`` and ``POST /evaluate``: what can be searched, and one cost."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from epim.api._deps import ReadAccess, SettingsDep, WriteAccess
from epim.api._schemas import EvaluateRequest
from epim.cost_model import cost_report, hardware_from, list_presets, load_hardware, network_from
from epim.errors import located
from epim.space import Design, design_from_dict
from epim.workloads import get_network, list_networks, network_to_dict

router = APIRouter(tags=["catalog"], dependencies=[ReadAccess])


@router.get("/networks", summary="Built-in networks")
def networks() -> list[dict[str, Any]]:
    """Every built-in network with its input, layer counts, parameters and MACs."""
    rows = []
    for name in list_networks():
        net = get_network(name)
        rows.append({"name": name, "input": list(net.input_shape), "layers": len(net),
                     "compute_layers": len(net.compute_layers), "params": net.params,
                     "macs": net.macs})
    return rows


@router.get("/networks/{name}", summary="One network's layers")
def network(name: Annotated[str, Path(max_length=200)]) -> dict[str, Any]:
    """The network in the file format, with every layer's shapes, parameters and MACs."""
    if name not in list_networks():
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no network '{name}'; built in: " + ", ".join(list_networks()))
    net = get_network(name)
    document = network_to_dict(net)
    for entry, layer in zip(document["layers"], net.layers, strict=True):
        entry.update(in_hw=list(layer.in_hw), out_hw=list(layer.out_hw),
                     out_channels=layer.out_channels, params=layer.params, macs=layer.macs)
    return document


@router.get("/hardware", summary="Hardware presets and their parameters")
def hardware() -> list[dict[str, Any]]:
    """Every preset with each constant's value, unit and source."""
    return [load_hardware(name).to_dict() for name in list_presets()]


@router.post("/evaluate", dependencies=[WriteAccess],
             summary="Cost one design now (the numbers of `epim cost --json`)")
def evaluate(request: EvaluateRequest, settings: SettingsDep) -> dict[str, Any]:
    """Cost one network + design + hardware synchronously.

    Needs the write key when one is set (it computes); inline networks obey the server's
    network limits.
    """
    limits = settings.limits().network
    net = located(("network",), lambda: network_from(request.network, limits))
    hw = hardware_from(request.hardware, request.set, preset_source="hardware",
                          set_source="set", preset_location=("hardware",))
    if request.design is None:
        design = Design.dense(net, request.weight_bits, request.act_bits)
    else:
        design = located(("design",), lambda: design_from_dict(
            request.design, net, default_weight_bits=request.weight_bits,
            default_act_bits=request.act_bits))
    return cost_report(net, design, hw, latency_mode=request.latency_mode,
                       baseline_bits=request.baseline_bits)
