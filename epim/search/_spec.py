"""``StudySpec``: the study a user submits (CLI file or API body). A contract.

Pydantic, strict, unknown keys rejected; every error carries the field path and the allowed
values. See the README's "Study specs" section and ``examples/studies/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from epim.cost_model import LATENCY_MODES, OPTION_CHOICES, LatencyMode, list_presets
from epim.datasets import DATASETS, ROOT_NAME_PATTERN, DatasetName
from epim.metrics import ACCURACY_METRICS as ACCURACY_METRICS  # re-exported: the spec's names
from epim.metrics import COST_METRICS as COST_METRICS
from epim.metrics import HIGHER_IS_BETTER as HIGHER_IS_BETTER
from epim.metrics import METRICS as METRICS
from epim.metrics import REGISTRY, describe_metrics, metric_info
from epim.metrics import Metric as Metric
from epim.space import HARDWARE_GENES, MAX_BITS, MAX_GENE_VALUE, MAX_REPLICATION, MIN_BITS
from epim.workloads import find_unsafe_text, list_networks

SamplerName = Literal["exact", "layerwise", "nsga2", "tpe", "random", "gp", "nsga3"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
#: Accuracy on the design's crossbars (``accuracy.hardware_effects``): mean and 5th percentile
#: over device samples.
ROBUST_METRICS: tuple[str, ...] = tuple(
    m for m in METRICS if metric_info(m).requires == "accuracy.hardware_effects")
#: The schema's description of a ``metric`` field (from the metric registry).
METRIC_HELP = describe_metrics()
#: Seeds as numpy and torch take them.
MAX_SEED = 2**32 - 1

Bits = Annotated[int, Field(ge=MIN_BITS, le=MAX_BITS)]
Copies = Annotated[int, Field(ge=1, le=MAX_REPLICATION)]
GeneValues = Annotated[list[Annotated[int, Field(ge=1, le=MAX_GENE_VALUE)]],
                       Field(min_length=1, max_length=16)]
#: Hardware tuples a space may list at most (the product of the genes' value counts).
MAX_HARDWARE_VARIANTS = 256
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def refuse_unstorable_text(data: Any, title: str) -> Any:
    """Refuse text no database stores and no UTF-8 response carries; else return ``data``.

    A validation error is raised at the first key or string of ``data`` holding a NUL or a
    lone surrogate, located at the text's path (for a ``mode="before"`` model validator).
    """
    found = find_unsafe_text(data)
    if found is None:
        return data
    error = PydanticCustomError("unstorable_text", "text holds {reason}: not allowed",
                                {"reason": found.reason})
    raise ValidationError.from_exception_data(title, [InitErrorDetails(
        type=error, loc=found.path, input=found.shown)])


class HardwareSpec(_Strict):
    """``{preset, set}``: a built-in preset or an inline preset document, with overrides.

    An inline preset has the schema of the preset files (``name``, ``description``,
    ``options``, ``parameters``); a server never reads a preset file a client names.
    """

    preset: Name | dict[str, Any] = "mnsim"
    set: dict[Annotated[str, Field(max_length=64)], float | int | str | bool] = Field(
        default_factory=dict, max_length=64)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str) and value not in list_presets():
            raise ValueError(f"unknown preset '{value}'; allowed: "
                             + ", ".join(list_presets()) + " or an inline preset document")
        return value

    @property
    def preset_name(self) -> str:
        """The built-in preset's name, or the inline document's ``name``."""
        if isinstance(self.preset, str):
            return self.preset
        return str(self.preset.get("name", "inline"))


class EpitomeSpec(_Strict):
    """Epitome candidates: channel ratios and/or absolute counts, spatial, PIM alignment."""

    channel_ratios: list[Annotated[float, Field(ge=1, le=65_536)]] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0], max_length=32)
    channels: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(default_factory=list,
                                                                    max_length=64)
    spatial: bool = False
    spatial_growth: list[Annotated[int, Field(ge=1, le=4)]] = Field(
        default_factory=lambda: [1, 2], max_length=4)
    pim_aligned: bool = True

    @model_validator(mode="after")
    def _some_candidates(self) -> EpitomeSpec:
        if not self.channel_ratios and not self.channels:
            raise ValueError("give at least one of channel_ratios or channels")
        return self


class LayerOverride(_Strict):
    """Fields to change for the layers a pattern matches."""

    channel_ratios: list[Annotated[float, Field(ge=1, le=65_536)]] | None = Field(
        None, max_length=32)
    channels: list[Annotated[int, Field(ge=1, le=65_536)]] | None = Field(None, max_length=64)
    spatial: bool | None = None
    pim_aligned: bool | None = None
    weight_bits: list[Bits] | None = Field(None, min_length=1, max_length=16)
    activation_bits: list[Bits] | None = Field(None, min_length=1, max_length=16)
    replication: list[Copies] | None = Field(None, min_length=1, max_length=8)


class HardwareSpaceSpec(_Strict):
    """Hardware genes to search, each a list of values, and the chip budget.

    A design's hardware is one value of each listed gene (the preset's where a gene is not
    listed), applied to the study's preset as ``hardware.set`` would be:
    ``xbar_size`` (N x N crossbars), ``cell_bits``, ``adc_choice`` and ``dac_choice`` (MNSIM's
    ADC and DAC tables: resolution, latency, energy and area together), ``tile_pes`` (PEs per
    tile) and ``crossbars_per_pe`` (converters per crossbar kept). ``max_tiles`` and
    ``max_area_m2`` are the chip budget: a constraint on every design (its tiles, its chip
    area), ``epim.space.ChipBudget``.
    """

    xbar_size: GeneValues | None = None
    cell_bits: GeneValues | None = None
    adc_choice: GeneValues | None = None
    dac_choice: GeneValues | None = None
    tile_pes: GeneValues | None = None
    crossbars_per_pe: GeneValues | None = None
    max_tiles: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    max_area_m2: Annotated[float, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _few_variants(self) -> HardwareSpaceSpec:
        count = 1
        for values in self.genes.values():
            count *= len(set(values))
        if count > MAX_HARDWARE_VARIANTS:
            raise ValueError(f"{count} hardware tuples; at most {MAX_HARDWARE_VARIANTS} "
                             "(fewer values per gene)")
        return self

    @property
    def genes(self) -> dict[str, list[int]]:
        """The listed genes: name -> values (``HARDWARE_GENES`` order)."""
        return {gene: values for gene in HARDWARE_GENES
                if (values := getattr(self, gene)) is not None}


Operator = Literal["epitome", "prune", "prune_channels", "prune_crossbar"]


class PruneSpec(_Strict):
    """Pruning candidates, as ratios ``full / kept`` (1: unpruned; ``epim.space._prune``).

    ``channel_ratios``: output filters kept by channel pruning (layers feeding one conv/linear
    layer alone); ``crossbar_ratios``: rows kept in every crossbar column block, or columns in
    every row block (PIM-Prune), rows rounded up to whole crossbars when
    ``epitome.pim_aligned``.
    """

    channel_ratios: list[Annotated[float, Field(ge=1, le=65_536)]] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0], min_length=1, max_length=32)
    crossbar_ratios: list[Annotated[float, Field(ge=1, le=65_536)]] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0], min_length=1, max_length=32)


class SpaceSpec(_Strict):
    """The search space (see ``epim.space.SearchSpace``).

    ``operators`` are the operator families searched beside the bits: ``epitome`` (the
    default), ``prune`` (channel and crossbar-aware pruning; ``prune_channels`` or
    ``prune_crossbar`` for one kind), any mix, or ``[]`` for bits only. ``replication`` lists
    the copies of each layer's weights to search (``[1]``: one copy, nothing searched);
    ``hardware`` the hardware genes and the chip budget.
    """

    operators: list[Operator] = Field(default_factory=lambda: list[Operator](["epitome"]),
                                      max_length=4)
    prune: PruneSpec = Field(default_factory=PruneSpec)
    epitome: EpitomeSpec = Field(default_factory=EpitomeSpec)
    weight_bits: list[Bits] = Field(default_factory=lambda: [2, 3, 4, 5, 6, 8], min_length=1,
                                    max_length=16)
    activation_bits: Bits | Annotated[list[Bits], Field(min_length=1, max_length=16)] = 8
    frozen: list[Name] = Field(default_factory=lambda: ["first", "last"], max_length=1000)
    frozen_bits: Bits = 8
    overrides: dict[Name, LayerOverride] = Field(default_factory=dict, max_length=1000)
    replication: list[Copies] = Field(default_factory=lambda: [1], min_length=1, max_length=8)
    hardware: HardwareSpaceSpec = Field(default_factory=HardwareSpaceSpec)

    @field_validator("operators")
    @classmethod
    def _distinct_operators(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"operators repeat a family: {value}")
        return value

    @property
    def prune_kinds(self) -> tuple[bool, bool]:
        """Whether channel pruning, and crossbar-aware pruning, are searched."""
        ops = set(self.operators)
        return (bool(ops & {"prune", "prune_channels"}),
                bool(ops & {"prune", "prune_crossbar"}))


class ObjectiveSpec(_Strict):
    """One objective: a metric and a direction."""

    metric: Metric = Field(description=METRIC_HELP)
    direction: Literal["minimize", "maximize"] = Field(
        "minimize", description="Default: the metric's natural direction (maximize accuracy "
        "and the reductions, minimize costs).")

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any) -> Any:
        """Default the direction to the metric's natural one (maximize accuracy, reductions)."""
        if (isinstance(data, dict) and data.get("direction") is None
                and isinstance(data.get("metric"), str) and data["metric"] in REGISTRY):
            return {**data, "direction": REGISTRY[data["metric"]].direction}
        return data


