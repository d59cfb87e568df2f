"""Ray executor: each evaluation is a Ray task with ``num_cpus`` CPUs (and ``num_gpus`` GPUs).

Without an address it starts a private local Ray (no dashboard, its own temp directory, token
authentication off so nothing is written to the home directory) and stops it on ``close``;
with an address (a cluster's, e.g. from ``RAY_ADDRESS`` read by the CLI or the API) it joins.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import ray

from epim.search.executors._base import Executor, Outcome, describe


def _call(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str]:
    return fn(item), ray.get_runtime_context().get_node_id()


class RayExecutor(Executor):
    """Runs evaluations as Ray tasks.

    Args:
        address: A Ray cluster address, or ``None`` for a private local Ray.
        cpus_per_task: CPUs each evaluation reserves (``num_cpus``).
        gpus_per_task: GPUs each evaluation reserves (``num_gpus``; Ray sets the task's
            ``CUDA_VISIBLE_DEVICES``, and the proxy trains on that device).
        num_cpus: CPUs of the private local Ray (default: all).
        num_gpus: GPUs of the private local Ray (default: the ones Ray detects).
        retries: Extra attempts after a failure.
        temp_dir: Temp directory of the private local Ray (default: a new one under /tmp).
        poll_s: How often a waiting ``map`` polls ``should_stop`` (s).

    """

    kind = "ray"

    def __init__(self, *, address: str | None = None, cpus_per_task: float = 1.0,
                 gpus_per_task: float = 0.0, num_cpus: int | None = None,
                 num_gpus: int | None = None, retries: int = 2,
                 temp_dir: str | None = None, poll_s: float = 0.5) -> None:
        super().__init__(retries=retries)
        self.poll_s = poll_s
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.address = address
        self._owns_ray = False
        if not ray.is_initialized():
            if address is None:
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
                self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="epim-ray-")
                ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                         _temp_dir=self.temp_dir, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._owns_ray = True
        self._task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task,
                                max_retries=0)(_call)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            should_stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Submit every item, retry failures up to ``retries`` times, keep the order.

        Results are taken as tasks finish (``ray.wait``); once ``should_stop()`` is true the
        unfinished tasks are cancelled (interrupted if running) and reported ``cancelled``.
        """
        fn_ref = ray.put(fn)
        index_of = {self._task.remote(fn_ref, item): i for i, item in enumerate(items)}
        attempts = dict.fromkeys(range(len(items)), 1)
        outcomes: dict[int, Outcome] = {}
        while index_of:
            if should_stop is not None and should_stop():
                for ref, index in index_of.items():
                    ray.cancel(ref, force=True)
                    outcomes[index] = Outcome(cancelled=True, attempts=attempts[index])
                break
            done, _ = ray.wait(list(index_of), num_returns=1, timeout=self.poll_s)
            for ref in done:
                index = index_of.pop(ref)
                try:
                    value, node = ray.get(ref)
                    outcomes[index] = Outcome(value=value, attempts=attempts[index], node=node)
                except Exception as exc:  # RayTaskError wraps whatever the evaluation raised
                    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
                    if attempts[index] <= self.retries:
                        attempts[index] += 1
                        index_of[self._task.remote(fn_ref, items[index])] = index
                    else:
                        outcomes[index] = Outcome(error=describe(cause),
                                                  attempts=attempts[index])
        return [outcomes[i] for i in range(len(items))]

    def close(self) -> None:
        """Shut down the Ray this executor started (a joined cluster keeps running)."""
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False
