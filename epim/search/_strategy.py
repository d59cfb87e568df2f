"""What proposes a study's designs: the interface between the driver and its strategies.

The driver owns the study's loop (cost model, constraints, proxy evaluations, the store, the
front, budgets and stops); a strategy only proposes the next designs and learns from the
trials told. ``OptunaStrategy`` wraps an Optuna sampler; ``LayerwiseStrategy`` searches the
exact front of an additive surrogate; ``ExactStrategy`` solves a cost-only study's front. All
rebuild their state from the stored trials on resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from epim.search._prepare import PreparedStudy
from epim.search._records import Baseline, TrialRecord
from epim.search.executors import Outcome


class AccuracyEvaluator(Protocol):
    """A picklable callable scoring one design: ``(network dict, design dict) -> accuracy``."""

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]
                 ) -> float | dict[str, Any]:
        """The proxy accuracy (or zero-cost score) of the design, or a dict of metrics.

        A dict holds ``accuracy`` and other numeric results (stored as trial metrics).
        """


@runtime_checkable
class TrainingProxy(Protocol):
    """An accuracy evaluator that trains, with what a multi-fidelity search needs.

    Every method returns a new evaluator or plain data, and every evaluator is picklable: the
    driver ships them to its executors.
    """

    steps: int

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]
                 ) -> float | dict[str, Any]:
        """Train the design's proxy for ``steps``: its held-out top-1 (or a dict of metrics).

        At a screening rung (``at_steps``) one number.
        """

    def pretrain(self, network: dict[str, Any]) -> bytes:
        """Train the dense start every design fine-tunes from; its serialized form."""

    def with_start(self, start: bytes) -> TrainingProxy:
        """A copy fine-tuning every design from ``start``."""

    def at_steps(self, steps: int) -> TrainingProxy:
        """A copy at another fidelity (training steps)."""

    def profile(self, job: tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any]],
                                 int, int]) -> list[tuple[float, float]]:
        """Calibration ``(loss, accuracy)`` of the reference, then of each probe.

        The job is ``(network, reference design, [(layer, choice fields)], samples, steps)``.
        """


@dataclass(frozen=True)
class Proposal:
    """A design a strategy wants evaluated.

    Attributes:
        values: The search space's parameter values (``"<layer>/<field>" -> value``).
        params: What the strategy stores to replay the trial later (Optuna's parameters).
        source: What proposed it (a sampler's name, ``surrogate``, ``genetic``, ...).
        handle: The strategy's own handle (an Optuna trial), not stored.

    """

    values: dict[str, int]
    params: dict[str, Any]
    source: str
    handle: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Told:
    """A proposal's outcome, as the driver tells it back.

    Attributes:
        proposal: The proposal.
        values: Objective values (``None`` when the evaluation failed).
        constraints: Constraint values (``<= 0`` feasible).
        metrics: Every metric of the design (``accuracy`` when it was trained).

    """

    proposal: Proposal
    values: list[float] | None
    constraints: list[float]
    metrics: dict[str, float]


class RunContext(Protocol):
    """What a strategy may use from the run of its study."""

    study: PreparedStudy
    baseline: Baseline

    @property
    def records(self) -> Sequence[TrialRecord]:
        """Every trial told so far (all runs)."""

    def should_stop(self) -> bool:
        """True once the run must stop (cancel, shutdown, timeout)."""

    def announce(self, phase: str, detail: str = "") -> None:
        """Say what the run does now (``PHASES``); stored with the study at once."""

    def evaluate(self, designs: Sequence[dict[str, Any]], steps: int) -> list[Outcome]:
        """Train designs at ``steps`` on the executor (a screening rung); stops with the run."""

    def record_screened(self, entries: Sequence[tuple[Proposal, dict[str, Any], Outcome]],
                        steps: int) -> None:
        """Store screening results (state ``screened``; never on the front)."""

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]],
                samples: int, steps: int) -> list[tuple[float, float]] | None:
        """Probe results (reference first), cached in the store; ``None`` if stopped."""


class Strategy(ABC):
    """Proposes designs and learns from the trials told."""

    name: str = "strategy"

    def begin(self, run: RunContext) -> bool:
        """Prepare (rebuild state from ``run.records``, profile, ...); False if stopped."""
        return True

    @abstractmethod
    def propose(self, n: int) -> list[Proposal]:
        """Up to ``n`` designs to evaluate at the study's fidelity (fewer when stopped)."""

    @abstractmethod
    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Learn from evaluated proposals; returns the state to store with each trial."""

    def discard(self, proposals: Sequence[Proposal]) -> None:  # noqa: B027 - optional
        """Forget proposals that were not evaluated (the run stopped first)."""


Stop = Callable[[], bool]
