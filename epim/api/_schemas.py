"""The API's own schemas: requests, pages, and what a submission answers.

The study documents (summary, progress, trials, fronts, references, profile, history, the
export) are ``epim.service``'s, shared with the CLI; they are named here too for the routers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from epim.cost_model import LatencyMode
from epim.search import StudySpec, refuse_unstorable_text
from epim.service import (
    HistoryPoint,
    LayerCost,
    Objective,
    ParetoDocument,
    ParetoTrial,
    Profile,
    ProfileEntry,
    ReferenceDesign,
    References,
    StudyExport,
    StudyProgress,
    StudyPublic,
    StudySummary,
    TrialDetail,
    TrialPublic,
)

__all__ = [
    "STUDY_EXAMPLE",
    "EvaluateRequest",
    "HistoryPoint",
    "LayerCost",
    "Objective",
    "ParetoDocument",
    "ParetoTrial",
    "Profile",
    "ProfileEntry",
    "ReferenceDesign",
    "References",
    "StudiesPage",
    "StudyCreate",
    "StudyCreated",
    "StudyExport",
    "StudyProgress",
    "StudyPublic",
    "StudySummary",
    "TrialDetail",
    "TrialPublic",
    "TrialsPage",
]


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


class TrialsPage(BaseModel):
    """A page of trials."""

    items: list[TrialPublic]
    total: int
    offset: int
    limit: int


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


