"""Public schemas (Create/Public families, FastAPI's full-stack template style)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from epim.cost_model import LatencyMode
from epim.results import StudyStatus
from epim.search import StudySpec, refuse_unstorable_text


class StudyProgress(BaseModel):
    """How far a study is."""

    completed: int
    feasible: int
    failed: int
    n_trials: int
    front_size: int
    elapsed_s: float = Field(description="Wall time the study has run, over all runs (s).")
    phase: str | None = Field(None, description="What the run is doing now (dense_start, "
                              "references, profile, screening, training, ...), where known.")
    phase_detail: str | None = Field(None, description="One line on the phase, for people.")


class StudySummary(BaseModel):
    """A study in a listing (without its spec)."""

    id: int
    name: str
    network: str
    status: StudyStatus
    progress: StudyProgress
    hypervolume: float
    best: dict[str, dict[str, Any]] = Field(
        description="Per objective: the best front trial's number and value.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    cancel_requested: bool
    links: dict[str, str]


class StudyPublic(StudySummary):
    """A study with its spec and dense baseline."""

    spec: dict[str, Any]
    baseline: dict[str, float] | None = Field(
        None, description="The dense design's metrics at the spec's baseline_bits.")


class StudyCreated(StudyPublic):
    """A submitted study, and whether an identical study was stored before."""

    duplicate_of: int | None = Field(
        None, description="Id of an older study with the same spec (name and settings): "
        "this submission made a second, identical study. Send an Idempotency-Key header to "
        "get the first study back instead when a request is repeated.")


class StudiesPage(BaseModel):
    """A page of studies."""

    items: list[StudySummary]
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
    design: dict[str, Any] = Field(description="The design in the design file format.")
    source: str | None = None
    node: str | None = None
    error: str | None = None


class LayerCost(BaseModel):
    """One layer's share of a trial's cost."""

    name: str
    type: str
    crossbars: int
    tiles: int
    latency_s: float = Field(description="The layer's latency (s).")
    energy_j: float = Field(description="The layer's energy (J).")
    in_channels: int | None = Field(None, description="Dense input channels per group "
                                    "(conv/linear layers).")
    out_channels: int | None = Field(None, description="Dense output channels.")
    kernel_h: int | None = None
    kernel_w: int | None = None
    epitome_in: int | None = Field(None, description="Stored input channels per group.")
    epitome_out: int | None = Field(None, description="Stored output channels.")
    epitome_h: int | None = None
    epitome_w: int | None = None
    weight_bits: int | None = None
    act_bits: int | None = None
    channel_offsets: int | None = None
    prune_out: int | None = Field(None, description="Output filters kept (channel pruning).")
    prune_rows: int | None = Field(None, description="Rows kept per crossbar column block.")
    prune_cols: int | None = Field(None, description="Columns kept per crossbar row block.")
    operator: str | None = Field(None, description="dense, epitome, prune_channels, "
                                 "prune_rows or prune_cols.")
    stored_fraction: float | None = Field(None, description="Stored weights / dense weights.")


class TrialDetail(TrialPublic):
    """A trial with its per-layer breakdown."""

    layers: list[LayerCost]


class ProfileEntry(BaseModel):
    """One probe of a sensitivity profile: a layer's choice, alone on the dense proxy."""

    layer: str
    choice: dict[str, int] = Field(description="The layer's design fields in the probe.")
    loss: float = Field(description="Calibration cross-entropy with this choice (nats).")
    accuracy: float = Field(description="Calibration top-1 with this choice.")
    damage: float = Field(description="Loss increase over the reference design (nats).")


class Profile(BaseModel):
    """A study's layer sensitivity profile (the layerwise sampler's cheap fidelity)."""

    reference: dict[str, Any] = Field(description="The design every probe changes one "
                                      "layer of, in the design file format.")
    reference_loss: float
    reference_accuracy: float
    samples: int = Field(description="Calibration images.")
    steps: int = Field(description="Fine-tuning steps per probe.")
    entries: list[ProfileEntry]


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
    design: dict[str, Any]


class ParetoDocument(BaseModel):
    """The feasible, non-dominated trials of a study."""

    objectives: list[Objective]
    hypervolume: float
    trials: list[ParetoTrial]


class EvaluateRequest(BaseModel):
    """``POST /evaluate``: cost one design (the same numbers as ``epim cost --json``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    network: Annotated[str, Field(max_length=200)] | dict[str, Any] = Field(
        examples=["resnet18"])
    hardware: Annotated[str, Field(max_length=200)] | dict[str, Any] = Field(
        "mnsim", examples=["mnsim"], description="A built-in preset or an inline preset.")
    set: dict[Annotated[str, Field(max_length=64)], float | int | str | bool] = Field(
        default_factory=dict, max_length=64)
    design: dict[str, Any] | None = Field(
        None, examples=[{"default": {"weight_bits": 3, "act_bits": 8, "in_ratio": 4}}])
    weight_bits: int = Field(9, ge=1, le=16)
    act_bits: int = Field(9, ge=1, le=16)
    latency_mode: LatencyMode = "layer_by_layer"
    baseline_bits: int | None = Field(None, ge=1, le=16)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        """No text in the request may hold a NUL or a lone surrogate."""
        return refuse_unstorable_text(data, cls.__name__)


STUDY_EXAMPLE = {
    "name": "resnet18-api", "network": "resnet18", "hardware": "mnsim",
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 10}],
    "budget": {"n_trials": 200},
}
StudyCreate = StudySpec


class ReferenceDesign(BaseModel):
    """A design a front is read against (the dense baseline or a uniform hand design)."""

    label: str
    metrics: dict[str, float] = Field(description="Cost metrics (SI units); a uniform "
                                      "design the study evaluated also has its trial's.")
    rank: int | None = Field(None, description="Uniform designs: the channel rank every "
                             "layer takes (0 = its smallest candidate).")
    weight_bits: int | None = None
    trial: int | None = Field(None, description="The trial that evaluated this design.")
    design: dict[str, Any] | None = Field(None, description="In the design file format.")


class References(BaseModel):
    """``GET /studies/{id}/references``."""

    dense: ReferenceDesign | None
    uniform: list[ReferenceDesign]


class HistoryPoint(BaseModel):
    """A study's counters after one stored batch."""

    completed: int
    feasible: int
    failed: int
    front_size: int
    hypervolume: float
    elapsed_s: float = Field(description="Search time so far (s).")
