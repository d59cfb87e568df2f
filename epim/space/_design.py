"""Designs: per-layer epitome shapes and bit-widths, one at a time or as integer arrays.

A design gives every conv/linear layer of a network an epitome ``(Cin_E, Cout_E, P, Q)``
(docs/epitome.md section 1), weight bits (including the sign bit, as in MNSIM: 9
means sign + 8) and activation bits. The dense layer is the special case
``Cin_E = Cin/groups, Cout_E = Cout, P = kh, Q = kw``.

A design may also carry hardware genes (``HARDWARE_GENES``: values that replace the preset's,
e.g. ``{"adc_choice": 7}``; none means the preset as it is) and, per layer, a weight
``replication`` (copies of the layer's weights that process its output pixels in turn; 1 is
one copy). Both leave the network's function unchanged; the cost model reads them.

Per layer a design may also prune (``PRUNE_FIELDS``, 0: not pruned): keep ``prune_out``
output filters (channel pruning), or keep ``prune_rows`` rows / ``prune_cols`` columns of
every crossbar block of the mapped weight matrix (PIM-Prune's crossbar-aware pruning); see
``epim.space._prune``. A batch keeps them as optional arrays, like ``replication``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.errors import DesignError
from epim.space._prune import (
    PRUNE_FIELDS,
    matrix_rows,
    prunable_consumers,
    scaled_count,
)
from epim.workloads import Layer, Network, load_document_text

MIN_BITS = 1
MAX_BITS = 16
#: Bits of a dense layer in MNSIM's validation runs and ``epim cost``: sign + 8 (MNSIM counts
#: the sign bit of a weight; its networks are 9-bit), so our numbers compare with MNSIM's.
MNSIM_BITS = 9
#: Bits the proxy trains a dense network at (8-bit weights and activations, the common
#: quantization-aware training baseline; ``epim export`` and the dense start).
TRAIN_BITS = 8
#: Copies of a layer's weights at most (``replication``).
MAX_REPLICATION = 64
#: Hardware genes: override keys of the hardware preset a design may carry (integers;
#: ``epim.cost_model.Hardware.with_overrides`` gives them their meaning).
HARDWARE_GENES: tuple[str, ...] = (
    "xbar_size", "cell_bits", "adc_choice", "dac_choice", "tile_pes", "crossbars_per_pe",
)
#: Largest value of a hardware gene (a crossbar size; the cost model checks each gene's own).
MAX_GENE_VALUE = 1 << 16
IntArray = npt.NDArray[np.int64]

#: The integer columns of a :class:`DesignBatch`, in order.
DESIGN_FIELDS: tuple[str, ...] = (
    "epitome_in", "epitome_out", "epitome_h", "epitome_w", "weight_bits", "act_bits",
    "channel_offsets",
)
_LAYER_KEYS = {*DESIGN_FIELDS, "in_ratio", "out_ratio", "replication", *PRUNE_FIELDS}
#: The optional per-layer arrays of a :class:`DesignBatch` and their "absent" value.
_OPTIONAL_ARRAYS: dict[str, int] = {"replication": 1, **dict.fromkeys(PRUNE_FIELDS, 0)}
#: Longest layer name or glob pattern a design file may use (characters).
MAX_PATTERN_LENGTH = 200


@dataclass(frozen=True, slots=True)
class LayerDesign:
    """The choices for one conv/linear layer.

    Attributes:
        epitome_in: ``Cin_E``, stored input channels per group (<= Cin/groups).
        epitome_out: ``Cout_E``, stored output channels (<= Cout).
        epitome_h: ``P``, stored kernel height (>= kh).
        epitome_w: ``Q``, stored kernel width (>= kw).
        weight_bits: Weight bits including the sign bit, 1..16.
        act_bits: Activation (input) bits, 1..16.
        channel_offsets: 1 to give each output block its own cyclic input-channel offset
            (docs/epitome.md section 2), 0 for plain wrapping.
        replication: Copies of the layer's weights on the chip (1..``MAX_REPLICATION``),
            each computing every ``replication``-th output pixel; not a ``DESIGN_FIELDS``
            column (a batch keeps it as its own array).
        prune_out: Output filters kept by channel pruning (0: all; ``epim.space._prune``).
        prune_rows: Rows kept in every crossbar column block (0: all; PIM-Prune).
        prune_cols: Columns kept in every crossbar row block (0: all; PIM-Prune).

    """

    epitome_in: int
    epitome_out: int
    epitome_h: int
    epitome_w: int
    weight_bits: int
    act_bits: int
    channel_offsets: int = 0
    replication: int = 1
    prune_out: int = 0
    prune_rows: int = 0
    prune_cols: int = 0

    @property
    def pruned(self) -> bool:
        """Whether any pruning field is set."""
        return bool(self.prune_out or self.prune_rows or self.prune_cols)

    @classmethod
    def dense(cls, layer: Layer, weight_bits: int, act_bits: int) -> LayerDesign:
        """The dense (non-epitome) choice for ``layer``."""
        _, cin_g, kh, kw = layer.weight_shape
        return cls(cin_g, layer.out_channels, kh, kw, weight_bits, act_bits, 0)

    def is_dense_for(self, layer: Layer) -> bool:
        """True if this choice stores the whole kernel of ``layer``."""
        _, cin_g, kh, kw = layer.weight_shape
        return (self.epitome_in, self.epitome_out, self.epitome_h, self.epitome_w) == (
            cin_g, layer.out_channels, kh, kw
        )

    def as_tuple(self) -> tuple[int, ...]:
        """The fields in ``DESIGN_FIELDS`` order."""
        return tuple(getattr(self, name) for name in DESIGN_FIELDS)


def validate_layer_design(layer: Layer, choice: LayerDesign, source: str | None = None, *,
                          channel_prunable: bool | None = None) -> None:
    """Check that ``choice`` fits ``layer``.

    ``channel_prunable`` says whether ``layer`` may be channel-pruned
    (``epim.space._prune.prunable_consumers``); ``None``: not checked here.

    Raises:
        DesignError: Naming the layer, the field and the allowed range.

    """
    cout, cin_g, kh, kw = layer.weight_shape
    where = ("layers", layer.name)
    bounds = {
        "epitome_in": (1, cin_g),
        "epitome_out": (1, cout),
        "epitome_h": (kh, layer.params),  # an epitome never outgrows the dense kernel
        "epitome_w": (kw, layer.params),
        "weight_bits": (MIN_BITS, MAX_BITS),
        "act_bits": (MIN_BITS, MAX_BITS),
        "channel_offsets": (0, 1),
        "replication": (1, MAX_REPLICATION),
        "prune_out": (0, cout),
        "prune_rows": (0, matrix_rows(layer)),
        "prune_cols": (0, cout),
    }
    for name, (low, high) in bounds.items():
        value = getattr(choice, name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise DesignError(f"not an integer: {_shown(value)}", source=source,
                              location=where, field=name)
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f">= {low}"
            raise DesignError(f"{_shown(value)} is out of range for this layer", source=source,
                              location=where, field=name, expected=allowed)
    stored = choice.epitome_in * choice.epitome_out * choice.epitome_h * choice.epitome_w
    if stored > layer.params:
        raise DesignError(
            f"epitome of {stored} weights is larger than the layer's {layer.params}",
            source=source, location=where, field="epitome_h",
            expected="an epitome no larger than the dense kernel",
        )
    if choice.pruned:
        _check_pruning(layer, choice, source, channel_prunable)


def _check_pruning(layer: Layer, choice: LayerDesign, source: str | None,
                   channel_prunable: bool | None) -> None:
    """The rules of ``epim.space._prune``: dense layers, one group, one compaction."""
    where = ("layers", layer.name)
    field_name = next(name for name in PRUNE_FIELDS if getattr(choice, name))
    if not choice.is_dense_for(layer):
        raise DesignError("pruning applies to dense layers, not to an epitome", source=source,
                          location=where, field=field_name,
                          expected="0, or the dense epitome (no wrapping) with pruning")
    if layer.groups != 1:
        raise DesignError(f"a layer of {layer.groups} groups cannot be pruned", source=source,
                          location=where, field=field_name, expected="0")
    if choice.prune_rows and choice.prune_cols:
        raise DesignError("give prune_rows or prune_cols, not both (one compaction per layer)",
                          source=source, location=where, field="prune_cols", expected="0")
    if choice.prune_out and channel_prunable is False:
        raise DesignError("this layer's outputs do not feed one conv/linear layer alone",
                          source=source, location=where, field="prune_out",
                          expected="0 (channel pruning: layers whose outputs only one "
                          "conv/linear layer reads, e.g. a ResNet block's inner conv)")


@dataclass(frozen=True)
class Design:
    """One design: a :class:`LayerDesign` for every compute layer of a network, in order.

    Attributes:
        network: The network name.
        layers: Layer name -> choice, for every conv/linear layer in network order.
        hardware: Hardware genes (``HARDWARE_GENES``) -> value; empty: the preset as it is.

    """

    network: str
    layers: Mapping[str, LayerDesign]
    hardware: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def dense(cls, network: Network, weight_bits: int = MNSIM_BITS,
              act_bits: int = MNSIM_BITS) -> Design:
        """The dense design: every layer stores its whole kernel at the given bits."""
        for name, bits in (("weight_bits", weight_bits), ("act_bits", act_bits)):
            if not MIN_BITS <= bits <= MAX_BITS:
                raise DesignError(f"{bits} is out of range", field=name,
                                  expected=f"{MIN_BITS}..{MAX_BITS}")
        return cls(network.name, {
            layer.name: LayerDesign.dense(layer, weight_bits, act_bits)
            for layer in network.compute_layers
        })

    def with_layer(self, name: str, **changes: int) -> Design:
        """Return a copy with the choice of layer ``name`` changed."""
        if name not in self.layers:
            raise DesignError("unknown layer", location=("layers", name),
                              expected="a conv/linear layer of " + self.network)
        layers = dict(self.layers)
        layers[name] = replace(layers[name], **changes)
        return Design(self.network, layers, self.hardware)

    def validate(self, network: Network, source: str | None = None) -> None:
        """Check every layer choice against ``network``.

        Raises:
            DesignError: On a missing or unknown layer or an out-of-range field.

        """
        names = [layer.name for layer in network.compute_layers]
        unknown = set(self.layers) - set(names)
        if unknown:
            raise DesignError(f"unknown layer(s) {sorted(unknown)}", source=source,
                              expected=f"conv/linear layers of {network.name}")
        prunable = prunable_consumers(network)
        for layer in network.compute_layers:
            if layer.name not in self.layers:
                raise DesignError("missing layer", source=source, location=("layers", layer.name))
            validate_layer_design(layer, self.layers[layer.name], source,
                                  channel_prunable=layer.name in prunable)
        check_hardware_genes(self.hardware, source)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, keyed by layer name (the design file format, all fields explicit).

        ``hardware``, a layer's ``replication`` and its pruning fields appear where they are
        not the default.
        """
        layers = {}
        for name, choice in self.layers.items():
            entry = asdict(choice)
            for key, absent in _OPTIONAL_ARRAYS.items():
                if entry[key] == absent:
                    del entry[key]
            layers[name] = entry
        document: dict[str, Any] = {"network": self.network, "layers": layers}
        if self.hardware:
            document["hardware"] = dict(sorted(self.hardware.items()))
        return document

    def digest(self) -> str:
        """A stable hash of the design (for caching proxy results).

        Equal to :meth:`DesignBatch.digests` of a batch holding this design; hardware genes
        and replication enter only where they are not the default, so a design without them
        keeps the digest it had before they existed.
        """
        table = np.array([choice.as_tuple() for choice in self.layers.values()],
                         dtype=np.int64)
        replication = np.array([choice.replication for choice in self.layers.values()],
                               dtype=np.int64)
        pruning = np.array([[getattr(choice, name) for name in PRUNE_FIELDS]
                            for choice in self.layers.values()], dtype=np.int64)
        return _digest(self.network, table.tobytes(),
                       _extras(replication, self.hardware, pruning))


