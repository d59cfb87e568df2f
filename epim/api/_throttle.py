"""A small in-memory limit on failures per client (the UI login's guard against guessing)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    """Count each client's failures over a sliding window; refuse a client past the limit.

    Per process and in memory: a restart forgets the counts, and clients behind one proxy
    share its address. It holds at most ``max_clients`` clients (the ones whose last failure
    is oldest are forgotten first), each with at most ``limit`` timestamps.

    Args:
        limit: Failures a client may have within ``window_s`` before it is refused.
        window_s: The window (s).
        max_clients: Most clients remembered.
        clock: Seconds from a monotonic clock (tests pass their own).

    """

    def __init__(self, *, limit: int, window_s: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("limit and max_clients must be >= 1 and window_s > 0")
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or ``None`` if it may now."""
        with self._lock:
            now = self._clock()
            failures = self._recent(client, now)
            if failures is None or len(failures) < self.limit:
                return None
            return max(0.0, failures[0] + self.window_s - now)

    def failed(self, client: str) -> None:
        """Record a failure of ``client``."""
        with self._lock:
            now = self._clock()
            failures = self._recent(client, now)
            if failures is None:
                failures = self._failures[client] = deque(maxlen=self.limit)
            failures.append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures
