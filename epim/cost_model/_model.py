"""The analytic PIM cost model, vectorized over ``[n_designs, n_layers]``.

Equations: docs/cost_model.md (our restatement of MNSIM 2.0, Zhu et al., IEEE TCAD
2023, with ISAAC, Shafiee et al., ISCA 2016); epitome datapath: docs/epitome.md
section 5. Every quantity is SI and unprefixed (s, J, m^2). No Python loop runs over designs
or layers in :meth:`CostModel.evaluate`: each step is a numpy broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from epim.cost_model._hardware import Hardware
from epim.cost_model._static import NetworkArrays
from epim.errors import InputError
from epim.space import DesignBatch
from epim.workloads import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LatencyMode = Literal["layer_by_layer", "pipelined", "throughput"]
LATENCY_MODES: tuple[str, ...] = get_args(LatencyMode)
ENERGY_COMPONENTS: tuple[str, ...] = (
    "adc", "dac", "crossbar", "buffer", "digital", "interconnect", "epitome",
)
#: Hop-count growth of MNSIM's spiral tile placement: a layer on ``t`` tiles merges its
#: partial sums over about ``1.4 * sqrt(t)`` hops (docs/cost_model.md section 3).
MERGE_HOPS_PER_SQRT_TILE = 1.4


def check_latency_mode(mode: str) -> LatencyMode:
    """Return ``mode`` if it is a latency mode, else raise an error naming the choices."""
    if mode not in LATENCY_MODES:
        raise InputError(f"unknown latency mode '{mode}'", field="latency_mode",
                         expected="one of " + ", ".join(LATENCY_MODES))
    return mode  # type: ignore[return-value]


def _ceil_div(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``ceil(a / b)`` elementwise for integer-valued operands, in float64.

    Exact for the operand sizes here (far below 2**26): a non-integer quotient is at least
    ``1/b`` away from an integer, far more than one ulp. Floats keep the hot path fast.
    """
    result: FloatArray = np.ceil(np.divide(a, b))
    return result


