"""The metric registry: every entry checked against the code that computes and shows it."""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import pytest

from epim.metrics import (
    ACCURACY_METRICS,
    ADDITIVE_METRICS,
    COST_METRICS,
    EXACT_ADDITIVE_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    PRODUCTS,
    REDUCTIONS,
    REGISTRY,
    SI_UNITS,
    TABLE_UNITS,
    Metric,
    list_metrics,
    metric_info,
    metric_label,
    metric_table,
)

#: The SI unit a metric's name promises by its suffix.
SUFFIX_UNITS = {"_m2": "m^2", "_s": "s", "_j": "J"}
#: A value of each quantity, SI, and how the CLI and the chart show it.
SHOWN = {
    "area": (1.8661e-4, "186.610 mm^2", "mm²"),
    "time": (1.25e-3, "1.2500 ms", "ms"),
    "energy": (5.7e-5, "57.000 uJ", "µJ"),
    "energy_time": (2e-8, "20.000 uJ*ms", "nJ·s"),
    "count": (12345.0, "12,345", ""),
    "fraction": (0.9123, "0.9123", "%"),
    "ratio": (17.5, "17.50 x", "×"),
}


def test_the_literal_and_the_tuples_are_the_registry() -> None:
    from epim.search import METRICS as SEARCH_METRICS
    from epim.search import Metric as SearchMetric
    from epim.search._spec import ACCURACY_METRICS as SPEC_ACCURACY

    assert get_args(Metric) == tuple(REGISTRY) == METRICS == tuple(list_metrics())
    assert SearchMetric is Metric and SEARCH_METRICS == METRICS
    assert SPEC_ACCURACY == ACCURACY_METRICS
    assert set(ACCURACY_METRICS) | set(COST_METRICS) == set(METRICS)
    assert not set(ACCURACY_METRICS) & set(COST_METRICS)
    assert {"robust_accuracy", "robust_accuracy_p5"} <= set(ACCURACY_METRICS) & HIGHER_IS_BETTER
    assert set(EXACT_ADDITIVE_METRICS) < set(ADDITIVE_METRICS) <= set(COST_METRICS)
    assert PRODUCTS == {"edp": ("energy_j", "latency_s")}
    assert REDUCTIONS == {"crossbar_area_reduction": "crossbar_area_m2",
                          "energy_reduction": "energy_j", "latency_reduction": "latency_s"}


def test_the_spec_schema_lists_and_describes_every_metric() -> None:
    from epim.search import StudySpec

    schema = StudySpec.model_json_schema()
    for model in ("ObjectiveSpec", "ConstraintSpec"):
        field = schema["$defs"][model]["properties"]["metric"]
        assert field["enum"] == list(METRICS)
        for name, info in REGISTRY.items():  # each metric with its unit and direction
            better = "higher" if info.higher_is_better else "lower"
            assert f"`{name}` (" in field["description"]
            assert f"{better} is better" in field["description"].split(f"`{name}`")[1]


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_has_a_unit_a_direction_and_consistent_facts(name: str) -> None:
    info = metric_info(name)
    assert info.name == name and info.label and info.description.endswith(".")
    assert info.si_unit == SI_UNITS[info.quantity] != ""
    assert info.table_unit is TABLE_UNITS[info.quantity]
    assert info.direction == ("maximize" if name in HIGHER_IS_BETTER else "minimize")
    for suffix, unit in SUFFIX_UNITS.items():  # units in names (DESIGN.md section 5)
        if name.endswith(suffix):
            assert info.si_unit == unit
    if info.reduction_of is not None:  # dense / design: a ratio of an additive cost
        assert info.quantity == "ratio" and info.higher_is_better
        assert metric_info(info.reduction_of).additive != "none"
        assert not metric_info(info.reduction_of).higher_is_better
    if info.needs_accuracy:
        assert info.additive == "none" and info.quantity == "fraction"
    if info.product_of:  # of lower-is-better costs, each a sum in some latency mode
        assert info.additive == "none" and len(info.product_of) >= 2
        assert all(metric_info(f).additive != "none" and not metric_info(f).higher_is_better
                   for f in info.product_of)
    if info.requires is not None:
        assert info.needs_accuracy and info.requires.startswith("accuracy.")
    assert metric_label(name) == info.label == metric_table()[name]["label"]


