"""Weight replication: ``r`` copies of a layer's weights that compute its output pixels in turn.

A design may place ``r`` copies of a conv/linear layer on the chip (LRMP, PIMSYN: replicate
the layers that limit a pipeline). Copy ``k`` computes output pixels ``k, k + r, ...`` of the
layer, so the layer's compute parallelizes ``r`` ways; the model, per copy as the stages
compute it for one (docs/cost_model.md section 3):

- **mapping**: ``r`` times the crossbars and tiles (each copy is mapped like the layer and
  owns whole tiles, MNSIM's rule for a layer); the copies are placed together, so the
  layer's merge and transfer hops are those of all its tiles;
- **time**: a copy takes the layer's time per pixel on its pixels, except the line-buffer
  writes: every copy's line buffer receives the whole input map (its windows need it), so
  those writes are not divided. Alone, the layer takes ``ceil(N / r) (t - w) + N w`` for ``N``
  pixels of ``t`` each of which ``w`` are line writes; in the pipeline it emits a pixel per
  ``s`` (that time over ``N``) while each pixel still takes one copy's ``t`` from its inputs
  (``PipelineSchedule.latency``'s ``first_extra = t - s``);
- **energy**: the same activations, conversions and reads in all (split over the copies),
  plus the ``r - 1`` extra line-buffer fills, counted in ``ActionCounts.buffer_writes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from epim.cost_model._hardware import Hardware
from epim.cost_model._stages import ActivationLatency, Activations, Mapping, ceil_div
from epim.cost_model._static import NetworkArrays

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Replicated:
    """A layer's times and extra work with its copies, ``[n_designs, n_compute]`` each.

    Attributes:
        latency_s: The layer alone, layer-by-layer mode (s).
        pipelined_s: Its time over its map in the pipelined mode (s).
        first_pixel_extra_s: What a pixel takes beyond the layer's pixel rate in the
            pipeline (s; 0 for one copy).
        extra_buffer_writes: Line-buffer writes of the extra copies (accesses).

    """

    latency_s: FloatArray
    pipelined_s: FloatArray
    first_pixel_extra_s: FloatArray
    extra_buffer_writes: FloatArray


def replicate(c: Hardware, g: NetworkArrays, copies: FloatArray, m: Mapping, a: Activations,
              t: ActivationLatency, latency_s: FloatArray, pipelined_s: FloatArray
              ) -> Replicated:
    """Times and extra writes of ``copies`` copies of each layer (see the module).

    Args:
        c: The hardware.
        g: The network's geometry.
        copies: ``[n, n_compute]`` copies per layer (>= 1).
        m: The mapping of one copy.
        a: The layer's activations (all copies together).
        t: The latency of one activation.
        latency_s: The layer's layer-by-layer time with one copy (s).
        pipelined_s: Its pipelined-mode time with one copy (s).

    """
    several = copies > 1
    pixels = g.pixels
    line_s = a.total * t.line_writes * c.buffer_access_s  # every copy writes the whole map
    per_copy = ceil_div(pixels, copies) / pixels
    latency = np.where(several, per_copy * (latency_s - line_s) + line_s, latency_s)
    # the pipelined mode's line writes are not divided either
    pipelined = np.where(several, latency + (pipelined_s - latency_s), pipelined_s)
    buffers = m.tiles * (m.pes + 1 if c.pe_input_buffers else 1)
    return Replicated(
        latency_s=latency, pipelined_s=pipelined,
        first_pixel_extra_s=(pipelined_s - pipelined) / pixels,
        extra_buffer_writes=(copies - 1) * t.line_writes * a.total * buffers)
