"""The crossbar-faithful forward pass: an epitome layer computed the way the crossbars compute it.

The ideal layer (``epim.nn.EpitomeConv2d`` / ``EpitomeLinear`` with their fake quantizers) is
exact arithmetic on quantized weights and activations. On a PIM accelerator the same layer is
(docs/cost_model.md section 1, docs/epitome.md section 5):

1. **Stored rows.** Only the epitome ``E`` is programmed: ``Cin_E * P * Q`` rows (order
   ``(e, p, q)``, the flattened epitome filter) by ``Cout_E`` columns. Inputs that share an
   epitome channel are pre-summed digitally (``xs_e = sum_m x_(e + m Cin_E)``); a channel
   offset rotates the pre-sums, a spatial window drives the rows of its ``kh x kw`` taps
   (one crossbar activation per distinct (offset, window), EPIM's ``n_act``).
2. **Row blocks.** The rows are cut into crossbar blocks as the preset's ``row_packing`` says:
   ``unrolled`` (NeuroSim) ``R`` rows per block; ``kernel`` (MNSIM) whole kernels,
   ``max(1, floor(R / (P Q))) * P * Q`` rows. A block's rows are driven ``dac_rows`` at a time
   (``dacs_per_xbar``), and each such group's column current is one ADC conversion (the cost
   model's ``ceil(rows_used / dacs_per_xbar)`` steps; MNSIM's accuracy model instead widens
   the ADC by ``log2(rows / DAC_Num)`` bits, ``Interface/quantize.py``).
3. **Bit slices.** Integer weights ``q`` (the quantizer's grid) are cut into
   ``ceil(mag / cell_bits)`` slices of ``cell_bits``. ``polarity: 2``: a +/- crossbar pair,
   ``mag = max(b - 1, 1)`` magnitude bits, the positive cell holds the slice of a positive
   weight and the negative cell that of a negative one, subtracted in the analog domain
   (MNSIM ``Sub_Position 0``) so the ADC sees a signed current; the magnitude saturates at
   ``2^(b-1) - 1`` (MNSIM's ``thres``), so the quantizer's lowest level ``-2^(b-1)`` is read as
   ``-(2^(b-1) - 1)`` (``pair_weight_levels`` keeps a proxy off it). ``polarity: 1``:
   offset-binary cells ``u = q + 2^(b-1)`` (``b`` bits; ``(q + 1) / 2`` at 1 bit), the
   offset's share ``2^(b-1) * sum(x)`` subtracted digitally (ISAAC's biased encoding).
   Inputs are fed bit-serially, ``dac_bits`` per cycle; pre-summed inputs are wider than the
   activations and take the cycles their width needs. Inputs that may be negative (a layer
   without an activation quantizer, e.g. the first convolution) are quantized here to
   ``act_bits`` (sign included, step from calibration) and fed as signed slices, as MNSIM
   does.
4. **ADC.** Each (input slice, weight slice, row group) partial sum of each column is
   quantized uniformly: signed ``[-(2^(a-1) - 1), 2^(a-1) - 1]`` levels (MNSIM's clamp) when
   the current can be negative, else ``[0, 2^a - 1]``, over one range per layer: calibrated
   (the largest ``adc_percentile`` of ``|partial sum|`` seen on calibration batches, with
   every ADC ideal; 100 is the maximum) or ``full`` (the largest possible current,
   ``(2^dac_bits - 1)(2^cell_bits - 1) * rows``: MNSIM's ``FIX`` mode).
5. **Digital.** Shift-and-add over input and weight slices, sum over row groups, the
   per-column weight step and the input step, output copies (wrapped output channels), bias.

Device non-idealities are sampled per cell (each cell of a +/- pair on its own) from a seed:
stuck-at faults (MNSIM ``Device_SAF``: a cell stuck at HRS reads level 0, stuck at LRS the
largest level ``2^cell_bits - 1``), then conductance variation ``G' = G * max(0, 1 + sigma *
N(0, 1))`` (NeuroSim's ``vari``: ``remainderQ + remainderQ * normal(0, vari)``; MNSIM's
``Device_Variation`` draws the resistance instead, ``R' = R + N(0, R v / 100)``, the same
relative sigma to first order). Cells at HRS are taken as zero conductance (an infinite on/off
ratio). A sample stays fixed (``sample_devices``) until resampled (a layer never sampled
draws seed 0); in training mode every forward pass draws a new one (noise injection for
hardware-aware fine-tuning).

Training: the hardware output is returned with the gradient of a surrogate, the ideal layer
on the sampled device's effective weights (straight-through over bit slicing, the ADC and
the input quantization; the weights' own LSQ estimator stays): ``y = s + (y_hw - s).detach()``.

Everything runs as tensor operations over row groups, bit slices and activations (one batched
matrix product per chunk of images); only the batch is split into chunks (``CHUNK_ELEMENTS``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from epim.errors import InputError
from epim.nn._build import ComputeBlock, EpimNet, module_key
from epim.nn._epitome import EpitomeConv2d, EpitomeLinear
from epim.nn._quant import ActivationQuantizer, WeightQuantizer

RowPacking = Literal["kernel", "unrolled"]
AdcRange = Literal["calibrated", "full"]
Calibration = Literal["input", "adc"]

#: Largest number of partial sums one chunk of images computes at once (float32: 64 MiB);
#: a larger batch is split into chunks of images.
CHUNK_ELEMENTS = 2**24
#: Most row groups a convolution layer computes with masked convolutions instead of an
#: unfolded matrix product (each group costs a full convolution there).
CONV_PATH_GROUPS = 4
#: Partial sums a percentile calibration looks at per chunk (an evenly strided sample).
PERCENTILE_SAMPLE = 2**20

#: ``(field, low, high)`` of the integer fields of :class:`CrossbarSpec`.
_INTEGER_FIELDS = (("xbar_rows", 1, 2**20), ("dac_rows", 1, 2**20), ("cell_bits", 1, 8),
                   ("dac_bits", 1, 16), ("adc_bits", 1, 24))


@dataclass(frozen=True, kw_only=True)
class CrossbarSpec:
    """What the crossbar-faithful pass needs of the hardware (``epim.proxy.crossbar_spec``).

    Attributes:
        xbar_rows: Rows per crossbar ``R``.
        dac_rows: Rows driven at once (the preset's ``dacs_per_xbar``); each group of them is
            one ADC conversion per column.
        row_packing: ``kernel`` (whole kernels per crossbar, MNSIM) or ``unrolled`` (NeuroSim).
        polarity: 2 (a +/- crossbar pair, analog subtraction) or 1 (offset-binary cells).
        cell_bits: Bits per cell.
        dac_bits: Input bits per DAC cycle.
        adc_bits: ADC resolution.
        variation: Relative standard deviation of a cell's conductance (``sigma``).
        stuck_on: Fraction of cells stuck at LRS (the largest level).
        stuck_off: Fraction of cells stuck at HRS (level 0).
        adc_range: ``calibrated`` (from calibration batches) or ``full`` (the largest possible
            partial sum).
        adc_percentile: The calibrated range is this percentile of ``|partial sum|`` (100: the
            largest seen).

    """

    xbar_rows: int
    dac_rows: int
    row_packing: RowPacking = "kernel"
    polarity: int = 2
    cell_bits: int = 1
    dac_bits: int = 1
    adc_bits: int = 8
    variation: float = 0.0
    stuck_on: float = 0.0
    stuck_off: float = 0.0
    adc_range: AdcRange = "calibrated"
    adc_percentile: float = 100.0

    def __post_init__(self) -> None:
        for name, low, high in _INTEGER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"bad value {value!r}", field=name,
                                 expected=f"an integer {low}..{high}")
        choices: dict[str, tuple[object, ...]] = {
            "polarity": (1, 2), "row_packing": ("kernel", "unrolled"),
            "adc_range": ("calibrated", "full")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"bad value {getattr(self, name)!r}", field=name,
                                 expected="one of " + ", ".join(map(str, allowed)))
        if not (math.isfinite(self.variation) and self.variation >= 0):
            raise InputError(f"bad value {self.variation!r}", field="variation",
                             expected="a relative sigma >= 0")
        for name in ("stuck_on", "stuck_off"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"bad value {getattr(self, name)!r}", field=name,
                                 expected="a fraction of cells, 0..1")
        if self.stuck_on + self.stuck_off > 1:
            raise InputError("stuck-at rates add up to more than 1", field="stuck_on",
                             expected="stuck_on + stuck_off <= 1")
        if not 0 < self.adc_percentile <= 100:
            raise InputError(f"bad value {self.adc_percentile!r}", field="adc_percentile",
                             expected="a percentile in (0, 100]")

    @property
    def ideal_device(self) -> bool:
        """True without variation and stuck cells (every device sample is the same)."""
        return self.variation == 0 and self.stuck_on == 0 and self.stuck_off == 0


def weight_slices(bits: int, spec: CrossbarSpec) -> int:
    """Bit slices of a ``bits``-bit weight: ``ceil(mag / cell_bits)`` (cost model's rule)."""
    magnitude = max(bits - 1, 1) if spec.polarity == 2 else bits
    return -(-magnitude // spec.cell_bits)


def _row_groups(rows: int, kernel_area: int, spec: CrossbarSpec) -> list[list[int]]:
    """Stored rows of each ADC conversion: crossbar blocks, then ``dac_rows`` at a time."""
    block = spec.xbar_rows if spec.row_packing == "unrolled" else \
        max(1, spec.xbar_rows // kernel_area) * kernel_area
    driven = min(spec.dac_rows, block)
    groups = []
    for start in range(0, rows, block):
        end = min(start + block, rows)
        groups += [list(range(s, min(s + driven, end))) for s in range(start, end, driven)]
    return groups


def _unfold_rows(x: torch.Tensor, kernel: tuple[int, int], dilation: tuple[int, int],
                 padding: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """``F.unfold`` laid out rows first: ``[C * kh * kw, N * L]`` (one strided copy).

    Rows are ``(c, i, j)`` as in ``F.unfold``; columns ``(n, output pixel)``.
    """
    n, c, h, w = x.shape
    x = F.pad(x, (padding[1], padding[1], padding[0], padding[0])).contiguous()
    out_h = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    s_n, s_c, s_h, s_w = x.stride()
    view = x.as_strided((c, kernel[0], kernel[1], n, out_h, out_w),
                        (s_c, s_h * dilation[0], s_w * dilation[1], s_n, s_h * stride[0],
                         s_w * stride[1]))
    return view.reshape(c * kernel[0] * kernel[1], n * out_h * out_w)


def _presum(x: torch.Tensor, cin_e: int) -> torch.Tensor:
    """``xs_e = sum_m x_(e + m Cin_E)`` over dimension 1 (zero-padded to whole repeats)."""
    channels = x.shape[1]
    if channels == cin_e:
        return x
    repeats = -(-channels // cin_e)
    if repeats * cin_e > channels:
        pad = x.new_zeros((x.shape[0], repeats * cin_e - channels, *x.shape[2:]))
        x = torch.cat([x, pad], dim=1)
    return x.reshape(x.shape[0], repeats, cin_e, *x.shape[2:]).sum(dim=1)


class CrossbarLayer(nn.Module):
    """An epitome conv or linear layer computed as its crossbars compute it (module docstring).

    The wrapped layer keeps its parameters (epitome, bias, weight quantizer); this module adds
    the crossbar datapath, the calibrated ranges and the device sample.

    Args:
        op: The layer (``groups == 1``).
        spec: The crossbar hardware.
        weight_bits: Weight bits (sign included); ``None`` takes the layer's quantizer's.
        act_bits: Input bits; ``None`` takes the input quantizer's.
        input_quantizer: The activation quantizer whose output this layer receives (its step
            turns inputs into integers); ``None``: inputs are quantized here at ``act_bits``.

    Raises:
        InputError: On a grouped convolution, missing bits, or bits that disagree with the
            layer's quantizers.

    """

    calibrated: torch.Tensor
    adc_range: torch.Tensor
    input_max: torch.Tensor
    input_signed: torch.Tensor
    device_stuck: torch.Tensor
    device_gain: torch.Tensor
    column: torch.Tensor
    activation: torch.Tensor
    window_rows: torch.Tensor
    group_index: torch.Tensor
    group_mask: torch.Tensor
    group_rows: int

    def __init__(self, op: EpitomeConv2d | EpitomeLinear, *, spec: CrossbarSpec,
                 weight_bits: int | None = None, act_bits: int | None = None,
                 input_quantizer: ActivationQuantizer | None = None) -> None:
        super().__init__()
        if isinstance(op, EpitomeConv2d) and op.groups != 1:
            raise InputError("grouped convolutions have no crossbar-faithful pass yet",
                             field="groups", expected="1")
        weight_bits = _agree("weight_bits", weight_bits,
                             op.quantizer.bits if op.quantizer is not None else None)
        act_bits = _agree("act_bits", act_bits,
                          input_quantizer.bits if input_quantizer is not None else None)
        self.op = op
        self.spec = spec
        self.weight_bits, self.act_bits = weight_bits, act_bits
        self.linear = isinstance(op, EpitomeLinear)
        if self.linear:
            self.cout_e, self.cin_e = op.epitome_shape[0], op.epitome_shape[1]
            self.p = self.q = self.kh = self.kw = 1
        else:
            assert isinstance(op, EpitomeConv2d)
            self.cout_e, self.cin_e, self.p, self.q = op.epitome_shape
            self.kh, self.kw = op.kernel_size
        self.weight_quantizer = op.quantizer if op.quantizer is not None else WeightQuantizer(
            weight_bits, channels=self.cout_e)
        self.input_quantizer = input_quantizer
        self.slices = weight_slices(weight_bits, spec)
        self.calibrating: Calibration | None = None
        self._build_geometry()
        device = op.epitome.device
        self.register_buffer("calibrated", torch.tensor(False, device=device))
        self.register_buffer("adc_range", torch.zeros((), device=device))
        self.register_buffer("input_max", torch.zeros((), device=device))
        self.register_buffer("input_signed", torch.tensor(False, device=device))
        self.register_buffer("device_stuck", torch.zeros(0, dtype=torch.int8, device=device),
                             persistent=False)
        self.register_buffer("device_gain", torch.zeros(0, device=device), persistent=False)

    # ---------------------------------------------------------------- geometry (once)
    def _build_geometry(self) -> None:
        """Activations (channel offset, window) per output channel, and the ADC row groups.

        Read from the layer's public ``index`` (``W = E.flatten()[index]``); a mapping that is
        not a wrap with offsets and windows is refused.
        """
        index = self.op.index.detach().cpu().long()
        cout = index.shape[0]
        index = index.reshape(cout, -1, self.kh, self.kw)
        cin_g = index.shape[1]
        p, q, cin_e = self.p, self.q, self.cin_e
        base = index[:, 0, 0, 0]
        q0, p0 = base % q, (base // q) % p
        shift, column = (base // (p * q)) % cin_e, base // (p * q * cin_e)
        ci = torch.arange(cin_g).view(1, -1, 1, 1)
        rows = torch.arange(self.kh).view(1, 1, -1, 1)
        cols = torch.arange(self.kw).view(1, 1, 1, -1)
        expected = (((column.view(-1, 1, 1, 1) * cin_e + (ci + shift.view(-1, 1, 1, 1)) % cin_e)
                     * p + p0.view(-1, 1, 1, 1) + rows) * q + q0.view(-1, 1, 1, 1) + cols)
        if not torch.equal(expected, index):
            raise InputError("the layer's weight is not a wrapped epitome", field="index",
                             expected="channel wrapping with offsets and spatial windows")
        keys = torch.stack([shift, p0, q0], dim=1)
        unique, activation = torch.unique(keys, dim=0, return_inverse=True)
        self.shifts = [int(v) for v in unique[:, 0]]
        stored = cin_e * p * q
        channel = torch.arange(cin_e).view(-1, 1, 1)
        tap_rows, tap_cols = torch.arange(self.kh).view(1, -1, 1), torch.arange(self.kw)
        window = torch.stack([((channel * p + a + tap_rows) * q + b + tap_cols).flatten()
                              for a, b in unique[:, 1:].tolist()])
        self.identity_window = len(self.shifts) == 1 and (p, q) == (self.kh, self.kw)
        groups = _row_groups(stored, p * q, self.spec)
        width = max(len(g) for g in groups)
        group_index = torch.full((len(groups), width), stored, dtype=torch.long)
        for g, members in enumerate(groups):
            group_index[g, :len(members)] = torch.tensor(members)
        self.group_rows = width
        #: Whether some group is shorter than the widest (its slots read the zero row).
        self.padded_groups = any(len(g) < width for g in groups)
        #: Whether the groups are not simply the stored rows in order.
        self.gather_rows = self.padded_groups or not torch.equal(
            group_index.flatten(), torch.arange(stored))
        #: Whether a convolution with per-group masked weights computes the partial sums (one
        #: activation, a few groups): no unfolded copy of the input, ``G`` times the products.
        self.conv_path = not self.linear and self.identity_window and self.shifts == [0] \
            and len(groups) <= CONV_PATH_GROUPS
        mask = torch.zeros(len(groups), stored)
        for g, members in enumerate(groups):
            mask[g, members] = 1.0
        device = self.op.epitome.device
        self.register_buffer("column", column.to(device), persistent=False)
        self.register_buffer("activation", activation.to(device), persistent=False)
        self.register_buffer("window_rows", window.to(device), persistent=False)
        self.register_buffer("group_index", group_index.to(device), persistent=False)
        self.register_buffer("group_mask", mask.to(device), persistent=False)

    # ---------------------------------------------------------------- weights and cells
    def _weight_integers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer epitome ``q`` (``[Cout_E, rows]``) and the step of each column."""
        quantizer = self.weight_quantizer
        epitome = self.op.epitome.detach()
        if not bool(quantizer.initialized):
            quantizer(epitome)  # the quantizer's own lazy step initialization
        step = quantizer.step.detach().abs().clamp_min(1e-12)
        step = step.expand(self.cout_e) if step.numel() == 1 else step
        flat = epitome.reshape(self.cout_e, -1)
        if self.weight_bits == 1:
            q = torch.where(flat >= 0, 1.0, -1.0)
        else:
            q = torch.clamp(torch.round(flat / step.view(-1, 1)), quantizer.q_min,
                            quantizer.q_max)
        return q, step

    def _cells(self, q: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        """Cell levels ``[slices, polarity, Cout_E, rows]`` and ``(alpha, beta)``.

        The layer's integer weight is ``alpha * sum_t 2^(t cell_bits) v_t - beta`` with ``v_t``
        the slice's (positive minus negative) cell levels.
        """
        bits, cell_bits = self.weight_bits, self.spec.cell_bits
        powers = (2.0 ** (cell_bits * torch.arange(self.slices, device=q.device))).view(-1, 1, 1)
        if self.spec.polarity == 2:
            limit = 2 ** (bits - 1) - 1 if bits >= 2 else 1
            q = q.clamp(-limit, limit)
            digits = torch.remainder(torch.floor(q.abs() / powers), 2**cell_bits)
            return torch.stack([digits * (q > 0), digits * (q < 0)], dim=1), 1.0, 0.0
        if bits == 1:
            unsigned, alpha, beta = (q + 1) / 2, 2.0, 1.0
        else:
            unsigned, alpha, beta = q + 2 ** (bits - 1), 1.0, float(2 ** (bits - 1))
        digits = torch.remainder(torch.floor(unsigned / powers), 2**cell_bits)
        return digits.unsqueeze(1), alpha, beta

    def sample_device(self, generator: torch.Generator | None = None) -> None:
        """Draw this layer's stuck cells and conductance gains (kept until the next draw)."""
        shape = (self.slices, self.spec.polarity, self.cout_e, self.cin_e * self.p * self.q)
        stuck, gain = self._draw(shape, generator, torch.device("cpu"))
        device = self.op.epitome.device
        self.device_stuck, self.device_gain = stuck.to(device), gain.to(device)

    def _draw(self, shape: tuple[int, ...], generator: torch.Generator | None,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.spec
        uniform = torch.rand(shape, generator=generator, device=device)
        stuck = torch.zeros(shape, dtype=torch.int8, device=device)
        stuck[uniform < spec.stuck_off] = 1
        stuck[uniform >= 1 - spec.stuck_on] = 2
        gain = (1 + spec.variation * torch.randn(shape, generator=generator, device=device)
                ).clamp_min(0)
        return stuck, gain

    def _device_values(self, cells: torch.Tensor) -> torch.Tensor:
        """Each slice's read value ``[slices, Cout_E, rows]`` on the current device sample."""
        if not self.spec.ideal_device and self.calibrating is None:
            if self.training:
                stuck, gain = self._draw(tuple(cells.shape), None, cells.device)
            else:
                if self.device_stuck.shape != cells.shape:
                    self.sample_device(torch.Generator().manual_seed(0))
                stuck, gain = self.device_stuck, self.device_gain
            top = float(2**self.spec.cell_bits - 1)
            cells = torch.where(stuck == 1, 0.0, torch.where(stuck == 2, top, cells)) * gain
        return cells[:, 0] - cells[:, 1] if self.spec.polarity == 2 else cells[:, 0]

    # ---------------------------------------------------------------- inputs
    def _input_integers(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Integer inputs, their step, and whether they may be negative."""
        x = x.detach()
        if self.input_quantizer is not None:
            step = self.input_quantizer.step.detach().abs().clamp_min(1e-12).reshape(())
            levels = self.input_quantizer.q_max
            return (x / step).round().clamp(0, levels), step, False
        if self.calibrating == "input" or not bool(self.calibrated):
            self.input_max.copy_(torch.maximum(self.input_max, x.abs().amax()))
            self.input_signed.copy_(self.input_signed | (x < 0).any())
        signed = bool(self.input_signed)
        levels = max(2 ** (self.act_bits - 1) - 1, 1) if signed else 2**self.act_bits - 1
        step = (self.input_max / levels).clamp_min(1e-12)
        return (x / step).round().clamp(-levels if signed else 0, levels), step, signed

    def _input_slices(self, signed: bool) -> int:
        """DAC cycles of a pre-summed input: its width over ``dac_bits``."""
        levels = max(2 ** (self.act_bits - 1) - 1, 1) if signed else 2**self.act_bits - 1
        channels = self.op.in_features if isinstance(self.op, EpitomeLinear) \
            else self.op.in_channels
        largest = -(-channels // self.cin_e) * levels
        return -(-int(largest).bit_length() // self.spec.dac_bits)

    def _stored_inputs(self, xs: torch.Tensor) -> torch.Tensor:
        """Inputs on the stored rows: ``[rows (+1 zero row), A * N * L]`` (rows first).

        Each activation (channel offset, window) drives its window's rows with its rotation of
        the pre-sums; the other rows see zero.
        """
        if self.linear:
            columns = [(torch.roll(xs, shift, dims=1) if shift else xs).t()
                       for shift in self.shifts]
        else:
            assert isinstance(self.op, EpitomeConv2d)
            op = self.op
            columns = [_unfold_rows(torch.roll(xs, shift, dims=1) if shift else xs,
                                    self.op.kernel_size, op.dilation, op.padding, op.stride)
                       for shift in self.shifts]
        width = columns[0].shape[1]
        stored = self.cin_e * self.p * self.q
        extra = 1 if self.padded_groups else 0
        if self.identity_window:
            if not extra:
                return columns[0]
            return torch.cat([columns[0], columns[0].new_zeros(1, width)])
        out = xs.new_zeros(stored + extra, len(columns), width)
        for a, unfolded in enumerate(columns):  # activations (1 for plain wrapping)
            out[:, a].index_copy_(0, self.window_rows[a], unfolded)
        return out.view(stored + extra, -1)

    # ---------------------------------------------------------------- the crossbar
    def _crossbar(self, x_int: torch.Tensor, values: torch.Tensor, signed_in: bool,
                  alpha: float, beta: float) -> torch.Tensor:
        """Integer outputs ``[N, Cout, L]`` of the crossbars for integer inputs ``x_int``."""
        spec = self.spec
        xs = _presum(x_int, self.cin_e)
        in_slices = self._input_slices(signed_in)
        shifts = spec.dac_bits * torch.arange(in_slices, device=xs.device, dtype=torch.int32)
        in_powers = 2.0 ** shifts.to(xs.dtype)
        w_powers = 2.0 ** (spec.cell_bits * torch.arange(self.slices, device=xs.device,
                                                          dtype=xs.dtype))
        padded = torch.cat([values, values.new_zeros(self.slices, self.cout_e, 1)], dim=2)
        groups = self.group_index.shape[0]
        weights = padded[:, :, self.group_index].permute(2, 0, 1, 3).reshape(
            groups, self.slices * self.cout_e, self.group_rows)        # [G, S*C, r]
        rows = self.group_index.flatten()
        signed_adc = signed_in or spec.polarity == 2
        acts = len(self.shifts)
        pixels = self._pixels(xs)
        per_image = groups * max(self.group_rows, self.slices * self.cout_e) * in_slices \
            * acts * pixels
        chunk = max(1, CHUNK_ELEMENTS // per_image)
        conv_weights = None
        if self.conv_path:  # each group's rows of the stored epitome, zero elsewhere
            masked = values.unsqueeze(0) * self.group_mask.view(groups, 1, 1, -1)
            conv_weights = masked.reshape(groups * self.slices * self.cout_e, self.cin_e,
                                          self.kh, self.kw)
        outputs = []
        for start in range(0, xs.shape[0], chunk):  # chunks of images only (memory bound)
            part = xs[start:start + chunk]
            m = part.shape[0]
            # bit-serial inputs: DAC digits of each pre-sum (signed digits for signed inputs)
            magnitude = part.abs().to(torch.int32).unsqueeze(0)
            shape = (-1,) + (1,) * part.dim()
            digits = ((magnitude >> shifts.view(shape)) & (2**spec.dac_bits - 1)).to(xs.dtype)
            if signed_in:
                digits = digits * part.sign()
            if conv_weights is not None:  # one convolution gives every group's partial sums
                assert isinstance(self.op, EpitomeConv2d)
                op = self.op
                partial = F.conv2d(digits.flatten(0, 1), conv_weights, None, op.stride,
                                   op.padding, op.dilation)            # [I*m, G*S*C, Ho, Wo]
                lsb = self._adc(partial, signed_adc)
                y = torch.matmul((in_powers * lsb).view(1, -1), partial.view(in_slices, -1))
                y = y.view(m, groups, self.slices, self.cout_e, pixels).sum(dim=1)
                y = torch.tensordot(w_powers, y, dims=([0], [1]))      # [m, C, L]
                if alpha != 1.0:
                    y = y * alpha
                if beta:
                    ones = part.new_ones(1, 1, *op.kernel_size)
                    offset = F.conv2d(part.sum(dim=1, keepdim=True), ones, None, op.stride,
                                      op.padding, op.dilation)
                    y = y - beta * offset.view(m, 1, pixels)
                outputs.append(y[:, self.column])                      # [m, Cout, L]
                continue
            stored = self._stored_inputs(digits.flatten(0, 1))     # [rows, A*I*m*L]
            inputs = (stored.index_select(0, rows) if self.gather_rows else stored).view(
                groups, self.group_rows, acts * in_slices * m * pixels)   # [G, r, A*I*m*L]
            partial = torch.mm(weights[0], inputs[0]).unsqueeze(0) if groups == 1 else \
                torch.bmm(weights, inputs)                             # [G, S*C, A*I*m*L]
            lsb = self._adc(partial, signed_adc)
            # shift-and-add: input slices (a GEMV per column), then weight slices and groups
            partial = partial.view(groups * self.slices * self.cout_e * acts, in_slices,
                                   m * pixels)
            y = torch.matmul((in_powers * lsb).view(1, 1, -1), partial).view(
                groups, self.slices, self.cout_e, acts, m * pixels)
            y = torch.tensordot(w_powers, y.sum(dim=0), dims=([0], [0]))  # [C, A, m*L]
            if alpha != 1.0:
                y = y * alpha
            if beta:
                rows_sum = stored.sum(dim=0).view(acts, in_slices, m * pixels)
                offset = torch.matmul(in_powers.view(1, 1, -1), rows_sum).view(acts, -1)
                y = y - beta * offset.unsqueeze(0)
            y = y[self.column, self.activation].view(-1, m, pixels)    # [Cout, m, L]
            outputs.append(y.permute(1, 0, 2))
        return torch.cat(outputs, dim=0)

    def _pixels(self, xs: torch.Tensor) -> int:
        """Output pixels ``L`` of one image (1 for a linear layer)."""
        if self.linear:
            return 1
        assert isinstance(self.op, EpitomeConv2d)
        return math.prod(self._output_size(xs))

    def _output_size(self, x: torch.Tensor) -> list[int]:
        assert isinstance(self.op, EpitomeConv2d)
        op = self.op
        return [(x.shape[2 + i] + 2 * op.padding[i] - op.dilation[i] * (op.kernel_size[i] - 1)
                 - 1) // op.stride[i] + 1 for i in range(2)]

    def _adc(self, partial: torch.Tensor, signed: bool) -> float:
        """Calibrate on, or convert (in place, to codes), one chunk's partial sums; the LSB."""
        if self.calibrating == "adc" or (self.calibrating is None
                                         and not bool(self.calibrated)):
            self._observe(partial)
        return self._quantize_adc(partial, signed) if self.calibrating is None else 1.0

    def _observe(self, partial: torch.Tensor) -> None:
        """Widen the calibrated ADC range to this chunk's statistic of ``|partial sum|``."""
        if self.spec.adc_percentile >= 100:
            low, high = torch.aminmax(partial)
            value = torch.maximum(-low, high)
        else:
            magnitude = partial.flatten()
            stride = max(1, magnitude.numel() // PERCENTILE_SAMPLE)
            magnitude = magnitude[::stride].abs()
            value = torch.quantile(magnitude, self.spec.adc_percentile / 100)
        self.adc_range.copy_(torch.maximum(self.adc_range, value))

    def adc_full_scale(self) -> float:
        """The largest possible ``|partial sum|``, ``(2^dac - 1)(2^cell - 1) * rows``."""
        return float((2**self.spec.dac_bits - 1) * (2**self.spec.cell_bits - 1)
                     * self.group_rows)

    def _quantize_adc(self, partial: torch.Tensor, signed: bool) -> float:
        """Uniform ADC, in place to integer codes; returns the LSB (code 1 as a partial sum).

        Signed ``+-(2^(a-1) - 1)`` or unsigned ``0..2^a - 1`` levels over the layer's range.
        """
        bits = self.spec.adc_bits
        top = max((1 << (bits - 1)) - 1, 1) if signed else (1 << bits) - 1
        full = self.spec.adc_range == "full"
        value = self.adc_full_scale() if full else float(self.adc_range)
        lsb = max(value, 1e-12) / top
        partial.div_(lsb).round_().clamp_(-top if signed else 0, top)
        return lsb

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output as the crossbars compute it (same shape as the layer's)."""
        lead = x.shape[:-1]
        if self.linear:
            x = x.reshape(-1, x.shape[-1])
        with torch.no_grad():
            x_int, x_step, signed = self._input_integers(x)
            q, w_step = self._weight_integers()
            cells, alpha, beta = self._cells(q)
            values = self._device_values(cells)
            if self.calibrating == "input":  # ideal ADCs and cells: the matrix product is exact
                y = self._surrogate(x, x_int, x_step, values, alpha, beta, w_step)
                return y.reshape(*lead, -1) if self.linear else y
            y = self._crossbar(x_int, values, signed, alpha, beta)
            y = y * (w_step[self.column].view(1, -1, 1) * x_step)
            y = self._shape_output(y, x)
        self.calibrated.fill_(True)  # a layer never calibrated took its ranges from x
        if torch.is_grad_enabled():
            surrogate = self._surrogate(x, x_int, x_step, values, alpha, beta, w_step)
            y = surrogate + (y - surrogate).detach()
        return y.reshape(*lead, -1) if self.linear else y

    def _shape_output(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[N, Cout, L]`` to the layer's output shape, plus its bias."""
        bias = self.op.bias.detach() if self.op.bias is not None else None
        if self.linear:
            y = y.squeeze(-1)
            return y if bias is None else y + bias
        y = y.reshape(y.shape[0], y.shape[1], *self._output_size(x))
        return y if bias is None else y + bias.view(1, -1, 1, 1)

    def _surrogate(self, x: torch.Tensor, x_int: torch.Tensor, x_step: torch.Tensor,
                   values: torch.Tensor, alpha: float, beta: float,
                   w_step: torch.Tensor) -> torch.Tensor:
        """The ideal layer on the device's effective weights: the gradient's path."""
        ideal = self.weight_quantizer(self.op.epitome)
        powers = 2.0 ** (self.spec.cell_bits * torch.arange(self.slices, device=x.device))
        levels = alpha * (values * powers.view(-1, 1, 1)).sum(dim=0) - beta
        effective = (levels * w_step.view(-1, 1)).view_as(ideal)
        epitome = ideal + (effective - ideal).detach()
        if self.input_quantizer is None:
            x = x + (x_int * x_step - x).detach()
        weight = epitome.flatten()[self.op.index]
        if self.linear:
            return F.linear(x, weight, self.op.bias)
        assert isinstance(self.op, EpitomeConv2d)
        op = self.op
        return F.conv2d(x, weight, op.bias, op.stride, op.padding, op.dilation)

    def extra_repr(self) -> str:
        spec = self.spec
        return (f"weight_bits={self.weight_bits}, act_bits={self.act_bits}, "
                f"slices={self.slices}, row_groups={self.group_index.shape[0]}x"
                f"{self.group_rows}, activations={len(self.shifts)}, adc_bits={spec.adc_bits}, "
                f"dac_bits={spec.dac_bits}, polarity={spec.polarity}")


def _agree(name: str, given: int | None, found: int | None) -> int:
    if given is None and found is None:
        raise InputError("not known for this layer", field=name,
                         expected="bits from the layer's quantizer or given explicitly")
    if given is not None and found is not None and given != found:
        raise InputError(f"{given} disagrees with the layer's quantizer ({found})", field=name,
                         expected=str(found))
    return int(given if given is not None else found)  # type: ignore[arg-type]


# -------------------------------------------------------------------- whole models
def crossbar_layers(model: nn.Module) -> list[CrossbarLayer]:
    """The crossbar layers of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, CrossbarLayer)]


def crossbar_model(model: nn.Module, spec: CrossbarSpec, *,
                   bits: Mapping[str, tuple[int, int]] | None = None,
                   copy_model: bool = True) -> nn.Module:
    """``model`` with every epitome conv/linear layer computed on crossbars.

    Layers inside a :class:`ComputeBlock` read their input step from the block's activation
    quantizer; other epitome layers quantize their own inputs. A model that already has
    crossbar layers gets them rebuilt for ``spec`` (e.g. evaluated at another ADC).

    Args:
        model: A trained model (e.g. a proxy ``EpimNet``); copied unless ``copy_model`` is
            false.
        spec: The crossbar hardware.
        bits: ``(weight_bits, act_bits)`` by the dotted module name of an epitome layer, for
            layers whose quantizers do not say (a float model); an ``EpimNet`` falls back on
            its design's bits.
        copy_model: Work on a deep copy (default) or convert ``model`` in place.

    Raises:
        InputError: If a layer's bits are not known, or it cannot be mapped.

    """
    target = copy.deepcopy(model) if copy_model else model
    for name, module in list(target.named_modules()):
        if isinstance(module, CrossbarLayer):
            _replace(target, name, module.op)
    known = dict(_design_bits(target))
    known.update(bits or {})
    for name, module in list(target.named_modules()):
        if not isinstance(module, EpitomeConv2d | EpitomeLinear):
            continue
        parent_name = name.rpartition(".")[0]
        parent = target.get_submodule(parent_name) if parent_name else target
        input_quantizer = parent.act_quant if isinstance(parent, ComputeBlock) else None
        weight_bits, act_bits = known.get(name, (None, None))
        if module.quantizer is not None:
            weight_bits = None
        if input_quantizer is not None:
            act_bits = None
        try:
            layer = CrossbarLayer(module, spec=spec, weight_bits=weight_bits, act_bits=act_bits,
                                  input_quantizer=input_quantizer)
        except InputError as error:
            raise InputError(error.message, location=(name,), field=error.field,
                             expected=error.expected) from None
        _replace(target, name, layer)
    return target


def _design_bits(model: nn.Module) -> dict[str, tuple[int, int]]:
    """An ``EpimNet``'s design bits by the module name of each layer's epitome op."""
    if not isinstance(model, EpimNet):
        return {}
    return {f"blocks.{module_key(name)}.op": (choice.weight_bits, choice.act_bits)
            for name, choice in model.design.layers.items()}


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, module)


def pair_weight_levels(model: nn.Module) -> int:
    """Restrict every weight quantizer of ``model`` to the levels a +/- pair stores.

    A ``b``-bit weight on a polarity-2 crossbar pair has ``b - 1`` magnitude bits, so
    ``-2^(b-1)`` (the quantizer's lowest level) reads as ``-(2^(b-1) - 1)``; a proxy trained
    for such hardware should never use it (MNSIM's networks are quantized symmetrically).
    Sets ``q_min = -q_max`` on quantizers of 2 bits or more, before training (the MSE step
    search then uses the symmetric grid too). Returns how many quantizers it changed.
    """
    changed = 0
    for module in model.modules():
        if isinstance(module, WeightQuantizer) and module.bits >= 2 \
                and module.q_min != -module.q_max:
            module.q_min = -module.q_max
            changed += 1
    return changed


def sample_devices(model: nn.Module, seed: int) -> None:
    """Draw every crossbar layer's stuck cells and conductance gains from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    for layer in crossbar_layers(model):
        layer.sample_device(generator)


@torch.no_grad()
def calibrate_crossbars(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Set every crossbar layer's input and ADC ranges from ``batches`` (design time).

    Two passes over the batches in eval mode, with ideal ADCs and ideal cells: the first sets
    the input ranges of layers that quantize their own inputs (largest ``|x|``; the layers
    compute their exact product there, which ideal ADCs give), the second the ADC ranges (the
    ``adc_percentile`` of ``|partial sum|``; the largest over chunks and batches).
    """
    layers = crossbar_layers(model)
    inputs = list(batches)
    was_training = model.training
    model.eval()
    try:
        for layer in layers:
            layer.adc_range.zero_()
            layer.input_max.zero_()
            layer.input_signed.fill_(False)
        phases: tuple[Calibration, ...] = ("input", "adc")
        for phase in phases:
            for layer in layers:
                layer.calibrating = phase
            for batch in inputs:
                model(batch)
    finally:
        for layer in layers:
            layer.calibrating = None
            layer.calibrated.fill_(True)
        model.train(was_training)
