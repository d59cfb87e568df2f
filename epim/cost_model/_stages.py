"""The stages of ``CostModel.evaluate``, each a function of arrays ``[n_designs, n_compute]``.

mapping -> crossbar activations -> latency of one activation -> epitome overheads -> action
counts -> energy (counts x action energies). Each stage is a fixed sequence of numpy
broadcasts (no loop over designs or layers) and is testable alone; the equations and their
sources are in ``docs/cost_model.md`` (sections named per function) and ``docs/epitome.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from epim.cost_model._hardware import Hardware
from epim.cost_model._static import NetworkArrays
from epim.space import DesignBatch

FloatArray = npt.NDArray[np.float64]


def ceil_div(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``ceil(a / b)`` elementwise for integer-valued operands, in float64.

    Exact for the operand sizes here (far below 2**26): a non-integer quotient is at least
    ``1/b`` away from an integer, far more than one ulp. Floats keep the hot path fast.
    """
    result: FloatArray = np.ceil(np.divide(a, b))
    return result


def floor_div(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``floor(a / b)`` elementwise for integer-valued operands, in float64."""
    result: FloatArray = np.floor(np.divide(a, b))
    return result


def ceil_div_f(a: npt.ArrayLike, b: float) -> FloatArray:
    """Floating ``ceil(a / b)`` elementwise."""
    result: FloatArray = np.ceil(np.asarray(a, dtype=np.float64) / b)
    return result


@dataclass(frozen=True)
class DesignArrays:
    """A batch's design fields as float64 arrays ``[n_designs, n_compute]``."""

    cin_e: FloatArray
    cout_e: FloatArray
    epitome_h: FloatArray
    epitome_w: FloatArray
    weight_bits: FloatArray
    act_bits: FloatArray
    channel_offsets: FloatArray

    @classmethod
    def from_batch(cls, batch: DesignBatch) -> DesignArrays:
        """Convert once; every stage reads these."""
        return cls(*(batch[name].astype(np.float64) for name in (
            "epitome_in", "epitome_out", "epitome_h", "epitome_w", "weight_bits", "act_bits",
            "channel_offsets")))


@dataclass(frozen=True)
class Mapping:
    """How each layer's stored epitome sits on crossbars (docs/cost_model.md section 1).

    Attributes:
        slices: Bit slices per weight.
        cout_stored: Stored output channels per group.
        stored_groups: Groups the epitome stores.
        kernel_area: ``P * Q`` of the stored epitome.
        row_blocks: Crossbars stacked along the rows (``n_r``).
        units: Crossbar units (a +/- pair counts once).
        rows_used: Rows a unit drives.
        cols_used: Columns a unit reads.
        crossbars: Physical crossbars (``polarity * units``).
        tiles: Tiles of the layer.
        pes: PEs the layer uses in one tile.

    """

    slices: FloatArray
    cout_stored: FloatArray
    stored_groups: FloatArray
    kernel_area: FloatArray
    row_blocks: FloatArray
    units: FloatArray
    rows_used: FloatArray
    cols_used: FloatArray
    crossbars: FloatArray
    tiles: FloatArray
    pes: FloatArray


def map_layers(c: Hardware, g: NetworkArrays, d: DesignArrays,
               rows_kept: FloatArray | None = None, cols_kept: FloatArray | None = None
               ) -> Mapping:
    """Bit slices, row and column blocks, block-diagonal group packing, crossbars, tiles.

    ``rows_kept`` (``cols_kept``), ``[n, n_compute]``, are the rows (columns) crossbar-aware
    pruning keeps in every column (row) block, 0 where it keeps all
    (``epim.cost_model._pruning``): the kept rows are compacted into
    ``ceil(rows_kept / xbar_rows)`` crossbars per column block, whole kernels or not; the
    kept columns fill the column blocks of every row block as ``Cout_E`` columns would.
    """
    rows_x, cols_x = c.xbar_rows, c.xbar_cols
    mag = np.maximum(d.weight_bits - 1, 1) if c.polarity == 2 else d.weight_bits
    slices = ceil_div(mag, c.cell_bits)
    cout_stored = np.minimum(d.cout_e, g.cout_per_group)
    stored_groups = ceil_div(d.cout_e, g.cout_per_group)
    pq = d.epitome_h * d.epitome_w
    rows_g = d.cin_e * pq
    if c.row_packing == "kernel":
        channels_per_xbar = np.maximum(floor_div(rows_x, pq), 1)
        n_r = ceil_div(d.cin_e, channels_per_xbar)
        row_cap = channels_per_xbar * pq
    else:
        n_r = ceil_div(rows_g, rows_x)
        row_cap = np.full_like(rows_g, rows_x)
    if rows_kept is not None:  # compacted rows: any rows share a crossbar
        row_pruned = rows_kept > 0
        n_r = np.where(row_pruned, ceil_div(rows_kept, rows_x), n_r)
        row_cap = np.where(row_pruned, float(rows_x), row_cap)
        rows_g = np.where(row_pruned, rows_kept, rows_g)
    cout_cols = cout_stored if cols_kept is None else np.where(cols_kept > 0, cols_kept,
                                                               cout_stored)
    if c.slice_placement == "crossbar":
        cols_g = cout_cols
        # MNSIM: a PE holds xbar_groups crossbar pairs, so slices fill whole groups
        placed = ceil_div(slices, c.xbar_groups) * c.xbar_groups if c.xbar_groups > 1 \
            else slices
        n_c = placed * ceil_div(cols_g, cols_x)
    else:
        cols_g = cout_cols * slices
        n_c = ceil_div(cols_g, cols_x)
    packed = np.minimum(np.maximum(np.minimum(floor_div(row_cap, rows_g),
                                              floor_div(cols_x, cols_g)), 1),
                        stored_groups)
    units = ceil_div(stored_groups, packed) * n_r * n_c
    crossbars = c.polarity * units
    return Mapping(
        slices=slices, cout_stored=cout_stored, stored_groups=stored_groups, kernel_area=pq,
        row_blocks=n_r, units=units,
        rows_used=np.minimum(rows_g, row_cap) * packed,
        cols_used=np.minimum(cols_g, cols_x) * packed,
        crossbars=crossbars,
        tiles=ceil_div(crossbars, c.crossbars_per_tile),
        pes=np.minimum(ceil_div(crossbars, c.pe_crossbars), c.tile_pes))


@dataclass(frozen=True)
class Activations:
    """Crossbar activations of each layer (docs/epitome.md section 5, cost_model.md 2).

    Attributes:
        out_blocks: Output blocks, ``ceil(Cout / Cout_E)``.
        windows: Spatial windows of the epitome, ``(P - kh + 1) (Q - kw + 1)``.
        per_pixel: Activations per output pixel (``n_act``).
        total: Activations per inference (``pixels * n_act``).

    """

    out_blocks: FloatArray
    windows: FloatArray
    per_pixel: FloatArray
    total: FloatArray


def count_activations(g: NetworkArrays, d: DesignArrays, m: Mapping) -> Activations:
    """``n_act``: 1 for plain wrapping, distinct (offset, window) pairs otherwise."""
    out_blocks = ceil_div(g.cout, d.cout_e)
    windows = (d.epitome_h - g.kh + 1) * (d.epitome_w - g.kw + 1)
    offsets = np.where(d.channel_offsets > 0, np.minimum(out_blocks, d.cin_e), 1)
    n_act = np.minimum(out_blocks, offsets * windows)
    n_act = n_act * ceil_div(g.groups, m.stored_groups)  # shared group weights reused in time
    return Activations(out_blocks=out_blocks, windows=windows, per_pixel=n_act,
                       total=(g.pixels * n_act).astype(np.float64))


@dataclass(frozen=True)
class ActivationLatency:
    """The time of one crossbar activation, by part (s; docs/cost_model.md section 3).

    Attributes:
        dac_cycles: Input bit-serial cycles, ``ceil(b_a / dac_bits)``.
        steps: DAC/read/ADC steps per activation.
        compute_s: DAC + cell read + ADC, per step.
        digital_s: Registers, shift-add, decoders, muxes, the crossbar-group adders and the
            PE adder tree.
        intra_tile_s: The tile's adder tree over the intra-tile bus.
        buffer_reads: Buffer reads per activation (window read, output read).
        buffer_writes: Buffer writes per activation (line write, partial-sum write).
        buffer_s: Their time.
        pipelined_line_writes: Line-buffer writes per activation in MNSIM's pipelined mode,
            which fills the line buffer a window column at a time (its mode 1) where the
            layer-by-layer mode fills whole input rows (averaged over the output map).
        line_writes: The layer-by-layer line-buffer writes per activation (in
            ``buffer_writes``).
        merge_hops: Hops over which the layer merges its partial sums (placement).
        transfer_hops: Hops to the farthest tile the layer feeds (placement).
        merge_s: That merge.
        transfer_s: Sending the outputs to the next layer.

    """

    dac_cycles: FloatArray
    steps: FloatArray
    compute_s: FloatArray
    digital_s: FloatArray
    intra_tile_s: FloatArray
    buffer_reads: FloatArray
    buffer_writes: FloatArray
    buffer_s: FloatArray
    pipelined_line_writes: FloatArray
    line_writes: FloatArray
    merge_hops: FloatArray
    transfer_hops: FloatArray
    merge_s: FloatArray
    transfer_s: FloatArray

    @property
    def total_s(self) -> FloatArray:
        """The whole activation (s)."""
        total: FloatArray = (self.compute_s + self.digital_s + self.intra_tile_s
                             + self.buffer_s + self.merge_s + self.transfer_s)
        return total

    def pipelined_extra_s(self, buffer_access_s: float) -> FloatArray:
        """What MNSIM's pipelined mode adds to an activation (s; its line-buffer writes)."""
        extra: FloatArray = (self.pipelined_line_writes - self.line_writes) * buffer_access_s
        return extra


def activation_latency(c: Hardware, g: NetworkArrays, d: DesignArrays,
                       m: Mapping, merge_hops: FloatArray,
                       transfer_hops: FloatArray) -> ActivationLatency:
    """MNSIM's PE and tile latency of one activation, in closed form.

    ``merge_hops`` and ``transfer_hops`` (``[n, n_compute]``) come from the tile placement
    (:func:`epim.cost_model._placement.layer_distances`).
    """
    width, t_acc, clk = c.buffer_width_bits, c.buffer_access_s, c.digital_clock_s
    abits = d.act_bits
    dac_cycles = ceil_div(abits, c.dac_bits)
    column_passes = ceil_div(m.cols_used, c.adcs_per_xbar)
    blocks = ceil_div(m.rows_used, c.dacs_per_xbar) * column_passes
    steps = dac_cycles * blocks
    merge_levels = np.ceil(np.log2(m.pes))
    tile_levels = float(np.ceil(np.log2(c.tile_pes)))
    t_compute = steps * (c.dac_latency_s + c.cell_read_latency_s + c.adc_latency_s)
    # MNSIM's PE_latency: per step an input-register and a shift-register clock, the input
    # demux and the output mux; per row-and-column block one more input-register clock; per
    # ADC pass over the columns an output-register clock and the group adders (the groups'
    # partial sums meet in a tree of ceil(log2 G) levels); then the PE adder tree
    group_levels = float(np.ceil(np.log2(c.xbar_groups)))
    t_digital = steps * (2 * clk + c.decoder_latency_s + c.mux_latency_s)
    t_digital += blocks * clk
    t_digital += column_passes * ((1 + group_levels) * clk)
    t_digital += merge_levels * clk
    t_intra = ((tile_levels * (c.adc_bits + merge_levels)
                - merge_levels * (merge_levels + 1) / 2) * m.cols_used
               / c.intra_tile_bandwidth_bps)
    cin_pe = m.rows_used / m.kernel_area
    # MNSIM's line buffer, averaged over the output map: the first pixel fills k - pad - 1
    # input rows and a window column, each row start skips stride - 1 input rows and reads a
    # whole window, every other pixel writes stride new columns and reads stride window columns
    rows, cols = g.out_h, g.out_w
    edge = np.maximum(g.kh - g.pad_h, 0)
    first = ceil_div_f((g.in_w * np.maximum(g.kh - g.pad_h - 1, 0) + edge) * cin_pe * abits,
                       width)
    row_start = ceil_div_f((g.in_w * (g.stride_h - 1) + edge) * cin_pe * abits, width)
    step = ceil_div_f(g.stride_w * cin_pe * abits, width)
    full_window = ceil_div_f(m.rows_used * abits, width)
    conv_line = (first + (rows - 1) * row_start + rows * (cols - 1) * step) / g.pixels
    conv_window = (rows * full_window + rows * (cols - 1) * ceil_div_f(
        g.stride_w * d.epitome_w * cin_pe * abits, width)) / g.pixels
    line_write = np.where(g.is_linear, full_window, conv_line)
    window_read = np.where(g.is_linear, full_window, conv_window)
    # MNSIM's pipelined mode (calculate_model_latency, mode 1) fills the line buffer a window
    # column at a time: the first pixel (k - p)^2 values, a row start stride x (k - p), the
    # rest of the first row stride x k, every other pixel stride^2 (window reads unchanged)
    # (at stride 1 a row start and the other pixels write what they write layer by layer)
    channel_bits = cin_pe * abits
    pipe_row_start, pipe_step = row_start, step
    strided = np.flatnonzero(g.stride_h > 1)
    if strided.size:
        pipe_row_start, pipe_step = row_start.copy(), step.copy()
        bits_s = channel_bits[:, strided]
        pipe_row_start[:, strided] = np.ceil(bits_s * (g.stride_h * edge)[strided] / width)
        pipe_step[:, strided] = np.ceil(bits_s * (g.stride_h * g.stride_w)[strided] / width)
    pipe_line = (np.ceil(channel_bits * (edge * edge) / width)
                 + (rows - 1) * pipe_row_start
                 + (cols - 1) * np.ceil(channel_bits * (g.stride_w * g.kh) / width)
                 + (rows - 1) * (cols - 1) * pipe_step) / g.pixels
    psum_write = ceil_div_f((c.adc_bits + merge_levels) * m.cols_used * m.pes, width)
    out_read = ceil_div_f(m.cols_used * abits * m.pes, width)
    reads, writes = window_read + out_read, line_write + psum_write
    inter_bw = c.inter_tile_bandwidth_bps
    t_merge = merge_hops * (clk + m.cols_used * m.pes * abits / inter_bw)
    return ActivationLatency(
        dac_cycles=dac_cycles, steps=steps, compute_s=t_compute, digital_s=t_digital,
        intra_tile_s=t_intra, buffer_reads=reads, buffer_writes=writes,
        buffer_s=(reads + writes) * t_acc,
        pipelined_line_writes=np.where(g.is_linear, full_window, pipe_line),
        line_writes=line_write,
        merge_hops=merge_hops, transfer_hops=transfer_hops, merge_s=t_merge,
        transfer_s=transfer_hops * g.cout * abits / inter_bw)


@dataclass(frozen=True)
class EpitomeOverheads:
    """The epitome datapath's digital work (docs/epitome.md section 5).

    Attributes:
        presum_adds: Input pre-sum additions per inference.
        lookups: Address-table (IFAT/IFRT/OFAT) lookups per inference.
        copy_accesses: Buffer accesses per output pixel for the copied output channels.
        latency_per_pixel_s: Pre-sum adder tree, lookups and copies per output pixel (s).

    """

    presum_adds: FloatArray
    lookups: FloatArray
    copy_accesses: FloatArray
    latency_per_pixel_s: FloatArray


def epitome_overheads(c: Hardware, g: NetworkArrays, d: DesignArrays, m: Mapping,
                      a: Activations, indexed: npt.NDArray[np.bool_] | None = None
                      ) -> EpitomeOverheads:
    """Pre-sums of wrapped inputs, table lookups, output copies: counts and time.

    ``indexed`` marks crossbar-pruned layers, whose index tables are looked up like an
    epitome's address tables (``epim.cost_model._pruning``).
    """
    presum_in = d.cin_e < g.cin_g
    epitomized = presum_in | (d.cout_e < g.cout) | (a.windows > 1)
    if indexed is not None:
        epitomized = epitomized | indexed
    presum_adds = np.where(presum_in, (g.cin_g - d.cin_e) * g.groups, 0) * g.in_pixels
    presum_depth = np.where(presum_in, np.ceil(np.log2(ceil_div(g.cin_g, d.cin_e))), 0.0)
    lookups = np.where(epitomized,
                       a.total * (m.row_blocks + ceil_div(m.cout_stored, c.xbar_cols)), 0)
    copy_bits = np.where(d.cout_e < g.cout, (g.cout - d.cout_e) * d.act_bits, 0)
    copy_accesses = ceil_div_f(copy_bits, c.buffer_width_bits)
    latency = (presum_depth * c.digital_clock_s
               + np.where(epitomized, a.per_pixel, 0) * c.epitome_table_latency_s
               + copy_accesses * c.buffer_access_s)
    return EpitomeOverheads(presum_adds=presum_adds.astype(np.float64),
                            lookups=lookups.astype(np.float64), copy_accesses=copy_accesses,
                            latency_per_pixel_s=latency)


@dataclass(frozen=True)
class ActionCounts:
    """What each component does per inference (docs/cost_model.md section 5).

    Attributes:
        adc_conversions: ADC conversions (``adc_accounting``: MNSIM's busy-time form, or one
            per used column and step).
        dac_conversions: DAC conversions (row inputs of every unit).
        cell_reads: Cell reads (row inputs x used columns x physical crossbars).
        buffer_reads: Buffer reads (of ``buffer_width_bits``), each counted once per buffer
            it is charged to (MNSIM: the tile's output buffer and every busy PE's input
            buffer, ``pe_input_buffers``).
        buffer_writes: Buffer writes, counted the same way (epitome output copies included).
        digital_ops: Shift-and-add operations on ADC results.
        hop_bits: Bits moved times hops between tiles.
        presum_adds: Epitome input pre-sum additions.
        table_lookups: Epitome address-table lookups.

    """

    adc_conversions: FloatArray
    dac_conversions: FloatArray
    cell_reads: FloatArray
    buffer_reads: FloatArray
    buffer_writes: FloatArray
    digital_ops: FloatArray
    hop_bits: FloatArray
    presum_adds: FloatArray
    table_lookups: FloatArray


def count_actions(c: Hardware, g: NetworkArrays, d: DesignArrays, m: Mapping,
                  a: Activations, t: ActivationLatency, e: EpitomeOverheads) -> ActionCounts:
    """Every component's action count, from the mapping, activations and datapath."""
    if c.adc_accounting == "mnsim":
        # MNSIM: every ADC of every group of a busy PE converts for the PE's busy time
        conversions = (m.tiles * m.pes * c.xbar_groups * ceil_div(m.cols_used, c.adc_mux)
                       * t.steps * a.total)
    else:
        conversions = (a.total * t.dac_cycles * ceil_div(m.rows_used, c.dacs_per_xbar)
                       * m.cols_used * m.units)
    row_inputs = a.total * t.dac_cycles * m.rows_used
    buffers = m.tiles * (m.pes + 1 if c.pe_input_buffers else 1)
    return ActionCounts(
        adc_conversions=conversions,
        dac_conversions=row_inputs * m.units,
        cell_reads=row_inputs * m.cols_used * m.crossbars,
        buffer_reads=t.buffer_reads * a.total * buffers,
        buffer_writes=t.buffer_writes * a.total * buffers + e.copy_accesses * g.pixels,
        digital_ops=a.total * t.dac_cycles * m.cols_used * m.units,
        hop_bits=a.total * (g.cout * t.transfer_hops + m.cols_used * m.pes * t.merge_hops)
        * d.act_bits,
        presum_adds=e.presum_adds,
        table_lookups=e.lookups)


def energy_by_component(c: Hardware, n: ActionCounts) -> dict[str, FloatArray]:
    """Action counts x action energies (J), by ``ENERGY_COMPONENTS`` name."""
    return {
        "adc": n.adc_conversions * c.adc_energy_j,
        "dac": n.dac_conversions * c.dac_energy_j,
        "crossbar": n.cell_reads * c.cell_read_energy_j,
        "buffer": n.buffer_reads * c.buffer_read_energy_j
        + n.buffer_writes * c.buffer_write_energy_j,
        "digital": n.digital_ops * c.digital_op_energy_j,
        "interconnect": n.hop_bits * c.hop_energy_j_per_bit,
        "epitome": n.presum_adds * c.epitome_add_energy_j
        + n.table_lookups * c.epitome_table_lookup_energy_j,
    }
