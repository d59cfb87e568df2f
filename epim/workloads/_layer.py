"""Frozen layer and network records: the shapes every other package reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LayerKind = Literal["conv", "linear", "pool", "avgpool", "globalpool", "add", "concat"]
LAYER_KINDS: tuple[str, ...] = (
    "conv", "linear", "pool", "avgpool", "globalpool", "add", "concat",
)
#: Layers that read several producers (element-wise sum; channel concatenation).
MERGE_KINDS: tuple[str, ...] = ("add", "concat")
COMPUTE_KINDS: tuple[str, ...] = ("conv", "linear")
POOL_KINDS: tuple[str, ...] = ("pool", "avgpool", "globalpool")


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a network with its propagated shapes.

    Linear layers are stored as 1x1 convolutions on a 1x1 map: ``in_channels`` is
    ``in_features`` (after flattening) and ``out_channels`` is ``out_features``.

    Attributes:
        name: Unique layer name.
        kind: One of ``conv``, ``linear``, ``pool`` (max), ``avgpool``, ``globalpool``, ``add``,
            ``concat`` (the inputs' channels side by side, in ``inputs`` order; ``in_channels``
            and ``out_channels`` are their sum).
        inputs: Names of the producing layers (empty for the network input).
        in_channels: Input channels (features for linear layers).
        out_channels: Output channels (features for linear layers).
        kernel: Kernel height and width (1, 1 for linear and add).
        stride: Stride (height, width).
        padding: Zero padding (height, width).
        dilation: Dilation (height, width).
        groups: Convolution groups (1 unless grouped/depthwise).
        in_hw: Input feature-map height and width.
        out_hw: Output feature-map height and width.
        bias: Whether the layer has a bias (linear layers do by default).

    """

    name: str
    kind: LayerKind
    inputs: tuple[str, ...]
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] = (1, 1)
    bias: bool = False

    @property
    def is_compute(self) -> bool:
        """True for layers mapped onto crossbars (conv and linear)."""
        return self.kind in COMPUTE_KINDS

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """PyTorch weight shape ``(Cout, Cin/groups, kh, kw)`` of a compute layer."""
        return (
            self.out_channels,
            self.in_channels // self.groups,
            self.kernel[0],
            self.kernel[1],
        )

    @property
    def params(self) -> int:
        """Weights stored in crossbars (``Cout * Cin/groups * kh * kw``; 0 for non-compute)."""
        if not self.is_compute:
            return 0
        cout, cin_g, kh, kw = self.weight_shape
        return cout * cin_g * kh * kw

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference (``Hout * Wout * params``)."""
        return self.out_hw[0] * self.out_hw[1] * self.params

    @property
    def output_pixels(self) -> int:
        """Output feature-map positions ``Hout * Wout``."""
        return self.out_hw[0] * self.out_hw[1]


@dataclass(frozen=True, slots=True)
class Network:
    """An ordered, shape-checked layer table.

    Attributes:
        name: Network name.
        input_shape: Input ``(C, H, W)``.
        layers: Layers in execution (topological) order.

    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        self._index.update({layer.name: i for i, layer in enumerate(self.layers)})

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        """Return the layer called ``name``.

        Raises:
            KeyError: If there is no such layer.

        """
        return self.layers[self._index[name]]

    @property
    def compute_layers(self) -> tuple[Layer, ...]:
        """Conv and linear layers, in order: the layers a design assigns epitomes to."""
        return tuple(layer for layer in self.layers if layer.is_compute)

    @property
    def params(self) -> int:
        """Crossbar-mapped weights of the whole network."""
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference of the whole network."""
        return sum(layer.macs for layer in self.layers)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the last layer's output."""
        last = self.layers[-1]
        return (last.out_channels, last.out_hw[0], last.out_hw[1])
