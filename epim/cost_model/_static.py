"""Per-network constant arrays: layer geometry the cost model broadcasts against designs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from epim.workloads import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NetworkArrays:
    """Layer geometry as arrays: ``[n_compute]`` for conv/linear, ``[n_other]`` for the rest.

    ``order`` maps every layer (in network order) to its column in the concatenation
    ``[compute..., other...]``, so per-layer results can be reported in network order.
    """

    # compute layers
    cout: IntArray
    cin_g: IntArray
    groups: IntArray
    cout_per_group: IntArray
    kh: IntArray
    kw: IntArray
    stride_h: IntArray
    stride_w: IntArray
    pad_h: IntArray
    in_w: IntArray
    out_h: IntArray
    out_w: IntArray
    pixels: IntArray
    in_pixels: IntArray
    is_linear: npt.NDArray[np.bool_]
    # other layers (pool, avgpool, globalpool, add)
    other_kind: tuple[str, ...]
    other_channels: IntArray
    other_pixels: IntArray
    other_window: IntArray
    other_stride_h: IntArray
    other_stride_w: IntArray
    other_kernel_h: IntArray
    other_pad_h: IntArray
    other_in_w: IntArray
    other_out_h: IntArray
    other_out_w: IntArray
    other_act_source: IntArray
    # all layers, network order
    order: IntArray
    compute_positions: IntArray
    other_positions: IntArray

    @classmethod
    def from_network(cls, network: Network) -> NetworkArrays:
        """Extract the arrays of ``network``."""
        compute = network.compute_layers
        other = [layer for layer in network.layers if not layer.is_compute]
        compute_index = {layer.name: i for i, layer in enumerate(compute)}
        other_index = {layer.name: len(compute) + i for i, layer in enumerate(other)}
        # Activation bits of a pool/add layer: those of the nearest compute layer before it.
        act_source: list[int] = []
        last_compute = 0
        for layer in network.layers:
            if layer.is_compute:
                last_compute = compute_index[layer.name]
            else:
                act_source.append(last_compute)
        order = [compute_index.get(layer.name, other_index.get(layer.name, -1))
                 for layer in network.layers]
        def ints(values: list[int]) -> IntArray:
            return np.asarray(values, dtype=np.int64)

        return cls(
            cout=ints([layer.out_channels for layer in compute]),
            cin_g=ints([layer.in_channels // layer.groups for layer in compute]),
            groups=ints([layer.groups for layer in compute]),
            cout_per_group=ints([layer.out_channels // layer.groups for layer in compute]),
            kh=ints([layer.kernel[0] for layer in compute]),
            kw=ints([layer.kernel[1] for layer in compute]),
            stride_h=ints([layer.stride[0] for layer in compute]),
            stride_w=ints([layer.stride[1] for layer in compute]),
            pad_h=ints([layer.padding[0] for layer in compute]),
            in_w=ints([layer.in_hw[1] for layer in compute]),
            out_h=ints([layer.out_hw[0] for layer in compute]),
            out_w=ints([layer.out_hw[1] for layer in compute]),
            pixels=ints([layer.output_pixels for layer in compute]),
            in_pixels=ints([layer.in_hw[0] * layer.in_hw[1] for layer in compute]),
            is_linear=np.asarray([layer.kind == "linear" for layer in compute]),
            other_kind=tuple(layer.kind for layer in other),
            other_channels=ints([layer.in_channels for layer in other]),
            other_pixels=ints([layer.output_pixels for layer in other]),
            other_window=ints([layer.kernel[0] * layer.kernel[1] for layer in other]),
            other_stride_h=ints([layer.stride[0] for layer in other]),
            other_stride_w=ints([layer.stride[1] for layer in other]),
            other_kernel_h=ints([layer.kernel[0] for layer in other]),
            other_pad_h=ints([layer.padding[0] for layer in other]),
            other_in_w=ints([layer.in_hw[1] for layer in other]),
            other_out_h=ints([layer.out_hw[0] for layer in other]),
            other_out_w=ints([layer.out_hw[1] for layer in other]),
            other_act_source=ints(act_source),
            order=ints(order),
            compute_positions=ints([i for i, layer in enumerate(network.layers)
                                    if layer.is_compute]),
            other_positions=ints([i for i, layer in enumerate(network.layers)
                                  if not layer.is_compute]),
        )
