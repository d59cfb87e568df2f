"""The metric registry: every metric a study can optimize, bound or show, with its facts.

One entry per metric says what people call it, its quantity (and so its SI unit and the
units tables and charts show it in), which way is better, whether a design's value is a sum
of per-layer terms (what the exact and layerwise engines may solve as a knapsack), what a
reduction reduces (``crossbar_area_reduction`` = dense ``crossbar_area_m2`` / design's), what
a product multiplies (``edp``) and whether it needs the accuracy proxy. The study spec's
:data:`Metric`, the search engines' additive sets, the hypervolume's normalization, the
constraint checks, the CLI's tables, the chart's axes and the explorer's page all read this
table; ``list_metrics()`` drives the tests.

Values are stored and sent in unprefixed SI units (m^2, s, J, J*s); fractions as 0..1;
reductions as plain ratios. Sources of the quantities: the cost model (``epim.cost_model``,
docs/cost_model.md) and the accuracy proxy (``epim.proxy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

#: The metric names, in the registry's order. A ``Literal`` so that pydantic's schema lists
#: them; :data:`REGISTRY` must list the same names in the same order (checked at import).
Metric = Literal[
    "accuracy", "accuracy_drop", "robust_accuracy", "robust_accuracy_p5", "crossbars",
    "crossbar_area_m2", "area_m2", "latency_s", "energy_j", "edp", "params",
    "crossbar_area_reduction", "energy_reduction", "latency_reduction",
]
#: What a metric measures; it fixes the SI unit and the display units.
Quantity = Literal["area", "time", "energy", "energy_time", "count", "fraction", "ratio"]
#: How a design's value follows from its layers' values.
#:
#: ``exact``: the sum of per-layer terms. ``estimated``: that sum up to couplings across
#: layers (energy: merge and transfer hops depend on where the other layers' tiles sit,
#: docs/cost_model.md section 3; within 1% on the networks of
#: ``benchmarks/table_additivity.py``). ``layer_by_layer``: such an estimated sum when the
#: layers run one after another (latency mode ``layer_by_layer``), the slowest stage (a max)
#: when they are pipelined. ``none``: no per-layer form (accuracy, products, ratios).
Additivity = Literal["exact", "estimated", "layer_by_layer", "none"]


@dataclass(frozen=True)
class DisplayUnit:
    """A fixed unit for tables: shown value = SI value * ``scale``, with ``decimals``.

    ``symbol`` is ASCII (``mm^2``, ``uJ``) so that terminals and CSV readers show it as is.
    """

    scale: float
    symbol: str
    decimals: int

    def format(self, value: float) -> str:
        """``value`` (SI, unprefixed) in this unit, with thousands separators."""
        text = f"{value * self.scale:,.{self.decimals}f}"
        return f"{text} {self.symbol}" if self.symbol else text


#: The SI unit of each quantity (ASCII; ``"1"``: a dimensionless number).
SI_UNITS: dict[Quantity, str] = {
    "area": "m^2", "time": "s", "energy": "J", "energy_time": "J*s", "count": "1",
    "fraction": "1", "ratio": "1",
}
#: The unit the CLI's tables (and ``epim cost``) show each quantity in.
TABLE_UNITS: dict[Quantity, DisplayUnit] = {
    "area": DisplayUnit(1e6, "mm^2", 3),
    "time": DisplayUnit(1e3, "ms", 4),
    "energy": DisplayUnit(1e6, "uJ", 3),
    "energy_time": DisplayUnit(1e9, "uJ*ms", 3),  # 1 uJ x 1 ms = 1e-9 J s
    "count": DisplayUnit(1.0, "", 0),
    "fraction": DisplayUnit(1.0, "", 4),
    "ratio": DisplayUnit(1.0, "x", 2),
}


@dataclass(frozen=True)
class MetricInfo:
    """The facts of one metric.

    Attributes:
        name: The metric's key in specs, stored trials and API documents (SI unit in the name
            where it has one: ``_m2``, ``_s``, ``_j``).
        label: Its name for people (axis labels, legends).
        quantity: What it measures (its unit follows, see :data:`SI_UNITS`).
        higher_is_better: The natural direction (``maximize`` when true).
        additive: How a design's value follows from its layers' (see :data:`Additivity`).
        description: One sentence for the API schema and ``--help``.
        reduction_of: For a reduction, the cost it reduces: value = dense's / design's.
        product_of: For a product of metrics (``edp`` = energy x latency), its factors.
        needs_accuracy: Whether it is measured by the accuracy proxy (trains or scores a
            network) rather than by the cost model alone.
        requires: A spec setting the metric needs besides (``accuracy.hardware_effects``).

    """

    name: str
    label: str
    quantity: Quantity
    higher_is_better: bool
    additive: Additivity
    description: str
    reduction_of: str | None = None
    product_of: tuple[str, ...] = ()
    needs_accuracy: bool = False
    requires: str | None = None

    @property
    def si_unit(self) -> str:
        """The unit stored values are in (``m^2``, ``s``, ``J``, ``J*s``; ``1``: a number)."""
        return SI_UNITS[self.quantity]

    @property
    def table_unit(self) -> DisplayUnit:
        """The unit tables show it in (``mm^2``, ``ms``, ``uJ``, ``x``)."""
        return TABLE_UNITS[self.quantity]

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        """The natural direction of an objective on this metric."""
        return "maximize" if self.higher_is_better else "minimize"

    def summed(self, latency_mode: str) -> bool:
        """Whether a design's value is a (possibly estimated) sum of per-layer terms.

        Args:
            latency_mode: The study's latency mode (``layer_by_layer``, ``pipelined``, ...).

        """
        if self.additive == "layer_by_layer":
            return latency_mode == "layer_by_layer"
        return self.additive != "none"


def _cost(name: str, label: str, quantity: Quantity, additive: Additivity,
          description: str) -> MetricInfo:
    return MetricInfo(name, label, quantity, False, additive, description)


def _reduction(name: str, of: str, label: str) -> MetricInfo:
    return MetricInfo(name, label, "ratio", True, "none",
                      f"The dense baseline's {of} / the design's.",
                      reduction_of=of)


def _accuracy(name: str, label: str, higher: bool, description: str,
              requires: str | None = None) -> MetricInfo:
    return MetricInfo(name, label, "fraction", higher, "none", description,
                      needs_accuracy=True, requires=requires)


#: Every metric, in the order of :data:`Metric`.
REGISTRY: dict[str, MetricInfo] = {}
for _info in (
    _accuracy("accuracy", "proxy accuracy", True,
              "Top-1 accuracy of the trained proxy (fraction 0..1), or a zero-cost proxy's score."),
    _accuracy("accuracy_drop", "accuracy drop", False,
              "The dense network's proxy accuracy minus the design's (fraction)."),
    _accuracy("robust_accuracy", "robust accuracy", True,
              "Mean proxy accuracy over device samples of the hardware's variation and "
              "faults (fraction 0..1).", requires="accuracy.hardware_effects"),
    _accuracy("robust_accuracy_p5", "5th-percentile robust accuracy", True,
              "5th percentile of the proxy accuracy over device samples (fraction 0..1).",
              requires="accuracy.hardware_effects"),
    _cost("crossbars", "crossbars", "count", "exact",
          "Physical crossbars the design occupies (both arrays of a +/- pair, every "
          "copy of a replicated layer)."),
    _cost("crossbar_area_m2", "crossbar area", "area", "exact",
          "Crossbars x one crossbar's area (cells and row drivers), what EPIM's "
          "reduction counts."),
    _cost("area_m2", "chip area", "area", "exact",
          "Tiles x a fully populated tile's area (MNSIM's convention)."),
    _cost("latency_s", "latency", "time", "layer_by_layer",
          "Latency of one inference in the study's latency mode."),
    _cost("energy_j", "energy", "energy", "estimated", "Energy of one inference."),
    MetricInfo("edp", "energy-delay product", "energy_time", False, "none",
               "Energy x latency of one inference.", product_of=("energy_j", "latency_s")),
    _cost("params", "stored weights", "count", "exact",
          "Weights the design stores, one copy (epitomes and pruning store fewer)."),
    _reduction("crossbar_area_reduction", "crossbar_area_m2", "crossbar area reduction"),
    _reduction("energy_reduction", "energy_j", "energy reduction"),
    _reduction("latency_reduction", "latency_s", "latency reduction"),
):
    if _info.name in REGISTRY:
        raise RuntimeError(f"metric {_info.name!r} is registered twice")
    REGISTRY[_info.name] = _info
if tuple(REGISTRY) != get_args(Metric):
    raise RuntimeError("epim.metrics: Metric lists "
                       f"{get_args(Metric)} but the registry {tuple(REGISTRY)}")

#: Every metric name (the spec's allowed values).
METRICS: tuple[str, ...] = tuple(REGISTRY)
#: Metrics measured by the accuracy proxy.
ACCURACY_METRICS: tuple[str, ...] = tuple(m for m, i in REGISTRY.items() if i.needs_accuracy)
#: Metrics the cost model gives.
COST_METRICS: tuple[str, ...] = tuple(m for m, i in REGISTRY.items() if not i.needs_accuracy)
#: Metrics where larger is better (the rest: smaller is better).
HIGHER_IS_BETTER: frozenset[str] = frozenset(m for m, i in REGISTRY.items()
                                             if i.higher_is_better)
#: Metrics with a per-layer sum in some latency mode (what the layer tables hold).
ADDITIVE_METRICS: tuple[str, ...] = tuple(m for m, i in REGISTRY.items()
                                          if i.additive != "none")
#: Metrics whose per-layer sums are exact.
EXACT_ADDITIVE_METRICS: tuple[str, ...] = tuple(m for m, i in REGISTRY.items()
                                                if i.additive == "exact")
#: Each reduction -> the cost it reduces (reduction = dense cost / design cost).
REDUCTIONS: dict[str, str] = {m: i.reduction_of for m, i in REGISTRY.items()
                              if i.reduction_of is not None}
#: Each product -> its factors (a design dominated in every factor is dominated in it).
PRODUCTS: dict[str, tuple[str, ...]] = {m: i.product_of for m, i in REGISTRY.items()
                                        if i.product_of}


def list_metrics() -> list[str]:
    """Every registered metric name, in the registry's order."""
    return list(REGISTRY)


