"""Hardware genes and weight replication in the cost model (issue 21 item 2)."""

import numpy as np
import pytest

from epim.cost_model import ENERGY_COMPONENTS, CostBatch, CostModel, cost_report, load_hardware
from epim.cost_model._pipeline import PipelineSchedule
from epim.cost_model._stages import (
    DesignArrays,
    activation_latency,
    count_activations,
    map_layers,
)
from epim.errors import InputError
from epim.space import Design, DesignBatch
from epim.workloads import get_network, network_from_dict
from tests.cost_model.test_pipeline import random_times

GENES = [{}, {"adc_choice": 7}, {"xbar_size": 128, "cell_bits": 2},
         {"tile_pes": 16, "dac_choice": 2}, {"crossbars_per_pe": 4, "adc_choice": 4}]


def assert_same(got: CostBatch, want: CostBatch, rows: np.ndarray) -> None:
    """Every per-design figure of ``got[rows]`` equals ``want``'s (two code paths)."""
    np.testing.assert_array_equal(got.layer_crossbars[rows], want.layer_crossbars)
    np.testing.assert_array_equal(got.layer_tiles[rows], want.layer_tiles)
    for name in ("layer_latency_s", "layer_pipelined_latency_s", "layer_energy_j"):
        np.testing.assert_allclose(getattr(got, name)[rows], getattr(want, name), rtol=1e-12,
                                   err_msg=name)
    for mode, values in want.latency_s_by_mode.items():
        np.testing.assert_allclose(got.latency_s_by_mode[mode][rows], values, rtol=1e-6,
                                   err_msg=mode)  # the pipeline's float32 programme
    np.testing.assert_allclose(got.area_m2[rows], want.area_m2, rtol=1e-12)
    np.testing.assert_allclose(got.crossbar_area_m2[rows], want.crossbar_area_m2, rtol=1e-12)


@pytest.mark.parametrize(("name", "preset"), [("resnet20", "mnsim"), ("mobilenet_v2", "isaac")])
def test_a_mixed_batch_is_each_design_on_its_own_hardware(
        name: str, preset: str, make_random_batch) -> None:  # type: ignore[no-untyped-def]
    network = get_network(name)
    batch = make_random_batch(network, 30, seed=3)
    rng = np.random.default_rng(4)
    pick = rng.integers(0, len(GENES), len(batch))
    names = sorted({gene for genes in GENES for gene in genes})
    hardware = {gene: np.array([GENES[k].get(gene, 0) for k in pick]) for gene in names}
    mixed = DesignBatch(network, batch.arrays, hardware)
    model = CostModel(network=network, hardware=load_hardware(preset))
    costs = model.evaluate(mixed)
    for k, genes in enumerate(GENES):
        rows = np.flatnonzero(pick == k)
        alone = CostModel(network=network, hardware=load_hardware(preset, genes)).evaluate(
            batch.take(rows))
        assert_same(costs, alone, rows)
        assert all(costs.hardware_of(int(i)).name == alone.hardware.name for i in rows)
    assert len(costs.hardware_variants) == len(set(pick.tolist()))


def test_a_bad_gene_names_itself() -> None:
    network = get_network("resnet20")
    batch = DesignBatch(network, DesignBatch.dense(network, 2).arrays,
                        {"adc_choice": np.array([7, 42])})
    with pytest.raises(InputError, match="adc_choice"):
        CostModel(network=network, hardware=load_hardware("mnsim")).evaluate(batch)


def replicated(batch: DesignBatch, copies: np.ndarray) -> DesignBatch:
    return DesignBatch(batch.network, {**batch.arrays, "replication": copies}, batch.hardware)


