"""What a study keeps: trial records, progress counters, and the store they go to.

The search engine writes through a :class:`StudyStore`: ``epim.service`` gives it the SQL
results store (``epim.results``), tests and notebooks :class:`MemoryStore`. The store is the
one source of truth; the sampler's state is rebuilt from it on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

TrialState = Literal["complete", "failed", "screened"]
#: What a run announces it is doing, in the order a run may pass through them: training the
#: dense start, scoring the dense baseline, evaluating the uniform hand designs, profiling
#: layer sensitivity (``layerwise``), solving exact fronts (``exact``), screening and training
#: candidates (``layerwise``), sampling (the Optuna samplers), and done.
PHASES: tuple[str, ...] = ("dense_start", "baseline", "references", "profile", "solving",
                           "screening", "training", "sampling", "finished")


@dataclass(frozen=True)
class TrialRecord:
    """One told trial, as stored.

    Attributes:
        number: Trial number in the study (0, 1, ...; unique, gap-free).
        state: ``complete``, ``failed`` (its evaluation failed after its retries), or
            ``screened`` (a short training of a screening rung: never on the front, not
            counted in ``n_trials``; its ``metrics`` hold ``screen_accuracy``).
        params: The sampler's parameter values (replayed into the sampler on resume).
        system_attrs: The sampler's per-trial state (e.g. NSGA-II's generation), replayed.
        values: Objective values as told to the sampler (``None`` for failed trials).
        metrics: Every metric of the design (SI units; ``accuracy`` when a proxy ran).
        constraints: Constraint values (``<= 0`` feasible), one per bound.
        feasible: Every constraint met and the evaluation did not fail.
        design: The design in the design file format (``Design.to_dict``).
        design_hash: ``Design.digest()``.
        layers: Per-layer ``crossbars``, ``tiles``, ``latency_s`` and ``energy_j``, each a
            list over the network's layers in order (names: :attr:`Baseline.layers`).
        accuracy_evaluated: The proxy ran (or its cached result was reused) for the design.
        error: The evaluation's error after its retries (state ``failed``).
        node: Where the proxy ran (host or Ray node id), if it ran for this trial.
        source: What proposed the design (the sampler's name, ``warm_start``, ...).
        fidelity: Proxy training steps run for this trial (``None``: no training ran for it:
            cost-only, infeasible by cost, a cached design, or a zero-cost proxy).

    """

    number: int
    state: TrialState
    params: dict[str, Any]
    system_attrs: dict[str, Any]
    values: list[float] | None
    metrics: dict[str, float]
    constraints: list[float]
    feasible: bool
    design: dict[str, Any]
    design_hash: str
    layers: dict[str, list[float]]
    accuracy_evaluated: bool = False
    error: str | None = None
    node: str | None = None
    source: str | None = None
    fidelity: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (shallow: the values are shared, not copied)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Counters:
    """A study's six progress counters: one vocabulary for runs, batches, rows and history.

    The ``epim_studies`` and ``epim_progress`` columns carry these names
    (``epim.results.COUNTERS``), and so do the API's and the CLI's progress documents.

    Attributes:
        completed: Trials told (complete, or failed by an evaluation error).
        feasible: Completed trials that meet every constraint.
        failed: Trials whose evaluation failed after its retries.
        front_size: Feasible non-dominated trials.
        hypervolume: Of the feasible front, normalized objectives, reference point 1.
        elapsed_s: Wall time the study has run, over all its runs (s).

    """

    completed: int
    feasible: int
    failed: int
    front_size: int
    hypervolume: float
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The six counters by name (the columns' names)."""
        return {f.name: getattr(self, f.name) for f in fields(Counters)}


@dataclass(frozen=True, kw_only=True)
class Progress(Counters):
    """Where a study stands: its :class:`Counters`, its budget, this run and its phase.

    Attributes:
        n_trials: The budget.
        run_elapsed_s: Wall time of this run (s).
        run_completed: Trials told in this run.
        phase: What the run is doing now (:data:`PHASES`; ``""`` before it starts).
        phase_detail: One line on it for people (``"17 uniform hand designs"``,
            ``"exact: knapsack fronts of 1 hardware tuple"``, why a genetic fallback ran).

    """

    n_trials: int
    run_elapsed_s: float = 0.0
    run_completed: int = 0
    phase: str = ""
    phase_detail: str = ""

    @property
    def counters(self) -> Counters:
        """The six counters alone (what a batch stores)."""
        return Counters(self.completed, self.feasible, self.failed, self.front_size,
                        self.hypervolume, self.elapsed_s)

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left at this run's pace (``None`` before any trial)."""
        if self.run_completed <= 0 or self.run_elapsed_s <= 0:
            return None
        rate = self.run_completed / self.run_elapsed_s
        return max(0.0, (self.n_trials - self.completed) / rate)


@dataclass(frozen=True)
class Baseline:
    """The dense reference of a study, computed once and stored with it.

    Attributes:
        metrics: The dense design's cost metrics at ``baseline_bits`` (and ``accuracy`` when
            the study uses a proxy; ``score_reference`` for zero-cost scores).
        layers: ``(name, type)`` of every network layer, the order of per-layer breakdowns.

    """

    metrics: dict[str, float]
    layers: list[tuple[str, str]]


@dataclass
class StoredStudy:
    """A study as the store holds it when a run starts.

    Attributes:
        records: Every told trial, by number.
        baseline: The dense reference, once computed.
        elapsed_s: Wall time of the earlier runs (s), so that a timeout spans resumes.

    """

    records: list[TrialRecord] = field(default_factory=list)
    baseline: Baseline | None = None
    elapsed_s: float = 0.0


class StudyStore(Protocol):
    """Where a study's records go. Every write is one transaction."""

    def load(self) -> StoredStudy:
        """The records, baseline and elapsed time stored so far."""

    def save_baseline(self, baseline: Baseline) -> None:
        """Store the dense reference."""

    def save_batch(self, records: Sequence[TrialRecord], front: Sequence[int],
                   progress: Progress) -> None:
        """Store told trials, the current front (trial numbers) and the counters at once."""

    def save_phase(self, progress: Progress) -> None:
        """Store the run's phase (``progress.phase``, ``phase_detail``) and counters now.

        Called when the phase changes, between batches; trials are stored by
        :meth:`save_batch` only.
        """

    def load_artifact(self, key: str) -> bytes | None:
        """A stored artifact (dense start, profile), or ``None``."""

    def save_artifact(self, key: str, kind: str, data: bytes) -> None:
        """Store an artifact of the study (kept for other studies of the same key)."""


class MemoryStore:
    """A :class:`StudyStore` in memory (tests, notebooks)."""

    def __init__(self) -> None:
        self.study = StoredStudy()
        self.front: list[int] = []
        self.progress: Progress | None = None
        self.artifacts: dict[str, tuple[str, bytes]] = {}
        self.phases: list[tuple[str, str]] = []

    def load(self) -> StoredStudy:
        """A copy of what is stored."""
        return StoredStudy(list(self.study.records), self.study.baseline, self.study.elapsed_s)

    def save_baseline(self, baseline: Baseline) -> None:
        """Keep the dense reference."""
        self.study.baseline = baseline

    def save_batch(self, records: Sequence[TrialRecord], front: Sequence[int],
                   progress: Progress) -> None:
        """Append the records; keep the front and the counters."""
        known = {r.number for r in self.study.records}
        self.study.records.extend(r for r in records if r.number not in known)
        self.front = list(front)
        self.progress = progress
        self.study.elapsed_s = progress.elapsed_s

    def save_phase(self, progress: Progress) -> None:
        """Keep the phase (every change, in order, in :attr:`phases`) and the counters."""
        self.phases.append((progress.phase, progress.phase_detail))
        self.progress = progress

    def load_artifact(self, key: str) -> bytes | None:
        """An artifact kept here, or ``None``."""
        found = self.artifacts.get(key)
        return None if found is None else found[1]

    def save_artifact(self, key: str, kind: str, data: bytes) -> None:
        """Keep an artifact."""
        self.artifacts[key] = (kind, data)
