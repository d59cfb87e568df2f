"""Epitome-aware fake quantization (docs/epitome.md section 4).

Weights: symmetric, signed, ``b`` bits including the sign, learnable step (LSQ: Esser et al.,
"Learned Step Size Quantization", ICLR 2020) with a straight-through estimator. The step is
per layer or per *epitome* output channel: wrapped copies of a channel share crossbar columns,
so they share its scale. Activations: unsigned ``a`` bits after ReLU.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer, with an identity gradient (straight-through)."""
    return (x.round() - x).detach() + x


def _grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; multiply the gradient by ``scale`` (LSQ's step-gradient scaling)."""
    return (x - x * scale).detach() + x * scale


def weight_levels(bits: int) -> tuple[int, int]:
    """Integer range ``(q_min, q_max)`` of a signed ``bits``-bit weight (sign included).

    One bit is a sign-only (binary) weight: ``{-1, +1}`` is represented as ``q_min=-1,
    q_max=1`` with zero excluded by :class:`WeightQuantizer`.
    """
    if not 1 <= bits <= 16:
        raise ValueError(f"weight bits must be 1..16, got {bits}")
    if bits == 1:
        return -1, 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


#: Weights per channel the MSE step search looks at (an evenly strided sample beyond).
MSE_SAMPLE = 4096


class WeightQuantizer(nn.Module):
    """LSQ fake quantizer for an epitome tensor ``E`` of shape ``(Cout_E, ...)``.

    Args:
        bits: Weight bits including the sign bit, 1..16.
        channels: ``Cout_E`` for one step per epitome output channel, or ``None`` for one step
            per layer.

    """

    initialized: torch.Tensor

    def __init__(self, bits: int, *, channels: int | None = None) -> None:
        super().__init__()
        self.bits = bits
        self.q_min, self.q_max = weight_levels(bits)
        self.step = nn.Parameter(torch.ones(channels if channels is not None else 1))
        self.register_buffer("initialized", torch.tensor(False))

    def _init_step(self, weight: torch.Tensor) -> None:
        """The step minimizing the quantization MSE (per channel), searched on a grid.

        LSQ's own rule (``2 mean|w| / sqrt(q_max)``) is far from optimal at 2-4 bits, where a
        proxy trained for a few dozen steps never recovers from it; the MSE step of a uniform
        grid is the usual post-training initialization (e.g. Nagel et al., "A White Paper on
        Neural Network Quantization", 2021, section 3.2). Channels of more than ``MSE_SAMPLE``
        weights are searched on an evenly strided sample of that many (the peak is the whole
        channel's): the first forward pass of a full VGG-16 (a 102M-weight classifier layer)
        took 28 s on two cores, 7 s with the sample.
        """
        w = weight.detach().reshape(self.step.numel(), -1) if self.step.numel() > 1 \
            else weight.detach().reshape(1, -1)
        peak = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
        if w.shape[1] > MSE_SAMPLE:  # the grid's errors on an evenly strided sample
            w = w[:, ::math.ceil(w.shape[1] / MSE_SAMPLE)]
        levels = max(self.q_max, 1)
        fractions = torch.linspace(0.05, 1.0, 40, device=w.device)
        # All 40 grid steps at once, in blocks of ~2^22 elements (the first of equal errors
        # wins, as a sequential search with a strict ``<`` would pick).
        per = max(1, min(len(fractions), (1 << 22) // max(1, w.numel())))
        errors = []
        for first in range(0, len(fractions), per):
            step = fractions[first:first + per].view(1, -1, 1) * peak.unsqueeze(1) / levels
            wide = w.unsqueeze(1)
            if self.bits == 1:
                q = torch.where(wide >= 0, 1.0, -1.0) * step
            else:
                q = torch.clamp(torch.round(wide / step), self.q_min, self.q_max) * step
            errors.append((q - wide).pow(2).mean(dim=2))             # (channels, fractions)
        choice = torch.cat(errors, dim=1).argmin(dim=1, keepdim=True)
        best = fractions[choice] * peak / levels
        self.step.data.copy_(best.reshape(-1))
        self.initialized.fill_(True)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """Return ``weight`` fake-quantized to the ``bits``-bit grid (same shape)."""
        if not bool(self.initialized):
            self._init_step(weight)
        shape = (-1,) + (1,) * (weight.dim() - 1)
        scale = 1.0 / math.sqrt(weight.numel() * max(self.q_max, 1))
        step = _grad_scale(self.step, scale).abs().clamp_min(1e-12).reshape(shape)
        if self.bits == 1:
            return torch.where(weight >= 0, 1.0, -1.0) * step + (weight - weight.detach()) * 0
        q = _round_ste(torch.clamp(weight / step, self.q_min, self.q_max))
        return q * step

    def extra_repr(self) -> str:
        return f"bits={self.bits}, steps={self.step.numel()}"


class ActivationQuantizer(nn.Module):
    """LSQ fake quantizer for unsigned activations (after ReLU) at ``bits`` bits."""

    initialized: torch.Tensor

    def __init__(self, bits: int) -> None:
        super().__init__()
        if not 1 <= bits <= 16:
            raise ValueError(f"activation bits must be 1..16, got {bits}")
        self.bits = bits
        self.q_max = 2**bits - 1
        self.step = nn.Parameter(torch.ones(1))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` clamped at zero and fake-quantized to ``bits`` unsigned bits."""
        if not bool(self.initialized):
            self.step.data.fill_(float(2 * x.detach().abs().mean().clamp_min(1e-8)
                                       / math.sqrt(self.q_max)))
            self.initialized.fill_(True)
        scale = 1.0 / math.sqrt(x.numel() * self.q_max)
        step = _grad_scale(self.step, scale).abs().clamp_min(1e-12)
        return _round_ste(torch.clamp(x / step, 0, self.q_max)) * step

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