def _floor_div(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``floor(a / b)`` elementwise for integer-valued operands, in float64."""
    result: FloatArray = np.floor(np.divide(a, b))
    return result


def _ceil_div_f(a: npt.ArrayLike, b: float) -> FloatArray:
    """Floating ``ceil(a / b)`` elementwise."""
    result: FloatArray = np.ceil(np.asarray(a, dtype=np.float64) / b)
    return result


@dataclass(frozen=True)
class CostBatch:
    """Costs of a batch of designs.

    Per-layer arrays are ``[n_designs, n_layers]`` over *all* layers in network order
    (pooling and add layers included); totals are ``[n_designs]``.

    Attributes:
        network: The network.
        hardware: The hardware it was mapped on.
        layer_crossbars: Physical crossbars per layer (both arrays of a +/- pair counted).
        layer_tiles: Tiles per layer (pooling tiles where the preset counts them).
        layer_latency_s: Layer-by-layer latency of each layer (s).
        layer_energy_j: Energy of each layer (J).
        layer_energy_breakdown_j: Component -> ``[n_designs, n_layers]`` energy (J).
        latency_s_by_mode: Mode -> network latency ``[n_designs]`` (s).
        params: Stored (epitome) weights per design.
        macs: Multiply-accumulates of the virtual network per inference.

    """

    network: Network
    hardware: Hardware
    layer_crossbars: IntArray
    layer_tiles: IntArray
    layer_latency_s: FloatArray
    layer_energy_j: FloatArray
    layer_energy_breakdown_j: dict[str, FloatArray]
    latency_s_by_mode: dict[str, FloatArray]
    params: IntArray
    macs: int

    def __len__(self) -> int:
        return int(self.layer_crossbars.shape[0])

    @property
    def crossbars(self) -> IntArray:
        """Physical crossbars per design."""
        total: IntArray = self.layer_crossbars.sum(axis=1)
        return total

    @property
    def tiles(self) -> IntArray:
        """Tiles per design."""
        total: IntArray = self.layer_tiles.sum(axis=1)
        return total

    @property
    def crossbar_area_m2(self) -> FloatArray:
        """Crossbar area (cells and row drivers) per design, what EPIM's reduction counts."""
        return (self.crossbars * self.hardware.xbar_area_m2).astype(np.float64)

    @property
    def area_m2(self) -> FloatArray:
        """Chip area per design: tiles x fully populated tile area (MNSIM convention)."""
        return (self.tiles * self.hardware.tile_area_m2).astype(np.float64)

    @property
    def energy_j(self) -> FloatArray:
        """Energy per inference per design (J)."""
        total: FloatArray = self.layer_energy_j.sum(axis=1)
        return total

    @property
    def energy_breakdown_j(self) -> dict[str, FloatArray]:
        """Component -> energy per design (J)."""
        return {k: v.sum(axis=1) for k, v in self.layer_energy_breakdown_j.items()}

    def latency_s(self, mode: LatencyMode = "layer_by_layer") -> FloatArray:
        """Network latency per design in ``mode`` (s)."""
        return self.latency_s_by_mode[check_latency_mode(mode)]


class CostModel:
    """Scores designs of one network on one hardware preset.

    Hardware tables and the network's geometry are computed once here; :meth:`evaluate` is a
    fixed sequence of array operations over the batch.

    Invariants (checked by the tests): every cost is finite and non-negative, latency and
    energy are positive, a batch gives the same numbers as evaluating its designs one by one,
    and a larger epitome or more bits never needs fewer crossbars.
    """

    def __init__(self, *, network: Network, hardware: Hardware) -> None:
        self.network = network
        self.hardware = hardware
        self.geometry = NetworkArrays.from_network(network)
        self.macs = network.macs

    def evaluate(self, batch: DesignBatch) -> CostBatch:
        """Score every design of ``batch``.

        Args:
            batch: Designs of this model's network.

        Returns:
            Per-layer and total costs.

        Raises:
            InputError: If the batch belongs to another network.

        """
        if batch.network.name != self.network.name or len(batch.network) != len(self.network):
            raise InputError(f"batch is for '{batch.network.name}'", field="network",
                             expected=self.network.name)
        hw, g = self.hardware, self.geometry
        p = hw.parameters
        rows_x, cols_x = int(p["xbar_rows"]), int(p["xbar_cols"])
        polarity = int(p["polarity"])
        width = p["buffer_width_bits"]
        t_acc, clk = p["buffer_access_s"], p["digital_clock_s"]

        cin_e = batch["epitome_in"].astype(np.float64)
        cout_e = batch["epitome_out"].astype(np.float64)
        ph = batch["epitome_h"].astype(np.float64)
        pw = batch["epitome_w"].astype(np.float64)
        wbits = batch["weight_bits"].astype(np.float64)
        abits = batch["act_bits"].astype(np.float64)

        # --- Mapping (docs/cost_model.md section 1; groups per group, packed block-diagonally) ---
        mag = np.maximum(wbits - 1, 1) if polarity == 2 else wbits
        slices = _ceil_div(mag, int(p["cell_bits"]))
        cout_g_s = np.minimum(cout_e, g.cout_per_group)
        stored_groups = _ceil_div(cout_e, g.cout_per_group)
        pq = ph * pw
        rows_g = cin_e * pq
        if hw.option("row_packing") == "kernel":
            channels_per_xbar = np.maximum(_floor_div(rows_x, pq), 1)
            n_r = _ceil_div(cin_e, channels_per_xbar)
            row_cap = channels_per_xbar * pq
        else:
            n_r = _ceil_div(rows_g, rows_x)
            row_cap = np.full_like(rows_g, rows_x)
        if hw.option("slice_placement") == "crossbar":
            cols_g = cout_g_s
            n_c = slices * _ceil_div(cols_g, cols_x)
        else:
            cols_g = cout_g_s * slices
            n_c = _ceil_div(cols_g, cols_x)
        packed = np.minimum(np.maximum(np.minimum(_floor_div(row_cap, rows_g),
                                                  _floor_div(cols_x, cols_g)), 1),
                            stored_groups)
        units = _ceil_div(stored_groups, packed) * n_r * n_c
        rows_used = np.minimum(rows_g, row_cap) * packed
        cols_used = np.minimum(cols_g, cols_x) * packed
        crossbars = polarity * units
        xbars_per_tile = int(p["pe_crossbars"] * p["tile_pes"])
        tiles = _ceil_div(crossbars, xbars_per_tile)
        pes = np.minimum(_ceil_div(crossbars, int(p["pe_crossbars"])), int(p["tile_pes"]))

        # --- Crossbar activations per output pixel (docs/epitome.md section 5) ---
        out_blocks = _ceil_div(g.cout, cout_e)
        windows = (ph - g.kh + 1) * (pw - g.kw + 1)
        channel_offsets = np.where(batch["channel_offsets"] > 0, np.minimum(out_blocks, cin_e), 1)
        n_act = np.minimum(out_blocks, channel_offsets * windows)
        n_act = n_act * _ceil_div(g.groups, stored_groups)  # shared group weights reused in time
        activations = g.pixels * n_act                       # [n, L]

        # --- Per-activation latency (docs/cost_model.md section 3; MNSIM PE/tile latency) ---
        dac_cycles = _ceil_div(abits, int(p["dac_bits"]))
        steps = (dac_cycles * _ceil_div(rows_used, int(p["dacs_per_xbar"]))
                 * _ceil_div(cols_used, int(p["adcs_per_xbar"])))
        merge_levels = np.ceil(np.log2(pes))
        tile_levels = float(np.ceil(np.log2(p["tile_pes"])))
        t_compute = steps * (p["dac_latency_s"] + p["cell_read_latency_s"] + p["adc_latency_s"])
        t_digital = (steps * 2.2 * clk + clk + p["decoder_latency_s"] + p["mux_latency_s"]
                     + merge_levels * clk)
        t_intra = ((tile_levels * (p["adc_bits"] + merge_levels)
                    - merge_levels * (merge_levels + 1) / 2) * cols_used
                   / p["intra_tile_bandwidth_bps"])
        cin_pe = rows_used / pq
        line_write = np.where(g.is_linear, _ceil_div_f(rows_used * abits, width),
                              _ceil_div_f(g.stride_h * cin_pe * abits, width))
        window_read = np.where(g.is_linear, _ceil_div_f(rows_used * abits, width),
                               _ceil_div_f(g.stride_w * pw * cin_pe * abits, width))
        psum_write = _ceil_div_f((p["adc_bits"] + merge_levels) * cols_used * pes, width)
        out_read = _ceil_div_f(cols_used * abits * pes, width)
        accesses = line_write + window_read + psum_write + out_read
        t_buffer = accesses * t_acc
        multi_tile = tiles > 1
        hops_in = np.where(multi_tile,
                           np.floor(MERGE_HOPS_PER_SQRT_TILE * np.sqrt(tiles)), 0.0)
        inter_bw = p["inter_tile_bandwidth_bps"]
        t_merge = np.where(multi_tile, _ceil_div_f(cols_used * abits, width) * t_acc, 0.0) + \
            hops_in * (clk + cols_used * pes * abits / inter_bw)
        hops_out = 1.0
        t_transfer = hops_out * g.cout * abits / inter_bw
        t_activation = t_compute + t_digital + t_intra + t_buffer + t_merge + t_transfer

        # --- Epitome datapath overheads (docs/epitome.md section 5) ---
        presum_in = cin_e < g.cin_g
        epitomized = presum_in | (cout_e < g.cout) | (windows > 1)
        presum_adds = np.where(presum_in, (g.cin_g - cin_e) * g.groups, 0) * g.in_pixels
        presum_depth = np.where(presum_in, np.ceil(np.log2(_ceil_div(g.cin_g, cin_e))), 0.0)
        lookups = np.where(epitomized, activations * (n_r + _ceil_div(cout_g_s, cols_x)), 0)
        copy_bits = np.where(cout_e < g.cout, (g.cout - cout_e) * abits, 0)
        copy_accesses = _ceil_div_f(copy_bits, width)
        t_pixel_epitome = (presum_depth * clk + np.where(epitomized, n_act, 0)
                           * p["epitome_table_latency_s"] + copy_accesses * t_acc)
        layer_latency = activations * t_activation + g.pixels * t_pixel_epitome

        # --- Energy: action counts x action energies (docs/cost_model.md section 5) ---
        if hw.option("adc_accounting") == "mnsim":
            conversions = tiles * pes * _ceil_div(cols_used, hw.adc_mux) * steps * activations
        else:
            conversions = (activations * dac_cycles
                           * _ceil_div(rows_used, int(p["dacs_per_xbar"])) * cols_used * units)
        row_inputs = activations * dac_cycles * rows_used
        energy = {
            "adc": conversions * p["adc_energy_j"],
            "dac": row_inputs * units * p["dac_energy_j"],
            "crossbar": row_inputs * cols_used * crossbars * hw.cell_read_energy_j,
            "buffer": (accesses * activations * tiles + copy_accesses * g.pixels)
            * p["buffer_access_energy_j"],
            "digital": activations * dac_cycles * cols_used * units * p["digital_op_energy_j"],
            "interconnect": activations * (g.cout * hops_out + cols_used * pes * hops_in)
            * abits * p["hop_energy_j_per_bit"],
            "epitome": presum_adds * p["epitome_add_energy_j"]
            + lookups * p["epitome_table_lookup_energy_j"],
        }

        # --- Pooling and add layers (digital; one tile per pooling layer in MNSIM) ---
        n = len(batch)
        other_bits = abits[:, g.other_act_source] if g.other_kind else np.zeros((n, 0))
        other_latency, other_energy, other_tiles = self._other_layers(other_bits, n)

        # --- Assemble in network order ---
        layer_crossbars = self._assemble(crossbars, 0.0).astype(np.int64)
        layer_tiles = self._assemble(tiles, other_tiles).astype(np.int64)
        layer_latency_s = self._assemble(layer_latency, other_latency)
        breakdown = {name: self._assemble(energy[name], other_energy.get(name, 0.0))
                     for name in ENERGY_COMPONENTS}
        layer_energy_j = np.add.reduce(list(breakdown.values()))

        params = (cin_e * cout_e * pq).sum(axis=1).astype(np.int64)
        return CostBatch(
            network=self.network,
            hardware=hw,
            layer_crossbars=layer_crossbars,
            layer_tiles=layer_tiles,
            layer_latency_s=layer_latency_s,
            layer_energy_j=layer_energy_j,
            layer_energy_breakdown_j=breakdown,
            latency_s_by_mode=self._network_latency(layer_latency_s, n),
            params=params,
            macs=self.macs,
        )

    def _assemble(self, compute: npt.ArrayLike, other: npt.ArrayLike) -> FloatArray:
        """Place compute-layer and other-layer columns into one ``[n, L]`` array, network order."""
        g = self.geometry
        compute = np.asarray(compute, dtype=np.float64)
        out = np.empty((compute.shape[0], len(g.order)))
        out[:, g.compute_positions] = compute
        out[:, g.other_positions] = other
        return out

    def _other_layers(self, bits: FloatArray, n: int
                      ) -> tuple[FloatArray, dict[str, FloatArray], FloatArray]:
        """Latency, energy and tiles of pooling and add layers, ``[n, n_other]`` each.

        Per output pixel a pooling layer writes ``stride`` new input columns into its line
        buffer, reads the window and writes the result; an add reads both operands and writes
        the sum; a global pool reads the whole map once (buffer accesses of ``width`` bits).
        """
        g, p = self.geometry, self.hardware.parameters
        width = p["buffer_width_bits"]
        kinds = np.asarray(g.other_kind, dtype=object)
        channel_bits = g.other_channels * bits
        is_add = kinds == "add"
        is_global = kinds == "globalpool"
        line = np.where(is_add | is_global, 0.0,
                        _ceil_div_f(g.other_stride_h * channel_bits, width))
        window = np.where(is_add, 2 * _ceil_div_f(channel_bits, width),
                          _ceil_div_f(g.other_window * channel_bits, width))
        out = _ceil_div_f(channel_bits, width)
        accesses = line + window + out
        latency = g.other_pixels * (accesses * p["buffer_access_s"] + p["digital_clock_s"])
        ops = g.other_pixels * g.other_channels * np.where(is_add, 1, g.other_window)
        energy = {
            "buffer": g.other_pixels * accesses * p["buffer_access_energy_j"],
            "digital": np.broadcast_to(ops * p["digital_op_energy_j"], latency.shape).astype(float),
        }
        pooling = np.asarray([k != "add" for k in g.other_kind], dtype=bool)
        per_layer_tiles = (pooling & (self.hardware.option("pooling_tiles") == "true")).astype(
            np.float64)
        tiles = np.broadcast_to(per_layer_tiles, (n, len(g.other_kind))).copy()
        return latency.astype(np.float64), energy, tiles

    def _network_latency(self, layer_latency: FloatArray, n: int) -> dict[str, FloatArray]:
        """Network latency in the three modes from per-layer latencies ``[n, L]``.

        ``pipelined`` is the closed form of the inter-layer pixel pipeline (MNSIM's default
        mode), taking the layers in network order as a chain: the critical path fills the
        pipeline up to some layer ``m`` (each layer waits for the ``need_first`` producer
        pixels its first window needs, MNSIM's ``trans_time``), streams all of ``m``'s pixels,
        then drains one output row of every later layer. The latency is the maximum over
        ``m`` of fill + stream + drain, computed with cumulative sums (no loop over layers).
        """
        g = self.geometry
        pixels = np.maximum(np.concatenate([g.pixels, g.other_pixels])[g.order], 1)
        per_pixel = layer_latency / pixels
        previous = np.concatenate([np.zeros((n, 1)), per_pixel[:, :-1]], axis=1)
        fill = np.cumsum(g.need_first * previous, axis=1)
        drain = g.drain_pixels * per_pixel
        drain_after = drain.sum(axis=1, keepdims=True) - np.cumsum(drain, axis=1)
        pipelined = (fill + layer_latency + drain_after).max(axis=1)
        return {
            "layer_by_layer": layer_latency.sum(axis=1),
            "pipelined": pipelined,
            "throughput": layer_latency.max(axis=1),
        }
