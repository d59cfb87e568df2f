"""Executors behind one interface: ``local`` (in-process or a worker process), ``ray``."""

from __future__ import annotations

from epim.search.executors._base import Executor, Outcome, describe
from epim.search.executors._local import LocalExecutor
from epim.search.executors._process import ProcessExecutor, is_out_of_memory

__all__ = ["Executor", "LocalExecutor", "Outcome", "ProcessExecutor", "describe",
           "is_out_of_memory", "make_executor"]


def make_executor(kind: str, *, address: str | None = None, cpus_per_task: float = 1.0,
                  gpus_per_task: float = 0.0, retries: int = 2, isolated: bool = False,
                  memory_limit_bytes: int | None = None) -> Executor:
    """Create the executor of ``kind`` (``local`` or ``ray``; ray imported only then).

    Args:
        kind: ``local`` or ``ray``.
        address: Ray cluster address (``ray``; ``None``: a private local Ray).
        cpus_per_task: CPUs (threads) per evaluation.
        gpus_per_task: GPUs per evaluation (``ray``).
        retries: Extra attempts after a failure.
        isolated: ``local`` runs evaluations in a worker process (:class:`ProcessExecutor`:
            stoppable inside an evaluation, memory-limited) instead of this process.
        memory_limit_bytes: The worker's data limit (bytes; ``isolated`` only).

    """
    if kind == "local":
        if isolated:
            return ProcessExecutor(retries=retries, threads=max(1, round(cpus_per_task)),
                                   memory_limit_bytes=memory_limit_bytes)
        return LocalExecutor(retries=retries)
    if kind == "ray":
        from epim.search.executors._ray import RayExecutor

        return RayExecutor(address=address, cpus_per_task=cpus_per_task,
                           gpus_per_task=gpus_per_task, retries=retries)
    raise ValueError(f"unknown executor kind '{kind}' (expected local or ray)")
