"""Fused elementwise kernels for the stacked proxy, compiled once per process where possible.

A proxy's activations are small (4-16 channels), so its training step is dominated by
memory-bound elementwise passes, not by arithmetic. Written as a chain of torch operations,
the LSQ activation quantizer's backward alone made about ten passes over an activation-sized
tensor (comparisons, masks, products, casts); the functions here write each formula once and
let ``torch.compile`` (TorchInductor: generated C++ on the CPU, Triton on CUDA) turn it into one
loop over the elements. Compiled with dynamic shapes: one compilation serves every layer and
every number of designs.

Compilation needs a C++ compiler (or Triton on CUDA); where it fails, or with
``EPIM_PROXY_COMPILE=0``, the same functions run eagerly (same values, more passes). It is
decided once per process, at the first call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)

#: Set to ``0`` to run the kernels eagerly (no ``torch.compile``).
COMPILE_ENV = "EPIM_PROXY_COMPILE"


class Kernel:
    """A pure tensor function run compiled (``torch.compile``, dynamic shapes) or eagerly.

    Args:
        fn: The function (tensors in, tensors out; no Python side effects).

    The first call compiles it; if that raises (no compiler, an unsupported device), the
    kernel logs why and runs ``fn`` itself from then on.

    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self._run: Callable[..., Any] | None = None

    @property
    def compiled(self) -> bool:
        """Whether the kernel runs compiled (``None`` until its first call decides it)."""
        return self._run is not None and self._run is not self.fn

    def __call__(self, *args: torch.Tensor) -> Any:
        if self._run is not None:
            return self._run(*args)
        if os.environ.get(COMPILE_ENV, "1") == "0":
            self._run = self.fn
            return self.fn(*args)
        compiled = torch.compile(self.fn, dynamic=True)
        try:
            out = compiled(*args)
        except Exception as error:
            logger.warning("torch.compile of %s failed (%s); running it eagerly",
                           getattr(self.fn, "__name__", "a kernel"), error)
            self._run = self.fn
            return self.fn(*args)
        self._run = compiled
        return out


def _lsq_forward(x: torch.Tensor, step: torch.Tensor, q_max: torch.Tensor) -> torch.Tensor:
    """``round(min(max(x / s, 0), q_max)) * s`` (LSQ's unsigned activation quantizer)."""
    return torch.minimum((x / step).clamp_min(0), q_max).round() * step


def _lsq_backward(grad: torch.Tensor, x: torch.Tensor, step: torch.Tensor,
                  q_max: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LSQ's gradients (Esser et al. 2020, eq. 3) of :func:`_lsq_forward`.

    With ``v = x / s``: ``dy/dx = 1`` for ``0 <= v <= q_max``, else 0; ``dy/ds`` is
    ``round(v) - v`` inside, ``0`` below and ``q_max`` above, summed here over the last
    dimension only (``step``'s last dimension must be 1): a contiguous inner reduction,
    which the compiled loop vectorizes (reducing the batch dimension too ran 2.4x slower);
    the caller sums the small remainder.
    """
    v = x / step
    inside = (v >= 0) & (v <= q_max)
    grad_x = torch.where(inside, grad, 0.0)
    per_element = torch.where(inside, (v.round() - v) * grad,
                              torch.where(v > q_max, grad * q_max, 0.0))
    return grad_x, per_element.sum(dim=-1, keepdim=True)


LSQ_FORWARD = Kernel(_lsq_forward)
LSQ_BACKWARD = Kernel(_lsq_backward)


class LsqActivation(torch.autograd.Function):
    """``round(clamp(x / s, 0, q_max)) * s`` with LSQ's gradients, one fused pass each way.

    ``step`` and ``q_max`` broadcast against ``x`` (e.g. ``x`` as (B, N, L) rows of N
    designs, ``step`` (1, N, 1)). Saves only ``x`` (the convolution that follows keeps its
    own input). Same values and gradients as the straight-through composition of
    ``epim.nn._quant`` up to float rounding of the step's gradient sum.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, step: torch.Tensor,
                q_max: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, step, q_max)
        out: torch.Tensor = LSQ_FORWARD(x, step, q_max)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, *grads: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, None]:
        (grad,) = grads
        x, step, q_max = ctx.saved_tensors  # type: ignore[attr-defined]
        if step.shape[-1] != 1:
            raise ValueError("the step's last dimension must be 1 (shared along rows)")
        grad_x, partial = LSQ_BACKWARD(grad.contiguous(), x, step, q_max)
        dims = [d for d in range(partial.dim())
                if step.shape[d] == 1 and partial.shape[d] > 1]
        grad_step = partial.sum(dim=dims, keepdim=True) if dims else partial
        return grad_x, grad_step, None
