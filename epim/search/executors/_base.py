"""The executor boundary: where proxy evaluations run.

Invariants (checked by the contract tests against every executor): ``map`` returns one
:class:`Outcome` per item, in order; a failing call is retried up to ``retries`` times and then
reported as an error with its message, never raised; the other items are unaffected; once
``should_stop()`` is true no further item starts and the items not finished are reported
``cancelled`` (a running evaluation may be interrupted).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """The result of one evaluation: a value, or the error of its last attempt.

    Attributes:
        value: What the function returned (``None`` on error).
        error: ``"ExceptionType: message"`` of the last failed attempt, or ``None``.
        attempts: How many times the call ran.
        node: Where it ran (host or Ray node id).
        cancelled: It did not run to the end because ``should_stop()`` became true.

    """

    value: Any = None
    error: str | None = None
    attempts: int = 1
    node: str | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when the evaluation returned a value."""
        return self.error is None and not self.cancelled


class Executor(ABC):
    """Runs a picklable function over items, with bounded retries."""

    kind: str = "base"

    def __init__(self, *, retries: int = 2) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.retries = retries

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            should_stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Apply ``fn`` to every item; one :class:`Outcome` per item, in order.

        ``should_stop`` is polled between items (and while Ray tasks run); once true, the
        items not finished are cancelled.
        """

    def close(self) -> None:  # noqa: B027 - an optional hook; nothing to release by default
        """Release what the executor holds (processes, a Ray connection)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:2000]
