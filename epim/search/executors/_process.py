"""Process executor: evaluations run in a child worker process that can be stopped at once.

The worker is started with the ``spawn`` method (a fresh interpreter: the parent's threads and
locks are not copied), keeps running between calls (torch is imported once per worker, not
per evaluation) and uses ``threads`` threads (``OMP_NUM_THREADS`` and friends, set before
anything imports a numerical library). Its address space is limited (``RLIMIT_AS``) to
``memory_limit_bytes``: an evaluation that needs more fails with a clear error, and the
process that asked for it (the service) never runs out of memory because of it.

``should_stop()`` is polled every ``poll_s`` while an evaluation runs; once true the worker
is killed (whatever it was doing: a long training, a dense pretraining) and the unfinished
items are reported ``cancelled``. The next call starts a new worker. A worker that dies
(killed by the kernel's out-of-memory killer, a crash in native code) costs the one
evaluation it was running, reported as an error; the next attempt gets a new worker. The
worker has its own process group (a signal to the parent's group, e.g. Ctrl-C or a
``kill`` of ``epim serve``'s group, is the parent's to handle) and dies with its parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from epim.search.executors._base import Executor, Outcome, describe

#: Environment variables that size the thread pools of numerical libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: What an allocation that hit the limit raises, as ``describe`` writes it.
_OUT_OF_MEMORY = ("MemoryError", "can't allocate memory", "std::bad_alloc",
                  "Cannot allocate memory")


def is_out_of_memory(error: str) -> bool:
    """True for an evaluation error that says memory ran out (retrying will not help)."""
    return any(marker in error for marker in _OUT_OF_MEMORY)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the pipe's end stops the worker instead
        pass


def _worker_main(conn: Connection, threads: int, memory_limit_bytes: int | None) -> None:
    """The worker's loop: ``("fn", fn)`` sets the function, ``("call", item)`` runs it."""
    _die_with_parent()
    os.setpgid(0, 0)  # signals to the parent's group (Ctrl-C, killpg) are the parent's to handle
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if memory_limit_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    fn: Callable[[Any], Any] | None = None
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "fn":
            fn = payload
            continue
        try:
            assert fn is not None, "no function was sent"
            value = fn(payload)
            conn.send(("ok", value))
        except MemoryError as exc:  # keep the message short: there is no memory to spare
            del exc
            conn.send(("error", "MemoryError: out of memory"))
        except Exception as exc:  # an evaluation may fail in any way; report it
            conn.send(("error", describe(exc)))


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, threads: int, memory_limit_bytes: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, threads, memory_limit_bytes),
            name="epim-worker", daemon=True)
        self.process.start()
        child.close()
        self.fn: Callable[[Any], Any] | None = None

    def kill(self) -> None:
        """Kill the process now and reap it."""
        if self.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid or 0, signal.SIGKILL)
        self.process.join(5)
        self.conn.close()

    def died(self) -> str:
        """Why the process ended, for the evaluation it was running."""
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"WorkerDied: the worker process was killed by {name}{hint}"
        return f"WorkerDied: the worker process exited with status {code}"


class ProcessExecutor(Executor):
    """Runs evaluations one after another in a child worker process.

    Args:
        retries: Extra attempts after a failure (an out-of-memory error is not retried).
        threads: Threads of the worker's numerical libraries (torch, BLAS).
        memory_limit_bytes: Address-space limit of the worker (``None``: none).
        poll_s: How often ``should_stop`` is polled while an evaluation runs (s).

    """

    kind = "local"

    def __init__(self, *, retries: int = 2, threads: int = 1,
                 memory_limit_bytes: int | None = None, poll_s: float = 0.1) -> None:
        super().__init__(retries=retries)
        if threads < 1:
            raise ValueError("threads must be >= 1")
        if memory_limit_bytes is not None and memory_limit_bytes <= 0:
            raise ValueError("memory_limit_bytes must be positive")
        self.threads = threads
        self.memory_limit_bytes = memory_limit_bytes
        self.poll_s = poll_s
        self._worker: _Worker | None = None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            should_stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Apply ``fn`` to every item in the worker; a stop kills the running evaluation."""
        node = socket.gethostname()
        stop = should_stop or (lambda: False)
        outcomes: list[Outcome] = []
        stopped = False
        for item in items:
            if stopped or stop():
                stopped = True
                outcomes.append(Outcome(cancelled=True, attempts=0, node=node))
                continue
            attempt, error = 0, None
            while attempt <= self.retries:
                attempt += 1
                status, value = self._call(fn, item, stop)
                if status == "ok":
                    outcomes.append(Outcome(value=value, attempts=attempt, node=node))
                    break
                if status == "cancelled":
                    stopped = True
                    outcomes.append(Outcome(cancelled=True, attempts=attempt, node=node))
                    break
                error = str(value)
                if is_out_of_memory(error):
                    outcomes.append(Outcome(error=self._memory_error(error),
                                            attempts=attempt, node=node))
                    break
            else:
                outcomes.append(Outcome(error=error, attempts=attempt, node=node))
        return outcomes

    def _memory_error(self, error: str) -> str:
        if self.memory_limit_bytes is None:
            return error
        return (f"OutOfMemory: the evaluation needs more than the worker's memory limit of "
                f"{self.memory_limit_bytes / 2**30:.2f} GiB ({error})")[:2000]

    def _call(self, fn: Callable[[Any], Any], item: Any, stop: Callable[[], bool]
              ) -> tuple[str, Any]:
        """``("ok", value)``, ``("error", text)`` or ``("cancelled", None)``."""
        worker = self._worker
        if worker is None or not worker.process.is_alive():
            if worker is not None:
                worker.kill()
            worker = self._worker = _Worker(self.threads, self.memory_limit_bytes)
        try:
            if worker.fn is not fn:
                worker.conn.send(("fn", fn))
                worker.fn = fn
            worker.conn.send(("call", item))
        except (OSError, EOFError):  # the worker died before it took the job
            reason = worker.died()
            self._discard()
            return "error", reason
        except Exception as exc:  # the function or the item cannot be pickled
            return "error", describe(exc)
        while True:
            if stop():
                self._discard()
                return "cancelled", None
            try:
                if worker.conn.poll(self.poll_s):
                    status, value = worker.conn.recv()
                    return str(status), value
            except (OSError, EOFError):
                pass
            else:
                if worker.process.is_alive() or worker.conn.poll(0):
                    continue
            reason = worker.died()
            self._discard()
            return ("cancelled", None) if stop() else ("error", reason)

    def _discard(self) -> None:
        """Kill the worker (a stop, or it died); the next call starts a new one."""
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def close(self) -> None:
        """Stop the worker process."""
        self._discard()
