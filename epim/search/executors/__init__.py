"""Executors behind one interface: ``local`` (in-process) and ``ray`` (Ray tasks)."""

from __future__ import annotations

from epim.search.executors._base import Executor, Outcome, describe
from epim.search.executors._local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "Outcome", "describe", "make_executor"]


def make_executor(kind: str, *, address: str | None = None, cpus_per_task: float = 1.0,
                  gpus_per_task: float = 0.0, retries: int = 2) -> Executor:
    """Create the executor of ``kind`` (``local`` or ``ray``; ray imported only then)."""
    if kind == "local":
        return LocalExecutor(retries=retries)
    if kind == "ray":
        from epim.search.executors._ray import RayExecutor

        return RayExecutor(address=address, cpus_per_task=cpus_per_task,
                           gpus_per_task=gpus_per_task, retries=retries)
    raise ValueError(f"unknown executor kind '{kind}' (expected local or ray)")
