"""Public schemas (Create/Public families, FastAPI's full-stack template style)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from epim.search import StudySpec


class Progress(BaseModel):
    """How far a study is."""

    completed_trials: int
    feasible_trials: int
    failed_trials: int
    n_trials: int


class StudyPublic(BaseModel):
    """A study as the API shows it."""

    id: int
    name: str
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    progress: Progress
    hypervolume: float
    best: dict[str, dict[str, Any]] = Field(
        description="Per objective: the best feasible trial's number and value.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    cancel_requested: bool
    spec: dict[str, Any]
    links: dict[str, str]


class StudiesPage(BaseModel):
    """A page of studies."""

    items: list[StudyPublic]
    total: int
    offset: int
    limit: int


class TrialPublic(BaseModel):
    """A trial: design, metrics, constraints, feasibility."""

    number: int
    state: str
    feasible: bool
    on_front: bool
    values: dict[str, float]
    constraints: list[float]
    design: dict[str, list[int]]
    error: str | None = None


class LayerCost(BaseModel):
    """One layer's share of a trial's cost."""

    name: str
    type: str
    crossbars: int
    tiles: int
    latency_s: float
    energy_j: float


class TrialDetail(TrialPublic):
    """A trial with its per-layer breakdown."""

    layers: list[LayerCost]


class TrialsPage(BaseModel):
    """A page of trials."""

    items: list[TrialPublic]
    total: int
    offset: int
    limit: int


class Objective(BaseModel):
    """An objective of a study."""

    metric: str
    direction: Literal["minimize", "maximize"]


class ParetoTrial(BaseModel):
    """A trial on the front."""

    number: int
    values: dict[str, float]
    design: dict[str, list[int]]


class ParetoDocument(BaseModel):
    """The feasible, non-dominated trials of a study."""

    objectives: list[Objective]
    hypervolume: float
    trials: list[ParetoTrial]


class EvaluateRequest(BaseModel):
    """``POST /evaluate``: cost one design (the same numbers as ``epim cost --json``)."""

    model_config = ConfigDict(extra="forbid")

    network: str | dict[str, Any] = Field(examples=["resnet18"])
    hardware: str = Field("mnsim", examples=["mnsim"])
    set: dict[str, float | int | str] = Field(default_factory=dict)
    design: dict[str, Any] | None = Field(
        None, examples=[{"default": {"weight_bits": 3, "act_bits": 8, "in_ratio": 4}}])
    weight_bits: int = Field(9, ge=1, le=16)
    act_bits: int = Field(9, ge=1, le=16)
    latency_mode: Literal["layer_by_layer", "pipelined", "throughput"] = "layer_by_layer"
    baseline_bits: int | None = Field(None, ge=1, le=16)


STUDY_EXAMPLE = {
    "name": "resnet18-api", "network": "resnet18", "hardware": "mnsim",
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
    "budget": {"n_trials": 200},
}
StudyCreate = StudySpec
