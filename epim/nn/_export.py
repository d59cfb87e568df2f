"""Export a design as a PyTorch model file, and load it back (for full training)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from epim.errors import InputError
from epim.nn._build import EpimNet, build
from epim.space import Design, design_from_dict
from epim.workloads import Network, network_from_dict, network_to_dict

FORMAT = "epim-model/1"


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def export(path: str | Path, network: Network, design: Design, *,
           model: EpimNet | None = None, quantize: bool = True,
           extra: dict[str, Any] | None = None) -> Path:
    """Write the model's state with its network, design and config to ``path``.

    Args:
        path: Output file (``.pt``).
        network: The network.
        design: The design.
        model: A (trained) model to save; default: a freshly initialized one.
        quantize: Whether the model fake-quantizes (stored in the config).
        extra: More config to store (e.g. proxy accuracy).

    """
    path = Path(path)
    torch.save(_payload(network, design, model=model, quantize=quantize, extra=extra), path)
    return path


def export_bytes(network: Network, design: Design, *, quantize: bool = True,
                 extra: dict[str, Any] | None = None) -> bytes:
    """The file :func:`export` writes for a freshly initialized model, as bytes (for HTTP)."""
    buffer = io.BytesIO()
    torch.save(_payload(network, design, quantize=quantize, extra=extra), buffer)
    return buffer.getvalue()


def _payload(network: Network, design: Design, *, model: EpimNet | None = None,
             quantize: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    model = model or build(network, design, quantize=quantize)
    return {
        "format": FORMAT,
        "network": network_to_dict(network),
        "design": design.to_dict(),
        "config": {"quantize": model.quantize, **(extra or {})},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def load(path: str | Path, *, device: str | torch.device | None = None) -> EpimNet:
    """Rebuild an exported model (on ``device``; default: CUDA if available, else CPU).

    Raises:
        InputError: If the file is missing or not an EPIM model file.

    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise InputError(f"cannot read model file ({exc.__class__.__name__})",
                         source=str(path)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError("not an EPIM model file", source=str(path), expected=FORMAT)
    network = network_from_dict(payload["network"])
    design = design_from_dict(payload["design"], network)
    model = build(network, design, quantize=bool(payload["config"].get("quantize", True)))
    model.load_state_dict(payload["state_dict"])
    return model.to(device or default_device())
