"""How much memory training a network's proxy takes, counted from its layer table (no torch).

A spec of a few kilobytes can ask for a proxy of billions of weights or activations; the
service refuses it at submission (``EPIM_MAX_PROXY_BYTES``) from this estimate instead of
finding out when a runner is killed for memory.

What is counted, in 4-byte floats (``epim.nn`` trains in float32), for the network the proxy
trains (the study's network already scaled by ``epim.workloads.scale_network``):

- **Weights**: every trainable value (conv and linear weights, biases, BatchNorm scale and
  shift) and BatchNorm's running statistics, times :data:`BYTES_PER_WEIGHT`: the value, its
  gradient, its SGD momentum, the dense start's copy, and the fake-quantized epitome and
  generated kernel that each step saves for the backward pass (measured at 16 bytes per
  weight), plus the 8-byte gather index of an epitome layer.
- **Activations** of one training batch: what autograd saves for the backward pass, per
  image. A conv or linear block saves about three copies of its input (the activation, its
  fake-quantized copy and the quantizer's mask) and two of its output (the convolution's and
  BatchNorm's); a max pool its input and twice its output (values and int64 indices); an add
  its output (for the ReLU after it); a global pool its input; a concat nothing (its
  backward slices the gradient).
- **Inference**: a forward pass without gradients keeps every layer's output of the batch
  until the end (the model's table of outputs), once more for a sensitivity profile, which
  recomputes the layers after each probe.

Fitted to ``torch.autograd.graph.saved_tensors_hooks`` counts of the built-in networks'
proxies (``tests/workloads/test_memory.py``), the activation estimate is 0.85-1.0 times
what torch saves; the dataset held in memory and the interpreter are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from epim.workloads._layer import Network

#: Bytes of one float32 value.
FLOAT_BYTES = 4
#: Bytes per trainable weight while training (see the module docstring).
BYTES_PER_WEIGHT = 4 * 4 + 16 + 8
#: Floats per image saved for backward, per input and per output element of each layer kind:
#: ``(inputs, outputs)``.
SAVED_PER_ELEMENT: dict[str, tuple[int, int]] = {
    "conv": (3, 2), "linear": (3, 2), "pool": (1, 2), "avgpool": (1, 2), "add": (0, 1),
    "globalpool": (1, 0), "concat": (0, 0),
}


@dataclass(frozen=True, kw_only=True)
class ProxyMemory:
    """The memory a proxy network needs (bytes).

    Attributes:
        weights: Weights and their training state (independent of the batch).
        activations_per_image: Saved for backward per training image.
        outputs_per_image: Every layer's output for one image (a forward pass without
            gradients keeps them all).

    """

    weights: int
    activations_per_image: int
    outputs_per_image: int

    def training(self, batch_size: int) -> int:
        """Bytes to train on batches of ``batch_size`` images."""
        return self.weights + batch_size * self.activations_per_image

    def inference(self, images: int, *, copies: int = 1) -> int:
        """Bytes to run ``images`` at once without gradients.

        ``copies``: how many copies of every layer's outputs are kept.
        """
        return self.weights + images * copies * self.outputs_per_image


def proxy_memory(network: Network) -> ProxyMemory:
    """Estimate the memory of training ``network`` (the scaled proxy network) in float32.

    See the module docstring for what is counted.
    """
    weights = 0
    saved = 0
    outputs = 0
    for layer in network.layers:
        in_elements = layer.in_channels * layer.in_hw[0] * layer.in_hw[1]
        out_elements = layer.out_channels * layer.output_pixels
        per_in, per_out = SAVED_PER_ELEMENT[layer.kind]
        saved += per_in * in_elements + per_out * out_elements
        outputs += out_elements
        if layer.is_compute:
            norm = 4 * layer.out_channels if layer.kind == "conv" else 0  # scale, shift, stats
            bias = layer.out_channels if layer.bias else 0
            weights += layer.params + bias + norm
    return ProxyMemory(weights=weights * BYTES_PER_WEIGHT,
                       activations_per_image=saved * FLOAT_BYTES,
                       outputs_per_image=outputs * FLOAT_BYTES)