# a chain of three convolutions whose middle one limits the pipeline
CHAIN = network_from_dict({"name": "chain", "input": [16, 16, 16], "layers": [
    {"name": "a", "type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"name": "b", "type": "conv", "out_channels": 256, "kernel_size": 3, "padding": 1},
    {"name": "c", "type": "conv", "out_channels": 16, "kernel_size": 1}]})


def test_one_copy_everywhere_is_no_replication(make_random_batch) -> None:  # type: ignore[no-untyped-def]
    network = get_network("resnet18")
    batch = make_random_batch(network, 12, seed=5)
    model = CostModel(network=network, hardware=load_hardware("mnsim"))
    plain = model.evaluate(batch)
    ones = model.evaluate(replicated(batch, np.ones_like(batch["weight_bits"])))
    assert_same(ones, plain, np.arange(len(batch)))


def test_replication_by_hand() -> None:
    # hops cost nothing here, so a layer's time per activation does not depend on where its
    # (more) tiles sit
    hardware = load_hardware("mnsim", {"digital_clock_s": 0, "inter_tile_bandwidth_bps": 1e30})
    model = CostModel(network=CHAIN, hardware=hardware)
    batch = DesignBatch.dense(CHAIN, 4)
    copies = np.array([[1, 1, 1], [1, 2, 1], [1, 3, 1], [1, 4, 1]])
    costs = model.evaluate(replicated(batch, copies))
    one = model.evaluate(DesignBatch.dense(CHAIN, 1))
    np.testing.assert_array_equal(costs.layer_crossbars[:, 1], copies[:, 1]
                                  * one.layer_crossbars[0, 1])
    np.testing.assert_array_equal(costs.layer_tiles[:, 1], copies[:, 1] * one.layer_tiles[0, 1])
    # alone, the layer takes ceil(256 / r) pixels of its time but its line writes on all 256
    g = model.geometry
    d = DesignArrays.from_batch(DesignBatch.dense(CHAIN, 1))
    m = map_layers(hardware, g, d)
    a = count_activations(g, d, m)
    no_hops = np.zeros_like(m.tiles)
    t = activation_latency(hardware, g, d, m, no_hops, no_hops)
    line = float((a.total * t.line_writes)[0, 1]) * hardware.buffer_access_s
    pixels, whole = 256, one.layer_latency_s[0, 1]
    for r in (2, 3, 4):
        share = -(-pixels // r) / pixels
        assert costs.layer_latency_s[r - 1, 1] == pytest.approx(share * (whole - line) + line,
                                                                rel=1e-9)
    assert 0 < line < whole / 4  # the line writes are a small part of a pixel's time
    # energy: the same work but the extra copies' line-buffer fills
    for component in ENERGY_COMPONENTS:
        if component not in ("buffer", "interconnect"):
            np.testing.assert_allclose(costs.layer_energy_breakdown_j[component][:, 1],
                                       one.layer_energy_breakdown_j[component][0, 1],
                                       rtol=1e-12, err_msg=component)
    assert np.all(np.diff(costs.layer_energy_breakdown_j["buffer"][:, 1]) > 0)
    # the bottleneck's copies cut the pipelined latency, never below its line writes
    pipelined = costs.latency_s("pipelined")
    assert np.all(np.diff(pipelined) < 0)
    assert pipelined[3] < 0.5 * pipelined[0]
    assert np.all(np.diff(costs.latency_s("throughput")) <= 0)
    assert np.all(np.diff(costs.area_m2) > 0)


def simulate(per_pixel: np.ndarray, first: np.ndarray, network=CHAIN) -> float:  # type: ignore[no-untyped-def]
    """A chain's pipeline pixel by pixel: ``F(p) = max(F(p-1) + s, ready(p) + s + x)``."""
    from epim.cost_model._pipeline import dependency_pixels

    finish = None
    for c, layer in enumerate(network.layers):
        pixels = max(layer.out_hw[0] * layer.out_hw[1], 1)
        ready = np.zeros(pixels) if finish is None else \
            finish[dependency_pixels(layer, len(finish))]
        steps = np.arange(pixels) * per_pixel[c]
        finish = np.maximum.accumulate(ready - steps) + steps + per_pixel[c] + first[c]
    assert finish is not None
    return float(finish[-1])


def test_the_pipeline_with_copies_is_the_recurrence() -> None:
    schedule = PipelineSchedule.from_network(CHAIN)
    times = random_times(CHAIN, 8, seed=6)
    rng = np.random.default_rng(7)
    copies = rng.choice([1, 2, 4, 8], times.shape)
    rate = times / copies
    extra = times - rate
    ours = schedule.latency(rate, extra)
    exact = np.array([simulate(r, x) for r, x in zip(rate, extra, strict=True)])
    np.testing.assert_allclose(ours, exact, rtol=1e-5)  # a chain: every path is a candidate
    assert np.all(schedule.latency(rate) < ours)  # each pixel still takes one copy's time
    np.testing.assert_allclose(schedule.latency(times, np.zeros_like(times)),
                               schedule.latency(times), rtol=1e-7)


def test_a_design_file_with_hardware_and_replication(tmp_path) -> None:  # type: ignore[no-untyped-def]
    network = get_network("resnet20")
    plain = Design.dense(network)
    design = plain.with_layer("conv1", replication=4)
    design = Design(design.network, design.layers, {"adc_choice": 7})
    report = cost_report(network, design, load_hardware("mnsim"), baseline_bits=9)
    base = cost_report(network, plain, load_hardware("mnsim"))
    assert report["hardware"] == "mnsim+adc_choice=7"
    assert report["baseline"]["hardware"] == "mnsim"  # the baseline stays on the preset
    assert report["crossbars"] == base["crossbars"] + 3 * base["layers"][0]["crossbars"]
    assert report["energy_breakdown_j"]["adc"] < base["energy_breakdown_j"]["adc"]