def test_an_unknown_metric_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(KeyError, match="allowed: accuracy, accuracy_drop"):
        metric_info("latency")
    assert metric_label("tiles") == "tiles"  # not a metric: shown as it is


@pytest.mark.parametrize("name", list_metrics())
def test_the_cli_and_the_chart_show_each_metric_in_its_registry_unit(name: str) -> None:
    from epim.api._figure import unit_for
    from epim.cli._units import format_quantity

    info = metric_info(name)
    value, table_text, chart_symbol = SHOWN[info.quantity]
    assert format_quantity(name, value) == table_text == info.table_unit.format(value)
    assert unit_for(name, [value]).symbol == chart_symbol


@pytest.fixture(scope="module")
def scored() -> dict[str, Any]:
    """32 random designs of ResNet-20: layer tables and the model's metrics per latency mode."""
    from epim.search import StudySpec, cost_metrics, prepare_study
    from epim.search._tables import layer_tables

    spec = StudySpec.model_validate({
        "name": "t", "network": "resnet20", "objectives": [{"metric": "crossbars"}],
        "space": {"activation_bits": [4, 8]}})
    prepared = prepare_study(spec)
    tables = layer_tables(prepared.space, prepared.model)
    rng = np.random.default_rng(0)
    index = np.stack([rng.integers(0, len(layer), 32) for layer in tables.layers], axis=1)
    costs = prepared.model.evaluate(tables.designs(prepared.space, index))
    baseline = {"crossbar_area_m2": 2.0, "energy_j": 3.0, "latency_s": 5.0}
    return {"tables": tables, "index": index, "baseline": baseline,
            "metrics": {mode: cost_metrics(costs, baseline, mode)  # type: ignore[arg-type]
                        for mode in ("layer_by_layer", "pipelined")}}


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_is_what_its_entry_says(name: str, scored: dict[str, Any]) -> None:
    """Additive metrics are the layer tables' sums; reductions are dense / design."""
    info = metric_info(name)
    metrics = scored["metrics"]["layer_by_layer"]
    assert list(metrics) == list(COST_METRICS)
    if info.needs_accuracy:  # the proxy's, not the cost model's
        assert name not in metrics
        return
    values = metrics[name]
    assert values.shape == (32,) and np.all(np.isfinite(values))
    sums = (scored["tables"].totals(name, scored["index"])
            if info.additive != "none" else None)
    if info.additive == "exact":  # to float rounding
        np.testing.assert_allclose(sums, values, rtol=1e-9)
    elif info.additive == "estimated":  # the tile placement couples the layers (<= 2%)
        np.testing.assert_allclose(sums, values, rtol=0.02)
    elif info.additive == "layer_by_layer":  # a sum one layer after another, not pipelined
        assert info.summed("layer_by_layer") and not info.summed("pipelined")
        np.testing.assert_allclose(sums, values, rtol=0.15)
        pipelined = scored["metrics"]["pipelined"][name]
        assert np.all(pipelined < 0.9 * values)  # overlapped layers: far below the sum
    if info.reduction_of is not None:
        dense = scored["baseline"][info.reduction_of]
        np.testing.assert_allclose(values, dense / metrics[info.reduction_of], rtol=1e-15)
    if info.product_of:
        np.testing.assert_allclose(values, np.prod([metrics[f] for f in info.product_of],
                                                   axis=0), rtol=1e-15)
    assert info.summed("layer_by_layer") == (name in ADDITIVE_METRICS)