class ConstraintSpec(_Strict):
    """A hard limit on a metric: ``min`` and/or ``max`` (in the metric's SI unit)."""

    metric: Metric = Field(description=METRIC_HELP)
    min: float | None = None
    max: float | None = None

    @property
    def needs_accuracy(self) -> bool:
        """Whether the bounded metric comes from the accuracy proxy (checked after training)."""
        return metric_info(self.metric).needs_accuracy

    def violations(self, value: float) -> list[float]:
        """The constraint values of ``value``: ``<= 0`` where a bound is met.

        One per bound, ``max`` first: ``(value - max) / |max|`` and ``(min - value) / |min|``
        (divided by 1 for a bound of 0), so each is the overshoot as a share of its bound,
        the scale Optuna's constrained samplers compare. A value that is not finite counts as
        violating by ``1e300`` (samplers take finite numbers only).
        """
        values = []
        if self.max is not None:
            values.append((value - self.max) / (abs(self.max) or 1.0))
        if self.min is not None:
            values.append((self.min - value) / (abs(self.min) or 1.0))
        return [v if math.isfinite(v) else 1e300 for v in values]

    def holds(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Which of ``values`` (the metric of a batch of designs) meet the bounds.

        The same verdicts as :meth:`violations` (a value that is not finite fails).
        """
        ok = np.isfinite(values)
        if self.max is not None:
            ok &= values <= self.max
        if self.min is not None:
            ok &= values >= self.min
        return ok

    def additive_bound(self, baseline: Mapping[str, float]) -> tuple[str, float] | None:
        """The upper bound this constraint puts on a per-layer sum, or ``None``.

        A reduction's ``min`` bounds the reduced cost (design <= dense / min, ``baseline``
        holding the dense metrics); an additive metric's ``max`` bounds itself (see
        ``epim.metrics.Additivity``: latency is a sum only layer by layer, which the caller
        decides). A reduction's ``max``, a sum's ``min`` and bounds on other metrics have no
        per-layer form: see :meth:`whole_design_bounds`.
        """
        info = metric_info(self.metric)
        if info.reduction_of is not None and self.min is not None:
            return info.reduction_of, baseline[info.reduction_of] / self.min
        if info.additive != "none" and self.max is not None:
            return self.metric, self.max
        return None

    def whole_design_bounds(self) -> list[str]:
        """The bounds :meth:`additive_bound` leaves to whole designs (``"min"``/``"max"``)."""
        info = metric_info(self.metric)
        if info.reduction_of is not None:
            return ["max"] if self.max is not None else []
        if info.additive != "none":
            return ["min"] if self.min is not None else []
        return [side for side, bound in (("min", self.min), ("max", self.max))
                if bound is not None]

    @model_validator(mode="after")
    def _a_bound(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class LayerwiseSpec(_Strict):
    """Settings of the ``layerwise`` sampler (see ``epim.search.LayerwiseStrategy``).

    Attributes:
        profile_samples: Calibration images of the sensitivity profile.
        profile_steps: Fine-tuning steps of each profile probe (0: none, seconds per network).
        screen_steps: Proxy steps of the screening rung of successive halving (``None``: a
            quarter of ``accuracy.steps``; 0: no screening, every candidate is trained fully).
        screen_factor: Candidates screened per fully trained trial (the halving rate).
        genetic_share: Share of each batch bred by NSGA-II from the trained designs (for the
            interactions the additive model misses); the rest comes from the surrogate front.
        ridge: Strength of the pull of the per-layer corrections toward the common scale.

    """

    profile_samples: Annotated[int, Field(ge=16, le=10_000)] = 256
    profile_steps: Annotated[int, Field(ge=0, le=1000)] = 0
    screen_steps: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    screen_factor: Annotated[int, Field(ge=1, le=16)] = 2
    genetic_share: Annotated[float, Field(ge=0, le=1)] = 0.25
    ridge: Annotated[float, Field(gt=0, le=1e6)] = 1.0


class SamplerSpec(_Strict):
    """The sampler and its settings (stored with the study).

    ``name`` defaults to ``exact`` for cost-only studies (the front solved by knapsack DP,
    ``epim.search._exact``), to ``layerwise`` for studies whose accuracy comes from a training
    proxy and to ``nsga2`` for zero-cost proxies.
    """

    name: SamplerName = "nsga2"
    seed: Seed | None = 0
    population_size: Annotated[int, Field(ge=2, le=10_000)] | None = None
    warm_start: bool = False
    encoding: Literal["categorical", "ordered"] | None = Field(
        None, description="Parameters as candidate values (categorical) or ranks (ordered); "
        "default: ordered for tpe and gp, categorical otherwise.")
    layerwise: LayerwiseSpec = Field(default_factory=LayerwiseSpec)

    @property
    def parameter_encoding(self) -> Literal["categorical", "ordered"]:
        """The encoding in effect (the default depends on the sampler)."""
        if self.encoding is not None:
            return self.encoding
        return "ordered" if self.name in ("tpe", "gp") else "categorical"


class BudgetSpec(_Strict):
    """When to stop: trials, proxy evaluations and/or wall time (whichever comes first).

    ``n_trials`` counts trials told at the spec's proxy fidelity; ``proxy_evaluations``
    counts every proxy training, screening rungs included; ``timeout_s`` counts the wall time
    of every run of the study, pretraining and profiling included.
    """

    n_trials: Annotated[int, Field(ge=1, le=10_000_000)] = 500
    proxy_evaluations: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=365 * 86400)] | None = None


class HardwareEffectsSpec(_Strict):
    """Accuracy on the design's own crossbars (``epim.proxy.train_robust``).

    Each design's proxy is trained as usual (weights kept to the levels a +/- pair stores
    when the cells are paired), optionally fine-tuned with the crossbars in the loop, then
    scored by the crossbar-faithful forward pass of the study's preset with the design's
    hardware genes applied: ``robust_accuracy`` (mean top-1 over ``samples`` device samples)
    and ``robust_accuracy_p5`` (their 5th percentile). ``variation``, ``stuck_on`` and
    ``stuck_off`` replace the preset's ``cell_variation``, ``cell_stuck_on_rate`` and
    ``cell_stuck_off_rate`` (``None``: the preset's own).
    """

    samples: Annotated[int, Field(ge=1, le=64)] = 4
    finetune_steps: Annotated[int, Field(ge=0, le=100_000)] = 0
    finetune_lr: Annotated[float, Field(gt=0, le=100)] = 0.01
    adc_range: Literal["calibrated", "full"] = "calibrated"
    adc_percentile: Annotated[float, Field(gt=0, le=100)] = 100.0
    variation: Annotated[float, Field(ge=0, le=10)] | None = None
    stuck_on: Annotated[float, Field(ge=0, le=1)] | None = None
    stuck_off: Annotated[float, Field(ge=0, le=1)] | None = None
    calibration_images: Annotated[int, Field(ge=1, le=100_000)] = 256

    @model_validator(mode="after")
    def _stuck_rates_fit(self) -> HardwareEffectsSpec:
        if (self.stuck_on or 0.0) + (self.stuck_off or 0.0) > 1:
            raise ValueError("stuck_on + stuck_off add up to more than 1 (fractions of cells)")
        return self


class AccuracySpec(_Strict):
    """The proxy accuracy (``epim.proxy``).

    ``data_root`` names a dataset directory the operator defined (``EPIM_DATA_ROOTS``); it is
    never a path. ``fashion-mnist`` defaults to Debian's package directory and ``digits`` is
    bundled with scikit-learn.
    """

    proxy: Literal["train", "synflow", "naswot"] = "train"
    dataset: DatasetName = "fashion-mnist"
    data_root: Annotated[str, Field(pattern=ROOT_NAME_PATTERN)] | None = None
    steps: Annotated[int, Field(ge=1, le=1_000_000, description=(
        "Optimizer steps of each design's fine-tuning. The default fidelity (40 steps at lr "
        "0.02, 2,000 held-out images, batch_designs 32) was chosen in "
        "benchmarks/proxy_fidelity.py: of the fidelities measured it gave the most seed "
        "self-agreement per core-second on 30 random resnet20 designs, at about a third of "
        "the per-design 40-step proxy's cost (README, Batched proxy)."))] = 40
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 64
    lr: Annotated[float, Field(gt=0, le=100, description=(
        "Peak learning rate (SGD, Nesterov, cosine) of the dense start and of each design's "
        "fine-tuning; 0.02 ranked designs more steadily across seeds than 0.05 "
        "(benchmarks/proxy_fidelity.py)."))] = 0.02
    width: Annotated[float, Field(gt=0, le=4)] = 0.25
    image_size: Annotated[int, Field(ge=4, le=512)] | None = None
    seed: Seed = 0
    train_samples: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    eval_samples: Annotated[int, Field(ge=1, le=100_000_000)] | None = 2000
    pretrain_steps: Annotated[int, Field(ge=0, le=1_000_000)] = 300
    distill: Annotated[float, Field(ge=0, le=100, description=(
        "Weight of the distillation term (KL divergence to the dense start's outputs); 0: "
        "none. Needs a dense start. With distill: 1 and 80 steps the seed self-agreement "
        "rose a little (Kendall tau 0.74 against 0.69 at the default) for 1.7x the "
        "cost (benchmarks/proxy_fidelity.py)."))] = 0.0
    batch_designs: Annotated[int, Field(ge=1, le=64, description=(
        "Designs trained together as one stacked model in one executor task (train proxy: "
        "epim.proxy.train_proxies, the same batches from the same dense start, each design's "
        "binomial standard error stored as accuracy_se); 1 trains each design on its own. "
        "32 designs trained together cost a third of the per-design loop's core-seconds per "
        "design (benchmarks/proxy_throughput.py)."))
    ] = 32
    checkpoint: Annotated[str, Field(pattern=ROOT_NAME_PATTERN, description=(
        "A pretrained checkpoint the operator defined (EPIM_CHECKPOINTS), by name: the dense "
        "start begins from its weights (then pretrain_steps more on the dataset), and every "
        "epitome is fitted to its pretrained kernel by least squares."))] | None = None
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where proxies train: auto (the GPU a worker was given, when "
        "there is one; else the CPU), cpu, or cuda.")
    hardware_effects: HardwareEffectsSpec | None = Field(None, description=(
        "Score every design on its own crossbars too (ADC rounding, conductance variation, "
        "stuck cells): the metrics robust_accuracy and robust_accuracy_p5. Off by default."))

    @model_validator(mode="after")
    def _distill_needs_a_start(self) -> AccuracySpec:
        if self.distill > 0 and not self.has_start:
            raise ValueError("distill needs pretrain_steps > 0 or a checkpoint (the teacher "
                             "is the dense start)")
        if self.checkpoint is not None and self.proxy != "train":
            raise ValueError("checkpoint needs proxy: train (the zero-cost proxies score "
                             "untrained networks)")
        if self.hardware_effects is not None and self.proxy != "train":
            raise ValueError("hardware_effects needs proxy: train (the crossbars score a "
                             "trained network)")
        return self

    @property
    def has_start(self) -> bool:
        """Whether designs fine-tune from a dense start (pretrained, or a checkpoint)."""
        return self.pretrain_steps > 0 or self.checkpoint is not None


class ExecutorSpec(_Strict):
    """Where proxy evaluations run: in-process or as Ray tasks."""

    kind: Literal["local", "ray"] = "local"
    cpus_per_trial: Annotated[float, Field(gt=0, le=1024)] = 1
    gpus_per_trial: Annotated[float, Field(ge=0, le=64, description=(
        "GPUs each proxy evaluation reserves (Ray num_gpus; fractions share a GPU). "
        "Needs GPU workers in the cluster; the local executor uses the machine's GPU, if "
        "any, whatever this says."))] = 0
    retries: Annotated[int, Field(ge=0, le=10)] = 2


class StudySpec(_Strict):
    """A whole study."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    network: Name | dict[str, Any]
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    space: SpaceSpec = Field(default_factory=SpaceSpec)
    objectives: list[ObjectiveSpec] = Field(min_length=1, max_length=6)
    constraints: list[ConstraintSpec] = Field(default_factory=list, max_length=32)
    baseline_bits: Bits = 16
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    accuracy: AccuracySpec | None = None
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    latency_mode: LatencyMode = "layer_by_layer"
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        """No text anywhere in the spec may hold a NUL or a lone surrogate."""
        return refuse_unstorable_text(data, cls.__name__)

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        """A built-in name here; an inline network is built (with limits) by ``prepare``."""
        if isinstance(value, str) and value not in list_networks():
            raise ValueError(f"unknown network '{value}'; allowed: "
                             + ", ".join(list_networks()) + " or an inline network")
        return value

    @field_validator("hardware", mode="before")
    @classmethod
    def _preset_shorthand(cls, value: Any) -> Any:
        return {"preset": value} if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _default_sampler(cls, data: Any) -> Any:
        """``exact`` without accuracy; ``layerwise`` with a training proxy; else ``nsga2``."""
        if not isinstance(data, dict):
            return data
        sampler = data.get("sampler")
        if sampler is None:
            sampler = {}
        if not isinstance(sampler, dict) or "name" in sampler:
            return data
        items = [item for key in ("objectives", "constraints")
                 if isinstance(data.get(key), list) for item in data[key]]
        used = [item.get("metric") for item in items if isinstance(item, dict)]
        accuracy = data.get("accuracy") or {}
        proxy = accuracy.get("proxy", "train") if isinstance(accuracy, dict) else "train"
        uses_proxy = any(m in ACCURACY_METRICS for m in used if isinstance(m, str))
        name = ("exact" if not uses_proxy else "layerwise" if proxy == "train"
                else "nsga2")
        return {**data, "sampler": {**sampler, "name": name}}

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objectives repeat a metric: {metrics}")
        if self.needs_accuracy and self.accuracy is None:
            object.__setattr__(self, "accuracy", AccuracySpec())
        self._check_requirements()
        if self.sampler.name == "exact" and self.needs_accuracy:
            raise ValueError("sampler 'exact' solves cost-only studies: accuracy is not a sum "
                             "of per-layer costs (use layerwise with a training proxy, or "
                             "nsga2)")
        if self.sampler.name == "layerwise" and (
                not self.needs_accuracy or self.accuracy is None
                or self.accuracy.proxy != "train" or not self.accuracy.has_start):
            raise ValueError("sampler 'layerwise' needs an accuracy objective or constraint "
                             "measured by the train proxy from a pretrained dense start "
                             "(accuracy.proxy: train, accuracy.pretrain_steps > 0 or "
                             "accuracy.checkpoint)")
        return self

    def _check_requirements(self) -> None:
        """Every metric used has the spec setting the registry says it needs."""
        for metric in self.used_metrics:
            setting = metric_info(metric).requires
            if setting is None:
                continue
            value: Any = self
            for part in setting.split("."):
                value = getattr(value, part, None)
            if not value:
                error = PydanticCustomError(
                    "missing_setting", "'{metric}' needs {setting} (e.g. hardware_effects: "
                    "{{samples: 4}}: the accuracy on the design's crossbars is measured only "
                    "when it is set); set it or use another metric",
                    {"metric": metric, "setting": setting})
                raise ValidationError.from_exception_data(type(self).__name__, [
                    InitErrorDetails(type=error, loc=tuple(setting.split(".")), input=None)])

    @property
    def used_metrics(self) -> list[str]:
        """The metrics of the objectives, then those of the constraints (each once)."""
        used = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        return list(dict.fromkeys(used))

    @property
    def needs_accuracy(self) -> bool:
        """True when an objective or constraint uses a metric of the accuracy proxy."""
        return any(metric_info(m).needs_accuracy for m in self.used_metrics)


def allowed_values() -> dict[str, tuple[str, ...]]:
    """Enumerations of the spec, for documentation and error messages."""
    return {
        "metric": METRICS, "sampler": SAMPLERS, "latency_mode": LATENCY_MODES,
        "preset": tuple(list_presets()), "network": tuple(list_networks()),
        "dataset": DATASETS, **{f"hardware.set.{k}": v for k, v in OPTION_CHOICES.items()},
        "space.hardware": HARDWARE_GENES, "space.operators": get_args(Operator),
    }