def _digest(network: str, table: bytes, extras: bytes = b"") -> str:
    return hashlib.sha256(network.encode() + b"\0" + table + extras).hexdigest()[:16]


def _extras(replication: IntArray, hardware: Mapping[str, int],
            pruning: IntArray | None = None) -> bytes:
    """The digest's bytes for replication, genes and pruning (none where all are default).

    ``pruning`` is ``[n_layers, len(PRUNE_FIELDS)]``.
    """
    parts = b""
    if (replication != 1).any():
        parts += b"\0replication\0" + np.ascontiguousarray(replication, np.int64).tobytes()
    if pruning is not None and pruning.any():
        parts += b"\0pruning\0" + np.ascontiguousarray(pruning, np.int64).tobytes()
    genes = sorted((k, int(v)) for k, v in hardware.items() if v)
    if genes:
        parts += b"\0hardware\0" + ",".join(f"{k}={v}" for k, v in genes).encode()
    return parts


def check_hardware_genes(hardware: Any, source: str | None = None) -> dict[str, int]:
    """Hardware genes as a design file or spec gives them: known names, integers >= 1.

    Raises:
        DesignError: Naming the gene and what is allowed.

    """
    if not isinstance(hardware, Mapping):
        raise DesignError("must be a mapping of hardware gene -> value", source=source,
                          field="hardware", expected="keys " + ", ".join(HARDWARE_GENES))
    genes: dict[str, int] = {}
    for key, value in hardware.items():
        if key not in HARDWARE_GENES:
            raise DesignError(f"unknown hardware gene {_shown(key)}", source=source,
                              location=("hardware",),
                              expected="one of " + ", ".join(HARDWARE_GENES))
        if (isinstance(value, bool) or not isinstance(value, int | np.integer)
                or not 1 <= value <= MAX_GENE_VALUE):
            raise DesignError(f"bad value {_shown(value)}", source=source,
                              location=("hardware",), field=key,
                              expected=f"an integer 1..{MAX_GENE_VALUE}")
        genes[key] = int(value)
    return genes


