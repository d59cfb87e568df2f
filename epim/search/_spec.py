"""``StudySpec``: the study a user submits (CLI file or API body). A contract.

Pydantic, strict, unknown keys rejected; every error carries the field path and the allowed
values. See the README's "Study specs" section and ``examples/studies/``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from epim.cost_model import LATENCY_MODES, OPTION_CHOICES, list_presets
from epim.errors import EpimError
from epim.space import MAX_BITS, MIN_BITS
from epim.workloads import list_networks, network_from_dict

COST_METRICS: tuple[str, ...] = (
    "crossbars", "crossbar_area_m2", "area_m2", "latency_s", "energy_j", "edp", "params",
    "crossbar_area_reduction", "energy_reduction", "latency_reduction",
)
ACCURACY_METRICS: tuple[str, ...] = ("accuracy", "accuracy_drop")
METRICS: tuple[str, ...] = ACCURACY_METRICS + COST_METRICS
#: Metrics where larger is better (the rest: smaller is better).
HIGHER_IS_BETTER = frozenset({"accuracy", "crossbar_area_reduction", "energy_reduction",
                              "latency_reduction"})
SAMPLERS: tuple[str, ...] = ("nsga2", "tpe", "random", "gp", "nsga3")

Metric = Literal[
    "accuracy", "accuracy_drop", "crossbars", "crossbar_area_m2", "area_m2", "latency_s",
    "energy_j", "edp", "params", "crossbar_area_reduction", "energy_reduction",
    "latency_reduction",
]
Bits = Annotated[int, Field(ge=MIN_BITS, le=MAX_BITS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HardwareSpec(_Strict):
    """``{preset, set}``: a built-in preset or preset file, with parameter overrides."""

    preset: str = "mnsim"
    set: dict[str, float | int | str | bool] = Field(default_factory=dict)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in list_presets() and not value.endswith((".yaml", ".yml")):
            raise ValueError(f"unknown preset '{value}'; allowed: "
                             + ", ".join(list_presets()) + " or a preset .yaml file")
        return value

    @field_validator("set")
    @classmethod
    def _known_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        from epim.cost_model import load_hardware

        try:
            load_hardware("mnsim", value)
        except EpimError as exc:
            raise ValueError(str(exc)) from None
        return value


class EpitomeSpec(_Strict):
    """Epitome candidates: channel ratios and/or absolute counts, spatial, PIM alignment."""

    channel_ratios: list[Annotated[float, Field(ge=1)]] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    channels: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    spatial: bool = False
    spatial_growth: list[Annotated[int, Field(ge=1, le=4)]] = Field(
        default_factory=lambda: [1, 2])
    pim_aligned: bool = True

    @model_validator(mode="after")
    def _some_candidates(self) -> EpitomeSpec:
        if not self.channel_ratios and not self.channels:
            raise ValueError("give at least one of channel_ratios or channels")
        return self


class LayerOverride(_Strict):
    """Fields to change for the layers a pattern matches."""

    channel_ratios: list[Annotated[float, Field(ge=1)]] | None = None
    channels: list[Annotated[int, Field(ge=1)]] | None = None
    spatial: bool | None = None
    pim_aligned: bool | None = None
    weight_bits: list[Bits] | None = None
    activation_bits: list[Bits] | None = None


class SpaceSpec(_Strict):
    """The search space (see ``epim.space.SearchSpace``)."""

    epitome: EpitomeSpec = Field(default_factory=EpitomeSpec)
    weight_bits: list[Bits] = Field(default_factory=lambda: [2, 3, 4, 5, 6, 8], min_length=1)
    activation_bits: Bits | list[Bits] = 8
    frozen: list[str] = Field(default_factory=lambda: ["first", "last"])
    frozen_bits: Bits = 8
    overrides: dict[str, LayerOverride] = Field(default_factory=dict)


class ObjectiveSpec(_Strict):
    """One objective: a metric and a direction."""

    metric: Metric
    direction: Literal["minimize", "maximize"] = "minimize"

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any) -> Any:
        """Default the direction to the metric's natural one (maximize accuracy, reductions)."""
        if isinstance(data, dict) and data.get("direction") is None and "metric" in data:
            natural = "maximize" if data["metric"] in HIGHER_IS_BETTER else "minimize"
            return {**data, "direction": natural}
        return data


