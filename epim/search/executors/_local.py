"""In-process executor: for tests and laptops."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from epim.search.executors._base import Executor, Outcome, describe


class LocalExecutor(Executor):
    """Runs evaluations one after another in this process."""

    kind = "local"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            should_stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Apply ``fn`` to every item, retrying failures up to ``retries`` times."""
        node = socket.gethostname()
        outcomes = []
        for item in items:
            if should_stop is not None and should_stop():
                outcomes.append(Outcome(cancelled=True, attempts=0, node=node))
                continue
            error = None
            for attempt in range(1, self.retries + 2):
                try:
                    outcomes.append(Outcome(value=fn(item), attempts=attempt, node=node))
                    break
                except Exception as exc:  # an evaluation may fail in any way; report it
                    error = describe(exc)
            else:
                outcomes.append(Outcome(error=error, attempts=self.retries + 1, node=node))
        return outcomes
