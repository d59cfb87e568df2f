"""Database calls that outlast a database outage.

A transient error (lost connection, server restarting, database locked) is retried with
exponential backoff, logging one line per backoff step without the URL; a study never fails
because its database blinked. A runner that is stopping gives up (``DatabaseUnavailableError``)
and leaves its studies to be requeued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from epim.errors import EpimError
from epim.results import is_transient

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseUnavailableError(EpimError):
    """The database stayed unreachable until the runner stopped retrying."""


class DatabaseRetry:
    """Calls a function, retrying transient database errors until it succeeds or ``stop``.

    Args:
        stop: Set when the runner stops; retrying then ends with
            :class:`DatabaseUnavailableError`.
        log: Where each backoff step is reported (one line, no URL).
        first_s: First backoff (s); doubled each step.
        max_s: Longest backoff (s).

    """

    def __init__(self, stop: threading.Event, log: logging.Logger, *, first_s: float = 0.25,
                 max_s: float = 10.0) -> None:
        self.stop = stop
        self.log = log
        self.first_s = first_s
        self.max_s = max_s
        self.failing_since: float | None = None

    def __call__(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)``, retried while the database is unreachable."""
        import time

        delay = self.first_s
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                if self.stop.is_set():
                    raise DatabaseUnavailableError(
                        f"database unavailable ({type(exc).__name__})") from None
                self.log.warning("database unavailable (%s) in %s; retrying in %.2g s",
                                 type(exc).__name__, getattr(fn, "__name__", "a call"), delay)
                self.stop.wait(delay)
                delay = min(self.max_s, delay * 2)
                continue
            if self.failing_since is not None:
                self.log.warning("database reachable again after %.1f s",
                                 time.monotonic() - self.failing_since)
                self.failing_since = None
            return result
