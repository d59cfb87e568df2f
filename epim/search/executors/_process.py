"""Process executor: evaluations run in a child worker process that can be stopped at once.

The worker is a fresh interpreter (the parent's threads and locks are not copied, its main
module is not imported again), keeps running between calls (torch is imported once per
worker, not per evaluation) and uses ``threads`` threads (``OMP_NUM_THREADS`` and friends,
set before anything imports a numerical library). Its data (heap and private writable
mappings: ``RLIMIT_DATA``, which unlike ``RLIMIT_AS`` leaves alone the address space a GPU
driver reserves without using) is limited to ``memory_limit_bytes``: an evaluation that
needs more fails with a clear error, and the process that asked for it (the service) never
runs out of memory because of it.

``should_stop()`` is polled every ``poll_s`` while an evaluation runs; once true the worker
is killed (whatever it was doing: a long training, a dense pretraining) and the unfinished
items are reported ``cancelled``. The next call starts a new worker. A worker that dies
(killed by the kernel's out-of-memory killer, a crash in native code) costs the one
evaluation it was running, reported as an error; the next attempt gets a new worker. The
worker has its own process group (a signal to the parent's group, e.g. Ctrl-C or a
``kill`` of ``epim serve``'s group, is the parent's to handle) and ends within 0.2 s of its
parent's death (a ``kill -9`` of the runner), whatever it was doing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
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


#: What the worker's interpreter runs (``python -c``, arguments FD LIMIT PARENT-PID): first,
#: before anything slow is imported, a thread that ends the worker once its parent is gone
#: (the parent was killed: nothing else would stop a training it started), then the loop.
#: (Linux's ``PR_SET_PDEATHSIG`` would not do: it fires when the parent *thread* ends, and
#: the study thread that started a worker ends before the worker is reused.)
WORKER_CODE = """\
import os, sys, threading, time
def _orphaned(parent=int(sys.argv[3])):
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)
threading.Thread(target=_orphaned, daemon=True).start()
from epim.search.executors._process import worker_main
worker_main()
"""


def worker_main() -> None:
    """The worker's loop (:data:`WORKER_CODE`): ``("fn", fn)``, then ``("call", item)``.

    Runs until the connection closes (the parent stopped) or the parent dies.
    """
    fd, limit = int(sys.argv[1]), int(sys.argv[2])
    if limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    conn = Connection(fd)
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
    """One worker process and the parent's end of its connection.

    A fresh interpreter (``subprocess``, not ``multiprocessing``: the parent's main module is
    never imported again, so a script without a ``__main__`` guard works too) that finds
    modules where this process does, in its own process group.
    """

    def __init__(self, threads: int, memory_limit_bytes: int | None) -> None:
        parent, child = socket.socketpair()
        path = [entry or os.getcwd() for entry in sys.path]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path),
               **dict.fromkeys(THREAD_VARIABLES, str(threads))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, str(child.fileno()),
             str(memory_limit_bytes or 0), str(os.getpid())],
            pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL,
            process_group=0)
        child.close()
        self.conn = Connection(parent.detach())
        self.fn: Callable[[Any], Any] | None = None

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the process now and reap it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()

    def died(self) -> str:
        """Why the process ended, for the evaluation it was running."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        code = self.process.returncode
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
        memory_limit_bytes: Data limit of the worker (bytes; ``None``: none).
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
        self._lock = threading.Lock()  # one map at a time: the worker runs one job at a time

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            should_stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Apply ``fn`` to every item in the worker; a stop kills the running evaluation."""
        with self._lock:
            return self._map(fn, items, should_stop)

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any],
             should_stop: Callable[[], bool] | None) -> list[Outcome]:
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
        if worker is None or not worker.alive():
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
                if worker.alive() or worker.conn.poll(0):
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
        with self._lock:
            self._discard()
