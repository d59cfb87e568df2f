"""The documents a study produces, defined once: the API serves them, the CLI prints them.

Each is a pydantic model (no web framework here): the API uses them as response models and
``epim study ... --format json`` prints the same objects, so a document has one shape
wherever it is read. Built from the ``epim_`` rows by the functions below and by
``epim.service``'s readers (fronts, references, profiles, history, exports).

Units are SI throughout (m^2, s, J); a metric's name carries its unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from epim import results
from epim.results import StudyStatus


class CountersDocument(BaseModel):
    """A study's six counters (``epim.search.Counters``; ``epim.results.COUNTERS``)."""

    completed: int = Field(description="Trials told (complete, or failed by an evaluation "
                           "error).")
    feasible: int = Field(description="Completed trials that meet every constraint.")
    failed: int = Field(description="Trials whose evaluation failed after its retries.")
    front_size: int = Field(description="Feasible non-dominated trials.")
    hypervolume: float = Field(description="Of the feasible front (normalized objectives, "
                               "reference point 1).")
    elapsed_s: float = Field(description="Wall time the study has run, over all runs (s).")

    @classmethod
    def counters_of(cls, row: Any) -> dict[str, Any]:
        """The counters of a row that has them as attributes (a study, a progress row)."""
        return {name: getattr(row, name) for name in results.COUNTERS}


class StudyProgress(CountersDocument):
    """How far a study is: its counters, its budget and what its run is doing now."""

    n_trials: int = Field(description="The budget.")
    phase: str | None = Field(None, description="What the run is doing now (dense_start, "
                              "references, profile, screening, training, ...), where known.")
    phase_detail: str | None = Field(None, description="One line on the phase, for people.")


class HistoryPoint(CountersDocument):
    """A study's counters after one stored batch."""


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
    """The dense baseline and the uniform hand designs (``GET /studies/{id}/references``)."""

    dense: ReferenceDesign | None
    uniform: list[ReferenceDesign]


class StudyExport(BaseModel):
    """Every trial of a study, with the study: one export for the CLI and the API.

    ``epim study export --format json`` prints it, ``GET /studies/{id}/export?format=json``
    serves it.
    """

    study: StudyPublic
    trials: list[TrialPublic]


def _loaded(row: results.StudyRow, column: str) -> str | None:
    """A column's value if the row has it loaded, else ``None``.

    For columns a store may lack (``phase``, written by runs that announce their phases) or
    a listing may not load: reading an unloaded column of a row whose session has closed
    would raise instead.
    """
    value = vars(row).get(column)
    return None if value is None else str(value)


def study_progress(row: results.StudyRow) -> StudyProgress:
    """A study row's progress."""
    return StudyProgress(**StudyProgress.counters_of(row), n_trials=row.n_trials,
                         phase=_loaded(row, "phase"),
                         phase_detail=_loaded(row, "phase_detail"))


def study_summary(row: results.StudyRow) -> StudySummary:
    """A study row as listings show it."""
    base = f"/studies/{row.id}"
    return StudySummary(
        id=row.id, name=row.name, network=row.network, status=row.status,
        progress=study_progress(row), hypervolume=row.hypervolume, best=dict(row.best or {}),
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at,
        error=row.error, cancel_requested=row.cancel_requested,
        links={"self": base, "trials": f"{base}/trials", "pareto": f"{base}/pareto",
               "chart": f"{base}/pareto.svg", "ui": f"/ui/studies/{row.id}",
               "export": f"{base}/export?format=csv", "references": f"{base}/references",
               "history": f"{base}/history"})


def study_public(row: results.StudyRow) -> StudyPublic:
    """A study row with its spec and baseline."""
    baseline = (row.baseline or {}).get("metrics")
    return StudyPublic(**dict(study_summary(row)), spec=row.spec,
                       baseline=dict(baseline) if baseline else None)


def trial_public(row: results.TrialRow) -> TrialPublic:
    """A trial row as the API and the CLI show it."""
    return TrialPublic(number=row.number, state=row.state, feasible=row.feasible,
                       on_front=row.on_front, values=row.metrics,
                       constraints=row.constraints, design=row.design, source=row.source,
                       node=row.node, error=row.error)


def history_point(row: results.ProgressRow) -> HistoryPoint:
    """A stored batch's counters."""
    return HistoryPoint(**HistoryPoint.counters_of(row))
