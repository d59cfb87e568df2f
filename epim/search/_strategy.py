"""What proposes a study's designs: the interface between the driver and its strategies.

The driver owns the study's loop (cost model, constraints, proxy evaluations, the store, the
front, budgets and stops); a strategy only proposes the next designs and learns from the
trials told. ``OptunaStrategy`` wraps an Optuna sampler; ``LayerwiseStrategy`` searches the
exact front of an additive surrogate; ``ExactStrategy`` solves a cost-only study's front. All
rebuild their state from the stored trials on resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from epim.search._prepare import PreparedStudy
from epim.search._records import Baseline, TrialRecord
from epim.search.executors import Outcome

#: What a proxy returns for one design: its accuracy, or numeric metrics that include it
#: (``accuracy``, ``accuracy_se``, ``robust_accuracy``, ...; other values are ignored).
ProxyValue = float | Mapping[str, Any]
#: A profile job: ``(network, reference design, [(layer, choice fields)], samples, steps)``.
ProfileJob = tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any]], int, int]


class AccuracyEvaluator(Protocol):
    """A picklable callable scoring one design: ``(network dict, design dict) -> metrics``."""

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> ProxyValue:
        """Return the proxy accuracy (or zero-cost score) of the design, or its metrics."""


@runtime_checkable
class TrainingProxy(Protocol):
    """An accuracy evaluator that trains, with what a multi-fidelity search needs.

    Every method returns a new evaluator or plain data, and every evaluator is picklable: the
    driver ships them to its executors. The keys name the artifacts the driver stores (the
    proxy's own recipe, ``epim.proxy``: what is computed, never the device it runs on).
    """

    steps: int

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> ProxyValue:
        """Train the design's proxy for ``steps`` and return its held-out top-1 (or metrics)."""

    def pretrain(self, network: dict[str, Any]) -> bytes:
        """Train the dense start every design fine-tunes from; its serialized form."""

    def start_key(self, network: dict[str, Any]) -> str:
        """The identity of :meth:`pretrain`'s result for ``network``."""

    def with_start(self, start: bytes) -> TrainingProxy:
        """A copy fine-tuning every design from ``start``."""

    def at_steps(self, steps: int) -> TrainingProxy:
        """A copy at another fidelity (training steps)."""

    def profile(self, job: ProfileJob) -> list[tuple[float, float]]:
        """Calibration ``(loss, accuracy)`` of the reference, then of each probe."""

    def profile_key(self, job: ProfileJob) -> str:
        """The identity of :meth:`profile`'s result for ``job``."""


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
        """Train designs at ``steps`` on the executor (a screening rung); stops with the run.

        An outcome that is ``ok`` carries the design's accuracy (a float) as its value.
        """

    def record_screened(self, entries: Sequence[tuple[Proposal, dict[str, Any], Outcome]],
                        steps: int) -> None:
        """Store screening results (state ``screened``; never on the front)."""

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]],
                samples: int, steps: int) -> list[tuple[float, float]] | None:
        """Probe results (reference first), cached in the store; ``None`` if stopped."""


class Strategy(ABC):
    """Proposes designs and learns from the trials told.

    A strategy is built complete for one run (``make_strategy``): its state comes from the
    run's stored trials, so a resumed study proposes on from where it was.
    """

    name: str = "strategy"

    @abstractmethod
    def propose(self, n: int) -> list[Proposal]:
        """Up to ``n`` designs to evaluate at the study's fidelity (fewer when stopped)."""

    @abstractmethod
    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Learn from evaluated proposals; returns the state to store with each trial."""

    def discard(self, proposals: Sequence[Proposal]) -> None:  # noqa: B027 - optional
        """Forget proposals that were not evaluated (the run stopped first)."""


Stop = Callable[[], bool]
