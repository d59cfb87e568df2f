"""Runners in child processes, supervised: what ``epim serve`` runs beside the API.

A study's search (sampling, the cost model, storing batches) and its proxy trainings never run
in the API's interpreter, so the API answers at its own pace whatever a study does, and a
runner that dies (killed, out of memory) takes no request with it: it is started again, with a
growing pause if it keeps dying. The child reports its state (alive, database reachable, the
studies it runs) every ``report_s`` for ``/healthz``. The child and its training workers run
at a lower priority (``nice``), so that on a machine whose cores studies keep busy the API's
requests still come first. Stopping asks the child to stop, which puts its unfinished
studies back in the queue; a child whose parent died stops the same way.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("epim.supervisor")


def _child_main(conn: Connection, kwargs: dict[str, Any], report_s: float, nice: int) -> None:
    """Run a :class:`Runner` until asked to stop (a message, SIGTERM/SIGINT, the parent's end)."""
    if nice:
        os.nice(nice)  # its workers inherit it: the API's requests come first on a busy CPU
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from epim.service._runner import Runner

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = Runner(**kwargs)
    runner.start()
    try:
        while not stop.is_set():
            try:
                conn.send((runner.alive, runner.database_ok, runner.active_studies()))
                if conn.poll(report_s):
                    conn.recv()  # "stop" (or EOF: the parent is gone)
                    break
            except (EOFError, OSError):
                break
    finally:
        runner.stop()
        conn.close()


class RunnerProcess:
    """A :class:`Runner` in a supervised child process (the API's ``RunnerLike``).

    Args:
        report_s: Seconds between the child's state reports.
        nice: Niceness added to the child and its training workers (Linux ``nice``), so that
            the kernel runs the API first when studies keep every core busy.
        first_backoff_s: Pause before restarting a child that died; doubled each time it
            dies again within ``max_backoff_s``, up to ``max_backoff_s``.
        max_backoff_s: Longest pause between restarts (s).
        **runner_kwargs: The :class:`Runner`'s keyword arguments (picklable).

    """

    def __init__(self, *, report_s: float = 0.5, nice: int = 10, first_backoff_s: float = 1.0,
                 max_backoff_s: float = 30.0, **runner_kwargs: Any) -> None:
        self.runner_kwargs = runner_kwargs
        self.report_s = report_s
        self.nice = nice
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.restarts = 0
        self._state: tuple[bool, bool, list[int]] = (False, True, [])
        self._reported_at = 0.0
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ RunnerLike
    def start(self) -> None:
        """Start the child and the thread that watches (and restarts) it."""
        self._spawn()
        self._monitor = threading.Thread(target=self._watch, name="epim-runner-supervisor",
                                         daemon=True)
        self._monitor.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop (its studies go back to the queue); kill it after ``timeout``."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(self.report_s * 4 + 1)
        with self._lock:
            process, conn = self._process, self._conn
        if process is None:
            return
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send("stop")
        process.join(timeout)
        if process.is_alive():
            log.warning("runner process %s did not stop in %.0f s: killed", process.pid,
                        timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid or 0, signal.SIGKILL)
            process.join(5)
        if conn is not None:
            conn.close()

    @property
    def alive(self) -> bool:
        """True while the child runs and reported a live runner lately."""
        with self._lock:
            process = self._process
        fresh = time.monotonic() - self._reported_at < max(5.0, self.report_s * 10)
        return (process is not None and process.is_alive() and fresh and self._state[0]
                and not self._stopping.is_set())

    @property
    def database_ok(self) -> bool:
        """False while the child's runner waits for an unreachable database."""
        return self._state[1]

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` before it started)."""
        with self._lock:
            return None if self._process is None else self._process.pid

    def active_studies(self) -> list[int]:
        """The studies the child runs, as it last reported."""
        return list(self._state[2])

    # ------------------------------------------------------------------ the child
    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        conn, child = context.Pipe()
        process = context.Process(target=_child_main,
                                  args=(child, self.runner_kwargs, self.report_s, self.nice),
                                  name="epim-runner", daemon=False)
        process.start()
        child.close()
        with self._lock:
            self._process, self._conn = process, conn
        self._reported_at = time.monotonic()

    def _watch(self) -> None:
        backoff = self.first_backoff_s
        started = time.monotonic()
        while not self._stopping.is_set():
            with self._lock:
                process, conn = self._process, self._conn
            assert process is not None and conn is not None
            try:
                if conn.poll(self.report_s):
                    self._state = conn.recv()
                    self._reported_at = time.monotonic()
                    continue
            except (EOFError, OSError):
                pass
            if process.is_alive() or self._stopping.is_set():
                continue
            process.join()
            conn.close()
            if time.monotonic() - started > self.max_backoff_s * 2:
                backoff = self.first_backoff_s  # it had run well for a while
            log.warning("runner process %s exited (status %s); restarting in %.0f s",
                        process.pid, process.exitcode, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(self.max_backoff_s, backoff * 2)
            self.restarts += 1
            self._spawn()
            started = time.monotonic()