def metric_info(name: str) -> MetricInfo:
    """The registry's entry for ``name``.

    Raises:
        KeyError: ``name`` is not a metric (the message lists the allowed names).

    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; allowed: {', '.join(REGISTRY)}") from None


def metric_label(name: str) -> str:
    """The metric's name for people (``latency_s`` -> ``latency``); other names as they are."""
    info = REGISTRY.get(name)
    return info.label if info is not None else name


def metric_table() -> dict[str, dict[str, object]]:
    """The registry as a JSON-ready document (served to the explorer's ``chart.js``).

    Per metric: ``label``, ``quantity``, ``si_unit``, ``higher_is_better``, ``additive``,
    ``reduction_of``, ``product_of``, ``needs_accuracy``, ``requires``, ``description``.
    """
    return {name: {"label": i.label, "quantity": i.quantity, "si_unit": i.si_unit,
                   "higher_is_better": i.higher_is_better, "additive": i.additive,
                   "reduction_of": i.reduction_of, "product_of": list(i.product_of),
                   "needs_accuracy": i.needs_accuracy,
                   "requires": i.requires, "description": i.description}
            for name, i in REGISTRY.items()}


def describe_metrics() -> str:
    """One line per metric (name, unit, direction, what it is), for schemas and help."""
    lines = []
    for name, info in REGISTRY.items():
        unit = f"{info.si_unit}, " if info.si_unit != "1" else ""
        better = "higher" if info.higher_is_better else "lower"
        needs = f" Needs `{info.requires}`." if info.requires else ""
        lines.append(f"- `{name}` ({unit}{better} is better): {info.description}{needs}")
    return "Metrics (values in SI units):\n" + "\n".join(lines)