def design_from_dict(data: Any, network: Network, *, default_weight_bits: int = MNSIM_BITS,
                     default_act_bits: int = MNSIM_BITS, source: str | None = None) -> Design:
    """Build a design for ``network`` from the design file format.

    The format::

        network: resnet50          # optional; checked against the network if given
        hardware: {adc_choice: 7, xbar_size: 128}   # optional hardware genes
        default: {weight_bits: 3, act_bits: 8, in_ratio: 4, out_ratio: 4}   # optional
        layers:                    # layer name or glob pattern -> choices
          conv1: {weight_bits: 8, in_ratio: 1, out_ratio: 1, replication: 4}
          "layer*.conv2": {epitome_in: 32, epitome_out: 64}

    Per layer: ``epitome_in``, ``epitome_out`` (absolute) or ``in_ratio``, ``out_ratio``
    (``Cin_E = ceil(Cin/groups / in_ratio)``), ``epitome_h``, ``epitome_w``, ``weight_bits``,
    ``act_bits``, ``channel_offsets``, ``replication`` (1..64), ``prune_out``,
    ``prune_rows``, ``prune_cols`` (0: not pruned; ``epim.space._prune``). Later entries
    override earlier ones; omitted fields are dense at the default bits, one copy, unpruned.

    Raises:
        DesignError: On an unknown layer or pattern that matches nothing, an unknown field or
            hardware gene, an epitome larger than the layer, or bits outside 1..16; the
            message names the layer.

    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DesignError("a design must be a mapping", source=source,
                          expected="keys network, default, layers")
    unknown_top = set(data) - {"network", "hardware", "default", "layers"}
    if unknown_top:
        raise DesignError(f"unknown key(s) {sorted(map(str, unknown_top))}", source=source,
                          expected="network, hardware, default, layers")
    declared = data.get("network")
    if declared is not None and declared != network.name:
        raise DesignError(f"design is for '{declared}', not '{network.name}'", source=source,
                          field="network", expected=network.name)
    default = data.get("default") or {}
    _check_entry_keys(default, ("default",), source)
    entries = data.get("layers") or {}
    if not isinstance(entries, Mapping):
        raise DesignError("must be a mapping of layer name -> choices", source=source,
                          field="layers")
    compute = network.compute_layers
    names = [layer.name for layer in compute]
    resolved: dict[str, dict[str, Any]] = {name: dict(default) for name in names}
    for key, entry in entries.items():
        if len(str(key)) > MAX_PATTERN_LENGTH:
            raise DesignError(f"a layer name or pattern of {len(str(key))} characters",
                              source=source, location=("layers", str(key)[:40] + "..."),
                              expected=f"at most {MAX_PATTERN_LENGTH} characters")
        _check_entry_keys(entry, ("layers", str(key)), source)
        matches = [n for n in names if n == key] or fnmatch.filter(names, str(key))
        if not matches:
            other = [layer.name for layer in network.layers if not layer.is_compute]
            hint = " (not a conv/linear layer)" if key in other else ""
            raise DesignError(f"unknown layer{hint}", source=source, location=("layers", str(key)),
                              expected=f"a conv/linear layer name or pattern of {network.name}")
        for name in matches:
            resolved[name].update(entry)
    layers = {}
    prunable = prunable_consumers(network)
    for layer in compute:
        choice = _choice(layer, resolved[layer.name], default_weight_bits, default_act_bits,
                         source)
        validate_layer_design(layer, choice, source, channel_prunable=layer.name in prunable)
        layers[layer.name] = choice
    hardware = check_hardware_genes(data.get("hardware") or {}, source)
    return Design(network.name, layers, hardware)


def _check_entry_keys(entry: Any, where: Sequence[str], source: str | None) -> None:
    if not isinstance(entry, Mapping):
        raise DesignError("must be a mapping of field -> value", source=source, location=where,
                          expected="fields " + ", ".join(sorted(_LAYER_KEYS)))
    unknown = set(entry) - _LAYER_KEYS
    if unknown:
        raise DesignError(f"unknown field(s) {sorted(unknown)}", source=source, location=where,
                          expected="fields " + ", ".join(sorted(_LAYER_KEYS)))
    for pair in (("epitome_in", "in_ratio"), ("epitome_out", "out_ratio")):
        if all(k in entry for k in pair):
            raise DesignError(f"give {pair[0]} or {pair[1]}, not both", source=source,
                              location=where, field=pair[1])


def _choice(layer: Layer, entry: Mapping[str, Any], weight_bits: int, act_bits: int,
            source: str | None) -> LayerDesign:
    cout, cin_g, kh, kw = layer.weight_shape
    where = ("layers", layer.name)

    def ratio(key: str, full: int) -> int:
        value = entry[key]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value < 1):
            raise DesignError(f"bad value {_shown(value)}", source=source, location=where,
                              field=key, expected="a finite number >= 1")
        return max(1, math.ceil(full / value))

    cin_e = ratio("in_ratio", cin_g) if "in_ratio" in entry else entry.get("epitome_in", cin_g)
    cout_e = ratio("out_ratio", cout) if "out_ratio" in entry else entry.get("epitome_out", cout)
    return LayerDesign(
        epitome_in=cin_e,
        epitome_out=cout_e,
        epitome_h=entry.get("epitome_h", kh),
        epitome_w=entry.get("epitome_w", kw),
        weight_bits=entry.get("weight_bits", weight_bits),
        act_bits=entry.get("act_bits", act_bits),
        channel_offsets=_flag(entry.get("channel_offsets", 0)),
        replication=entry.get("replication", 1),
        **{name: entry.get(name, 0) for name in PRUNE_FIELDS},
    )


def _flag(value: Any) -> Any:
    """``true``/``false`` as 1/0; anything else as given (checked by the layer's bounds)."""
    return int(value) if isinstance(value, bool) else value


def _shown(value: Any) -> str:
    """A bad value for a message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_design_file(path: str | Path, network: Network, *,
                     default_weight_bits: int = MNSIM_BITS,
                     default_act_bits: int = MNSIM_BITS) -> Design:
    """Read a design file (YAML or JSON) for ``network``.

    Raises:
        DesignError: If the file cannot be read or does not fit the network.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DesignError(f"cannot read design file ({exc.strerror})", source=str(path)) from None
    try:
        data = load_document_text(text, json_only=path.suffix == ".json")
    except ValueError as exc:
        raise DesignError(str(exc), source=str(path)) from None
    return design_from_dict(data, network, default_weight_bits=default_weight_bits,
                            default_act_bits=default_act_bits, source=str(path))


@dataclass(frozen=True)
class DesignBatch:
    """Many designs of one network as integer arrays shaped ``[n_designs, n_compute_layers]``.

    Attributes:
        network: The network the designs belong to.
        arrays: Field name (``DESIGN_FIELDS``) -> int64 array ``[n_designs, n_layers]``; may
            also hold ``replication`` (same shape; absent: one copy of every layer) and the
            ``PRUNE_FIELDS`` (absent: nothing pruned).
        hardware: Hardware gene (``HARDWARE_GENES``) -> int64 array ``[n_designs]`` of its
            value per design, 0 where a design keeps the preset's; absent genes are the
            preset's for every design.

    """

    network: Network
    arrays: Mapping[str, IntArray]
    hardware: Mapping[str, IntArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = None
        for name in (*DESIGN_FIELDS, *_OPTIONAL_ARRAYS):
            if name not in self.arrays:
                if name in _OPTIONAL_ARRAYS:
                    continue
                raise DesignError(f"missing array '{name}'", field=name)
            array = self.arrays[name]
            if array.ndim != 2 or array.shape[1] != len(self.network.compute_layers):
                raise DesignError(
                    f"array shape {array.shape} does not match the network", field=name,
                    expected=f"[n_designs, {len(self.network.compute_layers)}]",
                )
            if shape is not None and array.shape != shape:
                raise DesignError("arrays of different shapes", field=name)
            shape = array.shape
        unknown = set(self.arrays) - {*DESIGN_FIELDS, *_OPTIONAL_ARRAYS}
        if unknown:
            raise DesignError(f"unknown array(s) {sorted(unknown)}", field="arrays",
                              expected=", ".join((*DESIGN_FIELDS, *_OPTIONAL_ARRAYS)))
        for gene, values in self.hardware.items():
            if gene not in HARDWARE_GENES:
                raise DesignError(f"unknown hardware gene {gene!r}", field="hardware",
                                  expected="one of " + ", ".join(HARDWARE_GENES))
            if values.shape != (len(self),):
                raise DesignError(f"array shape {values.shape} for {len(self)} designs",
                                  location=("hardware",), field=gene,
                                  expected=f"[{len(self)}]")

    def __len__(self) -> int:
        return int(self.arrays[DESIGN_FIELDS[0]].shape[0])

    def __getitem__(self, name: str) -> IntArray:
        return self.arrays[name]

    @property
    def replication(self) -> IntArray:
        """Copies of each layer's weights, ``[n_designs, n_layers]`` (1 where not given)."""
        given = self.arrays.get("replication")
        if given is not None:
            return given
        ones: IntArray = np.ones_like(self.arrays[DESIGN_FIELDS[0]])
        return ones

    @property
    def replicated(self) -> bool:
        """Whether any layer of any design has more than one copy."""
        given = self.arrays.get("replication")
        return given is not None and bool((given != 1).any())

    def pruning(self, name: str) -> IntArray:
        """A ``PRUNE_FIELDS`` array ``[n_designs, n_layers]`` (0 where not given)."""
        given = self.arrays.get(name)
        if given is not None:
            return given
        zeros: IntArray = np.zeros_like(self.arrays[DESIGN_FIELDS[0]])
        return zeros

    @property
    def pruned(self) -> bool:
        """Whether any layer of any design is pruned."""
        return any(name in self.arrays and bool(self.arrays[name].any())
                   for name in PRUNE_FIELDS)

    def choice_table(self) -> IntArray:
        """``DESIGN_FIELDS`` then ``PRUNE_FIELDS``, ``[n_designs, n_layers, 10]``."""
        return np.stack([*(self.arrays[name] for name in DESIGN_FIELDS),
                         *(self.pruning(name) for name in PRUNE_FIELDS)], axis=-1)

    @property
    def genes(self) -> tuple[str, ...]:
        """The hardware genes some design sets (sorted)."""
        return tuple(sorted(k for k, v in self.hardware.items() if v.any()))

    def hardware_of(self, index: int) -> dict[str, int]:
        """The hardware genes of design ``index`` (those it sets, sorted)."""
        return {gene: int(self.hardware[gene][index]) for gene in self.genes
                if self.hardware[gene][index]}

    @classmethod
    def from_designs(cls, network: Network, designs: Sequence[Design]) -> DesignBatch:
        """Stack designs into arrays (each design is validated)."""
        names = [layer.name for layer in network.compute_layers]
        for design in designs:
            design.validate(network)
        table = np.array(
            [[design.layers[name].as_tuple() for name in names] for design in designs],
            dtype=np.int64,
        ).reshape(len(designs), len(names), len(DESIGN_FIELDS))
        arrays = {field: table[:, :, i] for i, field in enumerate(DESIGN_FIELDS)}
        replication = np.array([[design.layers[name].replication for name in names]
                                for design in designs], dtype=np.int64).reshape(table.shape[:2])
        if (replication != 1).any():
            arrays["replication"] = replication
        for name in PRUNE_FIELDS:
            values = np.array([[getattr(design.layers[layer], name) for layer in names]
                               for design in designs], dtype=np.int64).reshape(table.shape[:2])
            if values.any():
                arrays[name] = values
        genes = sorted({gene for design in designs for gene in design.hardware})
        hardware = {gene: np.array([design.hardware.get(gene, 0) for design in designs],
                                   dtype=np.int64) for gene in genes}
        return cls(network, arrays, hardware)

    @classmethod
    def dense(cls, network: Network, n: int = 1, weight_bits: int = MNSIM_BITS,
              act_bits: int = MNSIM_BITS) -> DesignBatch:
        """``n`` copies of the dense design."""
        return cls.from_designs(network, [Design.dense(network, weight_bits, act_bits)] * n)

    def take(self, index: npt.ArrayLike) -> DesignBatch:
        """The designs at ``index`` (an integer array or a slice of positions), in that order."""
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        return DesignBatch(self.network, {k: v[rows] for k, v in self.arrays.items()},
                           {k: v[rows] for k, v in self.hardware.items()})

    def table(self) -> IntArray:
        """All fields as one array ``[n_designs, n_layers, len(DESIGN_FIELDS)]``."""
        return np.stack([self.arrays[name] for name in DESIGN_FIELDS], axis=-1)

    def digests(self) -> list[str]:
        """:meth:`Design.digest` of every design (from the arrays, no ``Design`` built)."""
        table = np.ascontiguousarray(self.table(), dtype=np.int64)
        pruned = self.pruned
        if not self.replicated and not self.genes and not pruned:
            return [_digest(self.network.name, row.tobytes()) for row in table]
        replication = self.replication
        pruning = (np.stack([self.pruning(name) for name in PRUNE_FIELDS], axis=-1)
                   if pruned else None)
        return [_digest(self.network.name, row.tobytes(),
                        _extras(replication[i], self.hardware_of(i),
                                None if pruning is None else pruning[i]))
                for i, row in enumerate(table)]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every design in the design file format (:meth:`Design.to_dict`), from the arrays."""
        names = [layer.name for layer in self.network.compute_layers]
        a, b, c, d, e, f, g = DESIGN_FIELDS  # literal dicts: the hot path of storing trials
        documents: list[dict[str, Any]] = [{"network": self.network.name,
                      "layers": {name: {a: v[0], b: v[1], c: v[2], d: v[3], e: v[4], f: v[5],
                                        g: v[6]} for name, v in zip(names, rows, strict=True)}}
                     for rows in self.table().tolist()]
        if self.replicated:
            for document, copies in zip(documents, self.replication.tolist(), strict=True):
                for name, count in zip(names, copies, strict=True):
                    if count != 1:
                        document["layers"][name]["replication"] = count
        for name in PRUNE_FIELDS:
            given = self.arrays.get(name)
            if given is None or not given.any():
                continue
            for document, kept in zip(documents, given.tolist(), strict=True):
                for layer_name, count in zip(names, kept, strict=True):
                    if count:
                        document["layers"][layer_name][name] = count
        if self.genes:
            for i, document in enumerate(documents):
                genes = self.hardware_of(i)
                if genes:
                    document["hardware"] = genes
        return documents

    def design(self, index: int) -> Design:
        """The ``index``-th design as a :class:`Design`."""
        replication = self.replication
        pruning = [self.pruning(name) for name in PRUNE_FIELDS]
        layers = {}
        for j, layer in enumerate(self.network.compute_layers):
            cin, cout, height, width, wbits, abits, offsets = (
                int(self.arrays[f][index, j]) for f in DESIGN_FIELDS)
            layers[layer.name] = LayerDesign(cin, cout, height, width, wbits, abits, offsets,
                                             int(replication[index, j]),
                                             *(int(p[index, j]) for p in pruning))
        return Design(self.network.name, layers, self.hardware_of(index))

    def validate(self) -> None:
        """Check every design of the batch (vectorized bounds, then the first bad design).

        Raises:
            DesignError: Naming the first design and layer out of range.

        """
        compute = self.network.compute_layers
        cout = np.array([layer.out_channels for layer in compute])
        cin_g = np.array([layer.in_channels // layer.groups for layer in compute])
        kh = np.array([layer.kernel[0] for layer in compute])
        kw = np.array([layer.kernel[1] for layer in compute])
        a = self.arrays
        ok = (
            (a["epitome_in"] >= 1) & (a["epitome_in"] <= cin_g)
            & (a["epitome_out"] >= 1) & (a["epitome_out"] <= cout)
            & (a["epitome_h"] >= kh) & (a["epitome_w"] >= kw)
            & (a["weight_bits"] >= MIN_BITS) & (a["weight_bits"] <= MAX_BITS)
            & (a["act_bits"] >= MIN_BITS) & (a["act_bits"] <= MAX_BITS)
            & ((a["channel_offsets"] == 0) | (a["channel_offsets"] == 1))
            & (self.replication >= 1) & (self.replication <= MAX_REPLICATION)
        )
        if self.pruned:
            ok &= self._pruning_ok(cout, cin_g, kh, kw)
        if not ok.all():
            row = int(np.argwhere(~ok)[0][0])
            self.design(row).validate(self.network, source=f"design {row}")
        for gene, values in self.hardware.items():
            bad = (values < 0) | (values > MAX_GENE_VALUE)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DesignError(f"bad value {int(values[row])}", source=f"design {row}",
                                  location=("hardware",), field=gene,
                                  expected=f"0 (the preset's) or an integer 1..{MAX_GENE_VALUE}")


    def _pruning_ok(self, cout: IntArray, cin_g: IntArray, kh: IntArray, kw: IntArray
                    ) -> npt.NDArray[np.bool_]:
        """The pruning rules of :func:`validate_layer_design`, vectorized."""
        compute = self.network.compute_layers
        a = self.arrays
        out, rows, cols = (self.pruning(name) for name in PRUNE_FIELDS)
        prunable = prunable_consumers(self.network)
        may_prune_out = np.array([layer.name in prunable for layer in compute])
        single = np.array([layer.groups == 1 for layer in compute])
        dense = ((a["epitome_in"] == cin_g) & (a["epitome_out"] == cout)
                 & (a["epitome_h"] == kh) & (a["epitome_w"] == kw))
        any_pruned = (out != 0) | (rows != 0) | (cols != 0)
        ok: npt.NDArray[np.bool_] = (
            (out >= 0) & (out <= cout) & (rows >= 0) & (rows <= cin_g * kh * kw)
            & (cols >= 0) & (cols <= cout) & ((rows == 0) | (cols == 0))
            & ((out == 0) | may_prune_out) & (~any_pruned | (dense & single)))
        return ok


def scale_design(design: Design, original: Network, scaled: Network) -> Design:
    """Carry a design over to a scaled copy of its network (same layer names).

    Epitome channel *ratios* and bit-widths are kept: ``Cin_E' = round(Cin_E / Cin * Cin')``
    (at least 1), likewise for outputs; the spatial epitome grows with the kernel
    (``P' - kh' = P - kh``); offsets are kept; so are the pruning ratios (kept filters, rows
    and columns as shares of the layer's).

    Raises:
        DesignError: If the networks do not have the same compute layers.

    """
    names = [layer.name for layer in original.compute_layers]
    if names != [layer.name for layer in scaled.compute_layers]:
        raise DesignError("the scaled network has other compute layers", field="network",
                          expected=f"the layers of {original.name}")
    design.validate(original)
    layers = {}
    for name in names:
        before, after = original.layer(name), scaled.layer(name)
        choice = design.layers[name]
        cout, cin_g, kh, kw = before.weight_shape
        cout2, cin_g2, kh2, kw2 = after.weight_shape

        def keep(stored: int, full: int, full2: int) -> int:
            return max(1, min(full2, round(stored / full * full2)))

        layers[name] = LayerDesign(
            epitome_in=keep(choice.epitome_in, cin_g, cin_g2),
            epitome_out=keep(choice.epitome_out, cout, cout2),
            epitome_h=kh2 + (choice.epitome_h - kh),
            epitome_w=kw2 + (choice.epitome_w - kw),
            weight_bits=choice.weight_bits,
            act_bits=choice.act_bits,
            channel_offsets=choice.channel_offsets,
            replication=choice.replication,
            prune_out=scaled_count(choice.prune_out, cout, cout2),
            prune_rows=scaled_count(choice.prune_rows, matrix_rows(before), matrix_rows(after)),
            prune_cols=scaled_count(choice.prune_cols, cout, cout2),
        )
        stored = (layers[name].epitome_in * layers[name].epitome_out * layers[name].epitome_h
                  * layers[name].epitome_w)
        if stored > after.params:  # a spatial epitome that outgrew a shrunken kernel
            layers[name] = replace(layers[name], epitome_h=kh2, epitome_w=kw2)
    return Design(scaled.name, layers, design.hardware)