class ConstraintSpec(_Strict):
    """A hard limit on a metric: ``min`` and/or ``max``."""

    metric: Metric
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class SamplerSpec(_Strict):
    """The Optuna sampler and its settings (stored with the study)."""

    name: Literal["nsga2", "tpe", "random", "gp", "nsga3"] = "nsga2"
    seed: int | None = 0
    population_size: Annotated[int, Field(ge=2)] | None = None
    warm_start: bool = False


class BudgetSpec(_Strict):
    """When to stop: trials and/or wall time."""

    n_trials: Annotated[int, Field(ge=1)] = 500
    timeout_s: Annotated[float, Field(gt=0)] | None = None


class AccuracySpec(_Strict):
    """The proxy accuracy (``epim.proxy``)."""

    proxy: Literal["train", "synflow", "naswot"] = "train"
    dataset: Literal["fashion-mnist", "digits", "cifar10", "imagefolder"] = "fashion-mnist"
    data_root: str | None = None
    steps: Annotated[int, Field(ge=1)] = 200
    batch_size: Annotated[int, Field(ge=1)] = 64
    lr: Annotated[float, Field(gt=0)] = 0.05
    width: Annotated[float, Field(gt=0, le=4)] = 0.25
    image_size: Annotated[int, Field(ge=4)] | None = None
    seed: int = 0
    train_samples: Annotated[int, Field(ge=1)] | None = None
    eval_samples: Annotated[int, Field(ge=1)] | None = 2000
    pretrain_steps: Annotated[int, Field(ge=0)] = 0


class ExecutorSpec(_Strict):
    """Where proxy evaluations run: in-process or as Ray tasks."""

    kind: Literal["local", "ray"] = "local"
    cpus_per_trial: Annotated[float, Field(gt=0)] = 1
    retries: Annotated[int, Field(ge=0, le=10)] = 2


class StudySpec(_Strict):
    """A whole study."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    network: str | dict[str, Any]
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    space: SpaceSpec = Field(default_factory=SpaceSpec)
    objectives: list[ObjectiveSpec] = Field(min_length=1, max_length=6)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    baseline_bits: Bits = 16
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    accuracy: AccuracySpec | None = None
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    latency_mode: Literal["layer_by_layer", "pipelined", "throughput"] = "layer_by_layer"
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str):
            if value not in list_networks():
                raise ValueError(f"unknown network '{value}'; allowed: "
                                 + ", ".join(list_networks()) + " or an inline network")
            return value
        try:
            network_from_dict(value)
        except EpimError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("hardware", mode="before")
    @classmethod
    def _preset_shorthand(cls, value: Any) -> Any:
        return {"preset": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objectives repeat a metric: {metrics}")
        if self.needs_accuracy and self.accuracy is None:
            object.__setattr__(self, "accuracy", AccuracySpec())
        return self

    @property
    def needs_accuracy(self) -> bool:
        """True when an objective or constraint uses ``accuracy`` or ``accuracy_drop``."""
        used = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        return any(m in ACCURACY_METRICS for m in used)


def allowed_values() -> dict[str, tuple[str, ...]]:
    """Enumerations of the spec, for documentation and error messages."""
    return {
        "metric": METRICS, "sampler": SAMPLERS, "latency_mode": LATENCY_MODES,
        "preset": tuple(list_presets()), "network": tuple(list_networks()),
        **{f"hardware.set.{k}": v for k, v in OPTION_CHOICES.items()},
    }
